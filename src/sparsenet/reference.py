"""NumPy implementations of sparsenet's kernels: the correctness oracle and the benchmark baseline.

Same names and signatures as the top-level functions, plain NumPy only (no scipy kernels), written
the way a careful NumPy user would: vectorised, memory bounded, no Python loop per entry.
``sparsenet.set_backend("numpy")`` routes the top-level functions here.
"""
import numpy as np

# Entries per temporary block (nnz x columns) in the blocked products: bounds the baseline's memory.
_BLOCK = 1 << 22


def _float_dtype(*arrays):
    dtype = np.result_type(*arrays)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _csr_parts(A):
    """(data, indices, indptr, shape) of a sparsenet.CSR or scipy CSR matrix."""
    return np.asarray(A.data), np.asarray(A.indices), np.asarray(A.indptr), tuple(A.shape)


def _row_ids(indptr):
    """Row index of every stored entry."""
    return np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))


def _finish(y, out):
    if out is None:
        return y
    out[...] = y
    return out


def spmv(A, x, *, transpose=False, out=None):
    """``A @ x`` (or ``A.T @ x``) for a CSR matrix: products gathered, summed per row by bincount."""
    data, indices, indptr, (n_rows, n_cols) = _csr_parts(A)
    x = np.asarray(x)
    dtype = _float_dtype(data, x)
    data, x = data.astype(dtype, copy=False), x.astype(dtype, copy=False)
    if transpose:
        y = np.bincount(indices, weights=data * np.repeat(x, np.diff(indptr)), minlength=n_cols)
    else:
        y = np.bincount(_row_ids(indptr), weights=data * x[indices], minlength=n_rows)
    return _finish(y.astype(dtype, copy=False), out)


def _csr_transpose(data, indices, indptr, n_cols):
    """The CSR arrays of A^T (a stable counting sort of the entries by column)."""
    order = np.argsort(indices, kind="stable")
    indptr_t = np.zeros(n_cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(indices, minlength=n_cols), out=indptr_t[1:])
    return data[order], _row_ids(indptr)[order], indptr_t


