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

/* Rows [r0, r1) of Y = A X, block after block of columns; a wide X and Y in panels of `panel`
 * columns (blocked_panel), each panel through every block before the next. */
static void K(blocked_rows)(sn_size r0, sn_size r1, sn_size n_rows, sn_size n_blocks, sn_size width,
                            const sn_size *seg_ptr, const uint16_t *col, const REAL *val, sn_size k,
                            sn_size ldx, const REAL *X, REAL *Y, sn_size panel)
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
    if (panel == k) { /* one panel: gather_rows, which compiles the common widths as constants */
        const int ahead = sn_csr_prefetches(width, k, sizeof(REAL));
        for (sn_size b = 0; b < n_blocks; ++b) {
            const sn_size *seg = seg_ptr + b * (n_rows + 1);
            K(gather_rows)(r0, r1, seg, seg + 1, col, val, k, ldx, X + b * width * ldx, Y, b > 0,
                           1, ahead);
        }
        return;
    }
    K(gather_panels)(r0, r1, n_blocks, seg_ptr, n_rows + 1, col, val, k, ldx, X, width * ldx, Y,
                     panel);
}

/* The plain kernel's panels (plain_panel) at this level: the tests ask it which of their products
 * take panels. */
static int K(csr_panel_columns)(sn_size n_rows, sn_size n_cols, sn_size nnz, sn_size k,
                                sn_size *panel)
{
    *panel = K(plain_panel)(n_rows, n_cols, nnz, k);
    return SN_OK;
}

/* Columns per panel of A X for A in n_blocks blocks of `width` columns with nnz entries
 * (column_panel), or k for none. One block is the plain kernel's sweep from 16-bit columns and
 * takes panels where that kernel would (plain_panel: not for rows of under
 * SN_CSR_PANEL_MIN_ENTRIES entries), so that optimize() making one block of a matrix changes
 * neither the panels nor the bits of its products; narrower blocks have rows of MIN_SEGMENT
 * entries a block or more (_csr_blocks.py). */
static inline sn_size K(blocked_panel)(sn_size n_rows, sn_size n_blocks, sn_size width, sn_size nnz,
                                       sn_size k)
{
    return n_blocks == 1 ? K(plain_panel)(n_rows, width, nnz, k) : K(column_panel)(k, width);
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
    const sn_size panel = K(blocked_panel)(n_rows, n_blocks, width, row_ptr[n_rows], k);
    if (nt == 1) {  /* no parallel region: sparsenet.h, sn_threads_for */
        K(blocked_rows)(0, n_rows, n_rows, n_blocks, width, seg_ptr, col, val, k, ldx, X, Y,
                        panel);
        return SN_OK;
    }
#pragma omp parallel num_threads(nt)
    {
        const sn_size team = sn_team_size(), t = sn_thread_id();
        K(blocked_rows)(K(split)(n_rows, row_ptr, t, team), K(split)(n_rows, row_ptr, t + 1, team),
                        n_rows, n_blocks, width, seg_ptr, col, val, k, ldx, X, Y, panel);
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
