"""sparsenet on Dask arrays (``pip install sparsenet[dask]``): the same functions, block by block,
on whatever scheduler is active: the synchronous or threaded one, or a ``distributed`` cluster from
a laptop's ``LocalCluster`` to many machines.

``import sparsenet`` never imports dask; ``import sparsenet.dask`` does. Every function takes Dask
arrays (other arrays are wrapped in one chunk) and returns a lazy Dask array; nothing runs until
``compute`` or ``persist``. Arguments are checked when the graph is built, by running the in-memory
function on an empty block, so a bad argument fails at once with the in-memory function's error.

- Sparse coding, signals in columns and chunked by columns (a signal is never split): :func:`omp`,
  :func:`omp_gram`, :func:`lasso`, :func:`lasso_gram`, and :func:`ksvd` (the coding step on the
  cluster, the atom updates on the client). The dictionary or Gram matrix is one key of the graph:
  each worker receives it once, whatever the number of blocks.
- Thresholding, block by block: :func:`binarize`, :func:`hard_threshold`, :func:`soft_threshold`,
  :func:`topk` (each row whole within a block) and :func:`prune` to blocks of
  ``scipy.sparse.csr_array``.
- Pruned products: :func:`spmm` with an in-memory weight matrix (optimised once, one key) and the
  activations chunked by columns.

Sparse results are Dask arrays of ``scipy.sparse`` blocks (``csc_array`` codes, ``csr_array``
pruned weights), with ``meta`` set so that Dask concatenates them as SciPy does; scanpy and anndata
use the same representation.

Threads. A task runs sparsenet on its share of its process's thread budget: the budget is
``sparsenet.get_num_threads()`` in the process (``OMP_NUM_THREADS``, ``set_num_threads``, or a
``threadpoolctl.threadpool_limits`` through sparsenet's controller), divided by the tasks the process
runs at once (a ``distributed`` worker's ``nthreads``; the threaded scheduler's pool). A Dask worker
with 4 threads therefore gives each of its tasks 1 sparsenet thread. Dask's nanny starts worker
processes with ``OMP_NUM_THREADS=1`` (``distributed.nanny.pre-spawn-environ``), so by default every
task on a cluster runs on one thread and the cluster's parallelism is its workers' threads. The
share is set per task with :func:`sparsenet.use_num_threads` (the calling thread's own count), not
process-wide, because tasks of one process run at the same time. Results never depend on it.

Warnings. The coding functions warn as the in-memory ones do, once per call, and each block is
one call: a computation warns once per block that has signals stopping early (omp, omp_gram:
``RuntimeWarning``) or not converging (lasso, lasso_gram: :class:`sparsenet.ConvergenceWarning`),
counting that block's signals, in the thread or worker process that ran the block (on a
``distributed`` cluster, not in the client's process). One warning per ``compute``
would need the blocks' counts on the client, but a lazy array's blocks hold only codes: the
client sees whatever is computed from them (a sum, a persisted array, a slice), so the counts
would take a second pass, or a result other than an array.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import dask
import dask.array as da
import numpy as np
from numpy.typing import ArrayLike

import sparsenet
from sparsenet import _policy, backend
from sparsenet.csr import CSR, as_csr
from sparsenet.omp import precompute_gram

__all__ = ["omp", "omp_gram", "lasso", "lasso_gram", "ksvd", "binarize", "hard_threshold",
           "soft_threshold", "topk", "prune", "spmm"]


# ---- threads ---------------------------------------------------------------------------------------

def _tasks_at_once() -> int:
    """How many tasks the calling process runs at the same time under the active scheduler."""
    try:
        from distributed import get_worker

        return max(1, get_worker().state.nthreads)
    except (ImportError, ValueError):  # not inside a distributed worker
        pass
    if threading.current_thread() is threading.main_thread():
        return 1  # the synchronous scheduler runs tasks in the caller's thread
    return max(1, dask.config.get("num_workers", None) or dask.system.CPU_COUNT)


def _threads_per_task() -> int:
    return max(1, sparsenet.get_num_threads() // _tasks_at_once())


def _in_task(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Runs `func` on this task's share of the process's threads."""
    with backend.use_num_threads(_threads_per_task()):
        return func(*args, **kwargs)


