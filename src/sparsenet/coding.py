"""Sparse coding beyond OMP: batch LASSO (``lasso``, ``lasso_gram``) and K-SVD dictionary learning
(``ksvd``), in C on sparsenet's OpenMP threads (csrc/coding.h), each with its NumPy twin in
``sparsenet.reference``.

The LASSO follows scikit-learn's ``sparse_encode(algorithm="lasso_cd")``: the same objective, the
same alpha, the same duality-gap stopping test. K-SVD is the approximate K-SVD of Rubinstein,
Zibulevsky and Elad (2008): Batch-OMP (:func:`sparsenet.omp`) for the codes, one power-iteration
step per atom for the dictionary.
"""
import math

import numpy as np

from sparsenet._policy import ConvergenceWarning  # noqa: F401  (public here too)
from sparsenet import _coding, _omp, _policy, backend, reference
from sparsenet._validate import (as_aligned, as_array, as_c_array, check_index, check_real,
                                new_output, result_dtype)
from sparsenet.omp import (_check_bool, _check_finite, _check_stop, _omp_on_checked, _omp_quiet,
                           _default_atoms, _squared_norms)


# The default tolerances: scikit-learn's sparse_encode uses 1e-8; float32 arithmetic cannot take
# the duality gap below about 1e-6 of ||x||^2.
_DEFAULT_TOL = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-5}


def _lasso_options(alpha, positive, max_iter, tol, dtype):
    alpha = check_real(alpha, "alpha")
    positive = _check_bool(positive, "positive")
    # bounded so that the kernel's budget max_iter * n_atoms cannot overflow
    max_iter = check_index(max_iter, "max_iter", low=1, high=2**31 - 1)
    tol = _DEFAULT_TOL[dtype] if tol is None else check_real(tol, "tol")
    return alpha, positive, max_iter, tol


def _check_init(init, n_atoms, n_signals, dtype):
    """The start point as the kernel's output array (n_atoms, n_signals) in F order, or None."""
    if init is None:
        return None
    init = as_array(init, "init", ndim=(1, 2))
    if init.size != n_atoms * n_signals or init.shape[0] != n_atoms:
        raise ValueError(f"init must have shape ({n_atoms}, {n_signals}) (n_atoms, n_signals), got "
                         f"{init.shape}")
    _check_finite(init, "init")
    return np.array(init.reshape(n_atoms, n_signals), dtype=dtype, order="F")


def _run_lasso(G, g_ld, norms, n_atoms, n_signals, alpha, positive, max_iter, tol, start, dtype, *,
               B=None, b_strides=(0, 0), D=None, X=None):
    """The kernel on b_j = D^T x_j given in B (strides (atom, signal)), or computed block by block
    from D (rows of g_ld, zero past n_atoms) and X (C or F order). Returns (coef, the number of
    signals that did not converge), without a warning."""
    isa, threads = backend.native_options()
    if alpha == 0:  # least squares: the duality gap is ||r||^2 / 2, not 0, at the optimum
        norms = None
    warm = start is not None
    # F order; a cold result comes from the output cache, as omp's dense codes do: its fresh pages
    # cost 4% of the call at 20000 signals
    coef = start if warm else new_output((n_signals, n_atoms), dtype).T
    none = np.empty(0, dtype=dtype)
    n_features, x_ld, x_signal_major = 0, 0, False
    if X is not None:
        n_features = X.shape[0]
        x_signal_major = not X.flags.c_contiguous  # F order: each signal contiguous
        x_ld = n_features if x_signal_major else n_signals
    _, n_unconverged = _coding.lasso(
        isa, threads, n_atoms, n_signals, np.ravel(G, order="K"), g_ld,
        none if B is None else np.ravel(B, order="K"), b_strides[0], b_strides[1], n_features,
        none if D is None else np.ravel(D, order="K"), none if X is None else np.ravel(X, order="K"),
        x_ld, x_signal_major, none if norms is None else norms, alpha, positive, max_iter, tol, warm,
        np.ravel(coef, order="K"))
    return coef, n_unconverged


