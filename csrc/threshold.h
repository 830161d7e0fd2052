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

/* The entry points, generated from csrc/kernels.spec. */
#include "sn_threshold_api.h"

#endif /* SPARSENET_THRESHOLD_H */
