/* Template: Batch-OMP over many signals (see batch_omp.h for the problem and its conventions).
 *
 * Included by omp.c through sn_instantiate.h for float and double and every ISA level, with
 *   REAL  value type     SFX  type suffix (f32, f64)     EPS  machine epsilon of REAL
 *   SQRT, ABS  their functions for REAL     IREAL, SIGNBIT  the signed integer of REAL's width and
 *   its sign bit (for |x| and lane masks)   ISA, SN_VBYTES  level name and vector width
 * Each thread owns one scratch: a fixed part sized by the dictionary (npad-long vectors), and a
 * per-atom part (Q, L and the short vectors) sized by the atoms actually chosen: it starts small and
 * doubles when a signal needs more atoms, up to max_atoms. With `tol`, max_atoms is only a bound
 * (n_atoms for omp_gram), so sizing Q and L by it up front cost n_atoms^2 * 2 REALs per thread
 * (256 MiB at 4096 float64 atoms) even when every signal used ten atoms. */

#define K(name) SN_CAT3(name, SFX, ISA)
#define VEC K(omp_vec)
#define VLEN ((sn_size)(SN_VBYTES / sizeof(REAL)))
#define PROBLEM SN_CAT(sn_omp_problem, SFX)
#define SCRATCH K(omp_scratch)

#define IVEC K(omp_ivec)
typedef REAL VEC __attribute__((vector_size(SN_VBYTES), aligned(sizeof(REAL)), may_alias));
typedef IREAL IVEC __attribute__((vector_size(SN_VBYTES), aligned(sizeof(REAL)), may_alias));

/* One thread's working memory; every array starts on a 64-byte boundary, rows are npad long (a
 * multiple of 32 REALs, the padding kept at zero so whole vectors can be used). */
typedef struct {
    /* fixed part (`fixed`, zeroed once) */
    REAL *block;        /* block_signals x npad: D^T X for the current block of signals (X given) */
    REAL *alpha0;       /* npad: D^T x of the current signal (DtX given) */
    REAL *alpha;        /* npad: current correlations D^T r */
    REAL *grow;         /* npad: Gram row of the chosen atom, when computed from D */
    /* per-atom part (`atoms`), room for `cap` atoms */
    REAL *Q;            /* column j of G[:, S] L^-T per chosen atom j, tile-major (SN_OMP_Q): the
                           k columns' values of one tile of TILE atoms contiguous, so the pass
                           over the atoms reads one sequential stream, not k rows npad apart */
    REAL *L;            /* cap (cap + 1) / 2: Cholesky factor of G[S, S], lower, rows packed
                           (row j at j (j + 1) / 2), so that growing keeps the rows in place */
    REAL *w, *gamma, *t; /* cap: L^-1 alpha0[S], the coefficients, a temporary */
    REAL *dinv;         /* cap: 1 / L[j, j] (substitutions multiply, no division chains) */
    int32_t *S;         /* cap: chosen atoms */
    char *fixed, *atoms;
    sn_size cap;
} SCRATCH;

/* Elements in one tile of the correlation update: 8 accumulators in flight hide the FMA latency. */
#define TILE (8 * VLEN)

/* Tiles of TILE atoms in a row of npad (the last one may be partial). */
#define SN_OMP_TILES(npad) (((npad) + TILE - 1) / TILE)

/* Q's value for atom a, chosen atom j, with room for cap chosen atoms per tile. */
#define SN_OMP_Q(Q, cap, j, a) ((Q)[(a) / TILE * (cap) * TILE + (j) * TILE + (a) % TILE])

#define SN_OMP_TAKE(field, type, count)                                    \
    do {                                                                   \
        if (base) s->field = (type *)(base + off);                         \
        off += (((sn_size)(count) * (sn_size)sizeof(type) + 63) / 64) * 64; \
    } while (0)

/* Lays out the fixed part at base (base NULL: only measures); returns its size in bytes. */
static sn_size K(omp_carve_fixed)(SCRATCH *s, char *base, sn_size npad, sn_size block_signals,
                                  int with_block, int p_has_gram)
{
    sn_size off = 0;
    SN_OMP_TAKE(block, REAL, with_block ? npad * block_signals : 0);
    SN_OMP_TAKE(alpha0, REAL, npad);
    SN_OMP_TAKE(alpha, REAL, npad);
    SN_OMP_TAKE(grow, REAL, p_has_gram ? 0 : npad);
    return off;
}

