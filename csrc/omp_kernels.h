/* Template: Batch-OMP over many signals (see batch_omp.h for the problem and its conventions).
 *
 * Included by omp.c through sn_instantiate.h for float and double and every ISA level, with
 *   REAL  value type     SFX  type suffix (f32, f64)     EPS  machine epsilon of REAL
 *   ISA, SN_VBYTES  level name and vector width (sn_instantiate.h)
 * Per signal nothing is allocated: each thread owns one scratch block, sized once, in which the
 * correlations and the Gram rows of the chosen atoms stay in L1/L2 while the signal is coded. */

#define K(name) SN_CAT3(name, SFX, ISA)
#define VEC K(omp_vec)
#define VLEN ((sn_size)(SN_VBYTES / sizeof(REAL)))
#define PROBLEM SN_CAT(sn_omp_problem, SFX)
#define SCRATCH K(omp_scratch)

typedef REAL VEC __attribute__((vector_size(SN_VBYTES), aligned(sizeof(REAL)), may_alias));

/* One thread's working memory; every array starts on a 64-byte boundary, rows are npad long (a
 * multiple of 16 REALs, the padding kept at zero so whole vectors can be used). */
typedef struct {
    REAL *block;        /* npad x block_signals: D^T X for the current block of signals (X given) */
    REAL *alpha0;       /* npad: D^T x of the current signal (DtX given) */
    REAL *alpha;        /* npad: current correlations D^T r */
    REAL *Gs;           /* max_atoms x npad: Gram rows of the chosen atoms, in order of choice */
    REAL *L;            /* max_atoms x max_atoms: Cholesky factor of G[S, S], lower, row-major */
    REAL *w, *gamma, *t; /* max_atoms: L^-1 alpha0[S], the coefficients, a temporary */
    REAL *tile_max;     /* npad / tile + 1: max |alpha| of each tile, to find the argmax fast */
    int32_t *S;         /* max_atoms: chosen atoms */
} SCRATCH;

/* Elements in one tile of the correlation update: 8 accumulators in flight hide the FMA latency. */
#define TILE (8 * VLEN)

static sn_size K(omp_carve)(SCRATCH *s, char *base, sn_size npad, sn_size max_atoms,
                            sn_size block_signals, int with_block)
{
    sn_size off = 0;
#define SN_OMP_TAKE(field, type, count)                                    \
    do {                                                                   \
        if (base) s->field = (type *)(base + off);                         \
        off += (((sn_size)(count) * (sn_size)sizeof(type) + 63) / 64) * 64; \
    } while (0)
    SN_OMP_TAKE(block, REAL, with_block ? npad * block_signals : 0);
    SN_OMP_TAKE(alpha0, REAL, npad);
    SN_OMP_TAKE(alpha, REAL, npad);
    SN_OMP_TAKE(Gs, REAL, max_atoms * npad);
    SN_OMP_TAKE(L, REAL, max_atoms * max_atoms);
    SN_OMP_TAKE(w, REAL, max_atoms);
    SN_OMP_TAKE(gamma, REAL, max_atoms);
    SN_OMP_TAKE(t, REAL, max_atoms);
    SN_OMP_TAKE(tile_max, REAL, npad / TILE + 1);
    SN_OMP_TAKE(S, int32_t, max_atoms);
#undef SN_OMP_TAKE
    return off;
}

/* g[0:npad) = row lam of D^T D: copied from G, or computed from the rows of D. */
static void K(omp_gram_row)(const PROBLEM *p, sn_size lam, sn_size npad, REAL *restrict g)
{
    const sn_size n = p->n_atoms;
    if (p->G != NULL) {
        const REAL *src = p->G + lam * n;
        for (sn_size i = 0; i < n; ++i)
            g[i] = src[i];
    } else {
        for (sn_size i = 0; i < n; ++i)
            g[i] = 0;
        for (sn_size f = 0; f < p->n_features; ++f) {
            const REAL *row = p->D + f * n;
            const REAL d = row[lam];
#pragma omp simd
            for (sn_size i = 0; i < n; ++i)
                g[i] += d * row[i];
        }
    }
    for (sn_size i = n; i < npad; ++i)
        g[i] = 0;
}

