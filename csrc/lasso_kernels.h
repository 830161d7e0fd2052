/* Template: batch LASSO by coordinate descent on the Gram matrix (see coding.h for the problem).
 *
 * Included by coding.c through sn_instantiate.h for float and double and every ISA level, with
 *   REAL  value type     SFX  type suffix (f32, f64)     ABS, COPYSIGN  fabs, copysign for REAL
 *   IREAL the signed integer as wide as REAL, SIGNBIT its sign bit (the lanes of vector compares)
 *
 * Per signal, with b = D^T x and the correlations of the residual c = b - G a: from a = 0, the
 * atoms enter in passes at falling thresholds of |c|, evenly spaced from max |c| down to alpha
 * (LASSO_FIRST_PASSES of them), strongest first, a coarse homotopy: in index order, atoms merely
 * correlated with the signal's own entered first and a third of the work went to taking them out
 * again. Each pass tests the
 * atoms a block of vectors at a time and enters them one by one within blocks that hold one
 * (listing the candidates once, then visiting them, cost a tenth of the whole). Then repeat:
 *   1. one pass over the zero coefficients in index order (a vectorised test per block of atoms):
 *      those that violate the conditions enter. c takes the entries in step 3; meanwhile the
 *      violators' own correlations are kept current, so that a later one is tested again;
 *   2. if none entered and the last phase (3) ended by its tolerance, the point is optimal up to
 *      tol_inner: the duality gap (scikit-learn's formula) <= tol * ||x||^2 stops; else tol_inner
 *      shrinks tenfold;
 *   3. cyclic sweeps over the support only, keeping c on it alone (k entries per change, not
 *      n_atoms), until the largest change is <= tol_inner * the largest coefficient
 *      (scikit-learn's rule for its full sweeps, which here are 1 and 3 together); then c on every
 *      atom from the phase's changes and entries, four rows of G per pass. When the phase ended by
 *      its tolerance, or after LASSO_NEWTON_SWEEPS sweeps whether it did or not (a signal's first
 *      phase, and each phase after an exact minimiser that lacked atoms or a step towards one:
 *      the support is usually right by then, and sweeping to 1e-4 took most of the sweeps), c
 *      comes instead from the exact solution for the support and signs, a_S = G_SS^-1 (b_S -
 *      alpha s_S) (an LDL^T solve of the gathered G_SS, supports up to LASSO_NEWTON_MAX atoms),
 *      when its signs agree: it minimises the LASSO restricted to the support, so a takes it;
 *      when no other atom violates the conditions, the gap decides, else those atoms enter
 *      (step 1) and the next phase tries again after LASSO_NEWTON_SWEEPS sweeps. When signs
 *      change, a takes the step towards it that keeps them, where the first coefficient reaches
 *      zero (that atom leaves), and the next phase tries again early too.
 * The rows of G (n_atoms long, too many to stay in L2 beside the streams of B and the codes) are
 * the cost: each phase reads the support's rows once, entries of step 1 read only the violators'
 * columns.
 * tol_inner starts at max(tol, 1e-4): the first supports may be wrong, so converging tightly on
 * them is wasted. Without norms (no gap test), tol_inner = tol and step 2 stops on the change rule.
 * max_iter is a work budget counted in scikit-learn's full sweeps: max_iter * n_atoms coordinate
 * visits (a sweep over k active atoms costs k).
 * Every signal is coded by one thread in one fixed order, so results do not depend on the thread
 * count. Nothing is allocated per signal. */

#define K(name) SN_CAT3(name, SFX, ISA)
#define VEC K(lasso_vec)
#define VLEN ((sn_size)(SN_VBYTES / sizeof(REAL)))
typedef REAL VEC __attribute__((vector_size(SN_VBYTES), aligned(sizeof(REAL)), may_alias));
#define IVEC K(lasso_ivec)
typedef IREAL IVEC __attribute__((vector_size(SN_VBYTES)));

#include "dtx_panels.h" /* PANEL, dtx_pack_panels, dtx_correlate: b = D^T x block by block */

/* Relative coefficient-change tolerance of the first phases. */
#define LASSO_FIRST_TOL 1e-4
/* Passes of step 0, at thresholds alpha + (max |c| - alpha) (1 - pass / (LASSO_FIRST_PASSES + 0.5))
 * (82%, 64%, 45%, 27% and 9% of the way). Halving thresholds (50%, 25%, 12.5%, 6.25%) let in
 * atoms that later left: even steps took 9-35% less time over seven problems (L1 12%), and steps
 * of a quarter cost 40%. */