/* Lays out the per-atom part for cap atoms at base (base NULL: only measures); returns its size. */
static sn_size K(omp_carve_atoms)(SCRATCH *s, char *base, sn_size npad, sn_size cap)
{
    sn_size off = 0;
    SN_OMP_TAKE(Q, REAL, cap * SN_OMP_TILES(npad) * TILE);
    SN_OMP_TAKE(L, REAL, cap * (cap + 1) / 2);
    SN_OMP_TAKE(w, REAL, cap);
    SN_OMP_TAKE(gamma, REAL, cap);
    SN_OMP_TAKE(t, REAL, cap);
    SN_OMP_TAKE(dinv, REAL, cap);
    SN_OMP_TAKE(S, int32_t, cap);
    return off;
}
#undef SN_OMP_TAKE

/* Room for atom k (the (k+1)-th) in the per-atom part: with k == cap, a part twice as large (at
 * least 16 atoms, at most max_atoms) takes over the k atoms chosen so far. Returns 0 when the
 * memory cannot be had (the caller reports SN_ENOMEM), leaving the old part in place. */
static int K(omp_reserve)(SCRATCH *s, sn_size k, sn_size npad, sn_size max_atoms)
{
    if (k < s->cap) return 1;
    const sn_size cap = SN_MIN(max_atoms, SN_MAX((sn_size)16, 2 * s->cap));
    SCRATCH next = *s;
    char *atoms = (char *)sn_aligned_alloc((size_t)K(omp_carve_atoms)(&next, NULL, npad, cap));
    if (atoms == NULL) return 0;
    K(omp_carve_atoms)(&next, atoms, npad, cap);
    if (k > 0) {
        for (sn_size t = 0; t < SN_OMP_TILES(npad); ++t) /* tile by tile: their stride grows */
            memcpy(next.Q + t * cap * TILE, s->Q + t * s->cap * TILE,
                   (size_t)(k * TILE) * sizeof(REAL));
        memcpy(next.L, s->L, (size_t)(k * (k + 1) / 2) * sizeof(REAL));
        memcpy(next.w, s->w, (size_t)k * sizeof(REAL));
        memcpy(next.dinv, s->dinv, (size_t)k * sizeof(REAL));
        memcpy(next.S, s->S, (size_t)k * sizeof(int32_t));
    }
    free(s->atoms);
    next.atoms = atoms;
    next.cap = cap;
    *s = next;
    return 1;
}

/* g[0:npad) = row lam of D^T D, computed from the rows of D (when no Gram matrix is given). */
static void K(omp_gram_row)(const PROBLEM *p, sn_size lam, sn_size npad, REAL *restrict g)
{
    for (sn_size i = 0; i < npad; i += VLEN)
        *(VEC *)(g + i) = (VEC){0};
    for (sn_size f = 0; f < p->n_features; ++f) {
        const REAL *row = p->D + f * npad;
        const REAL d = row[lam];
        for (sn_size i = 0; i < npad; i += VLEN)
            *(VEC *)(g + i) += d * *(const VEC *)(row + i);
    }
}

#include "dtx_panels.h" /* PANEL, dtx_pack_panels, dtx_correlate: D^T X from packed panels */


static inline VEC K(omp_vabs)(VEC x)
{
    const IVEC sign = (IVEC){0} + SIGNBIT;
    return (VEC)((IVEC)x & ~sign);
}

/* Running (max |alpha|, first index reaching it) per vector lane, for the vector c of alpha whose
 * lanes' indices are the vector `at`; lanes are scanned in increasing index order, so the strict >
 * keeps the first occurrence, as np.argmax does. (In omp_extend's tiles `at` is a running vector
 * plus a constant: built from the scalar offset, it cost a move and a broadcast per vector.) */
#if SN_VBYTES == 64
/* AVX-512: vmax = max(ac, vmax), which is (ac > vmax ? ac : vmax) exactly (the second operand on
 * ties and NaN), and the index moved under the compare's mask: four instructions a vector where
 * GCC made six of the generic form (two compares, zero-masked add, merge), in the pursuit's
 * instruction-bound pass; and a 2-cycle max, not compare-then-blend, on the tracker's chain. */
