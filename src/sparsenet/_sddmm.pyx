"""Thin wrapper of the SDDMM kernel: memoryviews in, the GIL released, status -> exception.

Arguments are validated by sparsenet.sddmm before they get here; nothing is checked twice."""
from sparsenet._kernels_sddmm cimport *

include "_status.pxi"


def sddmm(int isa, int n_threads, const index[::1] indptr, const index[::1] indices,
          const real[:, ::1] A, const real[:, ::1] B, const index[::1] pos, real[::1] out):
    """out[pos[p]] = dot(A[row(p)], B[indices[p]]) over the entries p of the CSR pattern (pos
    None: out[p])."""
    cdef sn_size n_rows = indptr.shape[0] - 1
    cdef sn_size k = A.shape[1]
    cdef const index *ix = &indices[0] if indices.shape[0] else NULL
    cdef const real *ap = &A[0, 0] if A.shape[0] and A.shape[1] else NULL
    cdef const real *bp = &B[0, 0] if B.shape[0] and B.shape[1] else NULL
    cdef const index *pp = &pos[0] if pos is not None and pos.shape[0] else NULL
    cdef real *op = &out[0] if out.shape[0] else NULL
    cdef int status
    with nogil:
        status = sn_sddmm(isa, n_threads, n_rows, &indptr[0], ix, k, ap, bp, pp, op)
    raise_for_status(status)
