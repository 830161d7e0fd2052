"""NumPy implementations of sparsenet's kernels: the correctness oracle and the benchmark baseline.

Same names and signatures as the top-level functions, plain NumPy only (no scipy kernels), written
the way a careful NumPy user would: vectorised, memory bounded, no Python loop per entry.
``sparsenet.set_backend("numpy")`` routes the top-level functions here.

A leaf: it returns NumPy arrays and ``scipy.sparse`` objects (a CSR result is a ``csr_array``, a
codebook a :class:`KMeansResult` of two arrays), never sparsenet's containers, and imports nothing of
sparsenet but the policy both sides share (``sparsenet._policy``). Its matrix arguments are
duck-typed: a CSR matrix is anything with ``data``, ``indices``, ``indptr`` and ``shape`` (a scipy
CSR or CSC matrix, a ``sparsenet.CSR`` or ``SharedCSR`` or their ``.T``), a codebook matrix anything
with ``codebook`` and ``codes`` (or ``shape`` and ``seed``, hashed).
"""
from typing import NamedTuple

import numpy as np

from sparsenet import _policy
from sparsenet._policy import kmeans_init  # noqa: F401  (part of the reference's API)

# Entries per temporary block (nnz x columns) in the blocked products: bounds the baseline's memory.
_BLOCK = 1 << 22


_float_dtype = _policy.float_dtype


def _csr_parts(A, transpose):
    """(data, indices, indptr, shape of the CSR matrix they describe, transpose) of a CSR matrix;
    a CSC one (format "csc": a transposed CSR) is read as the CSR matrix of its transpose."""
    shape = tuple(A.shape)
    if getattr(A, "format", "csr") == "csc":
        shape, transpose = shape[::-1], not transpose
    return np.asarray(A.data), np.asarray(A.indices), np.asarray(A.indptr), shape, transpose


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
    data, indices, indptr, (n_rows, n_cols), transpose = _csr_parts(A, transpose)
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
    data, indices, indptr, (n_rows, n_cols), transpose = _csr_parts(A, transpose)
    X = np.asarray(X)
    dtype = _float_dtype(data, X)
    data, X = data.astype(dtype, copy=False), X.astype(dtype, copy=False)
    k = X.shape[1]
    if k == 0:  # nothing to compute: no transpose of A (O(n_cols) memory, 2**31 columns happen)
        return _finish(np.zeros((n_cols if transpose else n_rows, 0), dtype=dtype), out)
    if transpose:
        data, indices, indptr = _csr_transpose(data, indices, indptr, n_cols)
        n_rows = n_cols
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


# --- threshold ---


def _as_float(x):
    x = np.asarray(x)
    return x.astype(_float_dtype(x), copy=False)


def _to_csr(y):
    """scipy.sparse.csr_array of the nonzero entries of the 2-D array y (NaN is nonzero), canonical,
    with sparsenet's index dtype (int32 when it fits)."""
    rows, cols = np.nonzero(y)
    index = _policy.csr_index_dtype(y.shape[1], rows.size)
    indptr = np.zeros(y.shape[0] + 1, dtype=index)
    np.cumsum(np.bincount(rows, minlength=y.shape[0]), out=indptr[1:])
    import scipy.sparse as sp  # here, not at import: it would slow ``import sparsenet``

    return sp.csr_array((y[rows, cols], cols.astype(index), indptr), shape=y.shape)


def _dense_or_csr(y, out, format):
    if format == "csr":
        _no_out_for_csr(out)
        return _to_csr(y)
    return _finish(y, out)


def _no_out_for_csr(out):
    if out is not None:  # a CSR result is a new object: nothing to write into
        raise ValueError("out is only for format='dense'")


