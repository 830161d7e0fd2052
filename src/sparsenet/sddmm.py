"""The sampled dense-dense product (SDDMM) over the pattern of a sparse matrix.

``out[p] = dot(A[row(p)], B[col(p)])`` for every stored entry p: the entries of ``A @ B.T`` at the
pattern's positions, computed without the dense product. It is the gradient of a sparse layer's
stored values (``sparsenet.torch``).
"""
import numpy as np

from sparsenet import _sddmm, backend, csr, reference
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
    # B's rows are read nnz / n_cols times each: a misaligned B is copied aligned when that pays
    B = as_matrix_operand(B, dtype, nnz / max(n_cols, 1), SDDMM_REALIGN_MIN_READS)
    _sddmm.sddmm(*backend.native_options(), pattern.indptr, pattern.indices,
                 as_c_array(A, dtype), B, values)
    return values


__all__ = ["sddmm"]
