/* Instantiates the parameter-sharing templates (shared_kernels.h, kmeans_kernels.h,
 * csr_kernels.h) for every value / code / index type and ISA level, and exports the entry
 * points of shared.h, which pick the level at run time. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shared.h"

/* Weights (or nnz x columns) of work that pay for starting one more thread. */
#define SN_SHARED_GRAIN ((sn_size)1 << 15)
/* Weights per decoded tile of the BLAS-backed products: 1 Mi (4 MiB of float32). Fewer, larger
 * tiles mean fewer calls in which BLAS packs X again; on Zen 4 this measured 1.13x the dense sgemm
 * time at 256 Ki and 0.99x at 1 Mi. */
#define SN_SHARED_TILE ((sn_size)1 << 20)
/* Columns per task of the transposed matrix-vector product: the slice of y stays in L1. */
#define SN_SHARED_COLS ((sn_size)2048)
/* Fixed cuts of the BLAS calls of the transposed product and the gradient (shared_kernels.h). */
#define SN_SHARED_GEMM_COLS ((sn_size)512)
#define SN_SHARED_GRAD_ROWS ((sn_size)128) /* each call packs X again: not too small */
/* Fixed partial sums of the codebook gradient (see shared_grad). */
#define SN_SHARED_SLOTS ((sn_size)8)

/* ---- shared and hashed products ---- */
#include "shared_lut8.h"
#define SN_TEMPLATE "shared_kernels.h"

#define REAL float
#define GEMM sn_gemm_f32
#define CODE uint8_t
#define SFX f32_u8
#define SN_SHARED_LUT8
#include "sn_instantiate.h"
#undef SN_SHARED_LUT8
#undef CODE
#undef SFX
#define CODE uint16_t
#define SFX f32_u16
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#define SN_SHARED_HASHED
#define SFX f32_hash
#define SN_SHARED_LUT8
#include "sn_instantiate.h"
#undef SN_SHARED_LUT8
#undef SN_SHARED_HASHED
#undef SFX
#undef REAL
#undef GEMM

#define REAL double
#define GEMM sn_gemm_f64
#define CODE uint8_t
#define SFX f64_u8
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#define CODE uint16_t
#define SFX f64_u16
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#define SN_SHARED_HASHED
#define SFX f64_hash
#include "sn_instantiate.h"
#undef SN_SHARED_HASHED
#undef SFX
#undef REAL
#undef GEMM
#undef SN_TEMPLATE

#define SN_SHARED_DEFINE(SFX, REAL, GEMM, SRC_PARAM, SRC_ARG)                                      \
    int sn_shared_decode_##SFX(int isa, int n_threads, sn_size n_rows, sn_size n_cols,            \
                               sn_size n_codes, const REAL *codebook, SRC_PARAM, REAL *W)         \
    {                                                                                             \
        SN_DISPATCH(isa, shared_decode_##SFX,                                                     \
                    (n_threads, n_rows, n_cols, n_codes, codebook, SRC_ARG, W));                  \
    }                                                                                             \
    int sn_shared_matmul_##SFX(int isa, int n_threads, sn_size n_rows, sn_size n_cols,            \
                               sn_size n_codes, const REAL *codebook, SRC_PARAM, sn_size k,       \
                               const REAL *X, REAL *Y, int transpose, GEMM gemm)                  \
    {                                                                                             \
        SN_DISPATCH(isa, shared_matmul_##SFX, (n_threads, n_rows, n_cols, n_codes, codebook,      \
                                               SRC_ARG, k, X, Y, transpose, gemm));               \
    }                                                                                             \
    int sn_shared_grad_##SFX(int isa, int n_threads, sn_size n_rows, sn_size n_cols,              \
                             sn_size n_codes, SRC_PARAM, sn_size k, const REAL *G, const REAL *X, \
                             REAL *grad, GEMM gemm)                                               \
    {                                                                                             \
        SN_DISPATCH(isa, shared_grad_##SFX,                                                       \
                    (n_threads, n_rows, n_cols, n_codes, SRC_ARG, k, G, X, grad, gemm));          \
    }

SN_SHARED_DEFINE(f32_u8, float, sn_gemm_f32, const uint8_t *codes, codes)
SN_SHARED_DEFINE(f32_u16, float, sn_gemm_f32, const uint16_t *codes, codes)
SN_SHARED_DEFINE(f32_hash, float, sn_gemm_f32, uint32_t seed, seed)
SN_SHARED_DEFINE(f64_u8, double, sn_gemm_f64, const uint8_t *codes, codes)
SN_SHARED_DEFINE(f64_u16, double, sn_gemm_f64, const uint16_t *codes, codes)
SN_SHARED_DEFINE(f64_hash, double, sn_gemm_f64, uint32_t seed, seed)

/* ---- 1-D k-means ---- */
#define SN_TEMPLATE "kmeans_kernels.h"
#define REAL float
#define KEY uint32_t
#define CODE uint8_t
#define SFX f32_u8
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#define CODE uint16_t
#define SFX f32_u16
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#undef REAL
#undef KEY

#define REAL double
#define KEY uint64_t
#define CODE uint8_t
#define SFX f64_u8
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#define CODE uint16_t
#define SFX f64_u16
#include "sn_instantiate.h"
#undef CODE
#undef SFX
#undef REAL
#undef KEY
#undef SN_TEMPLATE