#if REAL_BYTES == 8
#define SN_OMP_V512 __m512d
#define SN_OMP_CMP_MASK _mm512_cmp_pd_mask
#define SN_OMP_MAX _mm512_max_pd
#define SN_OMP_MOVE_INDEX _mm512_mask_mov_epi64
#else
#define SN_OMP_V512 __m512
#define SN_OMP_CMP_MASK _mm512_cmp_ps_mask
#define SN_OMP_MAX _mm512_max_ps
#define SN_OMP_MOVE_INDEX _mm512_mask_mov_epi32
#endif
#define SN_OMP_TRACK(c, at, vmax, vidx)                                                     \
    do {                                                                                    \
        const SN_OMP_V512 ac_ = (SN_OMP_V512)K(omp_vabs)(c);                                \
        const __mmask16 gt_ = SN_OMP_CMP_MASK(ac_, (SN_OMP_V512)(vmax), _CMP_GT_OQ);        \
        (vmax) = (VEC)SN_OMP_MAX(ac_, (SN_OMP_V512)(vmax));                                 \
        (vidx) = (IVEC)SN_OMP_MOVE_INDEX((__m512i)(vidx), gt_, (__m512i)(at));              \
    } while (0)
#else
#define SN_OMP_TRACK(c, at, vmax, vidx)                               \
    do {                                                              \
        const VEC ac = K(omp_vabs)(c);                                \
        const IVEC gt = ac > (vmax);                                  \
        (vmax) = (VEC)(((IVEC)ac & gt) | ((IVEC)(vmax) & ~gt));       \
        (vidx) = ((at) & gt) | ((vidx) & ~gt);                        \
    } while (0)
#endif

#define SN_OMP_TRACK_BEGIN                     \
    IVEC lanes;                                \
    for (sn_size i_ = 0; i_ < VLEN; ++i_)      \
        lanes[i_] = (IREAL)i_;                 \
    VEC max0 = {0}, max1 = {0};                \
    IVEC idx0 = {0}, idx1 = {0}

/* Of two (max, index) lanes, the larger value, at the smaller index on ties. */
#define SN_OMP_MERGE(m, i, m2, i2)                                   \
    do {                                                             \
        const IVEC take_ = ((m2) > (m)) | (((m2) == (m)) & ((i2) < (i))); \
        (m) = (VEC)(((IVEC)(m2) & take_) | ((IVEC)(m) & ~take_));    \
        (i) = ((i2) & take_) | ((i) & ~take_);                       \
    } while (0)

/* The largest value over the lanes of both trackers, at its smallest index: the trackers merged
 * lane by lane, then a shuffle tree over the lanes (no branches on data, no trip through memory). */
static sn_size K(omp_track_end)(VEC max0, IVEC idx0, VEC max1, IVEC idx1)
{
    SN_OMP_MERGE(max0, idx0, max1, idx1);
    for (sn_size w = VLEN / 2; w >= 1; w /= 2) {
        IVEC perm;
        for (sn_size i = 0; i < VLEN; ++i)
            perm[i] = (IREAL)(i ^ w);
#if defined(__clang__) /* no __builtin_shuffle; the unrolled lane copies become shuffles */
        VEC m2;
        IVEC i2;
        for (sn_size i = 0; i < VLEN; ++i) {
            m2[i] = max0[perm[i]];
            i2[i] = idx0[perm[i]];
        }
#else
        const VEC m2 = __builtin_shuffle(max0, perm);
        const IVEC i2 = __builtin_shuffle(idx0, perm);
#endif
        SN_OMP_MERGE(max0, idx0, m2, i2);
    }
    return (sn_size)idx0[0];
}

/* alpha = alpha0; returns np.argmax(np.abs(alpha0)). */
static sn_size K(omp_start)(const REAL *restrict alpha0, sn_size npad, REAL *restrict alpha)
{
    SN_OMP_TRACK_BEGIN;
    for (sn_size b = 0; b < npad; b += VLEN) { /* npad is a multiple of VLEN */
        const VEC c = *(const VEC *)(alpha0 + b);
        *(VEC *)(alpha + b) = c;
        SN_OMP_TRACK(c, lanes + (IREAL)b, max0, idx0);
    }
    return K(omp_track_end)(max0, idx0, max1, idx1);
}