# ---- arguments -------------------------------------------------------------------------------------

def _as_dask(x: Any, name: str, ndim: Optional[int] = None) -> da.Array:
    """`x` as a Dask array (an in-memory array in one chunk)."""
    if not isinstance(x, da.Array):
        if x is None or isinstance(x, (str, bytes, dict, set)):
            raise TypeError(f"{name} must be a Dask array or an array, got {type(x).__name__}")
        x = da.from_array(np.asarray(x), chunks=-1)
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    return x


def _require_whole(x: da.Array, axis: int, name: str, what: str) -> None:
    """A clear error when `x`'s chunks split `axis`, along which `what` must stay whole."""
    if len(x.chunks[axis]) > 1:
        raise ValueError(f"{name} is chunked along axis {axis} ({len(x.chunks[axis])} chunks: "
                         f"{x.chunks[axis][:4]}...), which would split {what}; give it one chunk "
                         f"along that axis: {name}.rechunk({{{axis}: -1}})")


def _one_key(value: Any) -> Any:
    """The in-memory `value` as one key of the graph (a Delayed), so that a worker receives it
    once, however many blocks read it. (A Dask array goes to blockwise as an argument in one
    chunk instead: as a Delayed keyword, Dask's graph culling dropped the tasks that gathered
    its chunks when another argument was rechunked; see _code_by_signal.)"""
    return dask.delayed(value, pure=True)


def _empty_like(x: Any) -> np.ndarray:
    """An in-memory stand-in of `x` with no columns (signals), for checking arguments and meta."""
    return np.zeros(x.shape[:-1] + (0,), dtype=x.dtype)


def _meta(sample: Any) -> Any:
    """The meta of a Dask array whose blocks are like `sample` (an ndarray or a scipy.sparse
    array): the same type and dtype, empty."""
    if sample.ndim == 0:  # a 0-d Dask array's meta is an empty array too, of the block's type
        return sample.reshape(1)[:0]
    return sample[:0, :0] if sample.ndim == 2 else sample[:0]


# ---- sparse coding: signals in columns ---------------------------------------------------------------

def _code_by_signal(code: Callable[..., Any], matrix: Any, signals: Any, name: str,
                    per_signal: Sequence[Tuple[str, Any]] = (), **options: Any) -> da.Array:
    """`code(matrix, block, **options, **per_signal_blocks)` on each block of signals (columns).

    `matrix` (a dictionary or Gram matrix, in memory or a Dask array) becomes one key of the graph;
    `per_signal` lists keyword arguments with one entry (1-D) or one column (2-D) per signal, which
    are chunked like the signals. The codes have one chunk of atoms."""
    signals = _as_dask(signals, name, ndim=2)
    _require_whole(signals, 0, name, "a signal")
    in_memory = matrix if not isinstance(matrix, da.Array) else \
        np.zeros(matrix.shape, dtype=matrix.dtype)
    signal_chunks = signals.chunks[1]
    extras = {}
    for key, value in per_signal:
        if value is None or np.ndim(value) == 0:
            options[key] = value
            continue
        value = _as_dask(value, key)
        if value.shape[-1] != signals.shape[1]:
            raise ValueError(f"{key} must have one entry per signal ({signals.shape[1]}), got "
                             f"shape {value.shape}")
        extras[key] = value.rechunk(value.shape[:-1] + (signal_chunks,))
    # The in-memory function on no signals: checks every argument now, and gives the blocks' type.
    sample = code(in_memory, _empty_like(signals),
                  **{k: _empty_like(v) for k, v in extras.items()}, **options)
    n_atoms = sample.shape[0]
    arguments: list = [signals, "fs"]
    lazy = isinstance(matrix, da.Array)
    if lazy:  # gathered into one chunk, lazily: one key, its axes contracted ("mn") for every block
        arguments += [matrix.rechunk(-1), "mn"]
    for value in extras.values():
        arguments += [value, "as"[-value.ndim:]]
    names = list(extras)

    def run(blocks, *extra_blocks, matrix=None):
        if lazy:  # the one chunk, in a list per contracted axis
            matrix, extra_blocks = _one_block(_one_block(extra_blocks[0])), extra_blocks[1:]
        return _in_task(code, matrix, _one_block(blocks), **dict(zip(names, extra_blocks)),
                        **options)

    keywords = {} if lazy else {"matrix": _one_key(matrix)}
    return da.blockwise(run, "as", *arguments, **keywords, new_axes={"a": n_atoms},
                        concatenate=False, meta=_meta(sample), dtype=sample.dtype)