def binarize(x, theta, *, dtype=None, out=None, format="dense"):
    """``x >= theta`` as 1 / 0, in x's float dtype (or `dtype`: bool, uint8)."""
    x = _as_float(x)
    mask = np.asarray(x >= x.dtype.type(theta))  # a 0-d x gives a 0-d array, not a scalar
    if format == "csr":
        _no_out_for_csr(out)
        return _to_csr(mask.astype(x.dtype))
    if dtype is None:
        dtype = out.dtype if out is not None else x.dtype
    return _finish(mask.astype(dtype), out)


def hard_threshold(x, theta, *, out=None, format="dense"):
    """``x`` where ``|x| >= theta``, else 0."""
    x = _as_float(x)
    y = np.where(np.abs(x) >= x.dtype.type(theta), x, 0)
    return _dense_or_csr(y, out, format)


def soft_threshold(x, lam, *, out=None, format="dense"):
    """``sign(x) * max(|x| - lam, 0)``, computed in place in one temporary."""
    x = _as_float(x)
    y = np.asarray(np.abs(x))  # a 0-d x gives a 0-d array, not a scalar (in-place ops below)
    y -= x.dtype.type(lam)
    np.maximum(y, 0, out=y)
    y *= np.sign(x)
    return _dense_or_csr(y, out, format)


def _top_mask(keys, k):
    """Mask of the k largest keys along the last axis; NaN ranks above +inf (NumPy's sort order)
    and ties go to the lower index. The cut (k-th largest) comes from np.partition, not a sort."""
    n = keys.shape[-1]
    if k == 0:
        return np.zeros(keys.shape, dtype=bool)
    if k >= n:
        return np.ones(keys.shape, dtype=bool)
    cut = np.partition(keys, n - k, axis=-1)[..., n - k:n - k + 1]
    nan_keys, nan_cut = np.isnan(keys), np.isnan(cut)
    above = (keys > cut) | (nan_keys & ~nan_cut)
    at_cut = (keys == cut) | (nan_keys & nan_cut)
    room = k - np.count_nonzero(above, axis=-1, keepdims=True)
    return above | (at_cut & (np.cumsum(at_cut, axis=-1) <= room))


def topk(x, k, *, axis=-1, largest_magnitude=True, format="dense"):
    """The k entries of largest magnitude (or value) along `axis` kept, the rest zero."""
    x = np.moveaxis(_as_float(x), axis, -1)
    mask = _top_mask(np.abs(x) if largest_magnitude else x, k)
    y = np.moveaxis(np.where(mask, x, 0), -1, axis)
    return _to_csr(y) if format == "csr" else y


def prune(W, *, sparsity=None, threshold=None, per_row=False):
    """Magnitude pruning of the 2-D W to a scipy csr_array: keep ``|W| >= threshold``, or the
    n - round(sparsity * n) entries of largest magnitude of W (or of each row, per_row=True)."""
    W = _as_float(W)
    if threshold is not None:
        return hard_threshold(W, threshold, format="csr")
    if per_row:
        mask = _top_mask(np.abs(W), _policy.n_kept(sparsity, W.shape[1]))
    else:
        mask = _top_mask(np.abs(W).reshape(1, -1), _policy.n_kept(sparsity, W.size)).reshape(W.shape)
    return _to_csr(np.where(mask, W, 0))


# --- shared ---
# Parameter sharing: codebook (k-means) weights, hashed weights, pruned-and-shared CSR.

_U32 = np.uint32


def _fmix32(h):
    """MurmurHash3's 32-bit finaliser on a uint32 array (arithmetic wraps mod 2**32)."""
    h = h ^ (h >> _U32(16))
    h = h * _U32(_policy.FMIX_MUL1)
    h = h ^ (h >> _U32(13))
    h = h * _U32(_policy.FMIX_MUL2)
    return h ^ (h >> _U32(16))