/* Elements of a Gram row fetched ahead of the pass that reads it: the row (npad REALs, e.g. 8 KiB)
 * is in memory or L3 more often than not, its atom known only at the end of the previous pass, and
 * the pass reads it interleaved with k rows of Q, too many streams for the hardware prefetcher. */
#define SN_OMP_AHEAD (4 * TILE)

static inline void K(omp_prefetch)(const REAL *row, sn_size from, sn_size to)
{
    for (sn_size i = from; i < to; i += 64 / (sn_size)sizeof(REAL))
        __builtin_prefetch(row + i, 0, 3);
}

/* One step of the pursuit once atom k is chosen, with l = L[k, :k] and dinv = 1 / L[k, k]:
 *   qk = (g - Q[:k]^T l) * dinv      the new column of Q = G[:, S] L^-T (g: the atom's Gram row)
 *   alpha -= wk * qk                  so that alpha = alpha0 - Q w = alpha0 - G[:, S] gamma
 * and returns np.argmax(np.abs(alpha)), all in one pass over the atoms. */
static sn_size K(omp_extend)(const REAL *restrict g, REAL *restrict Q, sn_size cap,
                             const REAL *restrict l, sn_size k, REAL dinv, REAL wk, sn_size npad,
                             REAL *restrict alpha)
{
    SN_OMP_TRACK_BEGIN;
    IVEC at = lanes; /* the indices of the tile's first vector */
    sn_size b = 0;
    for (; b + TILE <= npad; b += TILE) {
        if (b + SN_OMP_AHEAD < npad)
            K(omp_prefetch)(g, b + SN_OMP_AHEAD, SN_MIN(b + SN_OMP_AHEAD + TILE, npad));
        const VEC *gv = (const VEC *)(g + b);
        REAL *Qt = Q + b * cap; /* this tile's columns: b / TILE * cap * TILE */
        VEC c0 = gv[0], c1 = gv[1], c2 = gv[2], c3 = gv[3];
        VEC c4 = gv[4], c5 = gv[5], c6 = gv[6], c7 = gv[7];
        for (sn_size j = 0; j < k; ++j) {
            const REAL lj = l[j];
            const VEC *r = (const VEC *)(Qt + j * TILE);
            c0 -= lj * r[0];
            c1 -= lj * r[1];
            c2 -= lj * r[2];
            c3 -= lj * r[3];
            c4 -= lj * r[4];
            c5 -= lj * r[5];
            c6 -= lj * r[6];
            c7 -= lj * r[7];
        }
        VEC *q = (VEC *)(Qt + k * TILE), *a = (VEC *)(alpha + b);
        c0 *= dinv;
        c1 *= dinv;
        c2 *= dinv;
        c3 *= dinv;
        c4 *= dinv;
        c5 *= dinv;
        c6 *= dinv;
        c7 *= dinv;
        q[0] = c0;
        q[1] = c1;
        q[2] = c2;
        q[3] = c3;
        q[4] = c4;
        q[5] = c5;
        q[6] = c6;
        q[7] = c7;
        c0 = a[0] - wk * c0;
        c1 = a[1] - wk * c1;
        c2 = a[2] - wk * c2;
        c3 = a[3] - wk * c3;
        c4 = a[4] - wk * c4;
        c5 = a[5] - wk * c5;
        c6 = a[6] - wk * c6;
        c7 = a[7] - wk * c7;
        a[0] = c0;
        a[1] = c1;
        a[2] = c2;
        a[3] = c3;
        a[4] = c4;
        a[5] = c5;
        a[6] = c6;
        a[7] = c7;
        SN_OMP_TRACK(c0, at, max0, idx0);
        SN_OMP_TRACK(c1, at + (IREAL)VLEN, max1, idx1);
        SN_OMP_TRACK(c2, at + (IREAL)(2 * VLEN), max0, idx0);
        SN_OMP_TRACK(c3, at + (IREAL)(3 * VLEN), max1, idx1);
        SN_OMP_TRACK(c4, at + (IREAL)(4 * VLEN), max0, idx0);
        SN_OMP_TRACK(c5, at + (IREAL)(5 * VLEN), max1, idx1);
        SN_OMP_TRACK(c6, at + (IREAL)(6 * VLEN), max0, idx0);
        SN_OMP_TRACK(c7, at + (IREAL)(7 * VLEN), max1, idx1);
        at += (IREAL)TILE;
    }
    for (; b < npad; b += VLEN) { /* whole vectors: npad is a multiple of VLEN */
        VEC c = *(const VEC *)(g + b);
        for (sn_size j = 0; j < k; ++j)
            c -= l[j] * *(const VEC *)&SN_OMP_Q(Q, cap, j, b);
        c *= dinv;
        *(VEC *)&SN_OMP_Q(Q, cap, k, b) = c;
        c = *(const VEC *)(alpha + b) - wk * c;
        *(VEC *)(alpha + b) = c;
        SN_OMP_TRACK(c, lanes + (IREAL)b, max0, idx0);
    }
    return K(omp_track_end)(max0, idx0, max1, idx1);
}

