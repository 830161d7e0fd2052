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


# --- threshold ---


def _as_float(x):
    x = np.asarray(x)
    return x.astype(_float_dtype(x), copy=False)


def _to_csr(y):
    """sparsenet.CSR of the nonzero entries of the 2-D array y (NaN is nonzero)."""
    from sparsenet.csr import CSR  # sparsenet.csr imports this module

    return CSR.from_dense(y)


def _dense_or_csr(y, out, format):
    return _to_csr(y) if format == "csr" else _finish(y, out)


def binarize(x, theta, *, dtype=None, out=None, format="dense"):
    """``x >= theta`` as 1 / 0, in x's float dtype (or `dtype`: bool, uint8)."""
    x = _as_float(x)
    mask = x >= x.dtype.type(theta)
    if format == "csr":
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
    y = np.abs(x)
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
