"""Sparse coding by Orthogonal Matching Pursuit: many signals against one dictionary (Batch-OMP).

``omp(D, X)`` and ``omp_gram(G, DtX)`` follow scikit-learn's ``orthogonal_mp`` and
``orthogonal_mp_gram``: the same defaults, stopping rules, errors and premature-stop warning, and
the same answers (but for exact ties between identical atoms: sparsenet takes the lowest original
index, scikit-learn the lowest position after its swaps; the residuals are the same). The native
kernel computes G = D^T D, then D^T X block by block and the codes of
the signals, in C on sparsenet's OpenMP threads, with progressive Cholesky updates (see
csrc/batch_omp.h for why no BLAS).
"""
from __future__ import annotations

import math
from typing import Any, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

from sparsenet import _omp, _policy, backend, reference
from sparsenet._validate import (as_aligned, as_array, as_c_array, check_bool, check_index,
                                new_output, result_dtype)

PREMATURE = _policy.OMP_PREMATURE  # scikit-learn's message, so its filters catch ours

_INT32_MAX = 2**31 - 1


def _check_finite(a, name):
    # A sum is cheaper than isfinite(a).all(); only when it is not finite (NaN, inf, or an overflow
    # of huge finite values) is the exact test run.
    with np.errstate(over="ignore", invalid="ignore"):
        suspicious = a.size and not np.isfinite(a.sum())
    if suspicious and not np.isfinite(a).all():
        raise ValueError(f"{name} must not contain NaN or infinity")


def _default_atoms(n_atoms):
    """:func:`omp`'s atoms per signal when neither n_nonzero_coefs nor tol is given."""
    return max(int(0.1 * n_atoms), 1)


def _squared_norms(X, dtype):
    """The squared norms of the columns of X, as the kernels' `norms` (with tol)."""
    return np.ascontiguousarray(np.einsum("ij,ij->j", X, X), dtype=dtype)


def _check_stop(n_nonzero_coefs, tol, n_atoms, default):
    """(max atoms per signal, tol or None) from the two stop rules, as scikit-learn settles them."""
    if n_nonzero_coefs is not None:
        n_nonzero_coefs = check_index(n_nonzero_coefs, "n_nonzero_coefs", low=1)
    if tol is not None:
        if isinstance(tol, bool) or not isinstance(tol, (int, float, np.integer, np.floating)):
            raise TypeError(f"tol must be a real number or None, got {type(tol).__name__}")
        tol = float(tol)
        if not tol >= 0 or math.isinf(tol):
            raise ValueError(f"tol must be a finite number >= 0 (a squared residual norm), got {tol}")
        return None, tol
    if n_nonzero_coefs is None:
        n_nonzero_coefs = default
        if n_nonzero_coefs < 1:
            raise ValueError(f"the default n_nonzero_coefs, int(0.1 * n_atoms) = {n_nonzero_coefs} "
                             f"for n_atoms = {n_atoms}, must be positive; give n_nonzero_coefs or "
                             f"tol")
    if n_nonzero_coefs > n_atoms:
        raise ValueError(f"n_nonzero_coefs must be <= n_atoms = {n_atoms} (the number of atoms, "
                         f"columns of the dictionary), got {n_nonzero_coefs}")
    return n_nonzero_coefs, None


def _check_format(return_format):
    if return_format not in ("dense", "csc"):
        raise ValueError(f"return_format must be 'dense' or 'csc', got {return_format!r}")


_check_bool = check_bool


def _flat(a):
    """A contiguous array as a flat view (a copy only if it is contiguous in neither order)."""
    return np.ravel(a, order="K") if (a.flags.c_contiguous or a.flags.f_contiguous) else \
        np.ravel(np.ascontiguousarray(a))


def _empty(dtype):
    return np.empty(0, dtype=dtype)


# Coefficient slots (max_atoms per signal) one kernel call of the CSC path fills: 12 MiB of
# float64 values and int32 atoms. With `tol`, max_atoms is only a bound (n_atoms for omp_gram) and
# most slots stay unused, so the signals go through in chunks of this many slots, each chunk's used
# slots kept: memory in proportion to the atoms chosen, not n_signals x max_atoms.
_CSC_SLOTS = 1 << 20