/* Codes one signal whose correlations alpha0 = D^T x (npad long, padding zero) are given and whose
 * squared norm is norm2 (used with tol only). Writes the chosen atoms to s->S and the coefficients
 * to s->gamma; returns their number, and sets *premature when a stop rule other than the requested
 * one ended the pursuit (scikit-learn's _gram_omp warns then).
 *
 * The Cholesky factor L of G[S, S] grows by one row per atom. Its new row, the solution l of
 * L[:k, :k] l = G[S, lam], is row lam of Q = G[:, S] L^-T, which the pursuit keeps (one column per
 * atom, updated in the same pass as the correlations): so the row costs k loads, not a triangular
 * solve, and the correlations alpha0 - G[:, S] gamma = alpha0 - Q w with w = L^-1 alpha0[S] need no
 * gamma until the end, when gamma = L^-T w is one back substitution.
 *
 * Returns -1 when the per-atom scratch could not grow (out of memory). Q, L and the short vectors
 * are re-read from s after each omp_reserve (it may move them); no pointer into them is declared
 * restrict here, since omp_extend writes column k of Q that later steps read back (SN_OMP_Q). */
static sn_size K(omp_signal)(const PROBLEM *p, SCRATCH *s, sn_size npad, const REAL *alpha0,
                             REAL norm2, int *premature)
{
    const sn_size max_atoms = p->max_atoms;
    const int use_tol = p->tol >= 0;
    REAL *restrict alpha = s->alpha;
    REAL energy = norm2;
    *premature = 0;

    sn_size lam = K(omp_start)(alpha0, npad, alpha);
    if (p->G != NULL) K(omp_prefetch)(p->G + lam * npad, 0, SN_MIN(SN_OMP_AHEAD, npad));
    sn_size k = 0;
    for (;;) {
        const REAL a = alpha[lam];
        int chosen = 0;
        for (sn_size j = 0; j < k; ++j)
            chosen |= s->S[j] == lam;
        if (chosen || a * a < EPS) { /* atom chosen twice, or nothing left to explain */
            *premature = 1;
            break;
        }
        if (!K(omp_reserve)(s, k, npad, max_atoms)) return -1;
        REAL *Q = s->Q;
        const REAL *g;
        if (p->G != NULL) {
            g = p->G + lam * npad;
        } else {
            K(omp_gram_row)(p, lam, npad, s->grow);
            g = s->grow;
        }
        REAL *Lk = s->L + k * (k + 1) / 2;
        REAL v = 0;
        for (sn_size j = 0; j < k; ++j) {
            Lk[j] = SN_OMP_Q(Q, s->cap, j, lam);
            v += Lk[j] * Lk[j];
        }
        const REAL pivot = g[lam] - v;
        /* The atom is (numerically) in the span of the chosen ones, or (k = 0) has no norm: the
         * rule of sparsenet._policy.omp_pivot_independent, which the reference applies too.
         * Relative to the atom's squared norm g[lam], and at sqrt(eps), above the rounding noise
         * of a pivot past the rank of G (about eps / the smallest pivot taken, 1e-9 was seen).
         * Written so that NaN stops. */
        if (!(pivot > 0 && pivot > SQRT(EPS) * g[lam])) {
            *premature = 1;
            break;
        }
        Lk[k] = SQRT(pivot);
        s->dinv[k] = 1 / Lk[k];
        s->w[k] = a * s->dinv[k];
        s->S[k] = (int32_t)lam;
        energy -= s->w[k] * s->w[k];
        /* the pursuit stops here, or takes another atom: only then are the new column of Q and
         * the correlations needed (the coefficients come from L and w alone) */
        if (use_tol) { /* residual energy ||x||^2 - ||w||^2 = ||x||^2 - gamma . G[S, S] gamma */
            if ((energy < 0 ? -energy : energy) <= p->tol) {
                ++k;
                break;
            }
            if (k + 1 == max_atoms) {
                ++k;
                *premature = 1;
                break;
            }
        } else if (k + 1 == max_atoms) {
            ++k;
            break;
        }
        lam = K(omp_extend)(g, Q, s->cap, Lk, k, s->dinv[k], s->w[k], npad, alpha);
        if (p->G != NULL) K(omp_prefetch)(p->G + lam * npad, 0, SN_MIN(SN_OMP_AHEAD, npad));
        ++k;
    }
    /* gamma = L^-T w (back substitution, row j of L scattered into the partial sums). */
    REAL *restrict gamma = s->gamma, *restrict t = s->t;
    const REAL *restrict L = s->L, *restrict dinv = s->dinv;
    for (sn_size i = 0; i < k; ++i)
        t[i] = s->w[i];
    for (sn_size j = k - 1; j >= 0; --j) {
        const REAL *Lj = L + j * (j + 1) / 2;
        const REAL gj = t[j] * dinv[j];
        gamma[j] = gj;
        for (sn_size i = 0; i < j; ++i)
            t[i] -= Lj[i] * gj;
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
    const sn_size npad = sn_omp_row_length(n);
    const sn_size block_signals = sn_omp_block_signals(npad);
    const int with_block = p->X != NULL;
    SCRATCH layout;
    const sn_size per_thread = K(omp_carve_fixed)(&layout, NULL, npad, block_signals, with_block,
                                                  p->G != NULL);
    const sn_size n_blocks = (n_signals + block_signals - 1) / block_signals;
    const sn_size work = n_signals * (p->max_atoms + 1) * npad * (p->max_atoms + 1);
    const int nt = (int)SN_MIN((sn_size)sn_threads_for(n_threads, work, SN_OMP_GRAIN), n_blocks);
    char *memory = (char *)sn_aligned_alloc((size_t)(nt * per_thread));
    if (memory == NULL) return SN_ENOMEM;
    /* D packed in panels for the correlations (dtx_correlate) */
    REAL *panels = NULL;
    if (with_block) {
        panels = (REAL *)sn_aligned_alloc((size_t)(npad * p->n_features) * sizeof(REAL));
        if (panels == NULL) {
            free(memory);
            return SN_ENOMEM;
        }
    }
    sn_size premature_total = 0;
    int out_of_memory = 0;

#pragma omp parallel num_threads(nt) if (nt > 1) reduction(+ : premature_total)
    {
        SCRATCH s = {0};
        s.fixed = memory + sn_thread_id() * per_thread;
        memset(s.fixed, 0, (size_t)per_thread); /* the rows' padding must start at zero */
        K(omp_carve_fixed)(&s, s.fixed, npad, block_signals, with_block, p->G != NULL);
        if (with_block) {
#pragma omp for schedule(static)
            for (sn_size f0 = 0; f0 < p->n_features; f0 += SN_DTX_PACK_FEATURES)
                K(dtx_pack_panels)(p->D, p->n_features, npad, f0,
                                   SN_MIN(f0 + SN_DTX_PACK_FEATURES, p->n_features), panels);
        }
#pragma omp for schedule(dynamic, 1)
        for (sn_size blk = 0; blk < n_blocks; ++blk) {
            int stop;
#pragma omp atomic read
            stop = out_of_memory;
            if (stop) continue; /* the call fails: the remaining blocks are skipped */
            const sn_size j0 = blk * block_signals;
            const sn_size nb = SN_MIN(block_signals, n_signals - j0);
            if (with_block)
                K(dtx_correlate)(p->n_features, p->X, p->x_ld, p->x_signal_major, panels, npad, j0,
                                 nb, s.block);
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
                if (k < 0) {
#pragma omp atomic write
                    out_of_memory = 1;
                    break;
                }
                premature_total += premature;
                K(omp_store)(p, &s, j, k);
            }
        }
        free(s.atoms);
    }
    free(panels);
    free(memory);
    if (out_of_memory) return SN_ENOMEM;
    *n_premature = premature_total;
    return SN_OK;
}