#define SN_KMEANS_DEFINE(SFX, REAL, CODE)                                                         \
    int sn_kmeans_##SFX(int isa, int n_threads, sn_size n, const REAL *w, sn_size n_codes,        \
                        int init_density, sn_size max_iter, double tol, double *centers,          \
                        CODE *codes, sn_size *n_iter, double *inertia)                            \
    {                                                                                             \
        SN_DISPATCH(isa, kmeans_##SFX, (n_threads, n, w, n_codes, init_density, max_iter, tol,    \
                                        centers, codes, n_iter, inertia));                        \
    }

SN_KMEANS_DEFINE(f32_u8, float, uint8_t)
SN_KMEANS_DEFINE(f32_u16, float, uint16_t)
SN_KMEANS_DEFINE(f64_u8, double, uint8_t)
SN_KMEANS_DEFINE(f64_u16, double, uint16_t)

/* ---- pruned and shared CSR: the CSR product templates, each value read through its code ---- */
#define SN_TEMPLATE "csr_kernels.h"
#define CSR_VALUE(v, p) ((v).codebook[(v).codes[p]])

#define SN_CODED_VALUES(VSFX, REAL, CODE)                                                         \
    typedef struct {                                                                              \
        const CODE *codes;                                                                        \
        const REAL *codebook;                                                                     \
    } sn_coded_##VSFX;
SN_CODED_VALUES(f32_u8, float, uint8_t)
SN_CODED_VALUES(f32_u16, float, uint16_t)
SN_CODED_VALUES(f64_u8, double, uint8_t)
SN_CODED_VALUES(f64_u16, double, uint16_t)

#define REAL float
#define INDEX int32_t
#define CSR_VALUES sn_coded_f32_u8
#define SFX f32_i32_u8
#include "sn_instantiate.h"
#undef CSR_VALUES
#undef SFX
#define CSR_VALUES sn_coded_f32_u16
#define SFX f32_i32_u16
#include "sn_instantiate.h"
#undef CSR_VALUES
#undef SFX
#undef INDEX
#define INDEX int64_t
#define CSR_VALUES sn_coded_f32_u8
#define SFX f32_i64_u8
#include "sn_instantiate.h"
#undef CSR_VALUES
#undef SFX
#define CSR_VALUES sn_coded_f32_u16
#define SFX f32_i64_u16
#include "sn_instantiate.h"
#undef CSR_VALUES
#undef SFX
#undef INDEX
#undef REAL

#define REAL double
#define INDEX int32_t
#define CSR_VALUES sn_coded_f64_u8
#define SFX f64_i32_u8
#include "sn_instantiate.h"
#undef CSR_VALUES
#undef SFX
#define CSR_VALUES sn_coded_f64_u16
#define SFX f64_i32_u16
#include "sn_instantiate.h"
#undef CSR_VALUES
#undef SFX
#undef INDEX
#define INDEX int64_t
#define CSR_VALUES sn_coded_f64_u8
#define SFX f64_i64_u8
#include "sn_instantiate.h"
#undef CSR_VALUES
#undef SFX
#define CSR_VALUES sn_coded_f64_u16
#define SFX f64_i64_u16
#include "sn_instantiate.h"
#undef CSR_VALUES
#undef SFX
#undef INDEX
#undef REAL
#undef CSR_VALUE
#undef SN_TEMPLATE

#define SN_SHARED_CSR_DEFINE(SFX, VSFX, REAL, INDEX, CODE)                                        \
    int sn_shared_csr_matmul_##SFX(int isa, int n_threads, int sorted_rows, sn_size n_rows,       \
                                   sn_size n_cols, const INDEX *indptr, const INDEX *indices,     \
                                   const CODE *codes, const REAL *codebook, sn_size k,            \
                                   const REAL *X, REAL *Y, int transpose)                         \
    {                                                                                             \
        const sn_coded_##VSFX values = {codes, codebook};                                         \
        if (transpose)                                                                            \
            SN_DISPATCH(isa, csr_matmul_t_##SFX,                                                  \
                        (n_threads, sorted_rows, n_rows, n_cols, indptr, indices, values, k, X,   \
                         Y));                                                                     \
        SN_DISPATCH(isa, csr_matmul_##SFX, (n_threads, n_rows, indptr, indices, values, k, X, Y)); \
    }

SN_SHARED_CSR_DEFINE(f32_i32_u8, f32_u8, float, int32_t, uint8_t)
SN_SHARED_CSR_DEFINE(f32_i32_u16, f32_u16, float, int32_t, uint16_t)
SN_SHARED_CSR_DEFINE(f32_i64_u8, f32_u8, float, int64_t, uint8_t)
SN_SHARED_CSR_DEFINE(f32_i64_u16, f32_u16, float, int64_t, uint16_t)
SN_SHARED_CSR_DEFINE(f64_i32_u8, f64_u8, double, int32_t, uint8_t)
SN_SHARED_CSR_DEFINE(f64_i32_u16, f64_u16, double, int32_t, uint16_t)
SN_SHARED_CSR_DEFINE(f64_i64_u8, f64_u8, double, int64_t, uint8_t)
SN_SHARED_CSR_DEFINE(f64_i64_u16, f64_u16, double, int64_t, uint16_t)
