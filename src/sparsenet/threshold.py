"""Sparse coding by thresholding: binary, hard, soft and top-k, and magnitude pruning to CSR.

Dense elementwise results take one pass over the input, at the speed of memory, on arrays of any
shape and layout (C or F order, strided and negative-stride views, read-only arrays) without
copying them, into a new array or ``out=`` (``out=x`` works in place). For 2-D input a
:class:`sparsenet.CSR` is built straight from the input: a count pass, a prefix sum and a fill
pass, each in parallel. CSR results store the nonzero results only, as
``scipy.sparse.csr_matrix(dense_result)`` does; NaN is nonzero. The row kernels (``topk``, CSR
output, ``prune``) scan contiguous rows: a column-major or strided matrix is first copied to row
order in cache-sized tiles.

NaN follows NumPy. In comparisons it is false: ``binarize`` and ``hard_threshold`` map it to 0, and
``soft_threshold`` returns NaN (as ``np.maximum`` does). In rankings (``topk``, ``prune`` by
sparsity) it ranks above +inf, as ``np.sort`` and ``np.argpartition`` order it, so a NaN is kept
first and stays visible. -0.0 and +0.0 are equal everywhere.

Thresholds are converted to the input's float dtype first (as NumPy 2 does with a Python float), so
float32 data are compared with a float32 threshold.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from sparsenet import _policy, _threshold, backend, reference
from sparsenet._validate import (as_array, check_bool, check_index, copy_into, new_output,
                                 new_output_like, result_dtype)
from sparsenet.csr import CSR

_FORMATS = ("dense", "csr")
_BYTE_DTYPES = (np.dtype(np.bool_), np.dtype(np.uint8))
_BINARIZE, _HARD, _SOFT = 0, 1, 2  # enum sn_thr_op (csrc/threshold.h)
_MAGNITUDE, _VALUE = 0, 1  # enum sn_thr_rank
_TOO_HARD = getattr(np, "exceptions", np).TooHardError  # np.exceptions from NumPy 1.25 on


# --- argument checks ---


def _float_input(x: Any, name: str, ndim: Optional[int] = None) -> np.ndarray:
    """x as an aligned array of its float result dtype (float32 stays float32; integers and bools
    become float64, by an explicit copy)."""
    x = as_array(x, name, ndim=ndim)
    dtype = result_dtype(x, names=(name,))
    if x.dtype != dtype or not x.flags.aligned:
        x = x.astype(dtype)
    return x


def _real_scalar(value: Any, name: str, dtype: np.dtype) -> Any:
    """`value` as a scalar of `dtype`; TypeError unless a real number, ValueError for NaN."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                      np.floating)):
        if not (isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    with np.errstate(over="ignore"):
        scalar = dtype.type(value)
    if np.isnan(scalar):
        raise ValueError(f"{name} must not be NaN")
    return scalar


def _check_format(format: str, x: np.ndarray, name: str = "x",
                  out: Optional[np.ndarray] = None) -> None:
    if format not in _FORMATS:
        raise ValueError(f"format must be one of {_FORMATS}, got {format!r}")
    if format == "csr" and out is not None:  # both backends: a CSR result is a new object
        raise ValueError("out is only for format='dense'")
    if format == "csr" and x.ndim != 2:
        raise ValueError(f"format='csr' needs a 2-D {name}, got an array of shape {x.shape}")


def _check_dense_out(out: Any, x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A caller's `out` for an elementwise result: any layout; out=x (in place) is fine, any other
    overlap with x is not."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != x.shape:
        raise ValueError(f"out must have shape {x.shape}, got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"out must have dtype {dtype}, got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    if not out.flags.aligned:
        raise ValueError("out must be aligned")
    same = (out.__array_interface__["data"][0] == x.__array_interface__["data"][0]
            and out.strides == x.strides and out.dtype == x.dtype)
    if not same and np.may_share_memory(out, x):
        try:
            overlap = np.shares_memory(out, x, max_work=10_000)  # type: ignore[arg-type]
        except _TOO_HARD:
            overlap = True
        if overlap:
            raise ValueError("out must be x itself (in place) or share no memory with x")
    return out


# --- 2-D views of any array ---


def _folded_views(x, y):
    """Pairs of 2-D views of x and y (same shape) that together cover every element once: axes in
    x's memory order, merged wherever both arrays' strides allow, so contiguous arrays become one
    row; more than two unmergeable axes give one pair per index of the outer ones."""
    if x.size == 0:
        return []
    axes = [(n, sx // x.itemsize, sy // y.itemsize)
            for n, sx, sy in zip(x.shape, x.strides, y.strides) if n != 1]
    axes.sort(key=lambda axis: -abs(axis[1]))
    merged = []
    for n, sx, sy in axes:
        if merged and merged[-1][1] == n * sx and merged[-1][2] == n * sy:
            merged[-1] = (merged[-1][0] * n, sx, sy)
        else:
            merged.append((n, sx, sy))
    while len(merged) < 2:
        merged.insert(0, (1, 0, 0))
    shape = tuple(n for n, _, _ in merged)
    xv = np.lib.stride_tricks.as_strided(x, shape, tuple(sx * x.itemsize for _, sx, _ in merged))
    yv = np.lib.stride_tricks.as_strided(y, shape, tuple(sy * y.itemsize for _, _, sy in merged))
    return [(xv[idx], yv[idx]) for idx in np.ndindex(*shape[:-2])]


def _row_major(x):
    """2-D x with contiguous rows: itself, or a C-order copy (copy_into: a column-major x by the
    tiled native copy, as scanning its rows would touch a cache line per element)."""
    if x.shape[1] <= 1 or x.strides[1] == x.itemsize:
        return x
    y = new_output(x.shape, x.dtype)
    copy_into(y, x, backend.native_options()[1])
    return y


# --- CSR assembly ---


def _csr_arrays(counts, n_cols, dtype):
    """indptr (prefix sum of the row counts) and empty indices / data; int32 indices when they fit."""
    indptr = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    nnz = int(indptr[-1])
    index = _policy.csr_index_dtype(n_cols, nnz)
    return indptr.astype(index, copy=False), np.empty(nnz, dtype=index), np.empty(nnz, dtype=dtype)


def _elementwise_csr(op, x, p):
    x = _row_major(x)
    isa, threads = backend.native_options()
    counts = np.empty(x.shape[0], dtype=np.int64)
    _threshold.count(isa, threads, op, p, x, counts)
    indptr, indices, data = _csr_arrays(counts, x.shape[1], x.dtype)
    _threshold.fill(isa, threads, op, p, x, indptr, indices, data)
    return CSR._from_trusted(data, indices, indptr, x.shape, canonical=True)


def _cut_csr(cut_kernel, rank, x, arg):
    """CSR of the entries a cut selects: cut_kernel finds the cut and counts, cut_fill writes."""
    x = _row_major(x)
    isa, threads = backend.native_options()
    n_rows = x.shape[0]
    cut = np.empty(n_rows, dtype=np.uint64)
    quota = np.empty(n_rows, dtype=np.int64)
    counts = np.empty(n_rows, dtype=np.int64)
    cut_kernel(isa, threads, *rank, arg, x, cut, quota, counts)
    indptr, indices, data = _csr_arrays(counts, x.shape[1], x.dtype)
    _threshold.cut_fill(isa, threads, rank[0] if rank else _MAGNITUDE, x, cut, quota, indptr,
                        indices, data)
    return CSR._from_trusted(data, indices, indptr, x.shape, canonical=True)


def _elementwise(op, x, p, out, format, out_dtype=None):
    """Shared body of binarize, hard_threshold and soft_threshold (x and p already checked)."""
    if format == "csr":
        if out is not None:
            raise ValueError("out is only for format='dense'")
        return _elementwise_csr(op, x, p)
    out_dtype = x.dtype if out_dtype is None else out_dtype
    y = out if out is not None else new_output_like(x, out_dtype)
    isa, threads = backend.native_options()
    for xv, yv in _folded_views(x, y):
        if op == _BINARIZE and out_dtype in _BYTE_DTYPES:
            _threshold.binarize_bytes(isa, threads, p, xv, yv.view(np.uint8))
        else:
            _threshold.map_values(isa, threads, op, p, xv, yv)
    return y


def _from_reference(result: Any) -> Any:
    """A reference result in the native API's types: its scipy CSR matrices become sparsenet.CSR
    (checked, sharing the reference's fresh arrays)."""
    return CSR(result, copy=False) if hasattr(result, "tocsr") else result


# --- public API ---


def binarize(x: ArrayLike, theta: float, *, dtype: Optional[DTypeLike] = None,
             out: Optional[np.ndarray] = None, format: str = "dense") -> Union[np.ndarray, CSR]:
    """Binary sparse code: 1 where ``x >= theta``, else 0.

    The seed's coding step "sigmoid, then threshold" needs no sigmoid pass: sigmoid is increasing,
    so ``sigmoid(o) >= theta`` exactly when ``o >= logit(theta) = log(theta / (1 - theta))`` for
    0 < theta < 1 (in exact arithmetic; rounding can move an o within an ulp of logit(theta)); call
    ``binarize(o, logit(theta))``.

    Parameters
    ----------
    x : array_like
        Any shape and layout; float32 stays float32, integers and bools compute in float64.
    theta : float
        The threshold, converted to x's float dtype; not NaN.
    dtype : {None, float dtype of x, bool, uint8}
        Output dtype; by default x's float dtype (or out's dtype when out is given).
    out : ndarray, optional
        Array of x's shape (any layout) to write into; ``out=x`` works in place. Only with
        format="dense": a CSR result is a new object (ValueError otherwise, on both backends).
    format : {"dense", "csr"}
        "csr" (2-D x only) returns a :class:`sparsenet.CSR` of the ones, with float values.

    Returns
    -------
    ndarray or sparsenet.CSR
        NaN compares false, so NaN gives 0, as ``x >= theta`` does in NumPy.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> o = np.array([-1.0, 0.0, 0.5, 2.0], dtype=np.float32)
    >>> sparsenet.binarize(o, 0.5)
    array([0., 0., 1., 1.], dtype=float32)
    >>> theta = 0.6  # sigmoid(o) >= 0.6 without computing a sigmoid
    >>> sparsenet.binarize(o, np.log(theta / (1 - theta)), dtype=bool)
    array([False, False,  True,  True])
    """
    x = _float_input(x, "x")
    p = _real_scalar(theta, "theta", x.dtype)
    _check_format(format, x, out=out)
    if dtype is None:
        out_dtype = out.dtype if isinstance(out, np.ndarray) and format == "dense" else x.dtype
    else:
        out_dtype = np.dtype(dtype)
    allowed = (x.dtype,) + (_BYTE_DTYPES if format == "dense" else ())
    if out_dtype not in allowed:
        raise TypeError(f"dtype must be one of {[str(d) for d in allowed]} for a {x.dtype} x and "
                        f"format={format!r}, got {out_dtype}")
    if out is not None and format == "dense":
        _check_dense_out(out, x, out_dtype)
    if backend.use_numpy():
        return _from_reference(reference.binarize(x, p, dtype=out_dtype, out=out, format=format))
    return _elementwise(_BINARIZE, x, p, out, format, out_dtype)


def hard_threshold(x: ArrayLike, theta: float, *, out: Optional[np.ndarray] = None,
                   format: str = "dense") -> Union[np.ndarray, CSR]:
    """Hard thresholding: ``x`` where ``|x| >= theta``, else 0.

    Parameters
    ----------
    x : array_like
        Any shape and layout; float32 stays float32, integers and bools compute in float64.
    theta : float
        The threshold, converted to x's float dtype; not NaN.
    out : ndarray, optional
        Array of x's shape and float dtype (any layout); ``out=x`` works in place. Only with
        format="dense" (ValueError with "csr", on both backends).
    format : {"dense", "csr"}
        "csr" (2-D x only) returns a :class:`sparsenet.CSR` of the kept nonzero entries, built
        straight from x (``prune(W, threshold=theta)`` is the same).

    Returns
    -------
    ndarray or sparsenet.CSR
        NaN compares false, so NaN gives 0, as ``np.where(np.abs(x) >= theta, x, 0)`` does.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> x = np.array([[-3.0, 0.5], [1.0, -0.2]])
    >>> sparsenet.hard_threshold(x, 1.0)
    array([[-3.,  0.],
           [ 1.,  0.]])
    >>> sparsenet.hard_threshold(x, 1.0, format="csr").indices
    array([0, 0], dtype=int32)
    """
    x = _float_input(x, "x")
    p = _real_scalar(theta, "theta", x.dtype)
    _check_format(format, x, out=out)
    if out is not None and format == "dense":
        _check_dense_out(out, x, x.dtype)
    if backend.use_numpy():
        return _from_reference(reference.hard_threshold(x, p, out=out, format=format))
    return _elementwise(_HARD, x, p, out, format)


def soft_threshold(x: ArrayLike, lam: float, *, out: Optional[np.ndarray] = None,
                   format: str = "dense") -> Union[np.ndarray, CSR]:
    """Soft thresholding ``sign(x) * max(|x| - lam, 0)``: the proximal map of ``lam * ||x||_1``.

    Parameters
    ----------
    x : array_like
        Any shape and layout; float32 stays float32, integers and bools compute in float64.
    lam : float
        The shrinkage, >= 0, converted to x's float dtype.
    out : ndarray, optional
        Array of x's shape and float dtype (any layout); ``out=x`` works in place. Only with
        format="dense" (ValueError with "csr", on both backends).
    format : {"dense", "csr"}
        "csr" (2-D x only) returns a :class:`sparsenet.CSR` of the nonzero results.

    Returns
    -------
    ndarray or sparsenet.CSR
        NaN stays NaN (as ``np.maximum`` propagates it); zeros may be +0.0 where NumPy's formula
        gives -0.0 (they compare equal).

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> sparsenet.soft_threshold(np.array([-3.0, 0.5, 2.0]), 1.0)
    array([-2.,  0.,  1.])
    """
    x = _float_input(x, "x")
    p = _real_scalar(lam, "lam", x.dtype)
    if p < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    _check_format(format, x, out=out)
    if out is not None and format == "dense":
        _check_dense_out(out, x, x.dtype)
    if backend.use_numpy():
        return _from_reference(reference.soft_threshold(x, p, out=out, format=format))
    return _elementwise(_SOFT, x, p, out, format)


def topk(x: ArrayLike, k: int, *, axis: int = -1, largest_magnitude: bool = True,
         format: str = "dense") -> Union[np.ndarray, CSR]:
    """k-winners-take-all: keep the k entries of largest magnitude (or value) along `axis`.

    A radix selection on the bit patterns of the values, one row at a time in cache, not a sort.
    Ties go to the lower index, so the result is deterministic; NaN ranks above +inf (NumPy's sort
    order), and -0.0 ties with +0.0.

    Parameters
    ----------
    x : array_like, at least 1-D
        float32 stays float32, integers and bools compute in float64. Any layout; when the rows
        along `axis` are not contiguous, they are first copied in cache-friendly tiles.
    k : int
        Entries kept per row, >= 0; k = 0 gives zeros, k >= the row length keeps everything.
    axis : int, default -1
        The axis along which to select.
    largest_magnitude : bool, default True
        Rank by ``|x|``; False ranks by value (the k largest).
    format : {"dense", "csr"}
        "csr" (2-D x, axis -1 or 1) returns a :class:`sparsenet.CSR` of the kept nonzero entries.

    Returns
    -------
    ndarray or sparsenet.CSR
        The dense result has x's shape (C order along `axis` moved last, then moved back).

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> x = np.array([[3.0, -4.0, 1.0, 4.0], [0.0, 2.0, 2.0, 2.0]])
    >>> sparsenet.topk(x, 2)
    array([[ 0., -4.,  0.,  4.],
           [ 0.,  2.,  2.,  0.]])
    >>> sparsenet.topk(x, 1, largest_magnitude=False)
    array([[0., 0., 0., 4.],
           [0., 2., 0., 0.]])
    """
    x = _float_input(x, "x")
    if x.ndim == 0:
        raise ValueError("x must be at least 1-D, got a 0-d array")
    k = check_index(k, "k", low=0)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be in [{-x.ndim}, {x.ndim - 1}] for a {x.ndim}-D x, got {axis}")
    axis = int(axis) % x.ndim
    k = min(k, x.shape[axis])  # k >= the row length keeps everything (and fits the kernel's int64)
    largest_magnitude = check_bool(largest_magnitude, "largest_magnitude")
    _check_format(format, x)
    if format == "csr" and axis != 1:
        raise ValueError(f"format='csr' selects along rows: axis must be -1 or 1, got {axis}")
    if backend.use_numpy():
        return _from_reference(reference.topk(x, k, axis=axis,
                                              largest_magnitude=largest_magnitude, format=format))
    rank = _MAGNITUDE if largest_magnitude else _VALUE
    if format == "csr":
        return _cut_csr(_threshold.topk_cut, (rank,), x, k)
    moved = np.moveaxis(x, axis, -1)
    n = moved.shape[-1]
    rows = _row_major(moved.reshape(math.prod(moved.shape[:-1]), n))
    y = new_output(rows.shape, x.dtype)
    isa, threads = backend.native_options()
    _threshold.topk(isa, threads, rank, k, rows, y)
    return np.moveaxis(y.reshape(moved.shape), -1, axis)


def prune(W: ArrayLike, *, sparsity: Optional[float] = None, threshold: Optional[float] = None,
          per_row: bool = False) -> CSR:
    """Magnitude pruning of a dense matrix straight into a :class:`sparsenet.CSR`.

    Give exactly one of `sparsity` and `threshold`. With `sparsity` s, the ``round(s * n)`` entries
    of smallest magnitude of W's n entries (of each row's, with ``per_row=True``) are pruned and the
    rest kept; the cut is found by a radix selection on the bit patterns of ``|W|`` (no sort), ties are
    kept from the lower row-major index on, and NaN ranks above +inf (kept first). With `threshold`,
    the entries with ``|W| >= threshold`` are kept (NaN compares false: pruned). Kept zeros are not
    stored. Built in parallel: a count pass, a prefix sum and a fill pass.

    Parameters
    ----------
    W : array_like, 2-D
        Any layout; float32 stays float32.
    sparsity : float in [0, 1], optional
    threshold : float, optional
        Not NaN.
    per_row : bool, default False
        Prune each row to the sparsity (only with `sparsity`).

    Returns
    -------
    sparsenet.CSR
        Canonical (sorted column indices), int32 indices when they fit.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> W = np.array([[0.1, -2.0, 0.3], [4.0, 0.0, -0.5]], dtype=np.float32)
    >>> sparsenet.prune(W, sparsity=0.5).toarray()
    array([[ 0. , -2. ,  0. ],
           [ 4. ,  0. , -0.5]], dtype=float32)
    >>> sparsenet.prune(W, threshold=1.0).nnz
    2
    """
    W = _float_input(W, "W", ndim=2)
    if (sparsity is None) == (threshold is None):
        raise ValueError("give exactly one of sparsity and threshold, got "
                         + ("both" if sparsity is not None else "neither"))
    per_row = check_bool(per_row, "per_row")
    if threshold is not None:
        if per_row:
            raise ValueError("per_row applies to sparsity; a threshold is the same for every row")
        p = _real_scalar(threshold, "threshold", W.dtype)
        if backend.use_numpy():
            return CSR(reference.prune(W, threshold=p), copy=False)
        return _elementwise_csr(_HARD, W, p)
    s = float(_real_scalar(sparsity, "sparsity", np.dtype(np.float64)))
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"sparsity must be in [0, 1], got {sparsity}")
    if backend.use_numpy():
        return CSR(reference.prune(W, sparsity=s, per_row=per_row), copy=False)
    if per_row:
        return _cut_csr(_threshold.topk_cut, (_MAGNITUDE,), W, _policy.n_kept(s, W.shape[1]))
    return _cut_csr(_threshold.prune_cut, (), W, _policy.n_kept(s, W.size))