/* The Gram matrix G = D^T D is tiled like a GEMM: GRAM_ROWS atoms of G's rows (broadcast) by
 * GRAM_COLS atoms of its columns (2 vectors), one dtx_tile (dtx_panels.h). Both operands are
 * first packed feature-major (a panel of atoms, each feature's atoms contiguous), so the tile reads
 * two sequential streams: read in place, D's rows are npad apart, a power of two for the usual
 * dictionary sizes, and every feature of a column fell into the same L1 set. */
#define GRAM_ROWS 6
#define GRAM_COLS PANEL
_Static_assert(GRAM_ROWS <= SN_DTX_TILE, "a Gram tile is one dtx_tile");

/* The row block at atom i0: out[f * GRAM_ROWS + r] = D[f, i0 + r], zero past n_atoms, read from
 * the packed column panels (sequential reads; D's rows, npad apart, would each be a cache miss). */
static void K(omp_pack_rows)(const REAL *restrict cols_packed, sn_size n_features, sn_size i0,
                             sn_size n_atoms, REAL *restrict out)
{
    for (sn_size r = 0; r < GRAM_ROWS; ++r) {
        const sn_size atom = i0 + r;
        if (atom >= n_atoms) {
            for (sn_size f = 0; f < n_features; ++f)
                out[f * GRAM_ROWS + r] = 0;
            continue;
        }
        const REAL *src = cols_packed + atom / GRAM_COLS * GRAM_COLS * n_features + atom % GRAM_COLS;
        for (sn_size f = 0; f < n_features; ++f)
            out[f * GRAM_ROWS + r] = src[f * GRAM_COLS];
    }
}

