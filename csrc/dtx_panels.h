/* Template piece: D^T X for a block of signals, from D packed in panels of atoms. Included by the
 * Batch-OMP and batch LASSO templates (omp_kernels.h, lasso_kernels.h), which define K (names with
 * the instantiation's suffixes), REAL, and VEC / VLEN (GCC vectors of REAL, SN_VBYTES wide). Leaves
 * PANEL, SN_DTX_PACK_FEATURES and SN_DTX_TILE defined; the includer #undefs them. */

/* Atoms per packed panel of D: D's columns j0 .. j0 + PANEL, feature after feature (PANEL
 * contiguous values per feature), as the products with D read them. In place, D's rows are npad
 * apart, a power of two for the usual dictionary sizes, so a product walking down a column of D
 * found every feature in the same L1 set. */
#define PANEL (2 * VLEN)

/* Features f0 .. f1 of every panel: panels[p * PANEL * n_features + f * PANEL + c] =
 * D[f * npad + p * PANEL + c]. Panel after panel, the features' rows of D are read as f1 - f0
 * sequential streams (walking down one panel's column instead, each feature a row further, 8 KiB
 * on, missed the cache at every feature: no prefetcher crosses pages). */
static void K(dtx_pack_panels)(const REAL *restrict D, sn_size n_features, sn_size npad,
                               sn_size f0, sn_size f1, REAL *restrict panels)
{
    for (sn_size j0 = 0; j0 < npad; j0 += PANEL) {
        REAL *out = panels + j0 * n_features;
        for (sn_size f = f0; f < f1; ++f) {
            const REAL *row = D + f * npad + j0;
            *(VEC *)(out + f * PANEL) = *(const VEC *)row;
            *(VEC *)(out + f * PANEL + VLEN) = *(const VEC *)(row + VLEN);
        }
    }
}

/* Features per chunk of dtx_pack_panels. */
#define SN_DTX_PACK_FEATURES 8

/* Signals per register tile of dtx_correlate: 6 signals by one panel (2 vectors) is 12
 * accumulators, beside the panel's 2 vectors and a broadcast in AVX2's 16 registers. Every FMA's
 * result is needed again only 6 FMAs later per vector pipe, past its latency (with 4 signals, 8
 * accumulators, the two 4-cycle FMA pipes of Zen 3 had no slack: 67% of its peak). */
#define SN_DTX_TILE 6

/* out[j * npad + 0 .. PANEL) = the panel's atoms times signal j, for the w signals at x (the next
 * signal `next` REALs on, the next feature `step` on); w a constant, so the tile stays in registers.
 * Each entry is one FMA chain over the features in order, whatever w. */
static inline __attribute__((always_inline)) void K(dtx_tile)(
    const int w, sn_size nf, const REAL *restrict x, sn_size step, sn_size next,
    const REAL *restrict P, sn_size npad, REAL *restrict out)
{
    VEC c[SN_DTX_TILE][2];
    for (int j = 0; j < w; ++j)
        c[j][0] = c[j][1] = (VEC){0};
    for (sn_size f = 0; f < nf; ++f) {
        const VEC d0 = *(const VEC *)(P + f * PANEL);
        const VEC d1 = *(const VEC *)(P + f * PANEL + VLEN);
        for (int j = 0; j < w; ++j) {
            const REAL v = x[(sn_size)j * next + f * step];
            c[j][0] += v * d0;
            c[j][1] += v * d1;
        }
    }
    for (int j = 0; j < w; ++j) {
        *(VEC *)(out + j * npad) = c[j][0];
        *(VEC *)(out + j * npad + VLEN) = c[j][1];
    }
}

/* block[j * npad + a] = (D^T X)[a, j0 + j] for j < nb (X: feature f of signal j at
 * X[f * x_ld + j], or X[j * x_ld + f] when x_signal_major): register tiles of one panel of atoms
 * (from the packed `panels` of D) by SN_DTX_TILE signals, then narrower ones for the rest of the
 * block, run over the features, the panel staying in L1. */
static void K(dtx_correlate)(sn_size nf, const REAL *restrict X, sn_size x_ld, int x_signal_major,
                             const REAL *restrict panels, sn_size npad, sn_size j0, sn_size nb,
                             REAL *restrict block)
{
    const sn_size step = x_signal_major ? 1 : x_ld; /* next feature */
    const sn_size next = x_signal_major ? x_ld : 1; /* next signal */
    X += j0 * next;
    for (sn_size a = 0; a < npad; a += PANEL) {
        const REAL *restrict P = panels + a * nf;
        sn_size j = 0;
        for (; j + SN_DTX_TILE <= nb; j += SN_DTX_TILE)
            K(dtx_tile)(SN_DTX_TILE, nf, X + j * next, step, next, P, npad, block + j * npad + a);
        if (nb - j >= 4) {
            K(dtx_tile)(4, nf, X + j * next, step, next, P, npad, block + j * npad + a);
            j += 4;
        }
        if (nb - j >= 2) {
            K(dtx_tile)(2, nf, X + j * next, step, next, P, npad, block + j * npad + a);
            j += 2;
        }
        if (j < nb)
            K(dtx_tile)(1, nf, X + j * next, step, next, P, npad, block + j * npad + a);
    }
}
