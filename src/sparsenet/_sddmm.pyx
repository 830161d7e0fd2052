"""Thin wrapper of the SDDMM kernel: memoryviews in, the GIL released, status -> exception.

Arguments are validated by sparsenet.sddmm before they get here; nothing is checked twice."""
from libc.stdint cimport int32_t, int64_t

from sparsenet._kernels cimport sn_size, SN_OK, SN_ENOMEM

include "_status.pxi"

# Declared here until the kernel spec (csrc/kernels.spec) generates it into _kernels.pxd.
cdef extern from "sddmm.h" nogil:
    int sn_sddmm_f32_i32(int isa, int n_threads, sn_size n_rows, const int32_t *indptr,
                         const int32_t *indices, sn_size k, const float *A, const float *B,
                         float *out)
    int sn_sddmm_f32_i64(int isa, int n_threads, sn_size n_rows, const int64_t *indptr,
                         const int64_t *indices, sn_size k, const float *A, const float *B,
                         float *out)
    int sn_sddmm_f64_i32(int isa, int n_threads, sn_size n_rows, const int32_t *indptr,
                         const int32_t *indices, sn_size k, const double *A, const double *B,
                         double *out)
    int sn_sddmm_f64_i64(int isa, int n_threads, sn_size n_rows, const int64_t *indptr,
                         const int64_t *indices, sn_size k, const double *A, const double *B,
                         double *out)

ctypedef fused real:
    float
    double

ctypedef fused index:
    int32_t
    int64_t


def sddmm(int isa, int n_threads, const index[::1] indptr, const index[::1] indices,
          const real[:, ::1] A, const real[:, ::1] B, real[::1] out):
    """out[p] = dot(A[row(p)], B[indices[p]]) over the entries p of the CSR pattern."""
    cdef sn_size n_rows = indptr.shape[0] - 1
    cdef sn_size k = A.shape[1]
    cdef const index *ix = &indices[0] if indices.shape[0] else NULL
    cdef const real *ap = &A[0, 0] if A.shape[0] and A.shape[1] else NULL
    cdef const real *bp = &B[0, 0] if B.shape[0] and B.shape[1] else NULL
    cdef real *op = &out[0] if out.shape[0] else NULL
    cdef int status
    with nogil:
        if real is float and index is int32_t:
            status = sn_sddmm_f32_i32(isa, n_threads, n_rows, &indptr[0], ix, k, ap, bp, op)
        elif real is float and index is int64_t:
            status = sn_sddmm_f32_i64(isa, n_threads, n_rows, &indptr[0], ix, k, ap, bp, op)
        elif real is double and index is int32_t:
            status = sn_sddmm_f64_i32(isa, n_threads, n_rows, &indptr[0], ix, k, ap, bp, op)
        else:
            status = sn_sddmm_f64_i64(isa, n_threads, n_rows, &indptr[0], ix, k, ap, bp, op)
    raise_for_status(status)
