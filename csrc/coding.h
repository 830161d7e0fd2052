/* Sparse coding beyond OMP: batch LASSO and the dictionary update of K-SVD. Suffixes f32 / f64 name
 * the value type; every function returns an sn_status.
 *
 * sn_lasso_*: for each signal j, minimise 0.5 a^T G a - b_j^T a + alpha ||a||_1 (a >= 0 when
 *   positive), i.e. 0.5 ||x_j - D a||^2 + alpha ||a||_1 given G = D^T D and b_j = D^T x_j, by
 *   coordinate descent with an active set (lasso_kernels.h).
 *   G: n_atoms rows of length g_ld >= n_atoms. b_j[i] = B[i * b_atom_stride + j * b_signal_stride];
 *   or, when X is given, b_j = D^T x_j computed block by block from D (n_features rows of g_ld, a
 *   multiple of 32, zero past n_atoms) and X (x_ld, x_signal_major as in sn_omp_problem).
 *   norms: ||x_j||^2 (the duality-gap test), or NULL: stop on the coefficient-change rule alone.
 *   A: signal j's coefficients at A[j * n_atoms .. + n_atoms); read as the start point when warm.
 *   Stops when no coordinate violates the optimality conditions, the last sweep changed no
 *   coefficient by more than tol times the largest, and the duality gap is <= tol * ||x_j||^2; or
 *   after max_iter sweeps (n_unconverged counts those signals; n_iter_max: most sweeps used).
 *
 * sn_ksvd_update_*: one dictionary update of approximate K-SVD (ksvd_kernels.h). X: signal i,
 *   feature f at X[i * n_features + f]; D: atom j at D[j * n_features ..], updated in place. The
 *   codes by signal (atoms and values of signal i in [csc_indptr[i], csc_indptr[i+1]), atoms in
 *   [0, n_atoms), the values updated in place). R (n_signals x n_features, scratch) ends as the
 *   residual X - D Gamma; energy = ||X - D Gamma||_F^2 after the update (not computed when NULL);
 *   n_replaced: unused atoms replaced by signals. */
#ifndef SPARSENET_CODING_H
#define SPARSENET_CODING_H

#include "sparsenet.h"

#include "sn_coding_api.h" /* the entry points, generated from csrc/kernels.spec */

#endif /* SPARSENET_CODING_H */
