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
    """sparsenet.CSR of the nonzero entries of the 2-D array y (NaN is nonzero)."""
    from sparsenet.csr import CSR  # sparsenet.csr imports this module

    return CSR.from_dense(y)


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


def _n_kept(sparsity, n):
    """Entries kept of n when the fraction `sparsity` is pruned: n - round(sparsity * n)."""
    return n - int(round(sparsity * n))


def prune(W, *, sparsity=None, threshold=None, per_row=False):
    """Magnitude pruning of the 2-D W to a sparsenet.CSR: keep |W| >= threshold, or the
    n - round(sparsity * n) entries of largest magnitude of W (or of each row, per_row=True)."""
    W = _as_float(W)
    if threshold is not None:
        return hard_threshold(W, threshold, format="csr")
    if per_row:
        mask = _top_mask(np.abs(W), _n_kept(sparsity, W.shape[1]))
    else:
        mask = _top_mask(np.abs(W).reshape(1, -1), _n_kept(sparsity, W.size)).reshape(W.shape)
    return _to_csr(np.where(mask, W, 0))


# --- shared ---
# Parameter sharing: codebook (k-means) weights, hashed weights, pruned-and-shared CSR.

_U32 = np.uint32


def _fmix32(h):
    """MurmurHash3's 32-bit finaliser on a uint32 array (arithmetic wraps mod 2**32)."""
    h = h ^ (h >> _U32(16))
    h = h * _U32(0x85EBCA6B)
    h = h ^ (h >> _U32(13))
    h = h * _U32(0xC2B2AE35)
    return h ^ (h >> _U32(16))


def hashed_codes(shape, n_codes, seed):
    """(codes, signs) of a hashed matrix, the documented hash of ``sparsenet.HashedWeights``:

        r = fmix32(uint32(i) * 0x9E3779B1 ^ seed);   h = fmix32(r + uint32(j) * 0x85EBCA77)
        code = (h >> 1) % n_codes;   sign = -1 if h & 1 else +1
    """
    n_rows, n_cols = shape
    rows = np.arange(n_rows, dtype=np.uint64).astype(_U32)
    cols = np.arange(n_cols, dtype=np.uint64).astype(_U32)
    r = _fmix32((rows * _U32(0x9E3779B1)) ^ _U32(seed))
    h = _fmix32(r[:, None] + cols[None, :] * _U32(0x85EBCA77))
    codes = (h >> _U32(1)) % _U32(n_codes)
    signs = np.where(h & _U32(1), -1, 1).astype(np.int8)
    return codes, signs


def decode(w):
    """The dense weights of a SharedWeights (``codebook[indices]``) or a HashedWeights."""
    if hasattr(w, "seed"):
        codes, signs = hashed_codes(w.shape, w.codebook.shape[0], w.seed)
        return w.codebook[codes] * signs.astype(w.codebook.dtype)
    return w.codebook[w.indices]


def _shared_product(w, X, transpose, out):
    W = decode(w)
    X = np.asarray(X)
    dtype = _float_dtype(W, X)
    W = W.astype(dtype, copy=False)
    return _finish((W.T if transpose else W) @ X.astype(dtype, copy=False), out)


def shared_matvec(sw, x, *, transpose=False, out=None):
    """``codebook[indices] @ x`` (or its transpose)."""
    return _shared_product(sw, x, transpose, out)


def shared_matmul(sw, X, *, transpose=False, out=None):
    """``codebook[indices] @ X`` (or its transpose)."""
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
        codes = w.indices
    return np.bincount(codes.ravel(), weights=dW.ravel(), minlength=n_codes).astype(dtype)


def kmeans_init(w, n_clusters, init, random_state=None):
    """Initial centroids (float64) of 1-D k-means: "linear" (evenly spaced from min to max), "density"
    (the quantiles ``sorted(w)[((2c + 1)(n - 1)) // (2 n_clusters)]``), "random" (distinct
    positions drawn by ``numpy.random.default_rng(random_state)``), or an array of n_clusters values."""
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
    iterations as the native kernel; returns a ``sparsenet.SharedWeights``."""
    from sparsenet.shared import SharedWeights, _index_dtype

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
    return SharedWeights(centers.astype(dtype), codes.astype(_index_dtype(n_clusters, index_dtype))
                         .reshape(W.shape), copy=False)


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