def _one_block(blocks: Any) -> Any:
    """The one block along a contracted axis that blockwise passes in a list (concatenate=False:
    with True, Dask copies even a single block, which cost a fifth of a task's time)."""
    return blocks[0] if isinstance(blocks, list) else blocks


def omp(D: Any, X: Any, *, n_nonzero_coefs: Optional[int] = None, tol: Optional[float] = None,
        precompute: Union[bool, str] = "auto", return_format: str = "dense") -> da.Array:
    """:func:`sparsenet.omp` of the signals of a Dask array, block by block.

    Parameters
    ----------
    D : array_like or dask.array.Array, shape (n_features, n_atoms)
        The dictionary (unit-norm atoms in columns). One key of the graph: a worker receives it
        once. A Dask array is gathered into one chunk (lazily).
    X : dask.array.Array, shape (n_features, n_signals)
        The signals, one per column, chunked by columns only (a chunk along the features would
        split a signal: a ValueError says how to rechunk).
    n_nonzero_coefs, tol, return_format
        As in :func:`sparsenet.omp`. ``return_format="csc"`` gives a Dask array whose blocks are
        ``scipy.sparse.csc_array`` (one column per signal); ``compute()`` joins them into one.
    precompute : bool or "auto", default "auto"
        As in :func:`sparsenet.omp`; "auto" is settled once for all the signals, so that every
        block takes the same path and the codes equal the in-memory call's.

    Returns
    -------
    dask.array.Array, shape (n_atoms, n_signals)
        Chunked like X's columns, one chunk of atoms.

    Warns
    -----
    RuntimeWarning
        :func:`sparsenet.omp`'s, once per block with signals that stopped early, where the block
        runs (see the module's Warnings).

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsenet, sparsenet.dask
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((16, 32)); D /= np.linalg.norm(D, axis=0)
    >>> X = da.from_array(rng.standard_normal((16, 1000)), chunks=(16, 300))
    >>> codes = sparsenet.dask.omp(D, X, n_nonzero_coefs=3)
    >>> codes.chunks
    ((32,), (300, 300, 300, 100))
    >>> bool(np.array_equal(codes.compute(), sparsenet.omp(D, X.compute(), n_nonzero_coefs=3)))
    True
    """
    signals = _as_dask(X, "X", ndim=2)
    if isinstance(precompute, str) and precompute == "auto":
        n_features, n_atoms = D.shape if np.ndim(D) == 2 else (0, 0)
        dtype = np.result_type(getattr(D, "dtype", np.float64), signals.dtype, np.float32)
        precompute = precompute_gram(n_atoms, n_features, signals.shape[1], n_nonzero_coefs, tol,
                                     dtype)
    return _code_by_signal(sparsenet.omp, D, signals, "X", n_nonzero_coefs=n_nonzero_coefs,
                           tol=tol, precompute=precompute, return_format=return_format)


def omp_gram(G: Any, DtX: Any, *, n_nonzero_coefs: Optional[int] = None,
             tol: Optional[float] = None, norms_squared: Any = None,
             return_format: str = "dense") -> da.Array:
    """:func:`sparsenet.omp_gram` of the columns of a Dask array ``DtX``, block by block.

    `G` (in memory or a Dask array) is one key of the graph; `norms_squared`, one per signal, may
    be a Dask array and is chunked like DtX's columns. Other arguments and the warning as in
    :func:`omp`.

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsenet, sparsenet.dask
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((16, 32)); D /= np.linalg.norm(D, axis=0)
    >>> X = da.from_array(rng.standard_normal((16, 1000)), chunks=(16, 250))
    >>> codes = sparsenet.dask.omp_gram(D.T @ D, D.T @ X, tol=1.0,
    ...                                 norms_squared=(X ** 2).sum(axis=0))
    >>> codes.shape
    (32, 1000)
    """
    return _code_by_signal(sparsenet.omp_gram, G, DtX, "DtX",
                           per_signal=[("norms_squared", norms_squared)],
                           n_nonzero_coefs=n_nonzero_coefs, tol=tol, return_format=return_format)


