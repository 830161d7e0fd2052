/* Thresholding kernels: binary / hard / soft thresholding, top-k selection per row, magnitude pruning,
 * each to a dense array or straight into CSR.
 *
 * Dense arrays are 2-D views: n_rows x n_cols elements with row and column strides counted in
 * elements (any sign), so C order, F order and strided views need no copy; the Python layer folds
 * higher dimensions into these two. Suffixes name the value type (f32, f64) and, for the CSR fills,
 * the index type (i32, i64). `isa` is an sn_isa level the CPU supports, `n_threads` the most OpenMP
 * threads to use; results never depend on n_threads. Return an sn_status.
 *
 * CSR results are built in two calls: a count pass gives each row's stored entries, the caller
 * allocates indptr (the prefix sum of the counts), indices and data, and a fill pass writes them.
 * Only nonzero results are stored (as scipy.sparse does with a dense matrix); NaN is nonzero. */
#ifndef SPARSENET_THRESHOLD_H
#define SPARSENET_THRESHOLD_H

#include "sparsenet.h"

/* Elementwise operators r = op(x; p). NaN compares false, as in NumPy. */
enum sn_thr_op {
    SN_THR_BINARIZE = 0, /* r = x >= p ? 1 : 0 */
    SN_THR_HARD = 1,     /* r = |x| >= p ? x : 0 */
    SN_THR_SOFT = 2,     /* r = x - clamp(x, -p, p) = sign(x) max(|x| - p, 0); NaN stays NaN */
};

/* Ordering keys of top-k selection: largest |x| or largest x; NaN ranks above +inf (NumPy's sort
 * order), -0 ties with +0, and ties go to the lower index. */
enum sn_thr_rank {
    SN_RANK_MAGNITUDE = 0,
    SN_RANK_VALUE = 1,
};

#define SN_THRESHOLD_DECLARE(SFX, REAL)                                                             \
    /* Y (n_rows x n_cols, C order) = X: a tiled copy, so the row kernels get contiguous rows */    \
    int sn_copy_rows_##SFX(int isa, int n_threads, sn_size n_rows, sn_size n_cols, const REAL *X, \
                           sn_size x_rs, sn_size x_cs, REAL *Y);                                  \
    /* Y = op(X) elementwise; Y is REAL, or bytes 0/1 when y_bytes (binarize only). Y may be X     \
     * itself (same strides); otherwise the two must not overlap. */                               \
    int sn_threshold_map_##SFX(int isa, int n_threads, int op, REAL p, sn_size n_rows,            \
                               sn_size n_cols, const REAL *X, sn_size x_rs, sn_size x_cs, void *Y, \
                               int y_bytes, sn_size y_rs, sn_size y_cs);                           \
    /* counts[i] = number of nonzero op(X[i, :]) */                                                \
    int sn_threshold_count_##SFX(int isa, int n_threads, int op, REAL p, sn_size n_rows,          \
                                 sn_size n_cols, const REAL *X, sn_size x_rs, sn_size x_cs,       \
                                 sn_size *counts);                                                 \
    /* Y (n_rows x n) = the top k of each row of X, the rest zero (0 <= k; k >= n keeps all) */     \
    int sn_topk_##SFX(int isa, int n_threads, int rank, sn_size n_rows, sn_size n, sn_size k,     \
                      const REAL *X, sn_size x_rs, sn_size x_cs, REAL *Y);                         \
    /* The top k of each row as a cut: the entries whose key is above cut[i], and the first        \
     * quota[i] entries whose key equals it; counts[i] = how many of those are nonzero. */          \
    int sn_topk_cut_##SFX(int isa, int n_threads, int rank, sn_size n_rows, sn_size n, sn_size k,  \
                          const REAL *X, sn_size x_rs, sn_size x_cs, uint64_t *cut,               \
                          sn_size *quota, sn_size *counts);                                        \
    /* The same cut for the n_keep entries of largest magnitude of the whole matrix, ties to the   \
     * lower row-major index (one cut value, a quota per row). 0 <= n_keep <= n_rows * n_cols. */  \
    int sn_prune_cut_##SFX(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_keep, \
                           const REAL *X, sn_size x_rs, sn_size x_cs, uint64_t *cut,              \
                           sn_size *quota, sn_size *counts);

#define SN_THRESHOLD_FILL_DECLARE(SFX, REAL, INDEX)                                                 \
    /* CSR (indptr given, from counts) of the nonzero op(X) */                                     \
    int sn_threshold_fill_##SFX(int isa, int n_threads, int op, REAL p, sn_size n_rows,           \
                                sn_size n_cols, const REAL *X, sn_size x_rs, sn_size x_cs,        \
                                const INDEX *indptr, INDEX *indices, REAL *data);                  \
    /* CSR (indptr given, from counts) of the nonzero entries selected by a cut */                 \
    int sn_cut_fill_##SFX(int isa, int n_threads, int rank, sn_size n_rows, sn_size n_cols,       \
                          const REAL *X, sn_size x_rs, sn_size x_cs, const uint64_t *cut,         \
                          const sn_size *quota, const INDEX *indptr, INDEX *indices, REAL *data);

SN_THRESHOLD_DECLARE(f32, float)
SN_THRESHOLD_DECLARE(f64, double)
SN_THRESHOLD_FILL_DECLARE(f32_i32, float, int32_t)
SN_THRESHOLD_FILL_DECLARE(f32_i64, float, int64_t)
SN_THRESHOLD_FILL_DECLARE(f64_i32, double, int32_t)
SN_THRESHOLD_FILL_DECLARE(f64_i64, double, int64_t)

#endif /* SPARSENET_THRESHOLD_H */