def _native(n_features, n_atoms, n_signals, max_atoms, tol, dtype, return_format, *, D=None,
            G=None, X=None, DtX=None, norms=None):
    """Runs the kernel on validated, dtype-normalised arrays; returns (coef, n_premature) with coef
    of shape (n_atoms, n_signals), dense (column-major) or CSC."""
    if X is not None and not (X.flags.c_contiguous or X.flags.f_contiguous):
        X = np.ascontiguousarray(X)
    if DtX is not None and not (DtX.flags.c_contiguous or DtX.flags.f_contiguous):
        DtX = np.ascontiguousarray(DtX)
    if return_format == "dense":
        # F order, from the output cache as other large results: fresh pages from the OS cost
        # more than the coding itself on some machines (see _buffers), and dense codes are large
        Y = new_output((n_signals, n_atoms), dtype).T
        n_premature = _run(n_features, n_atoms, n_signals, max_atoms, tol, dtype, D, G, X, DtX,
                           norms, first=0, n_part=n_signals, y_flat=np.ravel(Y, order="K"))
        return Y, n_premature
    # The slots come from the output cache and, where every signal filled its slots (a fixed
    # n_nonzero_coefs without an early stop), are the codes themselves: fresh arrays and copies
    # cost a fault a page, and a Dask worker's MALLOC_TRIM_THRESHOLD_ makes every large block
    # fresh (O1 in chunks of 25000 signals: 14% of the call).
    step = max(1, _CSC_SLOTS // max_atoms)
    parts = [(_empty(dtype), np.empty(0, np.int32), np.empty(0, np.int64))]  # no signals' codes
    n_premature = 0
    for start in range(0, n_signals, step):
        part = slice(start, min(start + step, n_signals))
        n_part = part.stop - start
        slot_values = new_output((n_part * max_atoms,), dtype)
        slot_atoms = new_output((n_part * max_atoms,), np.int32)
        part_counts = np.empty(n_part, dtype=np.int64)
        n_premature += _run(n_features, n_atoms, n_signals, max_atoms, tol, dtype, D, G, X, DtX,
                            None if norms is None else norms[part], first=start, n_part=n_part,
                            slots=(slot_values, slot_atoms, part_counts))
        if part_counts.min() < max_atoms:
            used = (np.arange(max_atoms) < part_counts[:, None]).ravel()
            slot_values, slot_atoms = slot_values[used], slot_atoms[used]
        parts.append((slot_values, slot_atoms, part_counts))
    # no signals or one part: its arrays as they are; more parts: joined
    values, atoms, counts = parts[-1] if len(parts) <= 2 else \
        (np.concatenate(arrays) for arrays in zip(*parts))
    return _csc(values, atoms, counts, (n_atoms, n_signals)), n_premature


def _run(n_features, n_atoms, n_signals, max_atoms, tol, dtype, D, G, X, DtX, norms, *, first,
         n_part, y_flat=None, slots=None):
    """One kernel call over signals first .. first + n_part of the n_signals in X or DtX (either
    contiguous), read in place: a flat view from the first signal's offset, with the whole array's
    strides. The coefficients go into y_flat (dense, column-major) or into slots = (values, atoms,
    counts), max_atoms slots per signal. `norms` holds those signals' entries only. Returns
    n_premature."""
    isa, threads = backend.native_options()
    none = _empty(dtype)
    x_flat, x_ld, x_signal_major = none, 0, False
    if X is not None:
        x_signal_major = not X.flags.c_contiguous  # F order: each signal contiguous
        x_ld = n_features if x_signal_major else n_signals
        x_flat = _flat(X)[first * (n_features if x_signal_major else 1):]
    dtx_flat, dtx_atom_stride, dtx_signal_stride = none, 0, 0
    if DtX is not None:
        if DtX.flags.c_contiguous:
            dtx_atom_stride, dtx_signal_stride = n_signals, 1
        else:
            dtx_atom_stride, dtx_signal_stride = 1, n_atoms
        dtx_flat = _flat(DtX)[first * dtx_signal_stride:]
    values, atoms, counts = slots if slots is not None else \
        (none, np.empty(0, np.int32), np.empty(0, np.int64))
    return _omp.run(
        isa, threads, n_features, n_atoms, n_part, max_atoms,
        none if D is None else _flat(D), none if G is None else _flat(G), x_flat, x_ld,
        x_signal_major, dtx_flat, dtx_atom_stride, dtx_signal_stride,
        none if norms is None else norms, -1.0 if tol is None else tol,
        none if y_flat is None else y_flat, values, atoms, counts)


def _csc(values, atoms, counts, shape):
    """The csc_array of the signals' chosen atoms and coefficients (counts[j] of them for signal j,
    in order)."""
    import scipy.sparse as sp

    n_signals = shape[1]
    indptr = np.zeros(n_signals + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    index_dtype = _policy.csr_index_dtype(0, indptr[-1])
    return sp.csc_array((values, atoms.astype(index_dtype, copy=False),
                         indptr.astype(index_dtype, copy=False)), shape=shape)


def precompute_gram(n_atoms: int, n_features: int, n_signals: int,
                    n_nonzero_coefs: Optional[int], tol: Optional[float], dtype: Any) -> bool:
    """What ``precompute="auto"`` settles on: whether :func:`omp` computes the Gram matrix."""
    # Gram rows from D cost n_features * n_atoms each, streaming D; the Gram matrix costs n_atoms
    # of them, half by symmetry, in a packed register tile at about BLAS xSYRK's speed, and n_atoms^2
    # memory. Measured break-even (benchmarks/omp_small_batch.py --crossover, 1 thread): the
    # signals computing about a quarter of its rows (O2, 1024 atoms, k = 32: between 4 and 8
    # signals; O1, 256 atoms, k = 8: between 8 and 16; float32 and float64 alike).
    if tol is not None or n_nonzero_coefs is None:
        n_nonzero_coefs = min(n_atoms, n_features) if tol is not None else _default_atoms(n_atoms)
    return (4 * n_signals * n_nonzero_coefs >= n_atoms
            and n_atoms * n_atoms * np.dtype(dtype).itemsize <= 2**30)


def _shape_result(coef, one_signal, return_format):
    if return_format == "dense" and one_signal:
        return coef[:, 0]
    return coef


def _warn(n_premature: int, n_signals: int) -> None:
    _policy.warn_omp_premature(n_premature, n_signals, stacklevel=3)  # the caller of omp


def _padded_rows(M: np.ndarray, n_atoms: int, dtype: np.dtype) -> np.ndarray:
    """`M` (rows of n_atoms entries: D, or G) with its rows zero-padded to the kernels' row length;
    `M` itself, as a C array of `dtype`, when there is no padding to add."""
    row_length = _omp.row_length(n_atoms)
    if row_length == n_atoms:
        return as_c_array(M, dtype)
    padded = np.zeros((M.shape[0], row_length), dtype=dtype)
    padded[:, :n_atoms] = M
    return padded


def omp(D: ArrayLike, X: ArrayLike, *, n_nonzero_coefs: Optional[int] = None,
        tol: Optional[float] = None, precompute: Union[bool, str] = "auto",
        return_format: str = "dense", copy: bool = True) -> Any:
    """Sparse codes of the signals `X` over the dictionary `D` by Orthogonal Matching Pursuit.

    For each signal x (a column of X), greedily finds coefficients g with few nonzeros that make
    ``D @ g`` close to x: ``min ||x - D g||^2`` subject to ``||g||_0 <= n_nonzero_coefs``, or
    ``min ||g||_0`` subject to ``||x - D g||^2 <= tol``. Same answers as scikit-learn's
    ``orthogonal_mp(D, X, ...)`` (on an exact tie between identical atoms, the lower index),
    computed by Batch-OMP in C on all threads.

    Parameters
    ----------
    D : array_like, shape (n_features, n_atoms)
        The dictionary, one atom per column; atoms are assumed to have unit norm (as in
        scikit-learn, the stopping thresholds are absolute).
    X : array_like, shape (n_features,) or (n_features, n_signals)
        One signal, or one per column. C or F order (F, signal-contiguous, is read directly).
    n_nonzero_coefs : int, optional
        Atoms per signal. Default: ``max(1, int(0.1 * n_atoms))`` when `tol` is not given either.
        Must be <= n_atoms.
    tol : float, optional
        Maximum squared norm of the residual; overrides `n_nonzero_coefs`.
    precompute : bool or "auto", default "auto"
        Compute the Gram matrix ``D.T @ D`` once (fast for many signals), or compute only the rows
        of the chosen atoms for each signal (no n_atoms^2 memory: for few signals and large
        dictionaries). "auto" precomputes when the signals would compute more than a quarter of
        its rows and it takes at most 1 GiB.
        The answers are the same either way.
    return_format : {"dense", "csc"}, default "dense"
        A dense ndarray, or a ``scipy.sparse.csc_array`` of shape (n_atoms, n_signals) with one
        column per signal (row indices sorted).
    copy : bool, default True
        Kept for scikit-learn compatibility (``copy_X``): sparsenet never writes to its inputs, so
        ``False`` changes nothing.

    Returns
    -------
    coef : ndarray of shape (n_atoms,) or (n_atoms, n_signals), or csc_array
        float32 when D and X are float32, else float64. Unlike scikit-learn, a 2-D X with one column
        gives a 2-D result (no squeeze). A dense 2-D result is in F order (one contiguous column
        per signal).

    Warns
    -----
    RuntimeWarning
        Once per call when some signals stopped early: the next atom was linearly dependent on
        the chosen ones (its Cholesky pivot <= sqrt(eps) times its squared norm, where
        scikit-learn stops at eps), already chosen, or had a squared correlation below eps (e.g.
        a zero signal). Their coefficients are those found so far.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> D = np.eye(4)
    >>> sparsenet.omp(D, np.array([0., 3., 0., -1.]), n_nonzero_coefs=1)
    array([0., 3., 0., 0.])
    >>> sparsenet.omp(D, np.array([0., 3., 0., -1.]), tol=0.5)
    array([ 0.,  3.,  0., -1.])
    """
    coef, n_premature, n_signals = _omp_quiet(D, X, n_nonzero_coefs, tol, precompute,
                                              return_format, copy)
    _warn(n_premature, n_signals)
    return coef


def _omp_quiet(D, X, n_nonzero_coefs, tol, precompute, return_format, copy):
    """:func:`omp` with its arguments checked, but silent: (coef, n_premature, n_signals), and the
    caller warns or not. K-SVD's coding step (coding._ksvd_codes) keeps early stops silent this
    way, not by a warnings.catch_warnings() around omp: the warning filters are the process's,
    and sparsenet.dask's ksvd codes blocks on several threads at once, where one thread leaving
    catch_warnings put back the filters while another was still inside (the warning escaped)."""
    D = as_array(D, "D", ndim=2)
    X = as_array(X, "X", ndim=(1, 2))
    n_features, n_atoms = D.shape
    if n_features == 0 or n_atoms == 0:
        raise ValueError(f"D must have at least one row (feature) and one column (atom), "
                         f"got shape {D.shape}")
    if X.shape[0] != n_features:
        raise ValueError(f"shape mismatch: D has {n_features} rows (features), so X.shape[0] must be "
                         f"{n_features}; got X.shape={X.shape}")
    dtype = result_dtype(D, X, names=("D", "X"))
    max_atoms, tol = _check_stop(n_nonzero_coefs, tol, n_atoms, _default_atoms(n_atoms))
    if not (isinstance(precompute, (bool, np.bool_)) or precompute == "auto"):
        raise ValueError(f"precompute must be True, False or 'auto', got {precompute!r}")
    _check_format(return_format)
    _check_bool(copy, "copy")
    _check_finite(D, "D")
    _check_finite(X, "X")
    one_signal = X.ndim == 1
    X2 = X.reshape(n_features, -1)
    n_signals = X2.shape[1]
    if n_atoms > _INT32_MAX:
        raise ValueError(f"D must have fewer than 2**31 atoms (int32 atom indices), got {D.shape}")
    if backend.use_numpy():
        coef, n_premature = reference.omp_counted(D, X, n_nonzero_coefs=max_atoms, tol=tol,
                                                  precompute=precompute,
                                                  return_format=return_format, copy=copy)
        return coef, n_premature, n_signals
    X2 = as_aligned(X2.astype(dtype, copy=False))
    coef, n_premature = _omp_on_checked(D, X2, max_atoms, tol, precompute, return_format, dtype)
    return _shape_result(coef, one_signal, return_format), n_premature, n_signals


def _omp_on_checked(D, X, max_atoms, tol, precompute, return_format, dtype, norms=None):
    """:func:`omp` on arguments it has checked (D and X 2-D, finite, X of `dtype` and aligned;
    `max_atoms` and `tol` from the stop rules, max_atoms ignored with tol; `norms`, with tol, the
    signals' squared norms if known): (coef of shape (n_atoms, n_signals), n_premature), with no
    warning. For callers that
    code the same signals again and again (K-SVD), where checking X on each call cost as much as
    a step of the pursuit."""
    n_features, n_atoms = D.shape
    n_signals = X.shape[1]
    if tol is not None:  # at most rank(D) <= n_features atoms can be independent
        max_atoms = min(n_atoms, n_features)
        if norms is None:
            norms = _squared_norms(X, dtype)
    if precompute == "auto":
        precompute = precompute_gram(n_atoms, n_features, n_signals, max_atoms, tol, dtype)
    D_padded = _padded_rows(D, n_atoms, dtype)
    G = None
    if precompute:
        G = np.empty((n_atoms, D_padded.shape[1]), dtype=dtype)
        isa, threads = backend.native_options()
        _omp.gram(isa, threads, D_padded, n_atoms, G)
    return _native(n_features, n_atoms, n_signals, max_atoms, tol, dtype, return_format,
                   D=D_padded, G=G, X=X, norms=norms)


def omp_gram(G: ArrayLike, DtX: ArrayLike, *, n_nonzero_coefs: Optional[int] = None,
             tol: Optional[float] = None, norms_squared: Optional[ArrayLike] = None,
             return_format: str = "dense", copy: bool = True) -> Any:
    """Orthogonal Matching Pursuit from the Gram matrix ``G = D.T @ D`` and ``DtX = D.T @ X``.

    For callers who precompute (K-SVD, cross-validation): the same pursuit as :func:`omp`, with
    scikit-learn's ``orthogonal_mp_gram`` semantics.

    Parameters
    ----------
    G : array_like, shape (n_atoms, n_atoms)
        Gram matrix of the dictionary; symmetric (only its rows are read).
    DtX : array_like, shape (n_atoms,) or (n_atoms, n_signals)
        Correlations of the signals with the atoms.
    n_nonzero_coefs : int, optional
        Atoms per signal. Default, as scikit-learn: ``int(0.1 * n_atoms)``, which must be >= 1
        when `tol` is not given.
    tol : float, optional
        Maximum squared norm of the residual; overrides `n_nonzero_coefs`. Needs `norms_squared`.
    norms_squared : float or array_like of shape (n_signals,), optional
        Squared norms of the signals, ``(X ** 2).sum(axis=0)``; required with `tol`.
    return_format : {"dense", "csc"}, default "dense"
    copy : bool, default True
        Kept for scikit-learn compatibility (``copy_Gram``, ``copy_Xy``): inputs are never written.

    Returns
    -------
    coef : ndarray of shape (n_atoms,) or (n_atoms, n_signals), or csc_array
        float32 when G and DtX are float32, else float64.

    Warns
    -----
    RuntimeWarning
        Once per call when some signals stopped early, as in :func:`omp`.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> D = np.eye(3); x = np.array([1., 0., -2.])
    >>> sparsenet.omp_gram(D.T @ D, D.T @ x, n_nonzero_coefs=1)
    array([ 0.,  0., -2.])
    """
    G = as_array(G, "G", ndim=2)
    DtX = as_array(DtX, "DtX", ndim=(1, 2))
    n_atoms = G.shape[0]
    if G.shape != (n_atoms, n_atoms) or n_atoms == 0:
        raise ValueError(f"G must be a non-empty square matrix, got shape {G.shape}")
    if DtX.shape[0] != n_atoms:
        raise ValueError(f"shape mismatch: G is {n_atoms}x{n_atoms}, so DtX.shape[0] must be "
                         f"{n_atoms}; got DtX.shape={DtX.shape}")
    dtype = result_dtype(G, DtX, names=("G", "DtX"))
    max_atoms, tol = _check_stop(n_nonzero_coefs, tol, n_atoms, int(0.1 * n_atoms))
    _check_format(return_format)
    _check_bool(copy, "copy")
    _check_finite(G, "G")
    _check_finite(DtX, "DtX")
    one_signal = DtX.ndim == 1
    DtX2 = DtX.reshape(n_atoms, -1)
    n_signals = DtX2.shape[1]
    norms = None
    if tol is not None:
        if norms_squared is None:
            raise ValueError("omp_gram needs norms_squared (the squared norms of the signals) to "
                             "evaluate the residual for tol")
        norms = as_array(norms_squared, "norms_squared", ndim=(0, 1)).reshape(-1)
        if norms.shape[0] != n_signals:
            raise ValueError(f"norms_squared must have one entry per signal ({n_signals}), got "
                             f"shape {np.shape(norms_squared)}")
        _check_finite(norms, "norms_squared")
        norms = as_c_array(norms, dtype)
        # only a bound: the kernel's per-atom scratch grows with the atoms a signal actually uses
        max_atoms = n_atoms
    if n_atoms > _INT32_MAX:
        raise ValueError(f"G's dimensions must be below 2**31 (int32 atom indices), got {G.shape}")
    if backend.use_numpy():  # counted, so that the warning names omp_gram's caller
        coef, n_premature = reference.omp_gram_counted(
            G, DtX, n_nonzero_coefs=max_atoms if tol is None else None, tol=tol,
            norms_squared=norms_squared, return_format=return_format, copy=copy)
    else:
        G_padded = _padded_rows(G, n_atoms, dtype)
        DtX2 = as_aligned(DtX2.astype(dtype, copy=False))
        coef, n_premature = _native(0, n_atoms, n_signals, max_atoms, tol, dtype, return_format,
                                    G=G_padded, DtX=DtX2, norms=norms)
        coef = _shape_result(coef, one_signal, return_format)
    _warn(n_premature, n_signals)
    return coef