def lasso(D: Any, X: Any, alpha: float, *, positive: bool = False, max_iter: int = 1000,
          tol: Optional[float] = None, init: Any = None) -> da.Array:
    """:func:`sparsenet.lasso` of the signals of a Dask array, block by block.

    `D` is one key of the graph; `init` (n_atoms, n_signals), when given, is chunked like X's
    columns. The codes equal the in-memory call's: each signal is solved on its own.

    Warns
    -----
    sparsenet.ConvergenceWarning
        :func:`sparsenet.lasso`'s, once per block with signals that `max_iter` stopped, where the
        block runs (see the module's Warnings).

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsenet, sparsenet.dask
    >>> rng = np.random.default_rng(0)
    >>> D = rng.standard_normal((16, 32)); D /= np.linalg.norm(D, axis=0)
    >>> X = da.from_array(rng.standard_normal((16, 500)), chunks=(16, 200))
    >>> codes = sparsenet.dask.lasso(D, X, 0.5)
    >>> bool(np.array_equal(codes.compute(), sparsenet.lasso(D, X.compute(), 0.5)))
    True
    """
    return _code_by_signal(sparsenet.lasso, D, X, "X", per_signal=[("init", init)], alpha=alpha,
                           positive=positive, max_iter=max_iter, tol=tol)


def lasso_gram(G: Any, DtX: Any, alpha: float, *, norms_squared: Any = None,
               positive: bool = False, max_iter: int = 1000, tol: Optional[float] = None,
               init: Any = None) -> da.Array:
    """:func:`sparsenet.lasso_gram` of the columns of a Dask array ``DtX``, block by block; `G` is
    one key of the graph, `norms_squared` and `init` are chunked like DtX's columns. The warning
    as in :func:`lasso`.

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsenet.dask
    >>> D = np.eye(2); X = da.from_array(np.array([[2., 0.1], [0.25, -3.]]), chunks=(2, 1))
    >>> sparsenet.dask.lasso_gram(D.T @ D, D.T @ X, 0.5).compute()
    array([[ 1.5,  0. ],
           [ 0. , -2.5]])
    """
    return _code_by_signal(sparsenet.lasso_gram, G, DtX, "DtX",
                           per_signal=[("norms_squared", norms_squared), ("init", init)],
                           alpha=alpha, positive=positive, max_iter=max_iter, tol=tol)


def ksvd(X: Any, n_atoms: int, n_nonzero_coefs: Optional[int] = None, tol: Optional[float] = None,
         *, max_iter: int = 10, init: Any = "data", random_state: Any = None,
         return_format: str = "dense", return_errors: bool = False) -> Any:
    """:func:`sparsenet.ksvd` with the coding step on the cluster and the atom updates here.

    Each iteration codes the signals of `X` block by block (:func:`omp`, CSC codes), gathers the
    codes, and updates the atoms in memory with the same native kernel as :func:`sparsenet.ksvd`:
    the updates run one atom after the other over every signal that uses it, which does not split
    into blocks. X is gathered here once; the coding step, which dominates (every signal against
    every atom), runs where the signals are. Results equal :func:`sparsenet.ksvd`'s.

    Returns
    -------
    D : ndarray, codes : ndarray or csc_array (in memory), and errors with `return_errors`,
        as :func:`sparsenet.ksvd`.

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsenet, sparsenet.dask
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((16, 600))
    >>> D, codes = sparsenet.dask.ksvd(da.from_array(X, chunks=(16, 250)), 24, 3, max_iter=3,
    ...                                random_state=0)
    >>> D0, codes0 = sparsenet.ksvd(X, 24, 3, max_iter=3, random_state=0)
    >>> bool(np.array_equal(D, D0) and np.array_equal(codes, codes0))
    True
    """
    from sparsenet import coding

    signals = _as_dask(X, "X", ndim=2)
    _require_whole(signals, 0, "X", "a signal")

    def code_step(D, factor, tol):
        # "auto" settled for all the signals, as the in-memory call settles it; the signals times
        # the power of two the in-memory call learns on, tol scaled with them
        precompute = precompute_gram(n_atoms, D.shape[0], signals.shape[1], n_nonzero_coefs, tol,
                                     D.dtype)
        scaled = signals if factor == 1 else signals * factor
        return _code_by_signal(coding._ksvd_codes, D, scaled, "X",
                               n_nonzero_coefs=n_nonzero_coefs, tol=tol,
                               precompute=precompute).compute()

    return coding._ksvd(signals.compute(), n_atoms, n_nonzero_coefs, tol, max_iter=max_iter,
                        init=init, random_state=random_state, return_format=return_format,
                        return_errors=return_errors, code_step=code_step)