#define LASSO_FIRST_PASSES 5
/* Sweeps of a phase 3 after which the exact minimiser is tried, settled or not: in a signal's first
 * phase and after a minimiser that lacked atoms or a step towards one (not after solves that
 * failed on dependent atoms: then phases settle, so that the gap can decide). */
#define LASSO_NEWTON_SWEEPS 3

/* Soft thresholding (z - alpha, z + alpha or 0), with one test of the magnitude: the signs along
 * a sweep are a coin toss, and a branch on them mispredicted. (-z) - alpha is -(z + alpha)
 * exactly. */
static inline REAL K(lasso_shrink)(REAL z, REAL alpha, int positive)
{
    const REAL excess = (positive ? z : ABS(z)) - alpha;
    return excess > 0 ? COPYSIGN(excess, z) : 0;
}

/* The duality gap of scikit-learn's enet_coordinate_descent_gram (no L2 term) at a, from b, c and
 * norm2 = ||x||^2 alone: ||x - D a||^2 = norm2 - a.(b + c). a is zero off its support A (k atoms),
 * so the sums run over A; dual = max |c| (max c when positive) over every atom. */
static double K(lasso_gap)(sn_size k, const int32_t *A, const REAL *b, const REAL *c, const REAL *a,
                           double dual, double norm2, double alpha)
{
    double ab = 0, ac = 0, l1 = 0;
    for (sn_size p = 0; p < k; ++p) {
        const sn_size i = A[p];
        ab += (double)a[i] * b[i];
        ac += (double)a[i] * c[i];
        l1 += ABS(a[i]);
    }
    const double r2 = norm2 - ab - ac;
    double scale = 1, gap = r2;
    if (dual > alpha) {
        scale = alpha / dual;
        gap = 0.5 * (r2 + r2 * scale * scale);
    }
    return gap + alpha * l1 - scale * norm2 + scale * ab;
}

/* out[t] = from[t] - sum_p w[p] G[A[p], t] for t < n (out[t] -= ... when from is NULL): four rows
 * per pass, so that out is loaded and stored once per four rows. */
static void K(lasso_subtract_rows)(sn_size n, const REAL *G, sn_size ld, const int32_t *A,
                                   sn_size k, const REAL *w, const REAL *from, REAL *restrict out)
{
    if (from != NULL)
        for (sn_size t = 0; t < n; ++t)
            out[t] = from[t];
    sn_size p = 0;
    for (; p + 4 <= k; p += 4) {
        const REAL *restrict r0 = G + (sn_size)A[p] * ld, *restrict r1 = G + (sn_size)A[p + 1] * ld;
        const REAL *restrict r2 = G + (sn_size)A[p + 2] * ld, *restrict r3 = G + (sn_size)A[p + 3] * ld;
        const REAL w0 = w[p], w1 = w[p + 1], w2 = w[p + 2], w3 = w[p + 3];
        for (sn_size t = 0; t < n; ++t)
            out[t] -= (w0 * r0[t] + w1 * r1[t]) + (w2 * r2[t] + w3 * r3[t]);
    }
    for (; p < k; ++p) {
        const REAL *restrict row = G + (sn_size)A[p] * ld, wp = w[p];
        for (sn_size t = 0; t < n; ++t)
            out[t] -= wp * row[t];
    }
}

/* Atoms per block of the violator tests: two vectors, tested at once (a compare per vector), at
 * most 32 (the bits of a uint32_t). */
#define LASSO_SCAN_BLOCK (2 * VLEN)

/* |v| lane by lane, or v itself when positive (then only c > lim violates, and max c counts) */
static inline VEC K(lasso_vmagnitude)(VEC v, int positive)
{
    return positive ? v : (VEC)((IVEC)v & ~((IVEC){0} + SIGNBIT));
}

/* Whether atom i violates the optimality conditions at its zero coefficient with margin: |c| (c
 * when positive) above both lim (alpha, or +inf for atoms of norm zero) and floor. */
static inline int K(lasso_violates)(sn_size i, const REAL *c, const REAL *a, const REAL *lim,
                                    REAL floor, int positive)
{
    const REAL m = positive ? c[i] : ABS(c[i]);
    return (a[i] == 0) & (m > lim[i]) & (m > floor);
}

/* Bit l set when lane l of the compare result v is true (all ones). */
static inline uint32_t K(lasso_lanes)(IVEC v)
{
#if SN_VBYTES == 64
    return sizeof(REAL) == 8 ? _mm512_movepi64_mask((__m512i)v) : _mm512_movepi32_mask((__m512i)v);
#elif SN_VBYTES == 32
    return (uint32_t)(sizeof(REAL) == 8 ? _mm256_movemask_pd((__m256d)v)
                                        : _mm256_movemask_ps((__m256)v));
#else
    return (uint32_t)(sizeof(REAL) == 8 ? _mm_movemask_pd((__m128d)v) : _mm_movemask_ps((__m128)v));
#endif
}

