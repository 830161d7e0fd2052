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

/* The entry points, generated from csrc/kernels.spec. */
#include "sn_csr_api.h"

#endif /* SPARSENET_CSR_H */