# ---- thresholding, block by block --------------------------------------------------------------------

def _to_blocks(x: da.Array, func: Callable[..., Any], **options: Any) -> da.Array:
    """`func(block, **options)` on each block of `x`; a sparsenet.CSR result becomes a
    scipy.sparse.csr_array block (Dask can join those)."""
    sample = func(np.zeros((0,) * x.ndim, dtype=x.dtype), **options)
    as_block = _scipy_block if isinstance(sample, CSR) else _unchanged
    return da.map_blocks(lambda block: as_block(_in_task(func, block, **options)), x,
                         meta=_meta(as_block(sample)), dtype=sample.dtype)


def _scipy_block(matrix: CSR) -> Any:
    return matrix.to_scipy()


def _unchanged(block: Any) -> Any:
    return block


def binarize(x: Any, theta: float, *, dtype: Any = None, format: str = "dense") -> da.Array:
    """:func:`sparsenet.binarize` block by block (any chunking); ``format="csr"`` (2-D) gives
    blocks of ``scipy.sparse.csr_array``.

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsenet.dask
    >>> x = da.from_array(np.array([[0.2, 0.7], [0.9, -1.0]]), chunks=1)
    >>> sparsenet.dask.binarize(x, 0.5).compute()
    array([[0., 1.],
           [1., 0.]])
    """
    return _to_blocks(_as_dask(x, "x"), sparsenet.binarize, theta=theta, dtype=dtype,
                      format=format)


def hard_threshold(x: Any, theta: float, *, format: str = "dense") -> da.Array:
    """:func:`sparsenet.hard_threshold` block by block (any chunking).

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsenet.dask
    >>> x = da.from_array(np.array([0.2, -0.7, 0.9, -1.0]), chunks=3)
    >>> sparsenet.dask.hard_threshold(x, 0.5).compute()
    array([ 0. , -0.7,  0.9, -1. ])
    """
    return _to_blocks(_as_dask(x, "x"), sparsenet.hard_threshold, theta=theta, format=format)


def soft_threshold(x: Any, lam: float, *, format: str = "dense") -> da.Array:
    """:func:`sparsenet.soft_threshold` block by block (any chunking).

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsenet.dask
    >>> x = da.from_array(np.array([0.25, -0.75, 1.5, -1.0]), chunks=3)
    >>> sparsenet.dask.soft_threshold(x, 0.5).compute()
    array([ 0.  , -0.25,  1.  , -0.5 ])
    """
    return _to_blocks(_as_dask(x, "x"), sparsenet.soft_threshold, lam=lam, format=format)


def topk(x: Any, k: int, *, axis: int = -1, largest_magnitude: bool = True,
         format: str = "dense") -> da.Array:
    """:func:`sparsenet.topk` block by block: `x` must have one chunk along `axis`, so that each
    row is whole in its block (a ValueError says how to rechunk).

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsenet.dask
    >>> x = da.from_array(np.array([[3.0, -4.0, 1.0], [0.0, 2.0, -5.0]]), chunks=(1, 3))
    >>> sparsenet.dask.topk(x, 1).compute()
    array([[ 0., -4.,  0.],
           [ 0.,  0., -5.]])
    """
    x = _as_dask(x, "x")
    sparsenet.topk(np.zeros((0,) * x.ndim, dtype=x.dtype), k, axis=axis,
                   largest_magnitude=largest_magnitude, format=format)  # the arguments, checked
    _require_whole(x, int(axis) % x.ndim, "x", f"a row along axis {axis}")
    return _to_blocks(x, sparsenet.topk, k=k, axis=axis, largest_magnitude=largest_magnitude,
                      format=format)


