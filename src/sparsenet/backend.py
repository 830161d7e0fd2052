"""Backend selection ("native" C kernels or the "numpy" reference), thread count, ISA level and the
output buffer cache.

Each setting has a process-wide default (``set_backend``, ``set_num_threads``, ``set_isa``) and a
context that changes it for the calling thread only (``use_backend``, ``use_num_threads``,
``use_isa``; a `contextvars` variable, so other threads, and other asyncio tasks, do not see it).
Defaults are read lazily: importing sparsenet counts no cores and starts no thread. It installs one
guard: before every fork the forking thread's OpenMP team is released, so a child never waits for
workers that were not copied into it (see `set_num_threads`).
"""
import contextlib
import contextvars
import functools
import os
import sys
import warnings
from typing import ContextManager, NamedTuple, Optional

from sparsenet import _buffers, _runtime
from sparsenet._validate import check_index

BACKENDS = ("native", "numpy")
ISA_LEVELS = ("baseline", "avx2", "avx512", "avx512vbmi")  # enum sn_isa; avx512vbmi: shared_lut8.h

# Process-wide defaults (None: the machine's). bench.py saves and restores "threads" directly.
_state = {"backend": "native", "threads": None, "isa": None}
MAX_THREADS = 1 << 15


class _Overrides(NamedTuple):
    """The calling thread's choices; None keeps the process-wide default."""
    backend: Optional[str] = None
    isa: Optional[int] = None
    threads: Optional[int] = None


_overrides = contextvars.ContextVar("sparsenet_overrides", default=None)

ISA_VARIABLE = "SPARSENET_ISA"


def _best_level(supported: int, cap: Optional[str]) -> int:
    """The best level the kernels may run: this CPU's (`supported`), or the level the environment's
    SPARSENET_ISA names (`cap`) where that is lower, as MKL_ENABLE_INSTRUCTIONS caps MKL's: the same
    kernels on every machine that has it (CI tests the AVX2 kernels on AVX-512 machines with it)."""
    if not cap:
        return supported
    if cap not in ISA_LEVELS:
        raise ValueError(f"the environment variable {ISA_VARIABLE} must be one of {ISA_LEVELS} or "
                         f"empty, got {cap!r}")
    return min(supported, ISA_LEVELS.index(cap))


# one CPUID query and the environment, read at import: neither may change the levels while we run
_isa_cap = os.environ.get(ISA_VARIABLE)
_cpu_isa = _runtime.isa_supported()
_best_isa = _best_level(_cpu_isa, _isa_cap)
# Threads any kernel may use: MAX_THREADS, or 1 without OpenMP or in a forked child whose parent
# could not release its OpenMP team.
_thread_cap = MAX_THREADS if _runtime.has_openmp() else 1
_default_thread_count = None  # the machine's default, resolved at the first kernel call
_verified_threads = 1  # the largest thread count the OS was seen to start
_threads_used = False  # a kernel was allowed more than one thread (so OpenMP may have a team)


@contextlib.contextmanager
def _override(**changes):
    token = _overrides.set((_overrides.get() or _Overrides())._replace(**changes))
    try:
        yield
    finally:
        _overrides.reset(token)


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
    """The backend the top-level functions use now, in the calling thread."""
    local = _overrides.get()
    if local is None or local.backend is None:
        return _state["backend"]
    return local.backend


def use_backend(name: str) -> ContextManager[None]:
    """Context manager: run the calls the calling thread makes inside it on backend `name`.

    Other threads keep their backend; the previous one comes back on exit, even on error.

    Examples
    --------
    >>> import sparsenet
    >>> with sparsenet.use_backend("numpy"):
    ...     sparsenet.get_backend()
    'numpy'
    >>> sparsenet.get_backend()
    'native'
    """
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    return _override(backend=name)


@functools.lru_cache(maxsize=None)
def has_openmp():
    """True when the native kernels were compiled with OpenMP (else they run on one thread)."""
    return _runtime.has_openmp()


