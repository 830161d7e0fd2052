"""The sampled dense-dense product (SDDMM) over the pattern of a sparse matrix.

``out[p] = dot(A[row(p)], B[col(p)])`` for every stored entry p: the entries of ``A @ B.T`` at the
pattern's positions, computed without the dense product. It is the gradient of a sparse layer's
stored values (``sparsenet.torch``).
"""
import numpy as np

from sparsenet import _csr, _sddmm, backend, csr, reference
from sparsenet._validate import (SDDMM_REALIGN_MIN_READS, as_array, as_c_array, as_matrix_operand,
                                 check_out, new_output, require_checked, result_dtype)
from sparsenet.shared import SharedCSR


def sddmm(pattern, A, B, *, out=None):
    """Sampled dense-dense product: ``(A @ B.T)`` at the stored positions of `pattern`.

    ``out[p] = dot(A[i, :], B[j, :])`` for every stored entry p = (i, j) of `pattern`, in the order
    of ``pattern.indices`` (duplicates each get their own value). The pattern's values are not read:
    ``CSR(out, pattern.indices, pattern.indptr, pattern.shape)`` is SciPy's
    ``(A @ B.T)`` masked by the pattern, and PyTorch's
    ``torch.sparse.sampled_addmm(pattern, A, B.T, beta=0)``.

    Parameters
    ----------
    pattern : sparsenet.CSR, sparsenet.SharedCSR or scipy.sparse CSR matrix, shape (n_rows, n_cols)
        A scipy matrix is checked in full on each call.
    A : array_like, shape (n_rows, k)
    B : array_like, shape (n_cols, k)
        C order is fastest (rows are read whole); other layouts are copied.
    out : ndarray, optional
        C-contiguous array of shape (nnz,) and the result's dtype to write into.

    Returns
    -------
    values : ndarray, shape (nnz,)
        float32 when A and B are float32, else NumPy's promotion (integers: float64). Each entry is
        summed by one thread in a fixed order: the same for every thread count.

    Notes
    -----
    Each entry reads a row of A and a row of B: row by row, the rows of A are read once and B's
    again and again. When B does not fit the L2 cache and A does, a :class:`sparsenet.CSR` pattern
    is walked column by column instead (the same values, bit for bit): its transpose, two index
    arrays of nnz entries, is built at the first such call and kept by the CSR.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> P = sparsenet.CSR.from_dense(np.array([[1., 0.], [1., 1.]]))
    >>> A = np.array([[1., 2.], [3., 4.]]); B = np.array([[1., 0.], [0., 1.]])
    >>> sparsenet.sddmm(P, A, B)          # (A @ B.T)[0, 0], [1, 0], [1, 1]
    array([1., 3., 4.])
    """
    if isinstance(pattern, SharedCSR):  # its structure was checked when it was built
        require_checked(pattern, "pattern")
    else:
        pattern = csr.as_csr(pattern, "pattern")
    n_rows, n_cols = pattern.shape
    A = as_array(A, "A", ndim=2)
    B = as_array(B, "B", ndim=2)
    if A.shape[0] != n_rows or B.shape[0] != n_cols or A.shape[1] != B.shape[1]:
        raise ValueError(f"shape mismatch: pattern is {n_rows}x{n_cols}, so A must have {n_rows} "
                         f"rows and B {n_cols}, with as many columns; got A.shape={A.shape}, "
                         f"B.shape={B.shape}")
    dtype = result_dtype(A, B, names=("A", "B"))
    nnz = pattern.indices.shape[0]
    if out is not None:
        check_out(out, (nnz,), dtype, inputs=(A, B, pattern.indices, pattern.indptr))
    if backend.use_numpy():
        return reference.sddmm(pattern, A, B, out=out)
    values = out if out is not None else new_output((nnz,), dtype)
    A = as_c_array(A, dtype)
    if isinstance(pattern, csr.CSR) and _by_columns(n_rows, n_cols, A.shape[1] * dtype.itemsize):
        # A's rows are read nnz / n_rows times each
        A = as_matrix_operand(A, dtype, nnz / max(n_rows, 1), SDDMM_REALIGN_MIN_READS)
        indptr, rows, place = pattern._entries_by_column()
        _sddmm.sddmm(*backend.native_options(), indptr, rows, as_c_array(B, dtype), A, place,
                     values)
        return values
    # B's rows are read nnz / n_cols times each: a misaligned B is copied aligned when that pays
    B = as_matrix_operand(B, dtype, nnz / max(n_cols, 1), SDDMM_REALIGN_MIN_READS)
    _sddmm.sddmm(*backend.native_options(), pattern.indptr, pattern.indices, A, B, None, values)
    return values


def _by_columns(n_rows: int, n_cols: int, row_bytes: int) -> bool:
    """Whether sddmm takes the pattern column by column (its transpose, kept by the CSR), which
    re-reads A's rows for each entry where row by row re-reads B's: when B does not fit L2 and A
    does. On issue 13's MiniLM matrix 384 x 1536 at 10%, k = 128 (A 192 KiB, B 768 KiB), one
    thread, Zen 3 (L2 512 KiB): 713 -> 612 us; where neither fits (1x1 convolutions, k = 3136) the
    two orders took the same time within 5%."""
    l2 = _csr.l2_bytes()
    return n_rows * row_bytes <= l2 < n_cols * row_bytes


__all__ = ["sddmm"]
