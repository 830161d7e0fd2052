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