def _machine_threads():
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return min(int(env), MAX_THREADS)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _default_threads():
    """The default thread count, resolved once at the first kernel call (not at import): fewer,
    with a warning, when the OS cannot start that many threads."""
    global _default_thread_count
    if _default_thread_count is None:
        wanted = _machine_threads() if has_openmp() else 1
        started = _threads_the_os_starts(wanted)
        if started < wanted:
            warnings.warn(f"sparsenet: the OS started only {started} of the {wanted} threads "
                          "OMP_NUM_THREADS or the cores ask for (see OMP_STACKSIZE and "
                          f"`ulimit -v` / `ulimit -u`); kernels use {started}", RuntimeWarning,
                          stacklevel=3)
        _default_thread_count = started
    return _default_thread_count


def _threads_the_os_starts(n):
    """`n` when the OS lets `n` threads run at once (with OpenMP's stack size), else how many."""
    global _verified_threads
    if n <= _verified_threads or n > _thread_cap:
        return n
    started = _runtime.probe_threads(n)
    if started >= n:
        _verified_threads = n
    return started


def _check_thread_count(n, name):
    """Validate a requested thread count; RuntimeError when the OS cannot start that many now
    (libgomp would exit the process), never a silent fallback."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{name} must be a positive int or None, got {type(n).__name__}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"{name} must be in [1, {MAX_THREADS}] or None, got {n}")
    if n > _thread_cap:
        why = ("sparsenet was built without OpenMP" if not has_openmp() else
               "this forked child's parent could not release its OpenMP team")
        warnings.warn(f"{why}; kernels run on one thread", RuntimeWarning, stacklevel=3)
        return n
    started = _threads_the_os_starts(n)
    if started < n:
        raise RuntimeError(f"{name}={n} threads cannot start: the OS started only {started} "
                           "(limits on memory or processes: see `ulimit -v`, `ulimit -u` and "
                           "OMP_STACKSIZE); ask for at most that many")
    return n


def set_num_threads(n: Optional[int]) -> None:
    """Use at most `n` OpenMP threads in every native kernel, in every thread that has no
    `use_num_threads` context of its own (None: back to the default).

    The default is ``OMP_NUM_THREADS`` when set, else the cores this process may run on, fewer (with
    a warning) when the OS cannot start that many. Results never depend on the thread count. Before
    accepting `n` sparsenet starts the threads once to see that the OS allows them; when it does
    not (``ulimit -v``, ``ulimit -u``), this raises RuntimeError, where OpenMP would have ended the
    process. `threadpoolctl.threadpool_limits` sets this default too.

    A child made by ``fork`` (``os.fork``, ``multiprocessing``'s "fork" start method, joblib's
    multiprocessing backend) after the parent ran kernels on several threads starts with 1 thread;
    ``set_num_threads(n)`` there gives it threads back. Children made by "spawn" or "forkserver"
    start fresh and are unaffected.

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
    _state["threads"] = _check_thread_count(n, "n")


def get_num_threads() -> int:
    """The number of threads native kernels called from this thread use at most.

    Examples
    --------
    >>> import sparsenet
    >>> with sparsenet.use_num_threads(1):
    ...     sparsenet.get_num_threads()
    1
    """
    return native_options()[1]


def use_num_threads(n: int) -> ContextManager[None]:
    """Context manager: native kernels called from the calling thread inside it use at most `n`
    threads; other threads keep theirs (a Dask task gives itself its share of the worker this way).

    Raises RuntimeError, as `set_num_threads` does, when the OS cannot start `n` threads.

    Examples
    --------
    >>> import threading
    >>> import sparsenet
    >>> sparsenet.set_num_threads(2)
    >>> seen = {}
    >>> def count(name):
    ...     seen[name] = sparsenet.get_num_threads()
    >>> with sparsenet.use_num_threads(1):
    ...     count("here")
    ...     other = threading.Thread(target=count, args=("other thread",))
    ...     other.start(); other.join()
    >>> seen
    {'here': 1, 'other thread': 2}
    >>> sparsenet.set_num_threads(None)
    """
    return _override(threads=_check_thread_count(n, "n"))


def _process_threads():
    """The process-wide thread count (what threads without a context of their own use)."""
    threads = _state["threads"]
    return min(_default_threads() if threads is None else threads, _thread_cap)


