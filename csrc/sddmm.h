/* SDDMM kernel (sddmm_kernels.h): out[p] = dot(A[i, :], B[indices[p], :]) over the stored entries p
 * of each row i of a CSR pattern (indptr[n_rows + 1], indices[nnz]); A is n_rows x k, B n_cols x k,
 * both dense in C order; out has nnz entries. Suffixes: f32/f64 x i32/i64. The result does not
 * depend on n_threads. Returns an sn_status.
 *
 * Declared by hand until the kernel spec (csrc/kernels.spec) lands; then one spec line:
 *   csr  sddmm  real index  int n_threads, sn_size n_rows, const INDEX *indptr,
 *                           const INDEX *indices, sn_size k, const REAL *A, const REAL *B, REAL *out */
#ifndef SPARSENET_SDDMM_H
#define SPARSENET_SDDMM_H

#include "sparsenet.h"

#define SN_SDDMM_DECLARE(SFX, REAL, INDEX)                                                        \
    int sn_sddmm_##SFX(int isa, int n_threads, sn_size n_rows, const INDEX *indptr,               \
                       const INDEX *indices, sn_size k, const REAL *A, const REAL *B, REAL *out);

SN_SDDMM_DECLARE(f32_i32, float, int32_t)
SN_SDDMM_DECLARE(f32_i64, float, int64_t)
SN_SDDMM_DECLARE(f64_i32, double, int32_t)
SN_SDDMM_DECLARE(f64_i64, double, int64_t)

#endif /* SPARSENET_SDDMM_H */
