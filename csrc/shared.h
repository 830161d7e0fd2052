/* Parameter-sharing kernels: weights that are entries of a small codebook.
 *
 * A shared matrix W (n_rows x n_cols) has W[i, j] = codebook[codes[i * n_cols + j]], codes uint8 or
 * uint16 (suffix u8 / u16). A hashed matrix stores nothing per weight (suffix hash):
 *     r = fmix32((uint32)i * 0x9E3779B1 ^ seed)
 *     h = fmix32(r + (uint32)j * 0x85EBCA77)                (all arithmetic mod 2^32)
 *     W[i, j] = (h & 1 ? -1 : +1) * codebook[(h >> 1) % n_codes]
 * with fmix32 the MurmurHash3 finaliser (sn_fmix32 below); sparsenet.reference reproduces it bit for bit.
 *
 * X and Y are dense, C order, k columns. The value suffix is f32 / f64. `isa` is an sn_isa level the CPU
 * supports, `n_threads` the OpenMP threads to use at most; results never depend on n_threads. Products
 * with k > 1 decode a cache-sized tile of W and multiply it with `gemm`, a Fortran-BLAS xGEMM (for
 * example scipy.linalg.cython_blas.sgemm) called from the calling thread. Return an sn_status. */
#ifndef SPARSENET_SHARED_H
#define SPARSENET_SHARED_H

#include "sparsenet.h"

typedef void (*sn_gemm_f32)(char *transa, char *transb, int *m, int *n, int *k, float *alpha,
                            float *a, int *lda, float *b, int *ldb, float *beta, float *c, int *ldc);
typedef void (*sn_gemm_f64)(char *transa, char *transb, int *m, int *n, int *k, double *alpha,
                            double *a, int *lda, double *b, int *ldb, double *beta, double *c,
                            int *ldc);

/* MurmurHash3's 32-bit finaliser: a bijection of uint32 with full avalanche. */
static inline uint32_t sn_fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

/* SRC_PARAM is how a family member names its weights: `const uint8_t *codes`, `const uint16_t *codes`
 * or `uint32_t seed`. */
#define SN_SHARED_DECLARE(SFX, REAL, GEMM, SRC_PARAM)                                              \
    /* W (n_rows x n_cols, C order) */                                                            \
    int sn_shared_decode_##SFX(int isa, int n_threads, sn_size n_rows, sn_size n_cols,            \
                               sn_size n_codes, const REAL *codebook, SRC_PARAM, REAL *W);        \
    /* Y = W X (X n_cols x k, Y n_rows x k) or, transposed, Y = W^T X (X n_rows x k, Y n_cols x k); \
     * gemm may be NULL when k == 1 */                                                            \
    int sn_shared_matmul_##SFX(int isa, int n_threads, sn_size n_rows, sn_size n_cols,            \
                               sn_size n_codes, const REAL *codebook, SRC_PARAM, sn_size k,       \
                               const REAL *X, REAL *Y, int transpose, GEMM gemm);                 \
    /* grad[c] = sum of (G X^T)[i, j] * sign(i, j) over the (i, j) of code c: the codebook gradient \
     * of Y = W X, G = dL/dY (n_rows x k), X n_cols x k. gemm may be NULL when k == 1 */           \
    int sn_shared_grad_##SFX(int isa, int n_threads, sn_size n_rows, sn_size n_cols,              \
                             sn_size n_codes, SRC_PARAM, sn_size k, const REAL *G, const REAL *X, \
                             REAL *grad, GEMM gemm);

SN_SHARED_DECLARE(f32_u8, float, sn_gemm_f32, const uint8_t *codes)
SN_SHARED_DECLARE(f32_u16, float, sn_gemm_f32, const uint16_t *codes)
SN_SHARED_DECLARE(f32_hash, float, sn_gemm_f32, uint32_t seed)
SN_SHARED_DECLARE(f64_u8, double, sn_gemm_f64, const uint8_t *codes)
SN_SHARED_DECLARE(f64_u16, double, sn_gemm_f64, const uint16_t *codes)
SN_SHARED_DECLARE(f64_hash, double, sn_gemm_f64, uint32_t seed)

/* Exact 1-D k-means (Lloyd) of the n finite values w: sort once, then every iteration finds the
 * cluster boundaries by binary search on the sorted values and the means from prefix sums.
 * centers[n_codes]: the initial centroids on entry (unless init_density, which takes the quantiles
 * sorted[((2c + 1)(n - 1)) / (2 n_codes)]), the final ones, ascending, on return. Points at equal
 * distance from two centroids join the lower one. An empty cluster takes the point farthest from its
 * centroid among clusters of two or more points (ties: the lower sorted position), empty clusters in
 * ascending order. Stops after max_iter iterations, when no point changes cluster, or when the
 * squared centroid shift is <= tol. codes[n] receives each value's cluster, *n_iter the iterations
 * run, *inertia the sum of squared distances to the final centroids. */
#define SN_KMEANS_DECLARE(SFX, REAL, CODE)                                                        \
    int sn_kmeans_##SFX(int isa, int n_threads, sn_size n, const REAL *w, sn_size n_codes,        \
                        int init_density, sn_size max_iter, double tol, double *centers,          \
                        CODE *codes, sn_size *n_iter, double *inertia);

SN_KMEANS_DECLARE(f32_u8, float, uint8_t)
SN_KMEANS_DECLARE(f32_u16, float, uint16_t)
SN_KMEANS_DECLARE(f64_u8, double, uint8_t)
SN_KMEANS_DECLARE(f64_u16, double, uint16_t)

/* Pruned and shared (Deep Compression storage): a CSR matrix (indptr, indices) whose stored values
 * are codebook[codes[p]]. The products of csr.h (same kernels): Y = A X, or Y = A^T X when
 * transposed; sorted_rows as there. Suffix: value, index, code type. */
#define SN_SHARED_CSR_DECLARE(SFX, REAL, INDEX, CODE)                                             \
    int sn_shared_csr_matmul_##SFX(int isa, int n_threads, int sorted_rows, sn_size n_rows,       \
                                   sn_size n_cols, const INDEX *indptr, const INDEX *indices,     \
                                   const CODE *codes, const REAL *codebook, sn_size k,            \
                                   const REAL *X, REAL *Y, int transpose);

SN_SHARED_CSR_DECLARE(f32_i32_u8, float, int32_t, uint8_t)
SN_SHARED_CSR_DECLARE(f32_i32_u16, float, int32_t, uint16_t)
SN_SHARED_CSR_DECLARE(f32_i64_u8, float, int64_t, uint8_t)
SN_SHARED_CSR_DECLARE(f32_i64_u16, float, int64_t, uint16_t)
SN_SHARED_CSR_DECLARE(f64_i32_u8, double, int32_t, uint8_t)
SN_SHARED_CSR_DECLARE(f64_i32_u16, double, int32_t, uint16_t)
SN_SHARED_CSR_DECLARE(f64_i64_u8, double, int64_t, uint8_t)
SN_SHARED_CSR_DECLARE(f64_i64_u16, double, int64_t, uint16_t)

#endif /* SPARSENET_SHARED_H */
