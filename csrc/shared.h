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
 * supports, `n_threads` the OpenMP threads to use at most; results never depend on n_threads. The
 * products decode W into the panels of their own blocked product; the codebook gradient with k > 1
 * forms tiles of G X^T with `gemm`, a Fortran-BLAS xGEMM (for example
 * scipy.linalg.cython_blas.sgemm) called from sparsenet's threads. Return an sn_status. */
#ifndef SPARSENET_SHARED_H
#define SPARSENET_SHARED_H

#include "sparsenet.h"

typedef void (*sn_gemm_f32)(char *transa, char *transb, int *m, int *n, int *k, float *alpha,
                            float *a, int *lda, float *b, int *ldb, float *beta, float *c, int *ldc);
typedef void (*sn_gemm_f64)(char *transa, char *transb, int *m, int *n, int *k, double *alpha,
                            double *a, int *lda, double *b, int *ldb, double *beta, double *c,
                            int *ldc);
/* SciPy's sgemm / dgemm (scipy.linalg.cython_blas), which sparsenet._shared fetches when it is
 * imported; the generated dispatchers of the gradients pass them as `gemm`. Defined in shared.c. */
extern sn_gemm_f32 sn_blas_sgemm;
extern sn_gemm_f64 sn_blas_dgemm;

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

/* Exact 1-D k-means (Lloyd) of the n finite values w: sort once, then every iteration finds the
 * cluster boundaries by binary search on the sorted values and the means from prefix sums.
 * centers[n_codes]: the initial centroids on entry (unless init_density, which takes the quantiles
 * sorted[((2c + 1)(n - 1)) / (2 n_codes)]), the final ones, ascending, on return. Points at equal
 * distance from two centroids join the lower one. An empty cluster takes the point farthest from its
 * centroid among clusters of two or more points (ties: the lower sorted position), empty clusters in
 * ascending order. Stops after max_iter iterations, when no point changes cluster, or when the
 * squared centroid shift is <= tol. codes[n] receives each value's cluster, *n_iter the iterations
 * run, *inertia the sum of squared distances to the final centroids. */
/* Pruned and shared (Deep Compression storage): a CSR matrix (indptr, indices) whose stored values
 * are codebook[codes[p]]. The products of csr.h (same kernels): Y = A X, or Y = A^T X when
 * transposed; sorted_rows as there. Suffix: value, code type; int32 structure only. */
/* The entry points, generated from csrc/kernels.spec. */
#include "sn_shared_api.h"

#endif /* SPARSENET_SHARED_H */
