"""Thin wrappers of the CSR kernels: memoryviews in, the GIL released, status -> exception.

Arguments are validated by sparsenet.csr before they get here; nothing is checked twice."""
from libc.stdint cimport int32_t, int64_t, uint16_t

from sparsenet._kernels_csr cimport *

include "_status.pxi"


def matmul(int isa, int n_threads, const index[::1] indptr, const index[::1] indices,
           const real[::1] data, const real[:, ::1] X, real[:, ::1] Y, bint transpose,
           bint sorted_rows):
    """Y = A X (transpose=False) or Y = A^T X, A given by (indptr, indices, data);
    sorted_rows: every row's column indices are increasing."""
    cdef sn_size n_rows = indptr.shape[0] - 1
    cdef sn_size k = Y.shape[1]
    cdef sn_size n_cols = X.shape[0] if not transpose else Y.shape[0]
    cdef const index *ip = &indptr[0]
    cdef const index *ix = &indices[0] if indices.shape[0] else NULL
    cdef const real *dx = &data[0] if data.shape[0] else NULL
    cdef const real *xp = &X[0, 0] if X.shape[0] and X.shape[1] else NULL
    cdef real *yp = &Y[0, 0] if Y.shape[0] and Y.shape[1] else NULL
    cdef int status
    with nogil:
        if transpose:
            status = sn_csr_matmul_t(isa, n_threads, sorted_rows, n_rows, n_cols, ip, ix, dx, k, xp, yp)
        else:
            status = sn_csr_matmul(isa, n_threads, n_rows, ip, ix, dx, k, xp, yp)
    raise_for_status(status)


def checked_matmul(int isa, int n_threads, sn_size n_cols, const index[::1] indptr,
                   const index[::1] indices, const real[::1] data, const real[:, ::1] X,
                   real[:, ::1] Y, bint transpose):
    """Y = A X or A^T X for an unvalidated A, checked in the product's own pass (n_cols >= 1,
    k >= 1); returns the first bad row, or n_rows when A was valid (else Y is garbage)."""
    cdef sn_size n_rows = indptr.shape[0] - 1
    cdef sn_size nnz = min(indices.shape[0], data.shape[0])
    cdef sn_size k = Y.shape[1]
    cdef const index *ix = &indices[0] if indices.shape[0] else NULL
    cdef const real *dx = &data[0] if data.shape[0] else NULL
    cdef const real *xp = &X[0, 0] if X.shape[0] and X.shape[1] else NULL
    cdef real *yp = &Y[0, 0] if Y.shape[0] and Y.shape[1] else NULL
    cdef sn_size first_bad = n_rows
    cdef int status
    with nogil:
        if transpose:
            status = sn_csr_matmul_t_checked(isa, n_threads, n_rows, n_cols, nnz, &indptr[0], ix, dx,
                                             k, xp, yp, &first_bad)
        else:
            status = sn_csr_matmul_checked(isa, n_threads, n_rows, n_cols, nnz, &indptr[0], ix, dx, k,
                                           xp, yp, &first_bad)
    raise_for_status(status)
    return first_bad


def blocked_matmul(int isa, int n_threads, sn_size width, const sn_size[::1] row_ptr,
                   const sn_size[:, ::1] seg_ptr, const uint16_t[::1] col, const real[::1] val,
                   const real[:, ::1] X, real[:, ::1] Y):
    """Y = A X, A in column blocks (seg_ptr: one row of n_rows + 1 pointers per block)."""
    cdef sn_size n_rows = row_ptr.shape[0] - 1
    cdef sn_size n_blocks = seg_ptr.shape[0]
    cdef sn_size k = Y.shape[1]
    cdef const sn_size *sp = &seg_ptr[0, 0] if n_blocks else NULL
    cdef const uint16_t *cp = &col[0] if col.shape[0] else NULL
    cdef const real *vp = &val[0] if val.shape[0] else NULL
    cdef const real *xp = &X[0, 0] if X.shape[0] and X.shape[1] else NULL
    cdef real *yp = &Y[0, 0] if Y.shape[0] and Y.shape[1] else NULL
    cdef int status
    with nogil:
        status = sn_csr_blocked_matmul(isa, n_threads, n_rows, n_blocks, width, &row_ptr[0], sp, cp,
                                       vp, k, xp, yp)
    raise_for_status(status)