def prune(W: Any, *, sparsity: Optional[float] = None, threshold: Optional[float] = None,
          per_row: bool = False) -> da.Array:
    """:func:`sparsenet.prune` of a Dask array into a Dask array of ``scipy.sparse.csr_array``
    blocks, chunked like W, with the in-memory call's answer.

    With `threshold`, or `sparsity` and ``per_row=True`` (W then needs one chunk along its
    columns), each block is pruned on its own. With `sparsity` over the whole matrix, the magnitude
    at which to cut is found first, exactly: a radix selection on the bit patterns of ``|W|``, 16
    bits per pass (2 passes for float32, 4 for float64), each pass one histogram per block summed
    here; then one pass counts the entries that tie with the cut per row and block, and each block
    keeps the ties that come first in row-major order, as :func:`sparsenet.prune` does. Those
    passes run when this function is called (on the active scheduler); the pruning itself is lazy.

    Examples
    --------
    >>> import numpy as np, dask.array as da, sparsenet, sparsenet.dask
    >>> W = np.arange(-8.0, 8.0).reshape(4, 4)
    >>> pruned = sparsenet.dask.prune(da.from_array(W, chunks=2), sparsity=0.75)
    >>> pruned.compute().toarray()
    array([[-8., -7., -6.,  0.],
           [ 0.,  0.,  0.,  0.],
           [ 0.,  0.,  0.,  0.],
           [ 0.,  0.,  0.,  7.]])
    >>> bool(np.array_equal(pruned.compute().toarray(), sparsenet.prune(W, sparsity=0.75).toarray()))
    True
    """
    W = _as_dask(W, "W", ndim=2)
    # the arguments, checked by the in-memory function
    sparsenet.prune(np.zeros((0, 0), dtype=W.dtype), sparsity=sparsity, threshold=threshold,
                    per_row=per_row)
    if threshold is not None:
        return _to_blocks(W, sparsenet.prune, threshold=threshold)
    if per_row:
        _require_whole(W, 1, "W", "a row (per_row=True prunes each row to the sparsity)")
        return _to_blocks(W, sparsenet.prune, sparsity=sparsity, per_row=True)
    return _prune_globally(W, _policy.n_kept(float(sparsity), W.size))  # type: ignore[arg-type]


_DIGIT_BITS = 16


def _magnitude_keys(block: np.ndarray) -> np.ndarray:
    """The bit patterns of ``|block|`` as unsigned integers: they order as the magnitudes do, NaN
    above +inf, and -0.0 equal to +0.0."""
    block = np.asarray(block)
    if block.dtype not in (np.float32, np.float64):
        block = block.astype(np.float64)
    unsigned = np.uint32 if block.dtype == np.float32 else np.uint64
    return np.abs(block).view(unsigned)


def _digit_histogram(block, shift, prefix_shift, prefix):
    keys = _magnitude_keys(block).ravel()
    if prefix_shift is not None:
        keys = keys[(keys >> keys.dtype.type(prefix_shift)) == prefix]
    digits = ((keys >> keys.dtype.type(shift)) & ((1 << _DIGIT_BITS) - 1)).astype(np.intp)
    return np.bincount(digits, minlength=1 << _DIGIT_BITS)[None, None, :]