def hashed_codes(shape, n_codes, seed):
    """(codes, signs) of a hashed matrix, the documented hash of ``sparsenet.HashedWeights``:

        r = fmix32(uint32(i) * 0x9E3779B1 ^ seed);   h = fmix32(r + uint32(j) * 0x85EBCA77)
        code = (h >> 1) % n_codes;   sign = -1 if h & 1 else +1
    """
    n_rows, n_cols = shape
    rows = np.arange(n_rows, dtype=np.uint64).astype(_U32)
    cols = np.arange(n_cols, dtype=np.uint64).astype(_U32)
    r = _fmix32((rows * _U32(_policy.HASH_ROW)) ^ _U32(seed))
    h = _fmix32(r[:, None] + cols[None, :] * _U32(_policy.HASH_COL))
    codes = (h >> _U32(1)) % _U32(n_codes)
    signs = np.where(h & _U32(1), -1, 1).astype(np.int8)
    return codes, signs


def decode(w):
    """The dense weights of a SharedWeights (``codebook[codes]``) or a HashedWeights."""
    if hasattr(w, "seed"):
        codes, signs = hashed_codes(w.shape, w.codebook.shape[0], w.seed)
        return w.codebook[codes] * signs.astype(w.codebook.dtype)
    return w.codebook[w.codes]


def _shared_product(w, X, transpose, out):
    W = decode(w)
    X = np.asarray(X)
    dtype = _float_dtype(W, X)
    W = W.astype(dtype, copy=False)
    return _finish((W.T if transpose else W) @ X.astype(dtype, copy=False), out)


def shared_matvec(sw, x, *, transpose=False, out=None):
    """``codebook[codes] @ x`` (or its transpose)."""
    return _shared_product(sw, x, transpose, out)


def shared_matmul(sw, X, *, transpose=False, out=None):
    """``codebook[codes] @ X`` (or its transpose)."""
    return _shared_product(sw, X, transpose, out)


def hashed_matvec(hw, x, *, transpose=False, out=None):
    """The hashed matrix, decoded, times x."""
    return _shared_product(hw, x, transpose, out)


def hashed_matmul(hw, X, *, transpose=False, out=None):
    """The hashed matrix, decoded, times X."""
    return _shared_product(hw, X, transpose, out)


def codebook_grad(w, grad_out, X):
    """dL/dcodebook of Y = W X: ``bincount(codes, weights=sign * (grad_out X^T))``."""
    G, X = np.asarray(grad_out), np.asarray(X)
    dtype = _float_dtype(w.codebook, G, X)
    k = G.shape[1] if G.ndim == 2 else 1
    G2 = G.reshape(G.shape[0], k).astype(dtype, copy=False)
    X2 = X.reshape(X.shape[0], k).astype(dtype, copy=False)
    dW = G2 @ X2.T
    n_codes = w.codebook.shape[0]
    if hasattr(w, "seed"):
        codes, signs = hashed_codes(w.shape, n_codes, w.seed)
        dW = dW * signs
    else:
        codes = w.codes
    return np.bincount(codes.ravel(), weights=dW.ravel(), minlength=n_codes).astype(dtype)


class KMeansResult(NamedTuple):
    """What :func:`kmeans_codebook` learns: ``W ~ codebook[codes]``."""

    codebook: np.ndarray
    codes: np.ndarray


def _relocate_empty(sorted_w, start, centers, sums, counts):
    """Every empty cluster (ascending) takes the point farthest from its centroid among clusters of
    two or more points (ties: the lower sorted position)."""
    import heapq

    lo, hi = start[:-1].copy(), start[1:].copy()

    def far_end(s):
        dl = (float(sorted_w[lo[s]]) - centers[s]) ** 2
        dr = (float(sorted_w[hi[s] - 1]) - centers[s]) ** 2
        return (-dr, hi[s] - 1, s) if dr > dl else (-dl, lo[s], s)

    heap = [far_end(s) for s in range(centers.size) if counts[s] >= 2]
    heapq.heapify(heap)
    for e in np.flatnonzero(counts == 0):
        if not heap:
            break
        _, p, s = heapq.heappop(heap)
        x = float(sorted_w[p])
        sums[s] -= x
        counts[s] -= 1
        sums[e], counts[e] = x, 1
        if p == lo[s]:
            lo[s] += 1
        else:
            hi[s] -= 1
        if counts[s] >= 2:
            heapq.heappush(heap, far_end(s))


