"""Policy that sparsenet's native API and its NumPy reference (``sparsenet.reference``) share.

Both sides import this module and nothing imports back from it (it needs only NumPy), so the
reference stays an independent oracle while the choices that must agree between the two (how many
entries a sparsity keeps, k-means' first centroids, the index and code dtypes of results, the
hash of HashedWeights, the text of a warning) are written once.
"""
from __future__ import annotations

import warnings
from typing import Any, Optional, Type, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
"""The dtypes the kernels compute in."""

CODE_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))
"""The dtypes of codebook codes."""

MAX_CODES = 1 << 16
"""Most entries a codebook may have (uint16 codes)."""

# HashedWeights' hash (csrc/shared_kernels.h computes the same): see sparsenet.HashedWeights.
HASH_ROW = 0x9E3779B1
HASH_COL = 0x85EBCA77
FMIX_MUL1 = 0x85EBCA6B
FMIX_MUL2 = 0xC2B2AE35

# scikit-learn's message, so that code filtering its warning filters ours too.
OMP_PREMATURE = ("Orthogonal matching pursuit ended prematurely due to linear dependence in the "
                 "dictionary. The requested precision might not have been met.")


def float_dtype(*arrays_or_dtypes: Any) -> np.dtype:
    """The dtype a kernel computes in: NumPy's promotion of the operands when that is float32 or
    float64, else float64 (integers and bools)."""
    dtype = np.result_type(*(getattr(a, "dtype", a) for a in arrays_or_dtypes))
    return dtype if dtype in FLOATS else np.dtype(np.float64)


def csr_index_dtype(n_cols: int, nnz: int) -> np.dtype:
    """Index dtype of a CSR (or CSC) result sparsenet builds: int32 when every column index and
    every row pointer fits, else int64."""
    return np.dtype(np.int32) if max(int(n_cols), int(nnz)) < 2**31 else np.dtype(np.int64)


def n_kept(sparsity: float, n: int) -> int:
    """Entries kept of n when the fraction `sparsity` is pruned: n - round(sparsity * n)."""
    return n - int(round(sparsity * n))


def code_dtype(n_codes: int, requested: Optional[DTypeLike] = None) -> np.dtype:
    """The dtype of codes into a codebook of `n_codes` entries: uint8 when n_codes <= 256, else
    uint16; or `requested` (the ``index_dtype`` argument) when it can hold n_codes codes."""
    if requested is None:
        return np.dtype(np.uint8) if n_codes <= 256 else np.dtype(np.uint16)
    dtype = np.dtype(requested)
    if dtype not in CODE_DTYPES:
        raise TypeError(f"index_dtype must be uint8 or uint16, got {dtype}")
    if n_codes > np.iinfo(dtype).max + 1:
        raise ValueError(f"index_dtype {dtype} cannot index {n_codes} codebook entries "
                         f"(at most {np.iinfo(dtype).max + 1})")
    return dtype


def kmeans_init(w: np.ndarray, n_clusters: int, init: Union[str, ArrayLike],
                random_state: Union[None, int, np.random.Generator] = None) -> np.ndarray:
    """Initial centroids (float64) of 1-D k-means over the values `w` (1-D): "linear" (evenly spaced
    from min to max), "density" (the quantiles ``sorted(w)[((2c + 1)(n - 1)) // (2 n_clusters)]``),
    "random" (distinct positions drawn by ``numpy.random.default_rng(random_state)``), or an array
    of n_clusters values."""
    if isinstance(init, str):
        if init == "linear":
            return np.linspace(float(w.min()), float(w.max()), n_clusters)
        if init == "density":
            positions = ((2 * np.arange(n_clusters) + 1) * (w.size - 1)) // (2 * n_clusters)
            return np.sort(w)[positions].astype(np.float64)
        if init == "random":
            rng = np.random.default_rng(random_state)
            return w[rng.choice(w.size, n_clusters, replace=False)].astype(np.float64)
        raise ValueError(f"init must be 'linear', 'density', 'random' or an array, got {init!r}")
    return np.array(init, dtype=np.float64).ravel()