def _prune_globally(W: da.Array, n_keep: int) -> da.Array:
    dtype = np.float32 if W.dtype == np.float32 else np.float64
    key_bits = 8 * np.dtype(dtype).itemsize
    meta = _meta(CSR.from_dense(np.zeros((1, 1), dtype=dtype)).to_scipy())
    if n_keep == 0:
        return da.map_blocks(lambda block: _scipy_block(CSR.from_dense(np.zeros_like(
            block, dtype=dtype))), W, meta=meta, dtype=dtype)
    # Radix selection of the key of the n_keep-th largest magnitude, from the top digit down.
    prefix, wanted, prefix_shift = 0, n_keep, None
    for shift in range(key_bits - _DIGIT_BITS, -1, -_DIGIT_BITS):
        histogram = da.map_blocks(_digit_histogram, W, shift, prefix_shift, prefix, new_axis=2,
                                  chunks=((1,) * len(W.chunks[0]), (1,) * len(W.chunks[1]),
                                          (1 << _DIGIT_BITS,)), dtype=np.intp,
                                  meta=np.empty((0, 0, 0), np.intp))
        counts = histogram.sum(axis=(0, 1)).compute()[::-1]  # from the largest digit down
        above = np.cumsum(counts)
        digit_from_top = int(np.searchsorted(above, wanted))  # first digit reaching `wanted`
        wanted -= int(above[digit_from_top] - counts[digit_from_top])
        prefix = (prefix << _DIGIT_BITS) | ((1 << _DIGIT_BITS) - 1 - digit_from_top)
        prefix_shift = shift
    cut = prefix  # the key of the cut; `wanted` of its ties are kept, the first in row-major order
    ties = da.map_blocks(lambda block: (_magnitude_keys(block) == cut).sum(axis=1)[:, None], W,
                         chunks=(W.chunks[0], (1,) * len(W.chunks[1])), dtype=np.intp,
                         meta=np.empty((0, 0), np.intp)).compute()
    ties_before = (np.cumsum(ties.ravel()) - ties.ravel()).reshape(ties.shape)

    def keep_block(block, ties_before, block_info=None):
        (row_start, row_stop), _ = block_info[0]["array-location"]
        ties_before_rows = ties_before[row_start:row_stop, block_info[0]["chunk-location"][1]]
        keys = _magnitude_keys(block)
        tie = keys == cut
        tie_rank = ties_before_rows[:, None] + np.cumsum(tie, axis=1) - 1
        kept = (keys > cut) | (tie & (tie_rank < wanted))
        return _scipy_block(CSR.from_dense(np.where(kept, block, 0).astype(dtype, copy=False)))

    return da.map_blocks(keep_block, W, _one_key(ties_before), meta=meta, dtype=dtype)


# ---- pruned products --------------------------------------------------------------------------------

def spmm(W: Any, X: Any, *, transpose: bool = False) -> da.Array:
    """:func:`sparsenet.spmm` of an in-memory pruned matrix and activations in a Dask array.

    Parameters
    ----------
    W : sparsenet.CSR or scipy.sparse CSR matrix, shape (n_rows, n_cols)
        Optimised here once (:meth:`sparsenet.CSR.optimize` for the widest block of X, and for
        the transposed product with ``transpose=True``) unless it already is; one key of the
        graph, so each worker receives it once (and rebuilds the optimised layout once).
    X : dask.array.Array, shape (n_cols, k), or (n_rows, k) with `transpose`
        Chunked by columns only (a chunk along the rows would split the product's sums).
    transpose : bool, default False

    Returns
    -------
    dask.array.Array, shape (n_rows, k) (or (n_cols, k)), chunked like X's columns

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, dask.array as da, sparsenet.dask
    >>> W = sp.random(50, 40, density=0.2, format="csr", random_state=0)
    >>> X = da.from_array(np.ones((40, 100)), chunks=(40, 30))
    >>> Y = sparsenet.dask.spmm(W, X)
    >>> Y.chunks[1], bool(np.allclose(Y.compute(), W @ np.ones((40, 100))))
    ((30, 30, 30, 10), True)
    """
    A = as_csr(W, "W")
    X = _as_dask(X, "X", ndim=2)
    sample = sparsenet.spmm(A, _empty_like(X), transpose=transpose)  # the arguments, checked
    _require_whole(X, 0, "X", "the sums of the product (one column of X is one product)")
    if A._optimized is None or (transpose and not A._optimized[1]):
        A = A.optimize(batch=max(1, max(X.chunks[1])), transpose=transpose)

    def product(blocks, matrix):
        return _in_task(sparsenet.spmm, matrix, _one_block(blocks), transpose=transpose)

    return da.blockwise(product, "is", X, "js", matrix=_one_key(A),
                        new_axes={"i": sample.shape[0]}, concatenate=False, meta=_meta(sample),
                        dtype=sample.dtype)