/* The atoms of the block [i0, end) (at most LASSO_SCAN_BLOCK) that violate, as lasso_violates: bit
 * i - i0 for atom i. A whole block is tested by vectors; the loops over its set bits visit only the
 * violators (a test per atom mispredicted on which of them violate). */
static inline uint32_t K(lasso_violators)(sn_size i0, sn_size end, const REAL *c, const REAL *a,
                                          const REAL *lim, REAL floor, int positive)
{
    uint32_t bits = 0;
    if (end - i0 < LASSO_SCAN_BLOCK) {
        for (sn_size i = i0; i < end; ++i)
            bits |= (uint32_t)K(lasso_violates)(i, c, a, lim, floor, positive) << (i - i0);
        return bits;
    }
    const VEC zero = {0}, low = (VEC){0} + floor;
    for (sn_size h = 0; h < LASSO_SCAN_BLOCK; h += VLEN) {
        const VEC m = K(lasso_vmagnitude)(*(const VEC *)(c + i0 + h), positive);
        const IVEC hit = (*(const VEC *)(a + i0 + h) == zero) & (m > *(const VEC *)(lim + i0 + h)) &
                         (m > low);
        bits |= K(lasso_lanes)(hit) << h;
    }
    return bits;
}

/* The zero coefficients that violate the optimality conditions (lasso_violates, floor 0) into V, in
 * index order; returns their count. */
static sn_size K(lasso_scan)(sn_size n, const REAL *c, const REAL *a, const REAL *lim, int positive,
                             int32_t *restrict V)
{
    sn_size v = 0;
    for (sn_size i0 = 0; i0 < n; i0 += LASSO_SCAN_BLOCK)
        for (uint32_t bits = K(lasso_violators)(i0, SN_MIN(n, i0 + LASSO_SCAN_BLOCK), c, a, lim, 0,
                                                positive);
             bits != 0; bits &= bits - 1)
            V[v++] = (int32_t)(i0 + __builtin_ctz(bits));
    return v;
}

/* max(top, m) lane by lane */
static inline VEC K(lasso_vmax)(VEC top, VEC m)
{
    const IVEC gt = m > top;
    return (VEC)(((IVEC)m & gt) | ((IVEC)top & ~gt));
}

/* max |c| (max c when positive, at least 0) over every atom: the dual scaling of the gap. */
static REAL K(lasso_dual)(sn_size n, const REAL *c, int positive)
{
    VEC top = {0};
    sn_size i = 0;
    for (; i + VLEN <= n; i += VLEN)
        top = K(lasso_vmax)(top, K(lasso_vmagnitude)(*(const VEC *)(c + i), positive));
    REAL best = 0;
    for (sn_size l = 0; l < VLEN; ++l)
        best = top[l] > best ? top[l] : best;
    for (; i < n; ++i) {
        const REAL m = positive ? c[i] : ABS(c[i]);
        best = m > best ? m : best;
    }
    return best;
}

/* Per-thread scratch: n-long b, c, cN, the entries not yet in c (pend, kept at zero between
 * uses); k-long (k <= n) cA (and a vector of padding), dA, the Newton weights w; the support A, the
 * violators V and the Newton support P (n ints each); the Newton system's copy of G_PP, GP, and
 * the gathered G_AA (LASSO_NEWTON_MAX^2 each), and the system's right-hand side / solution y. */
typedef struct {
    REAL *b, *c, *cN, *pend, *cA, *dA, *w, *GP, *y, *GA;
    int32_t *A, *V, *P;
} K(lasso_scratch);

/* cA[q] -= d * row[q] for q < kpad (a multiple of VLEN): a change d of one coefficient in the
 * support's correlations, from its row of the gathered G_AA, whose padding (like cA's) is zero.
 * Returns cA[next] when next < kpad (else 0), computed apart as a scalar by the same (fused)
 * operation, so that the sweep's next coordinate waits on one multiply-add: taken from the
 * updated vector it waited on a broadcast, the vector's update and a lane's extraction, and read
 * back from memory on the store of a whole vector. */
static inline REAL K(lasso_support_update)(sn_size kpad, REAL d, const REAL *restrict row,
                                           REAL *restrict cA, sn_size next)
{
    const REAL out = next < kpad ? cA[next] - d * row[next] : 0;
    const VEC vd = (VEC){0} + d;
    for (sn_size q = 0; q < kpad; q += VLEN)
        *(VEC *)(cA + q) -= vd * *(const VEC *)(row + q);
    return out;
}