def kmeans_codebook(W, n_clusters, *, init="linear", max_iter=300, tol=1e-4, index_dtype=None,
                    random_state=None):
    """Exact 1-D k-means of the weights (sort, cumulative sums, ``searchsorted`` boundaries), the same
    iterations as the native kernel; returns the codebook and the codes (W's shape)."""
    W = np.asarray(W)
    w = W.ravel()
    centers = np.sort(kmeans_init(w, n_clusters, init, random_state))
    sorted_w = np.sort(w).astype(np.float64)
    prefix = np.concatenate(([0.0], np.cumsum(sorted_w)))
    tol_abs = tol * np.var(sorted_w)
    prev = None
    for _ in range(max_iter):
        mids = 0.5 * (centers[:-1] + centers[1:])
        start = np.concatenate(([0], np.searchsorted(sorted_w, mids, side="right"), [w.size]))
        if prev is not None and np.array_equal(start, prev):
            break
        prev = start
        counts = np.diff(start)
        sums = prefix[start[1:]] - prefix[start[:-1]]
        any_empty = bool((counts == 0).any())
        if any_empty:
            _relocate_empty(sorted_w, start, centers, sums, counts)
        fresh = np.where(counts > 0, sums / np.maximum(counts, 1), centers)
        shift = float(((fresh - centers) ** 2).sum())
        centers = np.sort(fresh) if any_empty else fresh
        if shift <= tol_abs:
            break
    mids = 0.5 * (centers[:-1] + centers[1:])
    codes = np.searchsorted(mids, w.astype(np.float64), side="left")
    dtype = W.dtype if W.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    return KMeansResult(centers.astype(dtype),
                        codes.astype(_policy.code_dtype(n_clusters, index_dtype)).reshape(W.shape))


# --- omp ---

def _omp_shaped(coef, one_signal, return_format):
    if return_format == "csc":
        import scipy.sparse as sp

        return sp.csc_array(coef)
    return coef[:, 0] if one_signal else coef


def _n_signals(X):
    """The signals of the one (1-D) or the columns (2-D) `X`, for the warnings' counts."""
    return 1 if np.ndim(X) == 1 else np.shape(X)[1]


def omp(D, X, *, n_nonzero_coefs=None, tol=None, precompute="auto", return_format="dense",
        copy=True):
    """Orthogonal Matching Pursuit: :func:`omp_counted`'s codes, with one RuntimeWarning when
    signals stopped early."""
    coef, n_premature = omp_counted(D, X, n_nonzero_coefs=n_nonzero_coefs, tol=tol,
                                    precompute=precompute, return_format=return_format, copy=copy)
    _policy.warn_omp_premature(n_premature, _n_signals(X), stacklevel=2)
    return coef


def omp_counted(D, X, *, n_nonzero_coefs=None, tol=None, precompute="auto", return_format="dense",
                copy=True):
    """Orthogonal Matching Pursuit, one signal at a time: per step the correlations ``D.T @ r``, the
    atom of largest ``|correlation|``, and the coefficients by ``np.linalg.lstsq`` on the chosen atoms.

    Stops as scikit-learn's orthogonal_mp does: after `n_nonzero_coefs` atoms, or once the squared
    residual norm is <= `tol`, or early (one RuntimeWarning per call) when the best atom is already
    chosen, its squared correlation is below eps, or it is linearly dependent on the chosen atoms
    (its squared distance to their span is <= sqrt(eps) times its squared norm:
    ``_policy.omp_pivot_independent``). `precompute` and `copy` change nothing here.
    Returns (codes, number of signals that stopped early), without a warning.
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
            distance = D[:, lam]
            if support:
                chosen = D[:, support]
                distance = D[:, lam] - chosen @ np.linalg.lstsq(chosen, D[:, lam], rcond=None)[0]
            if not _policy.omp_pivot_independent(distance @ distance, D[:, lam] @ D[:, lam], dtype):
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
    return _omp_shaped(coef, X.ndim == 1, return_format), n_premature


def omp_gram(G, DtX, *, n_nonzero_coefs=None, tol=None, norms_squared=None, return_format="dense",
             copy=True):
    """Orthogonal Matching Pursuit from ``G = D.T @ D`` and ``DtX = D.T @ X``:
    :func:`omp_gram_counted`'s codes, with one RuntimeWarning when signals stopped early."""
    coef, n_premature = omp_gram_counted(G, DtX, n_nonzero_coefs=n_nonzero_coefs, tol=tol,
                                         norms_squared=norms_squared, return_format=return_format,
                                         copy=copy)
    _policy.warn_omp_premature(n_premature, _n_signals(DtX), stacklevel=2)
    return coef