/* The tile of G at rows i0 .. i0 + GRAM_ROWS (those below n_atoms) and columns j0 .. j0 +
 * GRAM_COLS, from the packed row block a and column panel b, where i0 < j0 + GRAM_COLS: G[i, j] for
 * i <= j and its mirror G[j, i] for i < j, j < n_atoms (each entry of G written once, by one
 * tile). Each entry is one FMA chain over the features in order, the same as omp_gram_row computes
 * (so precompute=True and False see the same Gram entries, and G is exactly symmetric). */
static void K(omp_gram_tile)(const REAL *restrict a, const REAL *restrict b, sn_size n_features,
                             sn_size i0, sn_size j0, sn_size n_atoms, sn_size npad,
                             REAL *restrict G)
{
    REAL tile[GRAM_ROWS][GRAM_COLS] __attribute__((aligned(64)));
    K(dtx_tile)(GRAM_ROWS, n_features, a, GRAM_ROWS, 1, b, GRAM_COLS, &tile[0][0]);
    const sn_size rows = SN_MIN((sn_size)GRAM_ROWS, n_atoms - i0);
    const sn_size cols = SN_MIN((sn_size)GRAM_COLS, n_atoms - j0); /* <= 0 past the atoms */
    if (i0 + GRAM_ROWS <= j0) { /* wholly above the diagonal: whole rows, and the mirror */
        for (sn_size r = 0; r < rows; ++r)
            memcpy(G + (i0 + r) * npad + j0, tile[r], sizeof tile[r]);
        for (sn_size c = 0; c < cols; ++c)
            for (sn_size r = 0; r < rows; ++r)
                G[(j0 + c) * npad + i0 + r] = tile[r][c];
        return;
    }
    for (sn_size r = 0; r < rows; ++r) /* on the diagonal: entry by entry */
        for (sn_size c = 0; c < GRAM_COLS; ++c) {
            const sn_size i = i0 + r, j = j0 + c;
            if (i <= j) G[i * npad + j] = tile[r][c];
            if (i < j && j < n_atoms) G[j * npad + i] = tile[r][c];
        }
}

