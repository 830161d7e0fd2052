/* SDDMM kernel (sddmm_kernels.h): out[p] = dot(A[i, :], B[indices[p], :]) over the stored entries p
 * of each row i of a CSR pattern (indptr[n_rows + 1], indices[nnz]); A is n_rows x k, B n_cols x k,
 * both dense in C order; out has nnz entries. Suffixes: f32/f64 x i32/i64. The result does not
 * depend on n_threads. Returns an sn_status. */
#ifndef SPARSENET_SDDMM_H
#define SPARSENET_SDDMM_H

#include "sparsenet.h"

/* The entry points, generated from csrc/kernels.spec. */
#include "sn_sddmm_api.h"

#endif /* SPARSENET_SDDMM_H */