/* alpha = alpha0 - Gs[0:k]^T gamma, and the max |alpha| of each tile; returns the overall max. */
static REAL K(omp_update)(const REAL *restrict alpha0, const REAL *restrict Gs,
                          const REAL *restrict gamma, sn_size k, sn_size npad,
                          REAL *restrict alpha, REAL *restrict tile_max)
{
    REAL amax = 0;
    sn_size b = 0, tile = 0;
    for (; b + TILE <= npad; b += TILE, ++tile) {
        const VEC *a0 = (const VEC *)(alpha0 + b);
        VEC c0 = a0[0], c1 = a0[1], c2 = a0[2], c3 = a0[3];
        VEC c4 = a0[4], c5 = a0[5], c6 = a0[6], c7 = a0[7];
        for (sn_size j = 0; j < k; ++j) {
            const REAL gj = gamma[j];
            const VEC *r = (const VEC *)(Gs + j * npad + b);
            c0 -= gj * r[0];
            c1 -= gj * r[1];
            c2 -= gj * r[2];
            c3 -= gj * r[3];
            c4 -= gj * r[4];
            c5 -= gj * r[5];
            c6 -= gj * r[6];
            c7 -= gj * r[7];
        }
        VEC *out = (VEC *)(alpha + b);
        out[0] = c0;
        out[1] = c1;
        out[2] = c2;
        out[3] = c3;
        out[4] = c4;
        out[5] = c5;
        out[6] = c6;
        out[7] = c7;
        REAL m = 0;
#pragma omp simd reduction(max : m)
        for (sn_size i = b; i < b + TILE; ++i) {
            const REAL v = alpha[i] < 0 ? -alpha[i] : alpha[i];
            m = v > m ? v : m;
        }
        tile_max[tile] = m;
        amax = m > amax ? m : amax;
    }
    if (b < npad) { /* last, partial tile: whole vectors (npad is a multiple of VLEN) */
        for (sn_size v = b; v < npad; v += VLEN) {
            VEC c = *(const VEC *)(alpha0 + v);
            for (sn_size j = 0; j < k; ++j)
                c -= gamma[j] * *(const VEC *)(Gs + j * npad + v);
            *(VEC *)(alpha + v) = c;
        }
        REAL m = 0;
#pragma omp simd reduction(max : m)
        for (sn_size i = b; i < npad; ++i) {
            const REAL v = alpha[i] < 0 ? -alpha[i] : alpha[i];
            m = v > m ? v : m;
        }
        tile_max[tile] = m;
        amax = m > amax ? m : amax;
    }
    return amax;
}

/* The first index whose |a| equals amax (the max of a's tiles, as omp_update computed it):
 * np.argmax(np.abs(a)) without a second pass over every tile. */
static sn_size K(omp_argmax)(const REAL *a, const REAL *tile_max, sn_size npad, REAL amax)
{
    sn_size tile = 0;
    while (tile_max[tile] != amax)
        ++tile;
    sn_size i = tile * TILE;
    while ((a[i] < 0 ? -a[i] : a[i]) != amax)
        ++i;
    (void)npad;
    return i;
}

/* Codes one signal whose correlations alpha0 = D^T x (npad long, padding zero) are given and whose
 * squared norm is norm2 (used with tol only). Writes the chosen atoms to s->S and the coefficients
 * to s->gamma; returns their number, and sets *premature when a stop rule other than the requested
 * one ended the pursuit (as scikit-learn's _gram_omp, which warns then). */
