# Included by the wrappers of per-call products: arrays taken by the buffer protocol rather than as
# typed memoryviews. Acquiring a memoryview costs about 0.3 us and a fused def's type dispatch
# 0.7 us more: 2 us of glue per call, most of the cost of a 64 x 64 spmv. A Py_buffer costs 0.06 us.
from cpython.buffer cimport (PyBUF_FORMAT, PyBUF_STRIDES, PyBUF_WRITABLE, PyBuffer_IsContiguous,
                             PyBuffer_Release, PyObject_GetBuffer)
from libc.stdint cimport uintptr_t
from libc.string cimport memset

cdef enum ItemKind:
    REAL_ITEMS   # float32, float64
    INDEX_ITEMS  # int32, int64
    SIZE_ITEMS   # sn_size (int64)
    U16_ITEMS    # uint16


cdef int _one = 1
cdef bint LITTLE_ENDIAN = (<char *>&_one)[0] == 1


cdef int get_array(object obj, Py_buffer *view, ItemKind kind, int ndim, bint writable) except -1:
    """A view of obj with `ndim` dimensions (0: a matrix or a vector, read as one column) and items
    of `kind`. BufferError when it is not C-contiguous and aligned (a caller may copy it and try
    again), TypeError for anything else (the Python layer hands over only such arrays: this guards
    the C, it does not name user arguments)."""
    PyObject_GetBuffer(obj, view, PyBUF_STRIDES | PyBUF_FORMAT | (PyBUF_WRITABLE if writable else 0))
    cdef const char *fmt = view.format
    if fmt[0] == b'@' or fmt[0] == b'=' or (fmt[0] == b'<' and LITTLE_ENDIAN):  # native byte order
        fmt += 1
    cdef char f = fmt[0] if fmt[0] and not fmt[1] else 0
    cdef bint integer = f == b'i' or f == b'l' or f == b'q'
    cdef bint ok
    if kind == REAL_ITEMS:
        ok = (f == b'f' and view.itemsize == 4) or (f == b'd' and view.itemsize == 8)
    elif kind == INDEX_ITEMS:
        ok = integer and (view.itemsize == 4 or view.itemsize == 8)
    elif kind == SIZE_ITEMS:
        ok = integer and view.itemsize == sizeof(sn_size)
    else:
        ok = f == b'H' and view.itemsize == 2
    if not ok or not (view.ndim == ndim or ndim == 0 and (view.ndim == 1 or view.ndim == 2)):
        raise TypeError(f"sparsenet: native argument of {view.ndim} dimensions and format "
                        f"{view.format.decode()!r}, expected {ndim or '1 or 2'} of kind {kind}")
    if not PyBuffer_IsContiguous(view, b'C') or view.len and (<uintptr_t>view.buf) % view.itemsize:
        raise BufferError("sparsenet: a native argument must be C-contiguous and aligned")
    return 0


cdef inline sn_size columns(Py_buffer *view) noexcept nogil:
    """The columns of a matrix view; 1 for a vector (get_array's ndim 0)."""
    return view.shape[1] if view.ndim == 2 else 1


cdef inline void release_arrays(Py_buffer *views, int n):
    """Release views[:n]; those never acquired (zeroed: obj NULL) are skipped by PyBuffer_Release."""
    for i in range(n):
        PyBuffer_Release(&views[i])


cdef inline void *data_or_null(Py_buffer *view) noexcept nogil:
    """The first item, NULL for an empty array (as the kernels expect)."""
    return view.buf if view.len else NULL