def split_matmul(int isa, int n_threads, const index[::1] indptr, const index[:, ::1] block_start,
                 const index[::1] indices, const real[::1] data, const real[:, ::1] X,
                 real[:, ::1] Y):
    """Y = A X, each row's entries taken block after block of columns (block_start: one row of
    n_rows starts per block, then the row ends); A's rows sorted by column."""
    cdef sn_size n_rows = indptr.shape[0] - 1
    cdef sn_size n_blocks = block_start.shape[0] - 1
    cdef sn_size k = Y.shape[1]
    cdef const index *bp = &block_start[0, 0] if n_rows else NULL
    cdef const index *ix = &indices[0] if indices.shape[0] else NULL
    cdef const real *dx = &data[0] if data.shape[0] else NULL
    cdef const real *xp = &X[0, 0] if X.shape[0] and X.shape[1] else NULL
    cdef real *yp = &Y[0, 0] if Y.shape[0] and Y.shape[1] else NULL
    cdef int status
    with nogil:
        status = sn_csr_split_matmul(isa, n_threads, n_rows, n_blocks, &indptr[0], bp, ix, dx, k,
                                     xp, yp)
    raise_for_status(status)


def gather_values(const real[::1] values, const index[::1] order, real[::1] out):
    """out[p] = values[order[p]] (order from sparsenet: in bounds)."""
    cdef sn_size n = order.shape[0]
    with nogil:
        sn_csr_gather_values(n, &values[0] if values.shape[0] else NULL,
                             &order[0] if n else NULL, &out[0] if n else NULL)


def build_blocks(bint transposed, const index[::1] indptr, const index[::1] indices,
                 const real[::1] data, int shift, sn_size[:, ::1] seg_ptr, sn_size[::1] row_ptr,
                 uint16_t[::1] col, real[::1] val):
    """Fill the column blocks (seg_ptr and row_ptr zeroed, col, val) of a checked CSR matrix, or
    of its transpose; see csrc/csr_blocks_build.h."""
    cdef sn_size n_rows = indptr.shape[0] - 1
    cdef sn_size nnz = indices.shape[0]
    cdef sn_size out_rows = row_ptr.shape[0] - 1
    cdef sn_size n_blocks = seg_ptr.shape[0]
    cdef const index *ix = &indices[0] if nnz else NULL
    cdef const real *dp = &data[0] if nnz else NULL
    cdef sn_size *sp = &seg_ptr[0, 0] if n_blocks else NULL
    cdef uint16_t *cp = &col[0] if nnz else NULL
    cdef real *vp = &val[0] if nnz else NULL
    with nogil:
        sn_csr_build_blocks(transposed, n_rows, &indptr[0], ix, dp, sizeof(real), shift, out_rows,
                            n_blocks, sp, &row_ptr[0], cp, vp)


def check(int isa, int n_threads, sn_size n_cols, const index[::1] indptr, const index[::1] indices):
    """(first bad row or n_rows, canonical) of the structure; see csrc/csr_check.h."""
    cdef sn_size n_rows = indptr.shape[0] - 1
    cdef sn_size nnz = indices.shape[0]
    cdef const index *ix = &indices[0] if nnz else NULL
    cdef sn_size first_bad = 0
    cdef int canonical = 0
    with nogil:
        sn_csr_check(isa, n_threads, n_rows, n_cols, nnz, &indptr[0], ix, &first_bad, &canonical)
    return first_bad, bool(canonical)