/* The exact minimiser for the support and signs of a: the nonzero coefficients among the k atoms
 * listed in A, whose Gram matrix G_AA is gathered in GA (rows of LASSO_NEWTON_MAX). Solves
 * G_PP z = b_P - alpha sign(a_P) for the nonzero positions P by symmetric elimination (G = R^T
 * D^-1 R, R upper with the pivots D on its diagonal: LDL^T without square roots); returns 0 when
 * the system is not positive definite, else writes the weights w (zero outside P) and returns 1
 * with w = z when z keeps a's signs, 2 with the step towards z that keeps them; diag is G's
 * diagonal. The elimination subtracts multiples of pivot rows from
 * the rows below, whole vectors at a time, independent of each other: the dot-product
 * (left-looking) Cholesky it replaces ran one chain of scalar multiply-adds and a square root per
 * pivot, 15% of the LASSO. GA is overwritten when every atom of A is nonzero. */
static int K(lasso_newton_solve)(sn_size k, const int32_t *A, REAL *GA, const REAL *diag,
                                 const REAL *b, const REAL *a, REAL alpha, K(lasso_scratch) *s)
{
    REAL *restrict y = s->y, *restrict w = s->w;
    int32_t *restrict P = s->P;
    sn_size m = 0;
    for (sn_size p = 0; p < k; ++p) {
        P[m] = (int32_t)p;
        m += a[A[p]] != 0;
    }
    if (m == 0) return 0;
    const sn_size mpad = (m + VLEN - 1) / VLEN * VLEN;
    /* M = G_PP, rows of LASSO_NEWTON_MAX padded with zeros: GA itself when P is the whole support
     * (every phase gathers GA afresh), else a copy */
    REAL *restrict M = m == k ? GA : s->GP;
    for (sn_size u = 0; u < m; ++u) {
        const sn_size i = A[P[u]];
        y[u] = b[i] - COPYSIGN(alpha, a[i]); /* no branch: the signs are a coin toss */
        if (m == k) continue;
        const REAL *row = GA + (sn_size)P[u] * LASSO_NEWTON_MAX;
        REAL *out = M + u * LASSO_NEWTON_MAX;
        for (sn_size q = 0; q < m; ++q)
            out[q] = row[P[q]];
        for (sn_size q = m; q < mpad; ++q)
            out[q] = 0;
    }
    /* Elimination: row j's entries from j on become R's; the rhs y takes the same steps, which
     * leaves R z = y. Only the entries on and above the diagonal are read (the vectors of a row
     * start at the one that holds its diagonal entry). */
    for (sn_size j = 0; j < m; ++j) {
        const REAL *pivot = M + j * LASSO_NEWTON_MAX;
        const REAL d = pivot[j];
        if (!(d > diag[A[P[j]]] * (REAL)1e-10))
            return 0; /* (nearly) dependent atoms */
        const REAL inv = 1 / d;
        w[j] = inv; /* w holds the pivots' reciprocals until the end */
        for (sn_size i = j + 1; i < m; ++i) {
            const REAL l = pivot[i] * inv;
            const VEC vl = (VEC){0} + l;
            REAL *row = M + i * LASSO_NEWTON_MAX;
            for (sn_size q = i - i % VLEN; q < mpad; q += VLEN)
                *(VEC *)(row + q) -= vl * *(const VEC *)(pivot + q);
            y[i] -= l * y[j];
        }
    }
    int flips = 0;
    for (sn_size j = m - 1; j >= 0; --j) { /* R z = y, z into y; z_j taken out of the rows above */
        const REAL z = y[j] * w[j];
        y[j] = z;
        flips += !(z * a[A[P[j]]] > 0);
        for (sn_size t = 0; t < j; ++t)
            y[t] -= M[t * LASSO_NEWTON_MAX + j] * z;
    }
    for (sn_size p = 0; p < k; ++p)
        w[p] = 0;
    if (flips == 0) {
        for (sn_size u = 0; u < m; ++u)
            w[P[u]] = y[u];
        return 1;
    }
    /* Signs changed: the point a + t (z - a) for the largest t that keeps a's signs, where the
     * first coefficient reaches zero (the objective there is a convex quadratic whose minimum is
     * z, so it falls all the way); the coefficients that reach zero leave */
    REAL t = 1;
    for (sn_size u = 0; u < m; ++u) {
        const REAL au = a[A[P[u]]];
        if (!(y[u] * au > 0)) {
            const REAL tu = au / (au - y[u]);
            t = tu < t ? tu : t;
        }
    }
    for (sn_size u = 0; u < m; ++u) {
        const REAL au = a[A[P[u]]];
        REAL v = au + t * (y[u] - au);
        if (!(y[u] * au > 0) && au / (au - y[u]) <= t) v = 0;
        w[P[u]] = v * au > 0 ? v : 0; /* (and any that rounding flipped) */
    }
    return 2;
}

