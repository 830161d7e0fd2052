/* Instantiates the CSR templates for {float, double} x {int32, int64} (column blocks: {float,
 * double}) and every ISA level, and exports the entry points of csr.h, which pick the level at run
 * time. */
#include <stdlib.h>
#include <string.h>

#include "csr.h"
#include "csr_tuning.h"

#define SN_TEMPLATE "csr_kernels.h"

#define REAL float
#define INDEX int32_t
#define SFX f32_i32
#include "sn_instantiate.h"
#undef REAL
#undef INDEX
#undef SFX

#define REAL float
#define INDEX int64_t
#define SFX f32_i64
#include "sn_instantiate.h"
#undef REAL
#undef INDEX
#undef SFX

#define REAL double
#define INDEX int32_t
#define SFX f64_i32
#include "sn_instantiate.h"
#undef REAL
#undef INDEX
#undef SFX

#define REAL double
#define INDEX int64_t
#define SFX f64_i64
#include "sn_instantiate.h"
#undef REAL
#undef INDEX
#undef SFX

#define SN_CSR_DEFINE(SFX, REAL, INDEX)                                                           \
    int sn_csr_matmul_##SFX(int isa, int n_threads, sn_size n_rows, const INDEX *indptr,          \
                            const INDEX *indices, const REAL *data, sn_size k, const REAL *X,     \
                            REAL *Y)                                                              \
    {                                                                                             \
        SN_DISPATCH(isa, csr_matmul_##SFX, (n_threads, n_rows, indptr, indices, data, k, X, Y));  \
    }                                                                                             \
    int sn_csr_matmul_t_##SFX(int isa, int n_threads, int sorted_rows, sn_size n_rows,            \
                              sn_size n_cols, const INDEX *indptr, const INDEX *indices,          \
                              const REAL *data, sn_size k, const REAL *X, REAL *Y)                \
    {                                                                                             \
        SN_DISPATCH(isa, csr_matmul_t_##SFX,                                                      \
                    (n_threads, sorted_rows, n_rows, n_cols, indptr, indices, data, k, X, Y));    \
    }

SN_CSR_DEFINE(f32_i32, float, int32_t)
SN_CSR_DEFINE(f32_i64, float, int64_t)
SN_CSR_DEFINE(f64_i32, double, int32_t)
SN_CSR_DEFINE(f64_i64, double, int64_t)

#undef SN_TEMPLATE
#define SN_TEMPLATE "csr_blocked_kernels.h"
#define INDEX sn_size

#define REAL float
#define REAL_BYTES 4
#define SFX f32_blk
#include "sn_instantiate.h"
#undef REAL
#undef REAL_BYTES
#undef SFX

#define REAL double
#define REAL_BYTES 8
#define SFX f64_blk
#include "sn_instantiate.h"
#undef REAL
#undef REAL_BYTES
#undef SFX

#undef INDEX

#define SN_CSR_BLOCKED_DEFINE(SFX, REAL)                                                          \
    int sn_csr_blocked_matmul_##SFX(int isa, int n_threads, sn_size n_rows, sn_size n_blocks,     \
                                    sn_size width, const sn_size *row_ptr, const sn_size *seg_ptr, \
                                    const uint16_t *col, const REAL *val, sn_size k,              \
                                    const REAL *X, REAL *Y)                                       \
    {                                                                                             \
        SN_DISPATCH(isa, blocked_matmul_##SFX##_blk,                                              \
                    (n_threads, n_rows, n_blocks, width, row_ptr, seg_ptr, col, val, k, X, Y));   \
    }

SN_CSR_BLOCKED_DEFINE(f32, float)
SN_CSR_BLOCKED_DEFINE(f64, double)

#define INDEX int32_t
#define ISFX i32
#include "csr_blocks_build.h"
#undef INDEX
#undef ISFX

#define INDEX int64_t
#define ISFX i64
#include "csr_blocks_build.h"
#undef INDEX
#undef ISFX

#undef SN_TEMPLATE
#define SN_TEMPLATE "csr_check.h"

#define INDEX int32_t
#define UINDEX uint32_t
#define INDEX_LIMIT ((sn_size)1 << 31)
#define ISFX i32
#include "sn_instantiate.h"
#undef INDEX
#undef UINDEX
#undef INDEX_LIMIT
#undef ISFX

#define INDEX int64_t
#define UINDEX uint64_t
#define INDEX_LIMIT INT64_MAX
#define ISFX i64
#include "sn_instantiate.h"
#undef INDEX
#undef UINDEX
#undef INDEX_LIMIT
#undef ISFX

#define SN_CSR_CHECK_DEFINE(ISFX, INDEX)                                                          \
    int sn_csr_check_##ISFX(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size nnz,  \
                            const INDEX *indptr, const INDEX *indices, sn_size *first_bad_row,    \
                            int *canonical)                                                       \
    {                                                                                             \
        SN_DISPATCH(isa, csr_check_##ISFX,                                                        \
                    (n_threads, n_rows, n_cols, nnz, indptr, indices, first_bad_row, canonical)); \
    }

SN_CSR_CHECK_DEFINE(i32, int32_t)
SN_CSR_CHECK_DEFINE(i64, int64_t)
