"""A bounded cache of large output buffers (in the spirit of PyTorch's caching allocator), and the
copy that gives a strided matrix the C-ordered rows the kernels read (``copy_rows``).

A fresh multi-megabyte array costs more than many kernels that fill it: the OS maps zeroed pages
on first touch (about 5 ms for 64 MiB here, longer than soft thresholding the array). So large
results of the native kernels live in page-aligned blocks of this module: when the last array
viewing a block dies, the block is not unmapped but kept in a small free list, and the next
request of about that size takes it, its pages already mapped.

- Requests below MIN_BYTES are plain ``np.empty`` (malloc recycles small blocks itself).
- Capacities of HUGE_MIN (4 MiB) and more are rounded up to whole 2 MiB huge pages and
  mapped 2 MiB aligned with MADV_HUGEPAGE where the OS has it, as NumPy does for arrays of 4 MiB
  and more; smaller ones to 4 KiB pages, without huge pages (a 1.05 MiB result would otherwise
  hold 2 MiB). A request takes a cached block of the same capacity, or the smallest one up to 1.25
  times it, else maps a fresh block.
- The cache holds at most `limit` idle bytes (blocks no array views): a block coming back that
  does not fit evicts the least recently returned ones; one larger than the limit is unmapped.
  A request larger than the limit, or any request with the limit 0, is plain ``np.empty``.
- Safety: an array made here is ``np.frombuffer(block)``, so the block is its base (through any
  views, reshapes and slices) and ``__dealloc__`` runs only once no array can reach the memory.

The default limit, 512 MiB, keeps eight 64 MiB results (a 4096 x 4096 float32 activation) ready
for the next step of a loop, and bounds what is held idle: memory that would otherwise have gone
back to the OS.

Thread safety: the free list is only read and written by the C functions _take, _give and _trim
below, which call no Python code and run with the GIL held (allocation from `empty`, release from
Block.__dealloc__, the limit from set_limit), so on a GIL build of CPython each runs as one atomic
step. This module does not declare itself free-threading compatible, so a free-threaded CPython
turns the GIL back on when it is imported; dropping that would need a lock around the free list.
"""
import operator

import numpy as np

from cpython.buffer cimport PyBuffer_FillInfo
from libc.stdint cimport uintptr_t
from posix.mman cimport MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE, PROT_READ, PROT_WRITE, mmap, munmap

from sparsenet._kernels_buffers cimport *

include "_status.pxi"

cdef extern from *:
    """
    #include <sys/mman.h>
    static void sn_advise_hugepages(void *p, size_t n) {
    #ifdef MADV_HUGEPAGE
        (void)madvise(p, n, MADV_HUGEPAGE);  /* advice only: failure changes nothing */
    #else
        (void)p; (void)n;
    #endif
    }
    """
    void sn_advise_hugepages(void *p, size_t n) nogil

MIN_BYTES = 1 << 20          # smaller requests are plain np.empty
DEFAULT_LIMIT = 512 << 20    # idle bytes the cache may hold by default
cdef enum:
    HUGE_MIN = 4 << 20       # from this size on, blocks are huge pages
    GRANULE = 2 << 20        # capacities from HUGE_MIN: whole 2 MiB huge pages, 2 MiB aligned
    PAGE = 4096              # smaller capacities: whole pages
    N_SLOTS = 32             # the free list's length (blocks held at most)

# The free list, oldest first: block i is _ptr[i] of _cap[i] bytes; _held = sum of _cap.
cdef void *_ptr[N_SLOTS]
cdef size_t _cap[N_SLOTS]
cdef int _n_free = 0
cdef size_t _held = 0
cdef size_t _limit = DEFAULT_LIMIT
cdef size_t _min_bytes = MIN_BYTES


cdef void *_map(size_t capacity) noexcept nogil:
    """A fresh mapping of `capacity` bytes, or NULL: GRANULE-aligned huge pages when capacity (then
    a multiple of GRANULE) is HUGE_MIN or more, plain pages otherwise."""
    cdef char *raw
    if capacity < HUGE_MIN:
        raw = <char *>mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0)
        return NULL if <void *>raw == MAP_FAILED else raw
    cdef size_t span = capacity + GRANULE
    raw = <char *>mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if <void *>raw == MAP_FAILED:
        return NULL
    cdef size_t head = (GRANULE - <uintptr_t>raw % GRANULE) % GRANULE
    if head:
        munmap(raw, head)
    munmap(raw + head + capacity, GRANULE - head)
    sn_advise_hugepages(raw + head, capacity)
    return raw + head


cdef void _drop(int i) noexcept:
    """Unmap cached block i and close the gap in the free list."""
    global _n_free, _held
    cdef int j
    munmap(_ptr[i], _cap[i])
    _held -= _cap[i]
    _n_free -= 1
    for j in range(i, _n_free):
        _ptr[j], _cap[j] = _ptr[j + 1], _cap[j + 1]