/* Whether cN (the correlations at the Newton point) satisfies the optimality conditions off the
 * support: |c| <= alpha (c <= alpha when positive), with room for rounding. Violators are counted
 * over every atom, then those on the support (nonzero w) taken back out: no branches. The same
 * pass gives *dual, lasso_dual of cN (the gap's, when the point is kept). */
static int K(lasso_newton_holds)(sn_size n, const REAL *cN, const REAL *lim, int positive,
                                 sn_size k, const int32_t *A, const REAL *w, REAL *dual)
{
    const REAL slack = 1 + 64 * (REAL)SN_EPS;
    IVEC over = {0}; /* minus the count per lane: a true compare is -1 */
    VEC top = {0};
    sn_size t = 0;
    for (; t + VLEN <= n; t += VLEN) {
        const VEC m = K(lasso_vmagnitude)(*(const VEC *)(cN + t), positive);
        over += m > *(const VEC *)(lim + t) * slack;
        top = K(lasso_vmax)(top, m);
    }
    sn_size violators = 0;
    REAL best = 0;
    for (sn_size l = 0; l < VLEN; ++l) {
        violators -= (sn_size)over[l];
        best = top[l] > best ? top[l] : best;
    }
    for (; t < n; ++t) {
        const REAL m = positive ? cN[t] : ABS(cN[t]);
        violators += m > lim[t] * slack;
        best = m > best ? m : best;
    }
    for (sn_size p = 0; p < k; ++p) {
        const REAL ct = positive ? cN[A[p]] : ABS(cN[A[p]]);
        violators -= (w[p] != 0) & (ct > lim[A[p]] * slack);
    }
    *dual = best;
    return violators == 0;
}

/* Codes one signal into a (n entries; the start point when warm). Returns the work done, in full
 * sweeps (coordinate visits / n, rounded up); *converged tells whether the stop rule was met. */
