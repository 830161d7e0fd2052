/* Template: batch LASSO by coordinate descent on the Gram matrix (see coding.h for the problem).
 *
 * Included by coding.c through sn_instantiate.h for float and double and every ISA level, with
 *   REAL  value type     SFX  type suffix (f32, f64)     ABS, SQRT  |x| and sqrt for REAL
 *
 * Per signal, with b = D^T x and the correlations of the residual c = b - G a: from a = 0, the
 * atoms enter in passes at falling thresholds of |c| (alpha + (max |c| - alpha) / 2, / 4, ...),
 * strongest first, a coarse homotopy: in index order, atoms merely correlated with the signal's
 * own entered first and a third of the work went to taking them out again. Then repeat:
 *   1. one pass over the zero coefficients in index order: those that violate the conditions enter
 *      (each entry updates c on every atom);
 *   2. if none entered and the last phase (3) ended by its tolerance, the point is optimal up to
 *      tol_inner: the duality gap (scikit-learn's formula) <= tol * ||x||^2 stops.
 *      Otherwise the exact solution for the current support and signs, a_S = G_SS^-1 (b_S - alpha
 *      s_S) (a Cholesky solve, supports up to LASSO_NEWTON_MAX atoms), is tried: kept when its
 *      signs agree and no other atom violates the conditions, and then the gap decides again. Else
 *      tol_inner shrinks tenfold;
 *   3. cyclic sweeps over the nonzero coefficients only, keeping c on them alone (k entries per
 *      change, not n_atoms), until the largest change is <= tol_inner * the largest coefficient
 *      (scikit-learn's rule for its full sweeps, which here are 1 and 3 together); then c on every
 *      atom from the phase's accumulated changes.
 * tol_inner starts at max(tol, 1e-4): the first supports may be wrong, so converging tightly on
 * them is wasted. Without norms (no gap test), tol_inner = tol and step 2 stops on the change rule.
 * max_iter is a work budget counted in scikit-learn's full sweeps: max_iter * n_atoms coordinate
 * visits (a sweep over k active atoms costs k).
 * Every signal is coded by one thread in one fixed order, so results do not depend on the thread
 * count. Nothing is allocated per signal. */

#define K(name) SN_CAT3(name, SFX, ISA)

/* Relative coefficient-change tolerance of the first phases. */
#define LASSO_FIRST_TOL 1e-4
/* Passes of step 0, at thresholds alpha + (max |c| - alpha) / 2^pass. */
#define LASSO_FIRST_PASSES 4

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

/* Per-thread scratch: n-long b, c, cA, dA, cN; the support A (n ints); the Newton system L and the
 * gathered G_AA (LASSO_NEWTON_MAX^2 each) and the system's right-hand side / solution. */
typedef struct {
    REAL *b, *c, *cA, *dA, *cN, *L, *x, *GA;
    int32_t *A;
} K(lasso_scratch);

/* The exact minimiser for the support and signs of a (k = |A| nonzeros listed in A): solves
 * G_AA z = b_A - alpha sign(a_A) by Cholesky; on success (PD system, signs kept, no violator off
 * the support) writes z into a, the new correlations into c and returns 1. */