static sn_size K(omp_signal)(const PROBLEM *p, SCRATCH *s, sn_size npad, const REAL *alpha0,
                             REAL norm2, int *premature)
{
    const sn_size max_atoms = p->max_atoms;
    const int use_tol = p->tol >= 0;
    REAL *restrict L = s->L, *restrict w = s->w, *restrict gamma = s->gamma, *restrict t = s->t;
    int32_t *restrict S = s->S;
    *premature = 0;

    /* The first search is over alpha0 itself. */
    REAL amax = K(omp_update)(alpha0, s->Gs, gamma, 0, npad, s->alpha, s->tile_max);
    sn_size k = 0;
    for (;;) {
        const sn_size lam = K(omp_argmax)(s->alpha, s->tile_max, npad, amax);
        const REAL a = s->alpha[lam];
        int chosen = 0;
        for (sn_size j = 0; j < k; ++j)
            chosen |= S[j] == lam;
        if (chosen || a * a < EPS) { /* atom chosen twice, or nothing left to explain */
            *premature = 1;
            break;
        }
        REAL *restrict g = s->Gs + k * npad;
        K(omp_gram_row)(p, lam, npad, g);
        REAL *restrict Lk = L + k * max_atoms;
        if (k > 0) {
            /* New Cholesky row: solve L[:k, :k] l = G[S, lam] (forward substitution). */
            REAL v = 0;
            for (sn_size j = 0; j < k; ++j) {
                const REAL *Lj = L + j * max_atoms;
                REAL sum = s->Gs[j * npad + lam];
                for (sn_size i = 0; i < j; ++i)
                    sum -= Lj[i] * Lk[i];
                Lk[j] = sum / Lj[j];
                v += Lk[j] * Lk[j];
            }
            const REAL pivot = g[lam] - v;
            if (pivot <= EPS) { /* the atom is (numerically) in the span of the chosen ones */
                *premature = 1;
                break;
            }
            Lk[k] = SQRT(pivot);
        } else {
            if (!(g[lam] > 0)) { /* not a Gram matrix: an atom with a correlation but no norm */
                *premature = 1;
                break;
            }
            Lk[0] = SQRT(g[lam]);
        }
        /* w = L^-1 alpha0[S] grows by one entry; gamma = L^-T w by back substitution. */
        REAL sum = alpha0[lam];
        for (sn_size i = 0; i < k; ++i)
            sum -= Lk[i] * w[i];
        w[k] = sum / Lk[k];
        S[k] = (int32_t)lam;
        ++k;
        for (sn_size i = 0; i < k; ++i)
            t[i] = w[i];
        for (sn_size j = k - 1; j >= 0; --j) {
            const REAL *Lj = L + j * max_atoms;
            const REAL gj = t[j] / Lj[j];
            gamma[j] = gj;
            for (sn_size i = 0; i < j; ++i)
                t[i] -= Lj[i] * gj;
        }
        amax = K(omp_update)(alpha0, s->Gs, gamma, k, npad, s->alpha, s->tile_max);
        if (use_tol) {
            /* Residual energy ||x||^2 - gamma . (G[S, S] gamma), with G[S, S] gamma = alpha0[S] -
             * alpha[S]: scikit-learn's tol_curr. */
            REAL delta = 0;
            for (sn_size j = 0; j < k; ++j)
                delta += gamma[j] * (alpha0[S[j]] - s->alpha[S[j]]);
            const REAL energy = norm2 - delta;
            if ((energy < 0 ? -energy : energy) <= p->tol) break;
            if (k == max_atoms) {
                *premature = 1;
                break;
            }
        } else if (k == max_atoms) {
            break;
        }
    }
    return k;
}

