"""Backend selection ("native" C kernels or the "numpy" reference), thread count, ISA level and the
output buffer cache.

State is process-wide and read lazily: importing sparsenet changes nothing and counts no cores.
"""
import contextlib
import functools
import os
import sys
import warnings

from sparsenet import _buffers, _runtime
from sparsenet._validate import check_index

BACKENDS = ("native", "numpy")
ISA_LEVELS = ("baseline", "avx2", "avx512", "avx512vbmi")  # enum sn_isa; avx512vbmi: shared_lut8.h

_state = {"backend": "native", "threads": None, "isa": None}
MAX_THREADS = 1 << 15


def set_backend(name):
    """Make the top-level functions run on `name`: "native" (default) or "numpy" (sparsenet.reference).

    Examples
    --------
    >>> import sparsenet
    >>> sparsenet.set_backend("numpy"); sparsenet.get_backend()
    'numpy'
    >>> sparsenet.set_backend("native")
    """
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    _state["backend"] = name


def get_backend():
    """The backend the top-level functions use now."""
    return _state["backend"]


@contextlib.contextmanager
def use_backend(name):
    """Context manager: run the enclosed calls on backend `name`, then restore the previous one.

    Examples
    --------
    >>> import sparsenet
    >>> with sparsenet.use_backend("numpy"):
    ...     sparsenet.get_backend()
    'numpy'
    """
    previous = get_backend()
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


@functools.lru_cache(maxsize=None)
def has_openmp():
    """True when the native kernels were compiled with OpenMP (else they run on one thread)."""
    return _runtime.has_openmp()


@functools.lru_cache(maxsize=None)  # read at the first call, not at import
def _default_threads():
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_num_threads(n):
    """Use at most `n` OpenMP threads in every native kernel (None: back to the default).

    The default is ``OMP_NUM_THREADS`` when set, else the cores this process may run on. Results
    never depend on the thread count.

    Examples
    --------
    >>> import sparsenet
    >>> sparsenet.set_num_threads(1); sparsenet.get_num_threads()
    1
    >>> sparsenet.set_num_threads(None)
    """
    if n is None:
        _state["threads"] = None
        return
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be a positive int or None, got {type(n).__name__}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"n must be in [1, {MAX_THREADS}] or None, got {n}")
    if n > 1 and not has_openmp():
        warnings.warn("sparsenet was built without OpenMP; kernels run on one thread", RuntimeWarning,
                      stacklevel=2)
    _state["threads"] = n


def get_num_threads():
    """The number of threads native kernels use at most."""
    if _state["threads"] is None:
        return _default_threads() if has_openmp() else 1
    return _state["threads"] if has_openmp() else 1


def set_buffer_cache(max_bytes):
    """Let the cache of large output arrays hold at most `max_bytes` idle bytes (None: back to the
    default, 512 MiB; 0: no cache, and every cached block is released now).

    A new array of a megabyte or more costs the OS time on first touch (mapping zeroed pages, about
    5 ms for 64 MiB: more than soft-thresholding it). So the native kernels take their large new
    results (``soft_threshold(x, lam)``, ``spmm(A, X)``, ``decode(w)``, ...) from page-aligned
    blocks that go back into a cache, not to the OS, when the last array viewing them dies; the next
    result of about that size reuses one, its pages already mapped. Only blocks no array views
    count against `max_bytes` (the least recently freed go first); the NumPy backend never uses the
    cache. Lowering the cap releases the blocks above it now, so
    ``set_buffer_cache(0); set_buffer_cache(n)`` empties the cache and keeps the cap n.

    Arrays from the cache are ordinary writeable ndarrays that view a buffer object
    (``a.base is not None``, ``a.flags.owndata`` is False, so ``a.resize`` refuses).

    Examples
    --------
    >>> import sparsenet
    >>> sparsenet.get_buffer_cache() // 2**20
    512
    >>> sparsenet.set_buffer_cache(0)          # off: every new result is a fresh np.empty
    >>> sparsenet.get_buffer_cache()
    0
    >>> sparsenet.set_buffer_cache(None)       # back to the default
    """
    if max_bytes is None:
        _buffers.set_limit(_buffers.DEFAULT_LIMIT)
        return
    _buffers.set_limit(check_index(max_bytes, "max_bytes", low=0, high=sys.maxsize))


def get_buffer_cache():
    """The idle bytes the output buffer cache may hold (see `set_buffer_cache`).

    Returns
    -------
    int
        The cap in bytes; 0 when the cache is off.

    Examples
    --------
    >>> import sparsenet
    >>> sparsenet.set_buffer_cache(64 << 20)
    >>> sparsenet.get_buffer_cache() == 64 << 20
    True
    >>> sparsenet.set_buffer_cache(None)
    """
    return _buffers.get_limit()


def get_isa():
    """The instruction-set level the native kernels run: "baseline", "avx2", "avx512" or "avx512vbmi"."""
    return ISA_LEVELS[_isa_level()]


def set_isa(name):
    """Cap the native kernels' instruction set at `name` (None: the best this CPU runs).

    For testing and diagnosis: the portable ("baseline") path gives the same results up to rounding.
    """
    if name is None:
        _state["isa"] = None
        return
    if name not in ISA_LEVELS:
        raise ValueError(f"isa must be one of {ISA_LEVELS} or None, got {name!r}")
    level = ISA_LEVELS.index(name)
    if level > _runtime.isa_supported():
        raise ValueError(f"this CPU cannot run isa={name!r}; the best it runs is "
                         f"{ISA_LEVELS[_runtime.isa_supported()]!r}")
    _state["isa"] = level


def _isa_level():
    return _runtime.isa_supported() if _state["isa"] is None else _state["isa"]


def native_options():
    """(isa level, thread count) to pass to a native kernel call."""
    return _isa_level(), get_num_threads()


def use_numpy():
    """True when the top-level functions should run the NumPy reference."""
    return _state["backend"] == "numpy"