static int K(lasso_newton)(sn_size n, const REAL *G, sn_size ld, const REAL *diag, REAL alpha,
                           int positive, sn_size k, REAL *restrict a, K(lasso_scratch) *s)
{
    const int32_t *A = s->A;
    REAL *restrict L = s->L, *restrict x = s->x, *restrict cN = s->cN;
    if (k == 0 || k > LASSO_NEWTON_MAX) return 0;
    for (sn_size p = 0; p < k; ++p) { /* L = chol(G_AA), row-major lower; x = rhs */
        const REAL *row = G + (sn_size)A[p] * ld;
        for (sn_size q = 0; q <= p; ++q) {
            REAL v = row[A[q]];
            for (sn_size r = 0; r < q; ++r)
                v -= L[p * LASSO_NEWTON_MAX + r] * L[q * LASSO_NEWTON_MAX + r];
            if (q < p) {
                L[p * LASSO_NEWTON_MAX + q] = v / L[q * LASSO_NEWTON_MAX + q];
            } else {
                if (!(v > diag[A[p]] * (REAL)1e-10)) return 0; /* (nearly) dependent atoms */
                L[p * LASSO_NEWTON_MAX + p] = SQRT(v);
            }
        }
        x[p] = s->b[A[p]] - (a[A[p]] > 0 ? alpha : -alpha);
    }
    for (sn_size p = 0; p < k; ++p) { /* L y = rhs */
        REAL v = x[p];
        for (sn_size r = 0; r < p; ++r)
            v -= L[p * LASSO_NEWTON_MAX + r] * x[r];
        x[p] = v / L[p * LASSO_NEWTON_MAX + p];
    }
    for (sn_size p = k - 1; p >= 0; --p) { /* L^T z = y */
        REAL v = x[p];
        for (sn_size r = p + 1; r < k; ++r)
            v -= L[r * LASSO_NEWTON_MAX + p] * x[r];
        x[p] = v / L[p * LASSO_NEWTON_MAX + p];
        if (!(x[p] * a[A[p]] > 0)) return 0; /* a sign changed: not this support */
    }
    for (sn_size t = 0; t < n; ++t)
        cN[t] = s->b[t];
    for (sn_size p = 0; p < k; ++p) {
        const REAL *row = G + (sn_size)A[p] * ld, z = x[p];
        for (sn_size t = 0; t < n; ++t)
            cN[t] -= z * row[t];
    }
    const REAL limit = alpha * (1 + 64 * (REAL)SN_EPS);
    for (sn_size t = 0, p = 0; t < n; ++t) { /* off the support: |c| <= alpha (c <= alpha) */
        if (p < k && A[p] == t) {
            ++p;
            continue;
        }
        if (diag[t] > 0 && (positive ? cN[t] > limit : ABS(cN[t]) > limit)) return 0;
    }
    for (sn_size p = 0; p < k; ++p)
        a[A[p]] = x[p];
    for (sn_size t = 0; t < n; ++t)
        s->c[t] = cN[t];
    return 1;
}

/* Codes one signal into a (n entries; the start point when warm). Returns the work done, in full
 * sweeps (coordinate visits / n, rounded up); *converged tells whether the stop rule was met. */
