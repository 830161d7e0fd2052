/* Template: batch LASSO by coordinate descent on the Gram matrix (see coding.h for the problem).
 *
 * Included by coding.c through sn_instantiate.h for float and double and every ISA level, with
 *   REAL  value type     SFX  type suffix (f32, f64)     ABS  |x| for REAL     ISA  level name
 *
 * Per signal, with b = D^T x and the correlations of the residual c = b - G a:
 *   1. the active set A: the nonzero coefficients and the zero ones that violate the optimality
 *      conditions (|c_i| > alpha; c_i > alpha when positive), in increasing atom order;
 *   2. cyclic sweeps over A only, keeping c on A alone (k entries updated per change, not n_atoms),
 *      until the largest coefficient change is <= tol_inner * the largest coefficient (scikit-learn's
 *      rule for its full sweeps; tol_inner starts at max(tol, 1e-4): early active sets may be wrong);
 *   3. c brought up to date on all atoms from the changes of the phase (one n_atoms pass per active
 *      atom), then 1 again. With no violator left the solution is optimal up to the phase's
 *      tolerance; the duality gap (scikit-learn's formula) decides: <= tol * ||x||^2 stops,
 *      otherwise tol_inner shrinks tenfold and the sweeps go on (without norms, tol_inner = tol and
 *      no gap test).
 * max_iter is a work budget, counted as scikit-learn's full sweeps: max_iter * n_atoms coordinate
 * visits (a sweep over k active atoms costs k, a pass over all atoms n).
 * Every signal is coded by one thread in one fixed order, so results do not depend on the thread
 * count. Nothing is allocated per signal. */

#define K(name) SN_CAT3(name, SFX, ISA)

/* Relative coefficient-change tolerance of the first active-set phases. */
#define LASSO_FIRST_TOL 1e-4

static inline REAL K(lasso_shrink)(REAL z, REAL alpha, int positive)
{
    if (z > alpha) return z - alpha;
    if (!positive && z < -alpha) return z + alpha;
    return 0;
}

/* The duality gap of scikit-learn's enet_coordinate_descent_gram (no L2 term) at a, from b, c and
 * norm2 = ||x||^2 alone: ||x - D a||^2 = norm2 - a.(b + c). */
static double K(lasso_gap)(sn_size n, const REAL *b, const REAL *c, const REAL *a, double norm2,
                           double alpha, int positive)
{
    double ab = 0, ac = 0, l1 = 0, dual = 0;
    for (sn_size i = 0; i < n; ++i) {
        ab += (double)a[i] * b[i];
        ac += (double)a[i] * c[i];
        l1 += ABS(a[i]);
        const double ci = positive ? (double)c[i] : (double)ABS(c[i]);
        if (ci > dual) dual = ci;
    }
    const double r2 = norm2 - ab - ac;
    double scale = 1, gap = r2;
    if (dual > alpha) {
        scale = alpha / dual;
        gap = 0.5 * (r2 + r2 * scale * scale);
    }
    return gap + alpha * l1 - scale * norm2 + scale * ab;
}

/* Codes one signal into a (n entries; the start point when warm). Scratch: b, c, cA, dA (n REALs),
 * A (n ints). Returns the work done, in full sweeps (coordinate visits / n, rounded up);
 * *converged tells whether the stop rule was met. */
