/* Batch Orthogonal Matching Pursuit (Rubinstein, Zibulevsky and Elad, 2008) with progressive
 * Cholesky updates, over many signals against one dictionary.
 *
 * For each signal: pick the atom of largest |correlation|, extend the Cholesky factor of the Gram
 * matrix restricted to the chosen atoms by one row, and update the correlations
 * alpha = D^T x - G[:, S] gamma; the residual energy (for `tol`) comes from the Gram quantities.
 * Stopping rules, thresholds and tie-breaking are those of scikit-learn's orthogonal_mp_gram.
 * Suffixes f32 / f64 name the value type. Return an sn_status.
 *
 * D^T D and D^T X are computed here by a register-tiled product, on the kernel's own threads, not
 * by BLAS: a pthreads BLAS (SciPy's OpenBLAS) called from OpenMP threads wakes its own pool for
 * every block, and even called once before the loop its wake-up dominated the small Gram matrices
 * on a busy machine (O1: 4-8 ms instead of 0.2 ms). Both products read D packed in panels, and
 * D^T D only its upper triangle (mirrored as it is written): at xSYRK's speed on O2 (256 x 1024,
 * 1 thread), where a few dozen signals cost less than the Gram matrix. Scratch: D^T D about twice
 * D's size, D^T X once D's size. Every entry of D^T D is one FMA chain over the features in
 * order, as the Gram rows computed from D without it: the same numbers either way, on any thread
 * count.
 *
 * (Not named omp.h: with -Icsrc that name would shadow OpenMP's <omp.h>, which sparsenet.h includes.) */
#ifndef SPARSENET_BATCH_OMP_H
#define SPARSENET_BATCH_OMP_H

#include "sparsenet.h"

/* Row length of D, of the Gram matrix and of the kernel's arrays: n_atoms rounded up to a multiple
 * of 32, so that every pass over the atoms runs on whole vectors. */
sn_size sn_omp_row_length(sn_size n_atoms);

/* One OMP problem: n_signals signals against n_atoms atoms; npad = sn_omp_row_length(n_atoms).
 *
 * D: n_features x npad, row-major, zero past column n_atoms; needed when X != NULL or G == NULL.
 * Correlations, one of:
 *   X != NULL: signals; D^T X is computed here. Signal j, feature f is X[j * x_ld + f] when
 *       x_signal_major, else X[f * x_ld + j].
 *   X == NULL: DtX[a * dtx_atom_stride + j * dtx_signal_stride] is D^T X, given.
 * Gram rows, one of:
 *   G != NULL: the Gram matrix D^T D, n_atoms x npad, row-major, zero past column n_atoms.
 *   G == NULL: row lam of D^T D is computed from D when atom lam is chosen (no n_atoms^2 memory).
 * Stopping: with tol >= 0, stop once the residual energy |norms[j] - ||L^-1 alpha0[S]||^2| <= tol
 *   (norms: squared signal norms), else after max_atoms atoms. max_atoms bounds the atoms per signal
 *   in both cases (scratch size); reaching it with tol unmet counts as a premature stop.
 * Output, one of:
 *   Y != NULL: dense coefficients, signal j in Y[j * n_atoms .. + n_atoms) (column-major).
 *   else: CSC parts, signal j's atoms (increasing) in indices[j * max_atoms ..], its coefficients in
 *       values[j * max_atoms ..], their number in counts[j].
 * n_premature: signals stopped early (an atom chosen twice, a correlation below eps, or a Cholesky
 *   pivot <= eps: linear dependence); the caller warns once. */
#define SN_OMP_PROBLEM(SFX, REAL)                                                                 \
    typedef struct {                                                                              \
        sn_size n_features, n_atoms, n_signals, max_atoms;                                        \
        const REAL *D, *G, *X, *DtX, *norms;                                                      \
        sn_size x_ld, dtx_atom_stride, dtx_signal_stride;                                         \
        int x_signal_major;                                                                       \
        REAL tol;                                                                                 \
        REAL *Y, *values;                                                                         \
        int32_t *indices;                                                                         \
        int64_t *counts;                                                                          \
    } sn_omp_problem_##SFX;

SN_OMP_PROBLEM(f32, float)
SN_OMP_PROBLEM(f64, double)

/* The entry points (sn_omp_gram_*, sn_omp_*), generated from csrc/kernels.spec. */
#include "sn_omp_api.h"

#endif /* SPARSENET_BATCH_OMP_H */
