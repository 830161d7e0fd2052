/* CSR kernels: products with a compressed-sparse-row matrix, and its structural check.
 *
 * A is n_rows x n_cols with row pointers indptr[n_rows + 1], column indices indices[nnz] and values
 * data[nnz]; X and Y are dense, C order, with k columns (k = 1: vectors). Suffixes name the value
 * and index types: f32/f64 x i32/i64. `isa` is an sn_isa level the CPU supports; `n_threads` the
 * OpenMP threads to use at most; `sorted_rows` 1 when every row's column indices increase (then the
 * transposed product sums by column ownership, without scratch buffers). Results never depend on
 * n_threads. Return an sn_status. */
#ifndef SPARSENET_CSR_H
#define SPARSENET_CSR_H

#include "sparsenet.h"

#define SN_CSR_DECLARE(SFX, REAL, INDEX)                                                          \
    /* Y (n_rows x k) = A X, X n_cols x k */                                                      \
    int sn_csr_matmul_##SFX(int isa, int n_threads, sn_size n_rows, const INDEX *indptr,          \
                            const INDEX *indices, const REAL *data, sn_size k, const REAL *X,     \
                            REAL *Y);                                                             \
    /* Y (n_cols x k) = A^T X, X n_rows x k */                                                    \
    int sn_csr_matmul_t_##SFX(int isa, int n_threads, int sorted_rows, sn_size n_rows,            \
                              sn_size n_cols, const INDEX *indptr, const INDEX *indices,          \
                              const REAL *data, sn_size k, const REAL *X, REAL *Y);

SN_CSR_DECLARE(f32_i32, float, int32_t)
SN_CSR_DECLARE(f32_i64, float, int64_t)
SN_CSR_DECLARE(f64_i32, double, int32_t)
SN_CSR_DECLARE(f64_i64, double, int64_t)

/* Y (n_rows x k) = A X for A in column blocks of `width` columns (layout: csr_blocked_kernels.h). */
int sn_csr_blocked_matmul_f32(int isa, int n_threads, sn_size n_rows, sn_size n_blocks,
                              sn_size width, const sn_size *row_ptr, const sn_size *seg_ptr,
                              const uint16_t *col, const float *val, sn_size k, const float *X,
                              float *Y);
int sn_csr_blocked_matmul_f64(int isa, int n_threads, sn_size n_rows, sn_size n_blocks,
                              sn_size width, const sn_size *row_ptr, const sn_size *seg_ptr,
                              const uint16_t *col, const double *val, sn_size k, const double *X,
                              double *Y);

/* The column blocks of width 1 << shift of a checked CSR matrix A (n_rows rows), or of A^T with
 * transposed = 1: out_rows rows (n_rows, or A's n_cols), n_blocks blocks. seg_ptr[n_blocks *
 * (out_rows + 1)] and row_ptr[out_rows + 1] must come zeroed; col[nnz] and val[nnz] are written,
 * values being value_bytes (4 or 8) wide (csr_blocks_build.h). */
int sn_csr_build_blocks_i32(int transposed, sn_size n_rows, const int32_t *indptr,
                            const int32_t *indices, const void *data, int value_bytes, int shift,
                            sn_size out_rows, sn_size n_blocks, sn_size *seg_ptr, sn_size *row_ptr,
                            uint16_t *col, void *val);
int sn_csr_build_blocks_i64(int transposed, sn_size n_rows, const int64_t *indptr,
                            const int64_t *indices, const void *data, int value_bytes, int shift,
                            sn_size out_rows, sn_size n_blocks, sn_size *seg_ptr, sn_size *row_ptr,
                            uint16_t *col, void *val);

/* Structural check (csr_check.h): first bad row (n_rows when none) and whether rows are canonical. */
int sn_csr_check_i32(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size nnz,
                     const int32_t *indptr, const int32_t *indices, sn_size *first_bad_row,
                     int *canonical);
int sn_csr_check_i64(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size nnz,
                     const int64_t *indptr, const int64_t *indices, sn_size *first_bad_row,
                     int *canonical);

#endif /* SPARSENET_CSR_H */