static sn_size K(lasso_signal)(sn_size n, const REAL *G, sn_size ld, const REAL *diag,
                               const REAL *inv_diag, const REAL *lim, const REAL *bsrc,
                               sn_size b_stride, double norm2, int has_norm, REAL alpha,
                               int positive, sn_size max_iter, double tol, int warm,
                               REAL *restrict a, K(lasso_scratch) *s, int *converged)
{
    REAL *restrict b = s->b, *c = s->c, *cN = s->cN, *restrict pend = s->pend;
    REAL *restrict cA = s->cA, *restrict dA = s->dA, *restrict GA = s->GA;
    int32_t *restrict A = s->A, *restrict V = s->V;
    if (b_stride == 1) {
        for (sn_size i = 0; i < n; ++i)
            b[i] = c[i] = bsrc[i];
    } else {
        for (sn_size i = 0; i < n; ++i)
            b[i] = c[i] = bsrc[i * b_stride];
    }
    sn_size k = 0, nv = 0;
    if (warm) {
        for (sn_size i = 0; i < n; ++i)
            if (a[i] != 0) {
                A[k] = (int32_t)i;
                dA[k++] = a[i];
            }
        K(lasso_subtract_rows)(n, G, ld, A, k, dA, NULL, c);
    } else {
        for (sn_size i = 0; i < n; ++i)
            a[i] = 0;
    }
    double tol_inner = has_norm ? SN_MAX(tol, LASSO_FIRST_TOL) : tol;
    const sn_size budget = max_iter * n;
    sn_size work = 0;
    *converged = 0;
    if (!warm) { /* 0. the violators, strongest first: passes at falling thresholds */
        const REAL top = K(lasso_dual)(n, c, positive);
        for (int pass = 1; pass <= LASSO_FIRST_PASSES && top > alpha; ++pass) {
            const REAL threshold = alpha + (top - alpha) * ((REAL)1 - (REAL)pass /
                                                            ((REAL)LASSO_FIRST_PASSES + (REAL)0.5));
            for (sn_size i0 = 0; i0 < n; i0 += LASSO_SCAN_BLOCK) {
                const sn_size end = SN_MIN(n, i0 + LASSO_SCAN_BLOCK);
                /* the block's violators in index order, tested again after each entry */
                uint32_t bits = K(lasso_violators)(i0, end, c, a, lim, threshold, positive);
                while (bits != 0) {
                    const sn_size i = i0 + __builtin_ctz(bits);
                    const REAL new = K(lasso_shrink)(c[i], alpha, positive) * inv_diag[i];
                    a[i] = new;
                    sn_size p = k++; /* the support, kept in index order (insertion) */
                    for (; p > 0 && A[p - 1] > (int32_t)i; --p)
                        A[p] = A[p - 1];
                    A[p] = (int32_t)i;
                    const REAL *row = G + i * ld;
                    for (sn_size t = 0; t < n; ++t)
                        c[t] -= new * row[t];
                    bits = K(lasso_violators)(i0, end, c, a, lim, threshold, positive) &
                           (uint32_t)(UINT64_C(0xffffffff) << (i - i0 + 1));
                }
            }
            work += n;
        }
    }
    int settled = 0; /* the last phase over the support ended by its tolerance */
    int early_next = 1; /* the next phase tries the exact minimiser after LASSO_NEWTON_SWEEPS */
    for (;;) {
        /* 1. the zero coefficients that violate enter, in index order. c takes the entries at the
         * end of the phase (3) with the other changes; until then cN holds the violators' own
         * correlations, updated after each entry so that a later violator is tested again. */
        nv = K(lasso_scan)(n, c, a, lim, positive, V);
        sn_size kept = 0; /* the support without the coefficients the sweeps set to zero */
        for (sn_size p = 0; p < k; ++p) {
            A[kept] = A[p];
            kept += a[A[p]] != 0;
        }
        k = kept;
        sn_size entered = 0;
        for (sn_size q = 0; q < nv; ++q)
            cN[q] = c[V[q]];
        for (sn_size q = 0; q < nv; ++q) {
            const REAL shrunk = K(lasso_shrink)(cN[q], alpha, positive);
            if (shrunk == 0) continue;
            const sn_size i = V[q];
            const REAL new = shrunk * inv_diag[i];
            a[i] = new;
            pend[i] = new;
            V[entered++] = (int32_t)i;
            const REAL *row = G + i * ld;
            for (sn_size r = q + 1; r < nv; ++r)
                cN[r] -= new * row[V[r]];
        }
        work += n;
        if (entered) { /* the support with the new atoms, merged in index order */
            int32_t *restrict merged = s->P;
            sn_size p = 0, q = 0, m = 0;
            while (p < k && q < entered)
                merged[m++] = A[p] < V[q] ? A[p++] : V[q++];
            while (p < k)
                merged[m++] = A[p++];
            while (q < entered)
                merged[m++] = V[q++];
            for (p = 0; p < m; ++p)
                A[p] = merged[p];
            k = m;
        }
        /* 2. optimal up to tol_inner; or nothing to sweep: no coefficient and no violator (a
         * zero signal: a budget of one sweep must not call it unconverged) */
        if (entered == 0 && (settled || k == 0)) {
            if (!has_norm) {
                *converged = 1;
                break;
            }
            if (K(lasso_gap)(k, A, b, c, a, K(lasso_dual)(n, c, positive), norm2, alpha) <=
                tol * norm2) {
                *converged = 1;
                break;
            }
            tol_inner = tol_inner > tol ? SN_MAX(tol, tol_inner * 0.1) : tol_inner * 0.1;
        }
        if (work >= budget) break;
        /* 3. sweeps over the support, from c on the support with the entries of step 1 */
        settled = 0;
        const sn_size kpad = (k + VLEN - 1) / VLEN * VLEN;
        for (sn_size p = 0; p < k; ++p) {
            cA[p] = c[A[p]];
            dA[p] = pend[A[p]];
            pend[A[p]] = 0;
        }
        for (sn_size p = k; p < kpad; ++p)
            cA[p] = 0;
        /* G_AA gathered once per phase (rows of LASSO_NEWTON_MAX), so that each change updates cA
         * with one contiguous pass; larger supports gather per change. */
        const int compact = k <= LASSO_NEWTON_MAX;
        if (compact)
            for (sn_size p = 0; p < k; ++p) {
                const REAL *row = G + (sn_size)A[p] * ld;
                for (sn_size q = 0; q < k; ++q)
                    GA[p * LASSO_NEWTON_MAX + q] = row[A[q]];
                for (sn_size q = k; q < kpad; ++q)
                    GA[p * LASSO_NEWTON_MAX + q] = 0;
            }
        for (sn_size p = 0; entered && p < k; ++p) {
            const REAL d = dA[p];
            if (d == 0) continue;
            if (compact) {
                K(lasso_support_update)(kpad, d, GA + p * LASSO_NEWTON_MAX, cA, kpad);
            } else {
                const REAL *row = G + (sn_size)A[p] * ld;
                for (sn_size q = 0; q < k; ++q)
                    cA[q] -= d * row[A[q]];
            }
        }
        int early = 0;
        sn_size sweeps = 0;
        while (work < budget) {
            work += SN_MAX(k, (sn_size)1);
            REAL max_change = 0, max_coef = 0;
            REAL cp = k > 0 ? cA[0] : 0; /* cA[p], carried in a register along the compact sweep */
            for (sn_size p = 0; p < k; ++p) {
                const sn_size i = A[p];
                const REAL gii = diag[i];
                const REAL old = a[i];
                if (!compact) cp = cA[p];
                const REAL new = K(lasso_shrink)(cp + gii * old, alpha, positive) * inv_diag[i];
                if (ABS(new) > max_coef) max_coef = ABS(new);
                const REAL d = new - old; /* 0 when the coefficient stays */
                a[i] = new;
                dA[p] += d;
                if (ABS(d) > max_change) max_change = ABS(d);
                if (compact) { /* no test of d: its mispredictions cost more than the vectors */
                    cp = K(lasso_support_update)(kpad, d, GA + p * LASSO_NEWTON_MAX, cA, p + 1);
                } else if (d != 0) {
                    const REAL *row = G + i * ld;
                    for (sn_size q = 0; q < k; ++q)
                        cA[q] -= d * row[A[q]];
                }
            }
            if (max_change <= tol_inner * max_coef) {
                settled = 1;
                break;
            }
            if (has_norm && compact && early_next && ++sweeps == LASSO_NEWTON_SWEEPS) {
                early = 1;
                break;
            }
        }
        /* c on every atom: at the exact minimiser for the support and signs, when tried and its
         * signs hold (a takes it: it minimises the LASSO restricted to the support; when it is
         * optimal, the gap decides; when atoms violate, they enter and the next phase tries again
         * early: adopting it without trying early again cost 3% on L1, and trying early after
         * every phase left signals whose solves fail unsettled), or at the step towards it that
         * keeps the signs (no worse than a either; the coefficients that reach zero leave, and the
         * next phase tries again early too); else from the phase's changes. */
        int newton = 0, adopted = 0;
        REAL dual = 0;
        if (early || (settled && has_norm && compact)) {
            early_next = 0;
            const int solved = K(lasso_newton_solve)(k, A, GA, diag, b, a, alpha, s);
            if (solved) {
                K(lasso_subtract_rows)(n, G, ld, A, k, s->w, b, cN);
                newton = solved == 1 &&
                         K(lasso_newton_holds)(n, cN, lim, positive, k, A, s->w, &dual);
                adopted = 1;
                early_next = !newton;
                work += k; /* a budget for the tries too: steps may follow each other */
            }
        }
        if (adopted) {
            for (sn_size p = 0; p < k; ++p)
                a[A[p]] = s->w[p];
            REAL *swap = c; /* the Newton correlations become c */
            c = cN;
            cN = swap;
            if (newton && K(lasso_gap)(k, A, b, c, a, dual, norm2, alpha) <=
                tol * norm2) {
                *converged = 1;
                break;
            }
        } else {
            K(lasso_subtract_rows)(n, G, ld, A, k, dA, NULL, c);
        }
    }
    for (sn_size p = 0; p < k; ++p) /* pend back to zero (a stop by the budget may leave some) */
        pend[A[p]] = 0;
    return (work + n - 1) / n;
}