def lasso(D, X, alpha, *, positive=False, max_iter=1000, tol=None, init=None):
    """LASSO codes of the signals `X` over the dictionary `D`: for every column x of X,
    ``argmin_a 0.5 * ||x - D a||^2 + alpha * ||a||_1`` (with ``a >= 0`` when `positive`).

    scikit-learn's ``sparse_encode(X.T, D.T, algorithm="lasso_cd", alpha=alpha)`` solves the same
    problem with the same `alpha`: it divides alpha by n_features and hands it to ``Lasso``, whose
    data term is ``1 / (2 * n_features) * ||x - D a||^2``; the two scalings cancel. (``Lasso``
    itself therefore takes ``alpha / n_features``.) Coordinate descent on the Gram matrix with an
    active set, all signals in parallel in C. Stops as scikit-learn does, on its duality gap
    ``<= tol * ||x||^2``, once no zero coefficient violates the optimality conditions and a sweep
    over the nonzero ones moved none by more than a relative tolerance (1e-4 at first, down to tol
    while the gap test fails).

    Parameters
    ----------
    D : array_like, shape (n_features, n_atoms)
        The dictionary, one atom per column (any norms; zero atoms get zero coefficients).
    X : array_like, shape (n_features,) or (n_features, n_signals)
        One signal, or one per column.
    alpha : float
        The L1 weight, >= 0. ``alpha >= max |D^T x|`` gives a = 0. ``alpha = 0`` is least squares,
        stopped by the coefficient-change rule alone (a LASSO duality gap does not apply; slow to
        converge when D has more atoms than features, as in scikit-learn).
    positive : bool, default False
        Constrain the coefficients to be >= 0 (scikit-learn's ``positive``).
    max_iter : int, default 1000
        Work budget per signal in scikit-learn's sweeps: at most ``max_iter * n_atoms``
        coordinate updates (a sweep over k active atoms counts k). A
        :class:`ConvergenceWarning` tells how many signals it stopped.
    tol : float, optional
        Relative duality gap and coefficient-change tolerance. Default 1e-8 (scikit-learn's
        ``sparse_encode``) in float64, 1e-5 in float32.
    init : array_like, shape (n_atoms, n_signals), optional
        Start point (scikit-learn's ``init``, transposed); default zero.

    Returns
    -------
    coef : ndarray, shape (n_atoms,) or (n_atoms, n_signals)
        float32 when D and X are float32, else float64; 2-D results are F-ordered (one contiguous
        column per signal).

    Warns
    -----
    ConvergenceWarning
        Once per call when some signals used up `max_iter`.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> D = np.eye(3)
    >>> sparsenet.lasso(D, np.array([3., -0.5, 1.]), alpha=1.0)
    array([2., 0., 0.])
    """
    coef, unconverged = _lasso_quiet(D, X, alpha, positive, max_iter, tol, init)
    _policy.warn_lasso_unconverged(*unconverged, stacklevel=2)
    return coef


def _lasso_quiet(D, X, alpha, positive, max_iter, tol, init):
    """:func:`lasso` with its arguments checked, but silent: (coef, unconverged), unconverged the
    arguments (n_unconverged, n_signals, max_iter, tol) of ``_policy.warn_lasso_unconverged``,
    and the caller warns or not (sparsenet.sklearn warns with scikit-learn's category). Not a
    warnings.catch_warnings() around lasso: the filters are the process's (see omp._omp_quiet)."""
    D = as_array(D, "D", ndim=2)
    X = as_array(X, "X", ndim=(1, 2))
    n_features, n_atoms = D.shape
    if n_features == 0 or n_atoms == 0:
        raise ValueError(f"D must have at least one row (feature) and one column (atom), got shape "
                         f"{D.shape}")
    if X.shape[0] != n_features:
        raise ValueError(f"shape mismatch: D has {n_features} rows (features), so X.shape[0] must be "
                         f"{n_features}; got X.shape={X.shape}")
    dtype = result_dtype(D, X, names=("D", "X"))
    alpha, positive, max_iter, tol = _lasso_options(alpha, positive, max_iter, tol, dtype)
    _check_finite(D, "D")
    _check_finite(X, "X")
    X2 = X.reshape(n_features, -1)
    n_signals = X2.shape[1]
    start = _check_init(init, n_atoms, n_signals, dtype)
    if backend.use_numpy():
        coef, n_unconverged = reference.lasso_counted(D, X2, alpha, positive=positive,
                                                      max_iter=max_iter, tol=tol, init=start)
    else:
        # read in place by the kernel (see lasso_gram)
        X2 = as_aligned(X2.astype(dtype, copy=False))
        if not (X2.flags.c_contiguous or X2.flags.f_contiguous):
            X2 = np.ascontiguousarray(X2)
        npad = _omp.row_length(n_atoms)
        D_padded = np.zeros((n_features, npad), dtype=dtype)
        D_padded[:, :n_atoms] = D
        G = np.empty((n_atoms, npad), dtype=dtype)
        isa, threads = backend.native_options()
        _omp.gram(isa, threads, D_padded, n_atoms, G)
        norms = _squared_norms(X2, dtype)
        coef, n_unconverged = _run_lasso(G, npad, norms, n_atoms, n_signals, alpha, positive,
                                         max_iter, tol, start, dtype, D=D_padded, X=X2)
    return (coef[:, 0] if X.ndim == 1 else coef), (n_unconverged, n_signals, max_iter, tol)


