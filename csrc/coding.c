/* Instantiates the batch LASSO (lasso_kernels.h) and K-SVD update (ksvd_kernels.h) templates for
 * float and double and every ISA level, and exports the entry points of coding.h. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "coding.h"

/* Work (flops) that pays for starting one more thread. */
#define SN_CODING_GRAIN ((sn_size)1 << 18)
/* Largest support the LASSO solves exactly (its Cholesky scratch is this squared per thread). */
#define LASSO_NEWTON_MAX 128

#define REAL float
#define SFX f32
#define ABS fabsf
#define SQRT sqrtf
#define SN_EPS FLT_EPSILON
#define SN_TEMPLATE "lasso_kernels.h"
#include "sn_instantiate.h"
#undef SN_TEMPLATE
#define SN_TEMPLATE "ksvd_kernels.h"
#include "sn_instantiate.h"
#undef SN_TEMPLATE
#undef REAL
#undef SFX
#undef ABS
#undef SQRT
#undef SN_EPS

#define REAL double
#define SFX f64
#define ABS fabs
#define SQRT sqrt
#define SN_EPS DBL_EPSILON
#define SN_TEMPLATE "lasso_kernels.h"
#include "sn_instantiate.h"
#undef SN_TEMPLATE
#define SN_TEMPLATE "ksvd_kernels.h"
#include "sn_instantiate.h"
#undef SN_TEMPLATE
#undef REAL
#undef SFX
#undef ABS
#undef SQRT
#undef SN_EPS

#define SN_CODING_DEFINE(SFX, REAL)                                                                 \
    int sn_lasso_##SFX(int isa, int n_threads, sn_size n_atoms, sn_size n_signals, const REAL *G,  \
                       sn_size g_ld, const REAL *B, sn_size b_atom_stride,                         \
                       sn_size b_signal_stride, const REAL *norms, double alpha, int positive,      \
                       sn_size max_iter, double tol, int warm, REAL *A, sn_size *n_iter_max,        \
                       sn_size *n_unconverged)                                                     \
    {                                                                                               \
        SN_DISPATCH(isa, lasso_##SFX, (n_threads, n_atoms, n_signals, G, g_ld, B, b_atom_stride,   \
                                       b_signal_stride, norms, alpha, positive, max_iter, tol,      \
                                       warm, A, n_iter_max, n_unconverged));                        \
    }                                                                                               \
    int sn_ksvd_update_##SFX(int isa, int n_threads, sn_size n_features, sn_size n_atoms,          \
                             sn_size n_signals, const REAL *X, const int64_t *csc_indptr,          \
                             const int32_t *csc_atoms, const REAL *csc_values,                     \
                             const int64_t *csr_indptr, const int32_t *csr_signals,                \
                             REAL *csr_values, REAL *D, REAL *R, double *energy,                   \
                             sn_size *n_replaced)                                                  \
    {                                                                                               \
        SN_DISPATCH(isa, ksvd_update_##SFX,                                                         \
                    (n_threads, n_features, n_atoms, n_signals, X, csc_indptr, csc_atoms,          \
                     csc_values, csr_indptr, csr_signals, csr_values, D, R, energy, n_replaced));   \
    }

SN_CODING_DEFINE(f32, float)
SN_CODING_DEFINE(f64, double)