/* Writes signal j's result: a dense column, or its CSC entries sorted by atom. */
static void K(omp_store)(const PROBLEM *p, const SCRATCH *s, sn_size j, sn_size k)
{
    if (p->Y != NULL) {
        REAL *y = p->Y + j * p->n_atoms;
        for (sn_size i = 0; i < p->n_atoms; ++i)
            y[i] = 0;
        for (sn_size i = 0; i < k; ++i)
            y[s->S[i]] = s->gamma[i];
        return;
    }
    int32_t *idx = p->indices + j * p->max_atoms;
    REAL *val = p->values + j * p->max_atoms;
    for (sn_size i = 0; i < k; ++i) { /* insertion sort: k is small, atoms are distinct */
        const int32_t a = s->S[i];
        const REAL v = s->gamma[i];
        sn_size pos = i;
        while (pos > 0 && idx[pos - 1] > a) {
            idx[pos] = idx[pos - 1];
            val[pos] = val[pos - 1];
            --pos;
        }
        idx[pos] = a;
        val[pos] = v;
    }
    p->counts[j] = k;
}

static int K(omp_run)(int n_threads, const PROBLEM *p, sn_size *n_premature)
{
    const sn_size n = p->n_atoms, n_signals = p->n_signals;
    *n_premature = 0;
    if (n_signals == 0) return SN_OK;
    const sn_size npad = sn_omp_npad(n);
    const sn_size block_signals = sn_omp_block_signals(npad);
    const int with_block = p->X != NULL;
    SCRATCH layout;
    const sn_size per_thread = K(omp_carve)(&layout, NULL, npad, p->max_atoms, block_signals,
                                            with_block);
    const sn_size n_blocks = (n_signals + block_signals - 1) / block_signals;
    const sn_size work = n_signals * (p->max_atoms + 1) * npad * (p->max_atoms + 1);
    const int nt = (int)SN_MIN((sn_size)sn_threads_for(n_threads, work, SN_OMP_GRAIN), n_blocks);
    char *memory = (char *)sn_omp_calloc((size_t)(nt * per_thread));
    if (memory == NULL) return SN_ENOMEM;
    sn_size premature_total = 0;

#pragma omp parallel num_threads(nt) if (nt > 1) reduction(+ : premature_total)
    {
        SCRATCH s = {0};
        K(omp_carve)(&s, memory + sn_thread_id() * per_thread, npad, p->max_atoms, block_signals,
                     with_block);
#pragma omp for schedule(dynamic, 1)
        for (sn_size blk = 0; blk < n_blocks; ++blk) {
            const sn_size j0 = blk * block_signals;
            const sn_size nb = SN_MIN(block_signals, n_signals - j0);
            if (with_block) { /* block = D^T X[:, j0:j0+nb], columns npad apart */
                char ta = 'N', tb = p->x_signal_major ? 'N' : 'T';
                int m = (int)n, ncols = (int)nb, kdim = (int)p->n_features, lda = (int)n;
                int ldb = (int)p->x_ld, ldc = (int)npad;
                REAL one = 1, zero = 0;
                REAL *b = (REAL *)(p->X + (p->x_signal_major ? j0 * p->x_ld : j0));
                p->gemm(&ta, &tb, &m, &ncols, &kdim, &one, (REAL *)p->D, &lda, b, &ldb, &zero,
                        s.block, &ldc);
            }
            for (sn_size j = j0; j < j0 + nb; ++j) {
                const REAL *alpha0;
                if (with_block) {
                    alpha0 = s.block + (j - j0) * npad;
                } else {
                    const REAL *src = p->DtX + j * p->dtx_signal_stride;
                    for (sn_size i = 0; i < n; ++i)
                        s.alpha0[i] = src[i * p->dtx_atom_stride];
                    alpha0 = s.alpha0;
                }
                int premature;
                const REAL norm2 = p->norms != NULL ? p->norms[j] : 0;
                const sn_size k = K(omp_signal)(p, &s, npad, alpha0, norm2, &premature);
                premature_total += premature;
                K(omp_store)(p, &s, j, k);
            }
        }
    }
    free(memory);
    *n_premature = premature_total;
    return SN_OK;
}

#undef K
#undef VEC
#undef VLEN
#undef PROBLEM
#undef SCRATCH
#undef TILE