def lasso_gram(G, DtX, alpha, *, norms_squared=None, positive=False, max_iter=1000, tol=None,
               init=None):
    """:func:`lasso` from the Gram matrix ``G = D.T @ D`` and ``DtX = D.T @ X``.

    Parameters
    ----------
    G : array_like, shape (n_atoms, n_atoms)
        Gram matrix of the dictionary (symmetric; only its rows are read).
    DtX : array_like, shape (n_atoms,) or (n_atoms, n_signals)
        Correlations of the signals with the atoms; C or F order is read in place.
    alpha : float
        The L1 weight (as in :func:`lasso`).
    norms_squared : float or array_like of shape (n_signals,), optional
        ``(X ** 2).sum(axis=0)``, for the duality-gap test. Without it the solver stops once no
        coefficient violates the optimality conditions and the last sweep moved none by more than
        tol times the largest (no gap test).
    positive, max_iter, tol, init
        As in :func:`lasso`.

    Returns
    -------
    coef : ndarray, shape (n_atoms,) or (n_atoms, n_signals)

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> D = np.eye(2); x = np.array([2., 0.25])
    >>> sparsenet.lasso_gram(D.T @ D, D.T @ x, 0.5, norms_squared=x @ x)
    array([1.5, 0. ])
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
    alpha, positive, max_iter, tol = _lasso_options(alpha, positive, max_iter, tol, dtype)
    _check_finite(G, "G")
    _check_finite(DtX, "DtX")
    B = DtX.reshape(n_atoms, -1)
    n_signals = B.shape[1]
    norms = None
    if norms_squared is not None:
        norms = as_array(norms_squared, "norms_squared", ndim=(0, 1)).reshape(-1)
        if norms.shape[0] != n_signals:
            raise ValueError(f"norms_squared must have one entry per signal ({n_signals}), got "
                             f"shape {np.shape(norms_squared)}")
        _check_finite(norms, "norms_squared")
        norms = as_c_array(norms, dtype)
    start = _check_init(init, n_atoms, n_signals, dtype)
    if backend.use_numpy():
        coef, n_unconverged = reference.lasso_gram_counted(
            G, B, alpha, norms_squared=norms, positive=positive, max_iter=max_iter, tol=tol,
            init=start)
    else:
        # as_c_array / as_aligned copy a misaligned array (a view into a byte buffer, such as a
        # Dask worker deserialises): the kernel's loads from one would be undefined behaviour
        G = as_c_array(G, dtype)
        B = as_aligned(B.astype(dtype, copy=False))
        if B.flags.f_contiguous:
            strides = (1, n_atoms)
        else:
            B = np.ascontiguousarray(B)
            strides = (n_signals, 1)
        coef, n_unconverged = _run_lasso(G, n_atoms, norms, n_atoms, n_signals, alpha, positive,
                                         max_iter, tol, start, dtype, B=B, b_strides=strides)
    _policy.warn_lasso_unconverged(n_unconverged, n_signals, max_iter, tol, stacklevel=2)
    return coef[:, 0] if DtX.ndim == 1 else coef


# --- K-SVD ---

def _ksvd_codes(D, X, n_nonzero_coefs, tol, precompute="auto"):
    """Batch-OMP codes as a CSC array; signals that stop early (zero signals, signals already
    within tol) keep the atoms found, silently: K-SVD codes what it can (see _omp_quiet)."""
    return _omp_quiet(D, X, n_nonzero_coefs, tol, precompute, "csc", True)[0]


def ksvd(X, n_atoms, n_nonzero_coefs=None, tol=None, *, max_iter=10, init="data",
         random_state=None, return_format="dense", return_errors=False):
    """Learns a dictionary of `n_atoms` unit-norm atoms in which the signals `X` are sparse, by
    approximate K-SVD (Rubinstein, Zibulevsky and Elad 2008).

    Each iteration codes every signal by Batch-OMP (:func:`sparsenet.omp`, with `n_nonzero_coefs`
    or `tol`), then updates the atoms one after the other, in C: for atom j, used by the signals I
    with coefficients g and with E the residual of I without atom j, ``d = E g / ||E g||`` and
    ``g = E^T d`` (one power-iteration step towards the rank-1 SVD of E; E is never formed). An
    atom no signal uses is replaced by the worst-represented signal (largest residual), normalised;
    when every signal is represented to within rounding, the atom stays as it is.

    Parameters
    ----------
    X : array_like, shape (n_features, n_signals)
        The training signals, one per column.
    n_atoms : int
        Atoms to learn.
    n_nonzero_coefs : int, optional
        Atoms per signal in the coding step (default, as :func:`omp`: ``max(1, n_atoms // 10)``).
    tol : float, optional
        Code each signal to a squared residual norm <= tol instead (overrides n_nonzero_coefs;
        what K-SVD denoising uses).
    max_iter : int, default 10
        Iterations (coding + dictionary update).
    init : {"data", "random"} or array_like of shape (n_features, n_atoms), default "data"
        "data": distinct random signals, normalised (Gaussian atoms for zero signals or when there
        are fewer signals than atoms); "random": Gaussian atoms; an array: those atoms, normalised
        (see :func:`sparsenet.reference.ksvd_init`).
    random_state : int, numpy Generator or RandomState, optional
        Seed of the initial dictionary; the rest is deterministic, and independent of the thread
        count.
    return_format : {"dense", "csc"}, default "dense"
        Format of the codes.
    return_errors : bool, default False
        Also return the representation errors ``||X - D codes||_F`` after each iteration.

    Returns
    -------
    D : ndarray, shape (n_features, n_atoms)
        The dictionary, unit-norm atoms in columns (F order), ready for :func:`omp`.
    codes : ndarray (n_atoms, n_signals) or csc_array
        The codes after the last dictionary update (the support OMP chose, the values updated with
        the atoms), so that ``X ~ D @ codes``.
    errors : list of float
        Only with `return_errors`.

    Notes
    -----
    Signals whose largest magnitude is beyond ``2**40`` in float32 (``2**488`` in float64) are
    learned divided by a power of two, which is exact: the update's sums of squares would
    overflow (float32 from about 1e19). Signals whose largest magnitude is below ``2**-8`` are
    learned multiplied by one (up to ``2**40`` / ``2**488``): Batch-OMP's stopping test on a
    correlation is absolute, as scikit-learn's, and ended every signal of data of scale 1e-5
    (float32) or 1e-9 (float64). The atoms are those learned on the scaled signals; the codes,
    errors and `tol` are at X's own scale.

    With `tol`, the codes returned keep the support OMP chose to `tol` but their values are updated
    with the atoms, which lowers the total error, not each signal's: a signal's squared residual
    may end above `tol`. ``omp(D, X, tol=tol)`` codes every signal to within `tol` over the atoms.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> rng = np.random.default_rng(0)
    >>> D0 = rng.standard_normal((16, 24)); D0 /= np.linalg.norm(D0, axis=0)
    >>> X = D0 @ (rng.standard_normal((24, 400)) * (rng.random((24, 400)) < 0.1))
    >>> D, codes = sparsenet.ksvd(X, 24, n_nonzero_coefs=3, max_iter=5, random_state=0)
    >>> D.shape, codes.shape, bool(np.allclose(np.linalg.norm(D, axis=0), 1))
    ((16, 24), (24, 400), True)
    """
    return _ksvd(X, n_atoms, n_nonzero_coefs, tol, max_iter=max_iter, init=init,
                 random_state=random_state, return_format=return_format,
                 return_errors=return_errors)


def _ksvd(X, n_atoms, n_nonzero_coefs, tol, *, max_iter, init, random_state, return_format,
          return_errors, code_step=None):
    """:func:`ksvd`; `code_step(D, factor, tol)`, when given, returns the CSC codes of all the
    signals times `factor` (1, or the power of two of :func:`_scale_shift`), to `tol` (scaled
    with them), in place of the default, Batch-OMP on X checked once (sparsenet.dask passes one
    that codes them with :func:`_ksvd_codes` block by block on a cluster)."""
    X = as_array(X, "X", ndim=2)
    n_features, n_signals = X.shape
    if n_features == 0 or n_signals == 0:
        raise ValueError(f"X must have at least one feature and one signal, got shape {X.shape}")
    n_atoms = check_index(n_atoms, "n_atoms", low=1)
    max_iter = check_index(max_iter, "max_iter", low=1)
    if return_format not in ("dense", "csc"):
        raise ValueError(f"return_format must be 'dense' or 'csc', got {return_format!r}")
    return_errors = _check_bool(return_errors, "return_errors")
    dtype = result_dtype(X, names=("X",))
    if n_nonzero_coefs is not None:
        n_nonzero_coefs = check_index(n_nonzero_coefs, "n_nonzero_coefs", low=1, high=n_atoms)
    if tol is not None:
        tol = check_real(tol, "tol")
    _check_finite(X, "X")
    shift = _scale_shift(X, dtype)
    if shift:  # learn on X / 2**shift (exact), give the codes and errors back at X's scale
        X = np.asarray(X, dtype=dtype) * dtype.type(2.0 ** -shift)
        tol = None if tol is None else math.ldexp(tol, -2 * shift)
    if backend.use_numpy():
        D, codes, errors = reference.ksvd(X, n_atoms, n_nonzero_coefs, tol, max_iter=max_iter,
                                          init=init, random_state=random_state)
        if return_format == "csc":
            import scipy.sparse as sp

            codes = sp.csc_array(codes)
        return _unscaled(D, codes, errors, shift, return_errors)
    Xf = as_aligned(np.asfortranarray(X, dtype=dtype))  # signal-major: the kernel's layout
    D = np.asfortranarray(reference.ksvd_init(Xf, n_atoms, init, random_state), dtype=dtype)
    R = np.empty_like(Xf)
    x_flat, r_flat, d_flat = np.ravel(Xf, order="F"), np.ravel(R, order="F"), np.ravel(D, order="F")
    if code_step is None:  # X checked once here, not by omp on every iteration
        max_atoms, _ = _check_stop(n_nonzero_coefs, tol, n_atoms, _default_atoms(n_atoms))
        norms = None if tol is None else _squared_norms(Xf, dtype)

        def code_step(D, factor, tol):  # as _ksvd_codes: premature stops are silent; Xf is scaled
            return _omp_on_checked(D, Xf, max_atoms, tol, "auto", "csc", dtype, norms)[0]
    factor = dtype.type(2.0 ** -shift)
    errors = []
    for _ in range(max_iter):
        codes = code_step(D, factor, tol)
        values = np.ascontiguousarray(codes.data, dtype=dtype)  # updated in place
        isa, threads = backend.native_options()
        energy, _ = _coding.ksvd_update(
            isa, threads, n_features, n_atoms, n_signals, x_flat,
            codes.indptr.astype(np.int64, copy=False), codes.indices.astype(np.int32, copy=False),
            values, d_flat, r_flat, return_errors)
        codes.data = values
        if return_errors:
            errors.append(math.sqrt(max(energy, 0.0)))
    if return_format == "dense":  # from CSC, F order: no C-ordered copy to transpose (6x faster),
        # into the output cache, whose blocks' pages are mapped: K1's fresh 41 MB array faulted
        # its pages in during the scatter, 4% of the call
        codes = codes.toarray(out=new_output((n_signals, n_atoms), dtype).T)
    return _unscaled(D, codes, errors, shift, return_errors)


# Below this largest |X|, K-SVD learns on X scaled up (see _scale_shift).
SMALL_SIGNALS = 2.0 ** -8


def _scale_shift(X: np.ndarray, dtype: np.dtype) -> int:
    """0, or when the largest |X| is beyond 2**(maxexp / 2 - 24) (2**40 in float32) or below
    SMALL_SIGNALS (and not 0), the exponent e with that largest |X| / 2**e in [0.5, 1). Beyond the
    upper bound the atom update's sums of squared coefficients and of coefficient-residual products
    can overflow (float32 learned nothing, or NaN atoms, from about 1e19). Below the lower one
    Batch-OMP's absolute test (a correlation whose square is under eps ends a signal, as in
    scikit-learn) stopped every signal: ksvd of N(0, 1) signals times 1e-9 in float64, or 1e-5 in
    float32, returned empty codes and learned nothing. Dividing by a power of two is exact: the
    atoms learned are those of the scaled signals, and the codes and errors exactly 2**-e times
    those at X's scale."""
    if X.size == 0:
        return 0
    largest = max(float(np.max(X)), -float(np.min(X)))
    bound = np.finfo(dtype).maxexp // 2 - 24
    if largest > 2.0 ** bound:
        return math.frexp(largest)[1]
    if 0 < largest < SMALL_SIGNALS:  # scaled up by at most 2**bound: tol * 4**bound stays finite
        return max(math.frexp(largest)[1], -bound)
    return 0


def _unscaled(D, codes, errors, shift, return_errors):
    """ksvd's result at X's own scale after learning on X / 2**shift."""
    if shift:
        if isinstance(codes, np.ndarray):
            codes = np.ldexp(codes, shift)  # keeps the dtype and the F order
        else:  # csc_array
            codes.data = np.ldexp(codes.data, shift)
        errors = [math.ldexp(e, shift) for e in errors]
    return (D, codes, errors) if return_errors else (D, codes)