/* G = D^T D, n_atoms x npad (zero past n_atoms). The tiles on and above the diagonal are computed
 * (half the products), each writing its mirror below; groups of column panels spread over the
 * threads from the longest. Each entry is one fixed sequence of FMAs over the features, so G is
 * the same for every thread count. */
static int K(omp_gram)(int n_threads, sn_size n_features, sn_size n_atoms, const REAL *D, REAL *G)
{
    if (n_atoms == 0) return SN_OK;
    const sn_size npad = sn_omp_row_length(n_atoms);
    const sn_size n_panels = npad / GRAM_COLS; /* npad is a multiple of 32 >= GRAM_COLS */
    const sn_size n_row_blocks = (n_atoms + GRAM_ROWS - 1) / GRAM_ROWS;
    const sn_size row_part = n_row_blocks * GRAM_ROWS * n_features;
    REAL *packed = (REAL *)sn_aligned_alloc((size_t)(row_part + npad * n_features) * sizeof(REAL));
    if (packed == NULL) return SN_ENOMEM;
    REAL *rows_packed = packed, *cols_packed = packed + row_part;
    const sn_size panel_bytes = GRAM_COLS * SN_MAX(n_features, (sn_size)1) * (sn_size)sizeof(REAL);
    const sn_size group = SN_MAX((sn_size)1, ((sn_size)128 << 10) / panel_bytes);
    const sn_size n_groups = (n_panels + group - 1) / group;
    const sn_size work = n_atoms * npad / 2 * SN_MAX(n_features, (sn_size)1);
    const int nt = (int)SN_MIN((sn_size)sn_threads_for(n_threads, work, SN_OMP_GRAIN), n_groups);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
#pragma omp for schedule(static)
        for (sn_size f0 = 0; f0 < n_features; f0 += SN_DTX_PACK_FEATURES)
            K(dtx_pack_panels)(D, n_features, npad, f0,
                               SN_MIN(f0 + SN_DTX_PACK_FEATURES, n_features), cols_packed);
#pragma omp for schedule(static)
        for (sn_size blk = 0; blk < n_row_blocks; ++blk)
            K(omp_pack_rows)(cols_packed, n_features, blk * GRAM_ROWS, n_atoms,
                             rows_packed + blk * GRAM_ROWS * n_features);
#pragma omp for schedule(dynamic, 1)
        for (sn_size q = 0; q < n_groups; ++q) {
            /* a group of column panels (about 128 KiB, L2-resident) against each row block in
             * turn (in L1 while it meets the group's panels): the row blocks, as large as D, are
             * read once per group instead of once per panel. The longest groups first. */
            const sn_size pan0 = (n_groups - 1 - q) * group;
            const sn_size pan1 = SN_MIN(pan0 + group, n_panels);
            const sn_size row_end = SN_MIN(pan1 * GRAM_COLS, n_atoms);
            for (sn_size i0 = 0; i0 < row_end; i0 += GRAM_ROWS)
                for (sn_size pan = pan0; pan < pan1; ++pan) {
                    const sn_size j0 = pan * GRAM_COLS;
                    if (i0 >= j0 + GRAM_COLS) continue; /* below the diagonal */
                    K(omp_gram_tile)(rows_packed + i0 * n_features,
                                     cols_packed + pan * GRAM_COLS * n_features, n_features, i0,
                                     j0, n_atoms, npad, G);
                }
        }
    }
    free(packed);
    return SN_OK;
}

#undef GRAM_ROWS
#undef GRAM_COLS
#undef PANEL
#undef SN_DTX_PACK_FEATURES
#undef SN_DTX_TILE
#undef K
#undef VEC
#undef IVEC
#undef SN_OMP_TRACK
#undef SN_OMP_V512
#undef SN_OMP_CMP_MASK
#undef SN_OMP_MAX
#undef SN_OMP_MOVE_INDEX
#undef SN_OMP_TRACK_BEGIN
#undef SN_OMP_MERGE
#undef VLEN
#undef PROBLEM
#undef SCRATCH
#undef TILE
#undef SN_OMP_TILES
#undef SN_OMP_Q
#undef SN_OMP_AHEAD