def _after_fork_in_child():
    """The child of a parent that ran kernels on several threads runs on 1 thread until
    `set_num_threads` says otherwise (as PyTorch does: a pool of N processes must not start N teams
    of N threads). A parent that never did (a forkserver, say) passes its settings on unchanged.
    When the parent could not release its OpenMP team, the forking thread's pool is a copy without
    workers: then the child stays on one thread, which never touches that pool."""
    global _thread_cap, _threads_used
    if _threads_used:
        _state["threads"] = 1
        _threads_used = False
    if not _runtime.fork_team_released():
        _thread_cap = 1


_runtime.install_fork_guard()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
    """The instruction-set level the native kernels called from this thread run: "baseline",
    "avx2", "avx512" or "avx512vbmi"."""
    return ISA_LEVELS[_isa_level()]


def _check_isa(name):
    if name not in ISA_LEVELS:
        raise ValueError(f"isa must be one of {ISA_LEVELS} or None, got {name!r}")
    level = ISA_LEVELS.index(name)
    if level > _cpu_isa:
        raise ValueError(f"this CPU cannot run isa={name!r}; the best it runs is "
                         f"{ISA_LEVELS[_cpu_isa]!r}")
    if level > _best_isa:
        raise ValueError(f"isa={name!r} is above {ISA_VARIABLE}={_isa_cap!r} in the environment")
    return level


def set_isa(name):
    """Cap the native kernels' instruction set at `name` (None: the best this CPU runs, or the level
    the environment variable SPARSENET_ISA names, read at import, where that is lower), in every
    thread that has no `use_isa` context of its own.

    For testing and diagnosis: the portable ("baseline") path gives the same results up to rounding.
    """
    _state["isa"] = None if name is None else _check_isa(name)


def use_isa(name: str) -> ContextManager[None]:
    """Context manager: native kernels called from the calling thread inside it run instruction
    set `name` at most; other threads keep theirs.

    Examples
    --------
    >>> import sparsenet
    >>> with sparsenet.use_isa("baseline"):
    ...     sparsenet.get_isa()
    'baseline'
    """
    return _override(isa=_check_isa(name))


def _isa_level():
    """The ISA level native_options() gives, without its thread count (get_isa; the tests ask
    the native layer's choices at it). native_options repeats these reads: it is the per-call hot
    path, and reads the thread count from the same override."""
    local = _overrides.get()
    isa = local.isa if local is not None and local.isa is not None else _state["isa"]
    return _best_isa if isa is None else isa


def thread_limit(n: int) -> ContextManager[None]:
    """Like `use_num_threads`, but never raising the calling thread's count: at most `n` threads
    and at most what it uses now (sparsenet.torch caps its calls at ``torch.get_num_threads()``)."""
    local = _overrides.get()
    current = local.threads if local is not None and local.threads is not None else None
    return use_num_threads(max(1, min(n, current if current is not None else _process_threads())))


def native_options():
    """(isa level, thread count) to pass to a native kernel call from the calling thread.

    Runs before every kernel call, so it is kept to a few dictionary and attribute reads.
    """
    local = _overrides.get()
    isa, threads = _state["isa"], _state["threads"]
    if local is not None:
        if local.isa is not None:
            isa = local.isa
        if local.threads is not None:
            threads = local.threads
    if threads is None:
        threads = _default_thread_count or _default_threads()
    if threads > 1:
        if threads > _thread_cap:
            threads = _thread_cap
        elif not _threads_used:
            _mark_threads_used()
    return (_best_isa if isa is None else isa), threads


def _mark_threads_used():
    global _threads_used
    _threads_used = True


def native_call_options():
    """native_options(), or None when this thread runs the NumPy reference: one call where a
    product takes a microsecond (spmv, one token at a time)."""
    return None if use_numpy() else native_options()


def use_numpy():
    """True when the top-level functions called from this thread should run the NumPy reference."""
    local = _overrides.get()
    if local is None or local.backend is None:
        return _state["backend"] == "numpy"
    return local.backend == "numpy"