static int K(lasso)(int n_threads, sn_size n_atoms, sn_size n_signals, const REAL *G, sn_size g_ld,
                    const REAL *B, sn_size b_atom_stride, sn_size b_signal_stride,
                    sn_size n_features, const REAL *D, const REAL *X, sn_size x_ld,
                    int x_signal_major, const REAL *norms, double alpha, int positive,
                    sn_size max_iter, double tol, int warm, REAL *A, sn_size *n_iter_max,
                    sn_size *n_unconverged)
{
    *n_iter_max = 0;
    *n_unconverged = 0;
    if (n_signals == 0 || n_atoms == 0) return SN_OK;
    const sn_size n = n_atoms, m = LASSO_NEWTON_MAX;
    /* with X, b = D^T x comes from a block of LASSO_BLOCK_SIGNALS signals at a time, computed by
     * the thread that codes them: one pass over X, no n_signals x n_atoms array, and no BLAS call
     * (whose threads, spinning after a multi-threaded GEMM, took a core from the coding) */
    const int with_block = X != NULL;
    const sn_size block_bytes = with_block ? LASSO_BLOCK_SIGNALS * g_ld * (sn_size)sizeof(REAL) : 0;
    const sn_size block_slice = (block_bytes + 63) / 64 * 64;
    const sn_size reals = 7 * n + VLEN + 2 * m * m + m;
    const sn_size per_thread = (block_slice + reals * (sn_size)sizeof(REAL) +
                                3 * n * (sn_size)sizeof(int32_t) + 64 + 63) / 64 * 64;
    const sn_size n_blocks = (n_signals + LASSO_BLOCK_SIGNALS - 1) / LASSO_BLOCK_SIGNALS;
    const int nt = (int)SN_MIN((sn_size)sn_threads_for(n_threads, n_signals * n * 32,
                                                       SN_CODING_GRAIN), n_blocks);
    char *memory = (char *)sn_aligned_alloc((size_t)(nt * per_thread));
    REAL *panels =
        with_block ? (REAL *)sn_aligned_alloc((size_t)(g_ld * n_features) * sizeof(REAL)) : NULL;
    /* the diagonal of G, read once, its reciprocals (the coordinate steps multiply: a division
     * sat on the sweep's dependency chain), and each atom's violation threshold: alpha, or +inf
     * for atoms of norm zero, which never move (scikit-learn) */
    REAL *diag = (REAL *)malloc((size_t)(3 * n) * sizeof(REAL));
    if (memory == NULL || diag == NULL || (with_block && panels == NULL)) {
        free(memory);
        free(panels);
        free(diag);
        return SN_ENOMEM;
    }
    REAL *lim = diag + n, *inv_diag = diag + 2 * n;
    for (sn_size i = 0; i < n; ++i) {
        diag[i] = G[i * g_ld + i];
        lim[i] = diag[i] > 0 ? (REAL)alpha : (REAL)INFINITY;
        inv_diag[i] = diag[i] > 0 ? 1 / diag[i] : 0;
    }
    sn_size iter_max = 0, unconverged = 0;
#pragma omp parallel num_threads(nt) if (nt > 1) reduction(max : iter_max) reduction(+ : unconverged)
    {
        char *mine = memory + sn_thread_id() * per_thread;
        REAL *block = (REAL *)mine;
        K(lasso_scratch) s;
        s.b = (REAL *)(mine + block_slice);
        s.c = s.b + n;
        s.cN = s.c + n;
        s.pend = s.cN + n;
        s.cA = s.pend + n;
        s.dA = s.cA + n + VLEN;
        s.w = s.dA + n;
        s.GP = s.w + n;
        s.GA = s.GP + m * m;
        s.y = s.GA + m * m;
        s.A = (int32_t *)(s.y + m);
        s.V = s.A + n;
        s.P = s.V + n;
        for (sn_size i = 0; i < n; ++i)
            s.pend[i] = 0;
        if (with_block) {
#pragma omp for schedule(static)
            for (sn_size f0 = 0; f0 < n_features; f0 += SN_DTX_PACK_FEATURES)
                K(dtx_pack_panels)(D, n_features, g_ld, f0,
                                   SN_MIN(f0 + SN_DTX_PACK_FEATURES, n_features), panels);
        }
        /* blocks of fixed signals, whichever thread takes them: results do not depend on nt */
#pragma omp for schedule(dynamic, 1)
        for (sn_size blk = 0; blk < n_blocks; ++blk) {
            const sn_size j0 = blk * LASSO_BLOCK_SIGNALS;
            const sn_size nb = SN_MIN(LASSO_BLOCK_SIGNALS, n_signals - j0);
            if (with_block)
                K(dtx_correlate)(n_features, X, x_ld, x_signal_major, panels, g_ld, j0, nb, block);
            for (sn_size j = j0; j < j0 + nb; ++j) {
                int converged;
                const REAL *b = with_block ? block + (j - j0) * g_ld : B + j * b_signal_stride;
                const sn_size it = K(lasso_signal)(
                    n, G, g_ld, diag, inv_diag, lim, b, with_block ? 1 : b_atom_stride,
                    norms != NULL ? (double)norms[j] : 0.0, norms != NULL, (REAL)alpha, positive,
                    max_iter, tol, warm, A + j * n, &s, &converged);
                if (it > iter_max) iter_max = it;
                unconverged += !converged;
            }
        }
    }
    free(memory);
    free(panels);
    free(diag);
    *n_iter_max = iter_max;
    *n_unconverged = unconverged;
    return SN_OK;
}

#undef PANEL
#undef SN_DTX_PACK_FEATURES
#undef SN_DTX_TILE
#undef VEC
#undef IVEC
#undef VLEN
#undef LASSO_FIRST_TOL
#undef LASSO_FIRST_PASSES
#undef LASSO_NEWTON_SWEEPS
#undef LASSO_SCAN_BLOCK
#undef K