def spmm(A, X, *, transpose=False, out=None):
    """``A @ X`` (or ``A.T @ X``) for a CSR matrix: row blocks of gathered products summed with
    ``np.add.reduceat``."""
    data, indices, indptr, (n_rows, n_cols) = _csr_parts(A)
    X = np.asarray(X)
    dtype = _float_dtype(data, X)
    data, X = data.astype(dtype, copy=False), X.astype(dtype, copy=False)
    if transpose:
        data, indices, indptr = _csr_transpose(data, indices, indptr, n_cols)
        n_rows = n_cols
    k = X.shape[1]
    Y = np.zeros((n_rows, k), dtype=dtype)
    rows_per_block = max(1, _BLOCK // max(1, k * max(1, indptr[-1] // max(1, n_rows))))
    for r0 in range(0, n_rows, rows_per_block):
        r1 = min(n_rows, r0 + rows_per_block)
        start, end = indptr[r0], indptr[r1]
        if start == end:
            continue
        products = data[start:end, None] * X[indices[start:end]]
        counts = np.diff(indptr[r0:r1 + 1])
        nonempty = np.flatnonzero(counts)
        Y[r0 + nonempty] = np.add.reduceat(products, indptr[r0 + nonempty] - start, axis=0)
    return _finish(Y, out)


# --- omp ---

_OMP_PREMATURE = ("Orthogonal matching pursuit ended prematurely due to linear dependence in the "
                  "dictionary. The requested precision might not have been met.")


def _omp_result(coef, one_signal, return_format, n_premature):
    if n_premature:
        import warnings

        warnings.warn(f"{_OMP_PREMATURE} ({n_premature} of {coef.shape[1]} signals)", RuntimeWarning,
                      stacklevel=3)
    if return_format == "csc":
        import scipy.sparse as sp

        return sp.csc_array(coef)
    return coef[:, 0] if one_signal else coef


def omp(D, X, *, n_nonzero_coefs=None, tol=None, precompute="auto", return_format="dense",
        copy=True):
    """Orthogonal Matching Pursuit, one signal at a time: per step the correlations ``D.T @ r``, the
    atom of largest |correlation|, and the coefficients by ``np.linalg.lstsq`` on the chosen atoms.

    Stops as scikit-learn's orthogonal_mp does: after `n_nonzero_coefs` atoms, or once the squared
    residual norm is <= `tol`, or early (one RuntimeWarning per call) when the best atom is already
    chosen, its squared correlation is below eps, or it is linearly dependent on the chosen atoms
    (its squared distance to their span is <= eps). `precompute` and `copy` change nothing here.
    """
    D, X = np.asarray(D), np.asarray(X)
    dtype = _float_dtype(D, X)
    D = D.astype(dtype, copy=False)
    X2 = X.reshape(D.shape[0], -1).astype(dtype, copy=False)
    n_atoms, n_signals = D.shape[1], X2.shape[1]
    if n_nonzero_coefs is None and tol is None:
        n_nonzero_coefs = max(int(0.1 * n_atoms), 1)
    eps = np.finfo(dtype).eps
    coef = np.zeros((n_atoms, n_signals), dtype=dtype)
    n_premature = 0
    for j in range(n_signals):
        x = X2[:, j]
        support, residual = [], x
        while True:
            corr = D.T @ residual
            lam = int(np.argmax(np.abs(corr)))
            if lam in support or corr[lam] ** 2 < eps:
                n_premature += 1
                break
            if support:
                chosen = D[:, support]
                z = np.linalg.lstsq(chosen, D[:, lam], rcond=None)[0]
                distance = D[:, lam] - chosen @ z
                if distance @ distance <= eps:
                    n_premature += 1
                    break
            support.append(lam)
            chosen = D[:, support]
            gamma = np.linalg.lstsq(chosen, x, rcond=None)[0]
            coef[support, j] = gamma
            residual = x - chosen @ gamma
            if tol is not None:
                if residual @ residual <= tol:
                    break
            elif len(support) == n_nonzero_coefs:
                break
    return _omp_result(coef, X.ndim == 1, return_format, n_premature)


def omp_gram(G, DtX, *, n_nonzero_coefs=None, tol=None, norms_squared=None, return_format="dense",
             copy=True):
    """Orthogonal Matching Pursuit from ``G = D.T @ D`` and ``DtX = D.T @ X``, one signal at a time:
    per step the atom of largest |correlation|, the coefficients by ``np.linalg.lstsq`` on
    ``G[S, S] gamma = DtX[S]``, the correlations ``DtX - G[:, S] gamma`` and the residual energy
    ``||x||^2 - gamma . G[S, S] gamma``; stops as :func:`omp` does."""
    G, DtX = np.asarray(G), np.asarray(DtX)
    dtype = _float_dtype(G, DtX)
    G = G.astype(dtype, copy=False)
    DtX2 = DtX.reshape(G.shape[0], -1).astype(dtype, copy=False)
    n_atoms, n_signals = DtX2.shape
    if n_nonzero_coefs is None and tol is None:
        n_nonzero_coefs = int(0.1 * n_atoms)
    if tol is not None:
        norms = np.asarray(norms_squared, dtype=dtype).reshape(-1)
    eps = np.finfo(dtype).eps
    coef = np.zeros((n_atoms, n_signals), dtype=dtype)
    n_premature = 0
    for j in range(n_signals):
        alpha0 = DtX2[:, j]
        support, alpha = [], alpha0
        while True:
            lam = int(np.argmax(np.abs(alpha)))
            if lam in support or alpha[lam] ** 2 < eps:
                n_premature += 1
                break
            G_SS = G[np.ix_(support, support)]
            pivot = G[lam, lam]
            if support:
                z = np.linalg.lstsq(G_SS, G[support, lam], rcond=None)[0]
                pivot = G[lam, lam] - G[support, lam] @ z
            if (support and pivot <= eps) or pivot <= 0:
                n_premature += 1
                break
            support.append(lam)
            G_SS = G[np.ix_(support, support)]
            gamma = np.linalg.lstsq(G_SS, alpha0[support], rcond=None)[0]
            coef[support, j] = gamma
            alpha = alpha0 - G[:, support] @ gamma
            if tol is not None:
                if abs(norms[j] - gamma @ (G_SS @ gamma)) <= tol:
                    break
            elif len(support) == n_nonzero_coefs:
                break
    return _omp_result(coef, DtX.ndim == 1, return_format, n_premature)