static sn_size K(lasso_signal)(sn_size n, const REAL *G, sn_size ld, const REAL *bsrc,
                               sn_size b_stride, double norm2, int has_norm, REAL alpha,
                               int positive, sn_size max_iter, double tol, int warm, REAL *restrict a,
                               REAL *restrict b, REAL *restrict c, REAL *restrict cA,
                               REAL *restrict dA, int32_t *restrict A, int *converged)
{
    for (sn_size i = 0; i < n; ++i)
        b[i] = c[i] = bsrc[i * b_stride];
    if (warm) {
        for (sn_size i = 0; i < n; ++i) {
            if (a[i] == 0) continue;
            const REAL *row = G + i * ld, ai = a[i];
            for (sn_size t = 0; t < n; ++t)
                c[t] -= ai * row[t];
        }
    } else {
        for (sn_size i = 0; i < n; ++i)
            a[i] = 0;
    }
    /* The first phases converge loosely (their active set may still be wrong); each gap test that
     * fails with no violator left tightens the phases tenfold, down to tol. */
    double tol_inner = has_norm ? SN_MAX(tol, LASSO_FIRST_TOL) : tol;
    int settled = !warm; /* the coefficients on the current active set are converged */
    /* Work in coordinate visits: max_iter full sweeps' worth (max_iter * n), as scikit-learn's. */
    const sn_size budget = max_iter * n;
    sn_size work = 0;
    *converged = 0;
    for (;;) {
        sn_size k = 0, n_violators = 0;
        for (sn_size i = 0; i < n; ++i) {
            const REAL ci = c[i];
            const int violates = a[i] == 0 && G[i * ld + i] > 0 &&
                                 (positive ? ci > alpha : ABS(ci) > alpha);
            n_violators += violates;
            if (a[i] != 0 || violates) A[k++] = (int32_t)i;
        }
        if (n_violators == 0 && settled) {
            if (!has_norm || K(lasso_gap)(n, b, c, a, norm2, alpha, positive) <= tol * norm2) {
                *converged = 1;
                break;
            }
            if (tol_inner <= tol) { /* already at tol: the gap needs finer steps than asked */
                tol_inner *= 0.1;
            } else {
                tol_inner = SN_MAX(tol, tol_inner * 0.1);
            }
        }
        work += n;
        if (work >= budget) break;
        settled = 0;
        for (sn_size p = 0; p < k; ++p) {
            cA[p] = c[A[p]];
            dA[p] = 0;
        }
        while (work < budget) {
            work += SN_MAX(k, (sn_size)1);
            REAL max_change = 0, max_coef = 0;
            for (sn_size p = 0; p < k; ++p) {
                const sn_size i = A[p];
                const REAL *row = G + i * ld;
                const REAL gii = row[i];
                if (!(gii > 0)) continue; /* an atom of norm zero never moves (as scikit-learn) */
                const REAL old = a[i];
                const REAL new = K(lasso_shrink)(cA[p] + gii * old, alpha, positive) / gii;
                const REAL anew = ABS(new);
                if (anew > max_coef) max_coef = anew;
                if (new == old) continue;
                const REAL d = new - old;
                a[i] = new;
                dA[p] += d;
                if (ABS(d) > max_change) max_change = ABS(d);
                for (sn_size q = 0; q < k; ++q)
                    cA[q] -= d * row[A[q]];
            }
            if (max_change <= tol_inner * max_coef) {
                settled = 1;
                break;
            }
        }
        for (sn_size p = 0; p < k; ++p) { /* c on every atom, from the phase's changes */
            const REAL d = dA[p];
            if (d == 0) continue;
            const REAL *row = G + (sn_size)A[p] * ld;
            for (sn_size t = 0; t < n; ++t)
                c[t] -= d * row[t];
        }
    }
    return (work + n - 1) / n;
}

static int K(lasso)(int n_threads, sn_size n_atoms, sn_size n_signals, const REAL *G, sn_size g_ld,
                    const REAL *B, sn_size b_atom_stride, sn_size b_signal_stride,
                    const REAL *norms, double alpha, int positive, sn_size max_iter, double tol,
                    int warm, REAL *A, sn_size *n_iter_max, sn_size *n_unconverged)
{
    *n_iter_max = 0;
    *n_unconverged = 0;
    if (n_signals == 0 || n_atoms == 0) return SN_OK;
    const sn_size n = n_atoms;
    const sn_size per_thread = 4 * n * (sn_size)sizeof(REAL) + n * (sn_size)sizeof(int32_t) + 64;
    const int nt = sn_threads_for(n_threads, n_signals * n * 32, SN_CODING_GRAIN);
    char *memory = (char *)malloc((size_t)(nt * per_thread));
    if (memory == NULL) return SN_ENOMEM;
    sn_size iter_max = 0, unconverged = 0;
#pragma omp parallel num_threads(nt) if (nt > 1) reduction(max : iter_max) reduction(+ : unconverged)
    {
        REAL *b = (REAL *)(memory + sn_thread_id() * per_thread);
        REAL *c = b + n, *cA = c + n, *dA = cA + n;
        int32_t *act = (int32_t *)(dA + n);
#pragma omp for schedule(dynamic, 16)
        for (sn_size j = 0; j < n_signals; ++j) {
            int converged;
            const sn_size it = K(lasso_signal)(
                n, G, g_ld, B + j * b_signal_stride, b_atom_stride,
                norms != NULL ? (double)norms[j] : 0.0, norms != NULL, (REAL)alpha, positive,
                max_iter, tol, warm, A + j * n, b, c, cA, dA, act, &converged);
            if (it > iter_max) iter_max = it;
            unconverged += !converged;
        }
    }
    free(memory);
    *n_iter_max = iter_max;
    *n_unconverged = unconverged;
    return SN_OK;
}

#undef LASSO_FIRST_TOL
#undef K