static sn_size K(lasso_signal)(sn_size n, const REAL *G, sn_size ld, const REAL *diag,
                               const REAL *bsrc, sn_size b_stride, double norm2, int has_norm,
                               REAL alpha, int positive, sn_size max_iter, double tol, int warm,
                               REAL *restrict a, K(lasso_scratch) *s, int *converged)
{
    REAL *restrict b = s->b, *restrict c = s->c, *restrict cA = s->cA, *restrict dA = s->dA;
    int32_t *restrict A = s->A;
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
    double tol_inner = has_norm ? SN_MAX(tol, LASSO_FIRST_TOL) : tol;
    const sn_size budget = max_iter * n;
    sn_size work = 0;
    *converged = 0;
    if (!warm) { /* 0. the violators, strongest first: passes at falling thresholds */
        REAL top = 0;
        for (sn_size i = 0; i < n; ++i) {
            const REAL ci = positive ? c[i] : ABS(c[i]);
            if (ci > top && diag[i] > 0) top = ci;
        }
        for (int pass = 1; pass <= LASSO_FIRST_PASSES && top > alpha; ++pass) {
            const REAL threshold = alpha + (top - alpha) / (REAL)(1 << pass);
            for (sn_size i = 0; i < n; ++i) {
                const REAL gii = diag[i];
                if (a[i] != 0 || !(gii > 0)) continue;
                if (!((positive ? c[i] : ABS(c[i])) > threshold)) continue;
                const REAL new = K(lasso_shrink)(c[i], alpha, positive) / gii;
                a[i] = new;
                const REAL *row = G + i * ld;
                for (sn_size t = 0; t < n; ++t)
                    c[t] -= new * row[t];
            }
            work += n;
        }
    }
    int settled = 0; /* the last phase over the support ended by its tolerance */
    for (;;) {
        sn_size entered = 0;
        for (sn_size i = 0; i < n; ++i) { /* 1. the zero coefficients that violate enter */
            const REAL gii = diag[i];
            if (a[i] != 0 || !(gii > 0)) continue; /* atoms of norm zero never move (scikit-learn) */
            const REAL shrunk = K(lasso_shrink)(c[i], alpha, positive);
            if (shrunk == 0) continue; /* most atoms: no division */
            const REAL new = shrunk / gii;
            a[i] = new;
            ++entered;
            const REAL *row = G + i * ld;
            for (sn_size t = 0; t < n; ++t)
                c[t] -= new * row[t];
        }
        work += n;
        sn_size k = 0;
        for (sn_size i = 0; i < n; ++i)
            if (a[i] != 0) A[k++] = (int32_t)i;
        if (entered == 0 && settled) { /* 2. optimal up to tol_inner */
            if (!has_norm) {
                *converged = 1;
                break;
            }
            const double goal = tol * norm2;
            if (K(lasso_gap)(n, b, c, a, norm2, alpha, positive) <= goal ||
                (K(lasso_newton)(n, G, ld, diag, alpha, positive, k, a, s) &&
                 K(lasso_gap)(n, b, c, a, norm2, alpha, positive) <= goal)) {
                *converged = 1;
                break;
            }
            tol_inner = tol_inner > tol ? SN_MAX(tol, tol_inner * 0.1) : tol_inner * 0.1;
        }
        if (work >= budget) break;
        settled = 0;
        for (sn_size p = 0; p < k; ++p) { /* 3. sweeps over the support */
            cA[p] = c[A[p]];
            dA[p] = 0;
        }
        /* G_AA gathered once per phase (rows of LASSO_NEWTON_MAX), so that each change updates cA
         * with one contiguous pass; larger supports gather per change. */
        const int compact = k <= LASSO_NEWTON_MAX;
        REAL *restrict GA = s->GA;
        if (compact)
            for (sn_size p = 0; p < k; ++p) {
                const REAL *row = G + (sn_size)A[p] * ld;
                for (sn_size q = 0; q < k; ++q)
                    GA[p * LASSO_NEWTON_MAX + q] = row[A[q]];
            }
        while (work < budget) {
            work += SN_MAX(k, (sn_size)1);
            REAL max_change = 0, max_coef = 0;
            for (sn_size p = 0; p < k; ++p) {
                const sn_size i = A[p];
                const REAL *row = G + i * ld;
                const REAL gii = diag[i];
                const REAL old = a[i];
                const REAL new = K(lasso_shrink)(cA[p] + gii * old, alpha, positive) / gii;
                if (ABS(new) > max_coef) max_coef = ABS(new);
                if (new == old) continue;
                const REAL d = new - old;
                a[i] = new;
                dA[p] += d;
                if (ABS(d) > max_change) max_change = ABS(d);
                if (compact) {
                    const REAL *restrict gp = GA + p * LASSO_NEWTON_MAX;
                    for (sn_size q = 0; q < k; ++q)
                        cA[q] -= d * gp[q];
                } else {
                    for (sn_size q = 0; q < k; ++q)
                        cA[q] -= d * row[A[q]];
                }
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
    const sn_size n = n_atoms, m = LASSO_NEWTON_MAX;
    const sn_size per_thread = (5 * n + 2 * m * m + m) * (sn_size)sizeof(REAL) +
                               n * (sn_size)sizeof(int32_t) + 64;
    const int nt = sn_threads_for(n_threads, n_signals * n * 32, SN_CODING_GRAIN);
    char *memory = (char *)malloc((size_t)(nt * per_thread));
    REAL *diag = (REAL *)malloc((size_t)n * sizeof(REAL));
    if (memory == NULL || diag == NULL) {
        free(memory);
        free(diag);
        return SN_ENOMEM;
    }
    for (sn_size i = 0; i < n; ++i) /* read once, not one cache line per atom per sweep */
        diag[i] = G[i * g_ld + i];
    sn_size iter_max = 0, unconverged = 0;
#pragma omp parallel num_threads(nt) if (nt > 1) reduction(max : iter_max) reduction(+ : unconverged)
    {
        K(lasso_scratch) s;
        s.b = (REAL *)(memory + sn_thread_id() * per_thread);
        s.c = s.b + n;
        s.cA = s.c + n;
        s.dA = s.cA + n;
        s.cN = s.dA + n;
        s.L = s.cN + n;
        s.GA = s.L + m * m;
        s.x = s.GA + m * m;
        s.A = (int32_t *)(s.x + m);
#pragma omp for schedule(dynamic, 16)
        for (sn_size j = 0; j < n_signals; ++j) {
            int converged;
            const sn_size it = K(lasso_signal)(
                n, G, g_ld, diag, B + j * b_signal_stride, b_atom_stride,
                norms != NULL ? (double)norms[j] : 0.0, norms != NULL, (REAL)alpha, positive,
                max_iter, tol, warm, A + j * n, &s, &converged);
            if (it > iter_max) iter_max = it;
            unconverged += !converged;
        }
    }
    free(memory);
    free(diag);
    *n_iter_max = iter_max;
    *n_unconverged = unconverged;
    return SN_OK;
}

#undef LASSO_FIRST_TOL
#undef LASSO_FIRST_PASSES
#undef K