cdef void _trim(size_t target) noexcept:
    """Unmap the least recently returned blocks until at most `target` bytes are held."""
    while _n_free and _held > target:
        _drop(0)


cdef void *_take(size_t *capacity) noexcept:
    """A block of at least *capacity bytes: the smallest cached one up to 1.25 times it (the most
    recently returned among equals), whose size then goes to *capacity, else a fresh mapping;
    NULL when the OS has no memory even after the cache let go of everything."""
    global _n_free, _held
    cdef int i, best = -1
    cdef size_t most = capacity[0] + capacity[0] // 4
    for i in range(_n_free):
        if capacity[0] <= _cap[i] <= most and (best < 0 or _cap[i] <= _cap[best]):
            best = i
    cdef void *p
    if best >= 0:
        p, capacity[0] = _ptr[best], _cap[best]
        _held -= _cap[best]
        _n_free -= 1
        for i in range(best, _n_free):
            _ptr[i], _cap[i] = _ptr[i + 1], _cap[i + 1]
        return p
    p = _map(capacity[0])
    if p == NULL and _n_free:
        _trim(0)
        p = _map(capacity[0])
    return p


cdef void _give(void *p, size_t capacity) noexcept:
    """Take back a block no array views: cache it (evicting the oldest as needed), or unmap it."""
    global _n_free, _held
    if capacity > _limit:
        munmap(p, capacity)
        return
    _trim(_limit - capacity)
    if _n_free == N_SLOTS:
        _drop(0)
    _ptr[_n_free], _cap[_n_free] = p, capacity
    _n_free += 1
    _held += capacity


cdef class Block:
    """Page-aligned memory exported through the buffer protocol; returns to the cache when the
    last reference (every array built on it holds one) goes."""
    cdef void *ptr
    cdef size_t capacity
    cdef Py_ssize_t nbytes

    def __getbuffer__(self, Py_buffer *view, int flags):
        PyBuffer_FillInfo(view, self, self.ptr, self.nbytes, 0, flags)

    def __releasebuffer__(self, Py_buffer *view):
        pass

    def __dealloc__(self):
        if self.ptr != NULL:
            _give(self.ptr, self.capacity)
            self.ptr = NULL


def empty(shape, dtype):
    """An uninitialised C-contiguous array of `shape` and `dtype`, from the cache when large."""
    dtype = np.dtype(dtype)
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    cdef object n = dtype.itemsize
    for d in shape:
        d = operator.index(d)
        if d < 0:
            return np.empty(shape, dtype)  # NumPy's own error for negative dimensions
        n *= d
    if n < _min_bytes or n > _limit or dtype.hasobject:
        return np.empty(shape, dtype)
    cdef size_t nbytes = n
    cdef size_t unit = GRANULE if nbytes >= HUGE_MIN else PAGE
    cdef size_t capacity = (nbytes + unit - 1) // unit * unit
    cdef Block block = Block.__new__(Block)
    block.ptr = _take(&capacity)  # a cached block may be larger: it keeps its own size
    if block.ptr == NULL:
        raise MemoryError(f"sparsenet: cannot map {nbytes} bytes for an output array")
    block.capacity, block.nbytes = capacity, nbytes
    return np.frombuffer(block, dtype=dtype, count=nbytes // dtype.itemsize).reshape(shape)


def set_limit(size_t limit):
    """Hold at most `limit` idle bytes from now on; cached blocks beyond it are unmapped now."""
    global _limit
    _limit = limit
    _trim(limit)


def get_limit():
    return _limit


def cached_bytes():
    """Bytes of the idle blocks the cache holds now."""
    return _held


def cached_blocks():
    """The number of idle blocks the cache holds now."""
    return _n_free


def copy_rows(int n_threads, const real[:, :] X, real[:, :] Y):
    """Y = X for a matrix Y whose rows are contiguous (they may be padded: Y's row stride is its
    own) and any X of its shape and dtype, copied in cache-friendly tiles (csrc/buffers_kernels.h).
    X's strides must be whole elements (an aligned view)."""
    cdef sn_size n_rows = X.shape[0], n_cols = X.shape[1], size = sizeof(real)
    if Y.shape[0] != n_rows or Y.shape[1] != n_cols or (n_cols > 1 and Y.strides[1] != size):
        raise ValueError("copy_rows: Y must have X's shape and contiguous rows")
    if X.strides[0] % size or X.strides[1] % size or Y.strides[0] % size:
        raise ValueError("copy_rows: strides must be whole elements")
    if n_rows == 0 or n_cols == 0:
        return
    cdef int status
    with nogil:
        status = sn_copy_rows(n_threads, n_rows, n_cols, &X[0, 0], X.strides[0] // size,
                              X.strides[1] // size, &Y[0, 0], Y.strides[0] // size)
    raise_for_status(status)