def omp_gram_counted(G, DtX, *, n_nonzero_coefs=None, tol=None, norms_squared=None,
                     return_format="dense", copy=True):
    """Orthogonal Matching Pursuit from ``G = D.T @ D`` and ``DtX = D.T @ X``, one signal at a time:
    per step the atom of largest ``|correlation|``, the coefficients by ``np.linalg.lstsq`` on
    ``G[S, S] gamma = DtX[S]``, the correlations ``DtX - G[:, S] gamma`` and the residual energy
    ``||x||^2 - gamma . G[S, S] gamma``; stops as :func:`omp_counted` does. Returns (codes, number
    of signals that stopped early), without a warning."""
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
            pivot = G[lam, lam]
            if support:
                z = np.linalg.lstsq(G[np.ix_(support, support)], G[support, lam], rcond=None)[0]
                pivot = G[lam, lam] - G[support, lam] @ z
            if not _policy.omp_pivot_independent(pivot, G[lam, lam], dtype):
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
    return _omp_shaped(coef, DtX.ndim == 1, return_format), n_premature


# --- sddmm ---
# The sampled dense-dense product (sparsenet.sddmm), self-contained.

def sddmm(pattern, A, B, *, out=None):
    """``(A @ B.T)`` at the stored positions of the CSR `pattern`, in the order of its indices:
    rows of A and B gathered per entry and multiplied, in blocks of entries (memory bounded)."""
    indices, indptr = np.asarray(pattern.indices), np.asarray(pattern.indptr)
    A, B = np.asarray(A), np.asarray(B)
    dtype = _float_dtype(A, B)
    A, B = A.astype(dtype, copy=False), B.astype(dtype, copy=False)
    rows = np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))
    values = np.empty(indices.shape[0], dtype=dtype)
    step = max(1, _BLOCK // max(1, A.shape[1]))
    for p in range(0, indices.shape[0], step):
        q = min(indices.shape[0], p + step)
        values[p:q] = np.einsum("ij,ij->i", A[rows[p:q]], B[indices[p:q]])
    return _finish(values, out)


# --- sparse coding beyond OMP: lasso, K-SVD (self-contained) ---

def lasso_gram(G, DtX, alpha, *, norms_squared=None, positive=False, max_iter=1000, tol=1e-8,
               init=None):
    """:func:`lasso_gram_counted`'s codes, with one ConvergenceWarning (sparsenet._policy) when
    some signals did not converge by `max_iter` sweeps."""
    coef, n_unconverged = lasso_gram_counted(G, DtX, alpha, norms_squared=norms_squared,
                                             positive=positive, max_iter=max_iter, tol=tol,
                                             init=init)
    _policy.warn_lasso_unconverged(n_unconverged, _n_signals(DtX), max_iter, tol, stacklevel=2)
    return coef


def lasso_gram_counted(G, DtX, alpha, *, norms_squared=None, positive=False, max_iter=1000,
                       tol=1e-8, init=None):
    """LASSO by cyclic coordinate descent over every coordinate (scikit-learn's
    enet_coordinate_descent_gram), all signals at once: per coordinate i the new coefficients
    ``shrink(c_i + G_ii a_i, alpha) / G_ii`` and ``c -= G[:, i] * change`` with ``c = DtX - G a``.
    A signal stops after a sweep that moved no coefficient by more than tol times its largest, when
    its duality gap is <= tol * ||x||^2 (no gap test without `norms_squared`). Returns (codes,
    number of signals not stopped by `max_iter` sweeps), without a warning."""
    G, DtX = np.asarray(G), np.asarray(DtX)
    dtype = _float_dtype(G, DtX)
    G = G.astype(dtype, copy=False)
    B = DtX.reshape(G.shape[0], -1).astype(dtype, copy=False)
    n, n_signals = B.shape
    A = np.zeros((n, n_signals), dtype=dtype) if init is None else \
        np.array(init, dtype=dtype).reshape(n, n_signals)
    C = B - G @ A
    norms = None if norms_squared is None else \
        np.asarray(norms_squared, dtype=np.float64).reshape(-1)
    active = np.ones(n_signals, dtype=bool)
    for _ in range(max_iter):
        if not active.any():
            break
        cols = np.flatnonzero(active)
        max_change = np.zeros(cols.size, dtype=dtype)
        max_coef = np.zeros(cols.size, dtype=dtype)
        for i in range(n):
            gii = G[i, i]
            if not gii > 0:
                continue
            old = A[i, cols]
            z = C[i, cols] + gii * old
            new = np.maximum(z - alpha, 0) if positive else np.sign(z) * np.maximum(np.abs(z) - alpha, 0)
            new = (new / gii).astype(dtype)
            change = new - old
            A[i, cols] = new
            C[:, cols] -= np.outer(G[:, i], change)
            max_change = np.maximum(max_change, np.abs(change))
            max_coef = np.maximum(max_coef, np.abs(new))
        done = max_change <= tol * max_coef
        if norms is not None and alpha > 0:
            a, b, c = (M[:, cols].astype(np.float64) for M in (A, B, C))
            ab, ac = (a * b).sum(0), (a * c).sum(0)
            dual = (c.max(0) if positive else np.abs(c).max(0)) if n else np.zeros(cols.size)
            dual = np.maximum(dual, 0)
            r2 = norms[cols] - ab - ac
            scale = np.where(dual > alpha, alpha / np.where(dual > 0, dual, 1), 1.0)
            gap = np.where(dual > alpha, 0.5 * (r2 + r2 * scale ** 2), r2)
            gap += alpha * np.abs(a).sum(0) - scale * norms[cols] + scale * ab
            done &= gap <= tol * norms[cols]
        active[cols[done]] = False
    return A[:, 0] if DtX.ndim == 1 else A, int(active.sum())


def lasso(D, X, alpha, *, positive=False, max_iter=1000, tol=1e-8, init=None):
    """:func:`lasso_counted`'s codes, with one ConvergenceWarning as :func:`lasso_gram`."""
    coef, n_unconverged = lasso_counted(D, X, alpha, positive=positive, max_iter=max_iter, tol=tol,
                                        init=init)
    _policy.warn_lasso_unconverged(n_unconverged, _n_signals(X), max_iter, tol, stacklevel=2)
    return coef


def lasso_counted(D, X, alpha, *, positive=False, max_iter=1000, tol=1e-8, init=None):
    """:func:`lasso_gram_counted` on ``D.T @ D``, ``D.T @ X`` and the squared norms of the
    signals: (codes, number of signals that did not converge), without a warning."""
    D, X = np.asarray(D), np.asarray(X)
    dtype = _float_dtype(D, X)
    D = D.astype(dtype, copy=False)
    X2 = X.reshape(D.shape[0], -1).astype(dtype, copy=False)
    coef, n_unconverged = lasso_gram_counted(
        D.T @ D, D.T @ X2, alpha, norms_squared=(X2.astype(np.float64) ** 2).sum(0),
        positive=positive, max_iter=max_iter, tol=tol, init=init)
    return coef[:, 0] if X.ndim == 1 else coef, n_unconverged


def _rng(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    return np.random.default_rng(random_state)


def ksvd_init(X, n_atoms, init="data", random_state=None):
    """The initial K-SVD dictionary (n_features, n_atoms), unit-norm columns: "data" takes distinct
    random signals (Gaussian atoms where a signal is zero or signals run out), "random" Gaussian
    atoms, an array is normalised (it must have no zero column)."""
    X = np.asarray(X)
    dtype = _float_dtype(X)
    n_features, n_signals = X.shape
    if isinstance(init, str):
        if init not in ("data", "random"):
            raise ValueError(f"init must be 'data', 'random' or an array, got {init!r}")
        rng = _rng(random_state)
        D = rng.standard_normal((n_features, n_atoms))
        if init == "data":
            take = rng.choice(n_signals, size=min(n_atoms, n_signals), replace=False)
            picked = X[:, take].astype(np.float64)
            nonzero = np.linalg.norm(picked, axis=0) > 0
            D[:, :take.size][:, nonzero] = picked[:, nonzero]
    else:
        D = np.array(init, dtype=np.float64)
        if D.shape != (n_features, n_atoms):
            raise ValueError(f"init must have shape ({n_features}, {n_atoms}) (n_features, "
                             f"n_atoms), got {D.shape}")
        if not np.isfinite(D).all():
            raise ValueError("init must not contain NaN or infinity")
    norms = np.linalg.norm(D, axis=0)
    if not (norms > 0).all():
        raise ValueError("init must not have a zero atom")
    return (D / norms).astype(dtype)


def ksvd(X, n_atoms, n_nonzero_coefs=None, tol=None, *, max_iter=10, init="data",
         random_state=None):
    """Approximate K-SVD with the residual E of each atom's signals formed explicitly: codes by
    :func:`omp`, then for each atom j in order ``d = E g / ||E g||``, ``g = E^T d``; an unused atom
    becomes the normalised signal of largest residual energy (energies taken when the iteration
    meets its first unused atom; each signal used once per iteration; signals represented to within
    rounding never, see :func:`sparsenet._policy.ksvd_badly_represented`). Returns (D, codes,
    errors)."""
    X = np.asarray(X)
    dtype = _float_dtype(X)
    X = X.astype(dtype, copy=False)
    D = ksvd_init(X, n_atoms, init, random_state).astype(dtype)
    errors = []
    for _ in range(max_iter):
        # early stops silent, as sparsenet.ksvd's: by the count, not a catch_warnings(), whose
        # filters are the process's (not thread-safe)
        codes = omp_counted(D, X, n_nonzero_coefs=n_nonzero_coefs, tol=tol)[0]
        if codes.ndim == 1:
            codes = codes[:, None]
        energies, taken = None, np.zeros(X.shape[1], dtype=bool)
        for j in range(n_atoms):
            I = np.flatnonzero(codes[j])
            if I.size == 0:
                if energies is None:
                    energies = ((X - D @ codes).astype(np.float64) ** 2).sum(0)
                    taken |= ~_policy.ksvd_badly_represented(
                        energies, (X.astype(np.float64) ** 2).sum(0), dtype)
                candidates = np.flatnonzero(~taken)
                if candidates.size:
                    worst = candidates[np.argmax(energies[candidates])]
                    taken[worst] = True
                    norm = np.linalg.norm(X[:, worst])
                    if norm > 0:
                        D[:, j] = X[:, worst] / norm
                continue
            g = codes[j, I]
            E = X[:, I] - D @ codes[:, I] + np.outer(D[:, j], g)
            d = E @ g
            norm = np.linalg.norm(d)
            if not norm > 0:
                continue
            d = d / norm
            D[:, j] = d
            codes[j, I] = E.T @ d
        errors.append(float(np.linalg.norm(X - D @ codes)))
    return D, codes, errors