def omp_pivot_independent(pivot: Any, gram_diagonal: Any, dtype: DTypeLike) -> bool:
    """Whether OMP may take an atom whose Cholesky pivot (its squared distance to the span of the
    atoms chosen so far, ``G[lam, lam] - G[S, lam] . G[S, S]^-1 G[S, lam]``) is `pivot` and whose
    Gram diagonal entry (its squared norm) is `gram_diagonal`: only when ``pivot > 0`` and
    ``pivot > sqrt(eps) * gram_diagonal``, eps that of `dtype` (csrc/omp_kernels.h applies the
    same rule). Else the atom is (numerically) in that span and the pursuit stops.

    Relative to the diagonal, so the rule does not depend on the atoms' scale. sqrt(eps), not eps:
    the rounding error of a computed pivot grows like eps / (the smallest pivot taken so far), so a
    rank-deficient Gram matrix gives the atom past its rank a pivot of noise around 1e-9 as easily
    as 1e-16; at eps, the kernel's Cholesky update and the reference's least squares fell on
    opposite sides (the kernel took a 6th atom of a rank-5 Gram matrix with coefficients ~8e7).
    scikit-learn's `_gram_omp` stops at ``pivot <= eps`` (absolute), so on such inputs it may take
    that atom (coefficients ~1e15) where sparsenet stops with the premature-stop warning."""
    rtol = np.sqrt(np.finfo(dtype).eps)
    return bool(pivot > 0 and pivot > rtol * gram_diagonal)


def warn_omp_premature(n_premature: int, n_signals: int, stacklevel: int) -> None:
    """The one RuntimeWarning of an OMP call in which `n_premature` signals stopped early
    (`stacklevel` counted from the caller of this function)."""
    if n_premature:
        warnings.warn(f"{OMP_PREMATURE} ({n_premature} of {n_signals} signals)", RuntimeWarning,
                      stacklevel=stacklevel + 1)


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at ``max_iter`` before its tolerance was met (scikit-learn's
    ``ConvergenceWarning`` is the same kind of warning; ``sparsenet.sklearn`` re-issues ours as
    it). Here, in the policy leaf, so that the reference and the native solvers warn alike."""


def warn_lasso_unconverged(n_unconverged: int, n_signals: int, max_iter: int, tol: float,
                           stacklevel: int, category: Type[Warning] = ConvergenceWarning) -> None:
    """The one warning of a lasso call in which `n_unconverged` signals used up `max_iter`; none
    when that is 0 (and then no text is formatted: converged calls are the common case).

    Parameters
    ----------
    n_unconverged, n_signals : int
        Signals the solver stopped at `max_iter`, of all those of the call.
    max_iter : int
    tol : float
        The call's budget and tolerance, named in the text.
    stacklevel : int
        Counted from the caller of this function (1: the line calling it).
    category : type, default ConvergenceWarning
        sparsenet.sklearn passes scikit-learn's ``ConvergenceWarning``, which its users filter.
    """
    if n_unconverged:
        warnings.warn(f"lasso: {n_unconverged} of {n_signals} signals did not converge in "
                      f"max_iter={max_iter} sweeps (duality gap above tol={tol:g} times "
                      f"||x||^2); their coefficients are the last iterate. Increase max_iter or "
                      f"tol.", category, stacklevel=stacklevel + 1)


def ksvd_badly_represented(energies: Any, norms_squared: Any, dtype: DTypeLike) -> Any:
    """Which signals may replace an unused K-SVD atom: those whose residual energy is above
    ``eps * ||x||^2`` (eps that of `dtype`; csrc/ksvd_kernels.h applies the same rule).

    A signal below it is represented to within the rounding of the codes (OMP stops taking atoms at
    a relative pivot of sqrt(eps), so a residual of relative size sqrt(eps) is noise). Among such
    signals the largest energy is noise too, and differs between two correct implementations; an
    atom copying one would duplicate what the dictionary already spans. Zero signals never qualify."""
    eps = float(np.finfo(dtype).eps)
    return np.asarray(energies) > eps * np.asarray(norms_squared)
