/* Template: Y = A X for A stored in column blocks, the layout sparsenet.CSR.optimize builds.
 *
 * Block b holds the entries of columns [b*width, (b+1)*width), row by row: row i's entries in block
 * b are [seg_ptr[b*(n_rows+1) + i], seg_ptr[b*(n_rows+1) + i + 1]) of col (uint16_t, columns counted
 * from the block's first) and val. Sweeping the matrix one block at a time keeps the block's slice
 * of X in cache (x in L1, a batch's rows in L2), where a plain CSR sweep gathers from all of X.
 * row_ptr[n_rows + 1] counts each row's entries over all blocks (the CSR's indptr), to split rows
 * between threads by work; each row is summed the same way whatever the split.
 *
 * Included through sn_instantiate.h with REAL, REAL_BYTES (its size, for the preprocessor), SFX and
 * INDEX = sn_size (the type of the pointers). The layout is built by sparsenet from a checked CSR;
 * the kernel trusts it. */
#include "csr_tuning.h"

#define COL uint16_t
#define COL_BYTES 2
#define CSR_VALUES const REAL *
#define CSR_VALUE(v, p) ((v)[p])
#define SN_CSR_DEFAULT_VALUES

#include "csr_segments.h"

/* Columns per panel of a column-blocked product whose blocks are `rows` columns of A wide (rows of
 * X), or k for no panels. blocked_rows sweeps every row and block over one panel of X's and Y's
 * columns before the next, so that a block's slice of X stays in L1 (SN_CSR_PANEL_BYTES) where
 * whole rows of X left it in L2 or beyond, and Y's panel stays in L2 across the blocks. Against
 * whole rows, DLMC ResNet-50's optimize()d products (one thread, Zen 4, AVX-512) ran 1.10x faster
 * at 80% and 1.05x at 90% in geometric mean (1.32x and 1.09x on the 784-column layers, 1.14x and
 * 1.07x on the 3136-column ones; the fastest of 7 calls per layer, 4 rounds alternating the
 * builds), and alike at 95% and 98% (0.99-1.0x). Panels are of equal width in whole vectors; none
 * when a slice of 4 vectors does not fit (98%: blocks of 512 columns, where panels of 64 columns
 * cost 2%), or when k is under two panels' width (the extra sweeps then cost what the cache saves:
 * 0.975x on the 196-column layers at 80%). Where L1 takes 4 to 7 vectors and X's rows are wide
 * (k of 4 such panels or more), panels of 8, their slice in L2: each sweep of a row segment (about
 * 13 entries) then does twice the work. DLMC at 90% (blocks of 128 columns): 1.04-1.07x on the
 * 784-column layers, 1.03-1.06x on the 3136-column ones, 1.3x on the 12544-column one (three runs
 * interleaving both in one process); 8 vectors on the 196-column layers cost 4%, and at 95% (a
 * slice of 128 KiB) 5%. */
static inline sn_size K(column_panel)(sn_size k, sn_size rows)
{
    enum { WIDE_PANEL = 8 }; /* vectors */
    sn_size most = (sn_size)SN_CSR_PANEL_BYTES / (rows * sizeof(REAL)) / VLEN; /* vectors in L1 */
    if (most < WIDE_PANEL && k >= 4 * WIDE_PANEL * VLEN
        && rows * WIDE_PANEL * VLEN * sizeof(REAL) <= 2 * (sn_size)SN_CSR_PANEL_BYTES)
        most = WIDE_PANEL;
    most *= VLEN;
    if (most < 4 * VLEN || k < 2 * most) return k;
    const sn_size panels = (k + most - 1) / most;
    return ((k + panels - 1) / panels + VLEN - 1) / VLEN * VLEN;
}

/* Rows [r0, r1) of Y = A X, block after block of columns; a wide X and Y in panels of columns,
 * each panel through every block before the next (column_panel). */
static void K(blocked_rows)(sn_size r0, sn_size r1, sn_size n_rows, sn_size n_blocks, sn_size width,
                            const sn_size *seg_ptr, const uint16_t *col, const REAL *val, sn_size k,
                            sn_size ldx, const REAL *X, REAL *Y)
{
    if (k == 1 && ldx == 1) {
        for (sn_size b = 0; b < n_blocks; ++b) {
            const sn_size *seg = seg_ptr + b * (n_rows + 1);
            const REAL *xb = X + b * width;
            for (sn_size i = r0; i < r1; ++i) {
                const REAL sum = K(dot_segment)(seg[i], seg[i + 1], col, val, xb);
                Y[i] = b > 0 ? Y[i] + sum : sum;
            }
        }
        return;
    }
    const sn_size panel = K(column_panel)(k, width);
    if (panel == k) { /* one panel: gather_rows, which compiles the common widths as constants */
        for (sn_size b = 0; b < n_blocks; ++b) {
            const sn_size *seg = seg_ptr + b * (n_rows + 1);
            K(gather_rows)(r0, r1, seg, seg + 1, col, val, k, ldx, X + b * width * ldx, Y, b > 0,
                           1);
        }
        return;
    }
    /* the first panel also takes the columns before X's rows reach a vector boundary, the last
     * the columns under a vector past the last whole panel */
    const sn_size lead = K(peel_columns)(X, k, ldx);
    for (sn_size c0 = 0, c1; c0 < k; c0 = c1) {
        c1 = SN_MIN(k, c0 + (c0 == 0 ? lead : 0) + panel);
        if (k - c1 < VLEN) c1 = k;
        for (sn_size b = 0; b < n_blocks; ++b)
            K(gather_rows_k)(r0, r1, seg_ptr + b * (n_rows + 1), seg_ptr + b * (n_rows + 1) + 1,
                             col, val, c1 - c0, c0 == 0 ? lead : 0, ldx, k,
                             X + b * width * ldx + c0, Y + c0, b > 0);
    }
}

static int K(csr_blocked_matmul)(int n_threads, sn_size n_rows, sn_size n_blocks, sn_size width,
                             const sn_size *row_ptr, const sn_size *seg_ptr, const uint16_t *col,
                             const REAL *val, sn_size k, sn_size ldx, const REAL *X, REAL *Y)
{
    if (n_rows == 0 || k == 0) return SN_OK;
    if (n_blocks == 0) {
        memset(Y, 0, (size_t)(n_rows * k) * sizeof(REAL));
        return SN_OK;
    }
    const sn_size work = sn_csr_thread_work(row_ptr[n_rows] + n_rows * n_blocks, k);
    const int nt = sn_threads_for(n_threads, work, SN_CSR_GRAIN);
    if (nt == 1) {  /* no parallel region: sparsenet.h, sn_threads_for */
        K(blocked_rows)(0, n_rows, n_rows, n_blocks, width, seg_ptr, col, val, k, ldx, X, Y);
        return SN_OK;
    }
#pragma omp parallel num_threads(nt)
    {
        const sn_size team = sn_team_size(), t = sn_thread_id();
        K(blocked_rows)(K(split)(n_rows, row_ptr, t, team), K(split)(n_rows, row_ptr, t + 1, team),
                        n_rows, n_blocks, width, seg_ptr, col, val, k, ldx, X, Y);
    }
    return SN_OK;
}

#undef K
#undef VEC
#undef VLEN
#undef COL
#undef COL_BYTES
#undef SN_CSR_DEFAULT_VALUES
#undef CSR_VALUES
#undef CSR_VALUE
