/* Template piece: D^T X for a block of signals, from D packed in panels of atoms. Included by the
 * Batch-OMP and batch LASSO templates (omp_kernels.h, lasso_kernels.h), which define K (names with
 * the instantiation's suffixes), REAL, and VEC / VLEN (GCC vectors of REAL, SN_VBYTES wide). Leaves
 * PANEL and SN_DTX_PACK_FEATURES defined for the includer's own use; the includer #undefs them. */

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

/* block[j * npad + a] = (D^T X)[a, j0 + j] for j < nb (X: feature f of signal j at
 * X[f * x_ld + j], or X[j * x_ld + f] when x_signal_major): a register tile of one panel of atoms (2
 * vectors, from the packed `panels` of D) by 4 signals (8 accumulators) runs over the features, the
 * panel staying in L1. */
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
        for (; j + 4 <= nb; j += 4) {
            const REAL *x0 = X + j * next, *x1 = x0 + next, *x2 = x1 + next, *x3 = x2 + next;
            VEC c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
            for (sn_size f = 0; f < nf; ++f) {
                const VEC d0 = *(const VEC *)(P + f * PANEL);
                const VEC d1 = *(const VEC *)(P + f * PANEL + VLEN);
                const REAL v0 = x0[f * step], v1 = x1[f * step], v2 = x2[f * step], v3 = x3[f * step];
                c00 += v0 * d0;
                c01 += v0 * d1;
                c10 += v1 * d0;
                c11 += v1 * d1;
                c20 += v2 * d0;
                c21 += v2 * d1;
                c30 += v3 * d0;
                c31 += v3 * d1;
            }
            REAL *out = block + j * npad + a;
            *(VEC *)out = c00;
            *(VEC *)(out + VLEN) = c01;
            *(VEC *)(out + npad) = c10;
            *(VEC *)(out + npad + VLEN) = c11;
            *(VEC *)(out + 2 * npad) = c20;
            *(VEC *)(out + 2 * npad + VLEN) = c21;
            *(VEC *)(out + 3 * npad) = c30;
            *(VEC *)(out + 3 * npad + VLEN) = c31;
        }
        for (; j < nb; ++j) {
            const REAL *x0 = X + j * next;
            VEC c00 = {0}, c01 = {0};
            for (sn_size f = 0; f < nf; ++f) {
                const REAL v0 = x0[f * step];
                c00 += v0 * *(const VEC *)(P + f * PANEL);
                c01 += v0 * *(const VEC *)(P + f * PANEL + VLEN);
            }
            *(VEC *)(block + j * npad + a) = c00;
            *(VEC *)(block + j * npad + a + VLEN) = c01;
        }
    }
}
