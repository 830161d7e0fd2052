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
#define CSR_VALUES const REAL *
#define CSR_VALUE(v, p) ((v)[p])

#include "csr_segments.h"

/* 32 bytes of REALs: the lanes of block_dot. */
typedef REAL K(lanes) __attribute__((vector_size(32), aligned(sizeof(REAL)), may_alias));
#define LANE(i) xb[col[p + (i)]]
#if REAL_BYTES == 4
#define GATHER_LANES {LANE(0), LANE(1), LANE(2), LANE(3), LANE(4), LANE(5), LANE(6), LANE(7)}
#else
#define GATHER_LANES {LANE(0), LANE(1), LANE(2), LANE(3)}
#endif

/* sum_p val[p] * xb[col[p]] over [p0, p1). The x values are loaded one by one into 32-byte vectors:
 * on Zen 4 that beats hardware gathers from an x in L1 (8192^2 at 10%: 2.2 ms against 2.6 ms with
 * 8-lane gathers, 2.7 ms with 16-lane ones), and GCC does not vectorise 16-bit-indexed loops. */
static inline REAL K(block_dot)(sn_size p0, sn_size p1, const uint16_t *col, const REAL *val,
                                const REAL *xb)
{
    enum { LANES = 32 / REAL_BYTES };
    K(lanes) acc0 = {0}, acc1 = {0};
    sn_size p = p0;
    for (; p + 2 * LANES <= p1;) {
        const K(lanes) x0 = GATHER_LANES;
        acc0 += *(const K(lanes) *)(val + p) * x0;
        p += LANES;
        const K(lanes) x1 = GATHER_LANES;
        acc1 += *(const K(lanes) *)(val + p) * x1;
        p += LANES;
    }
    acc0 += acc1;
    REAL sum = 0;
    for (int j = 0; j < LANES; ++j) sum += acc0[j];
    for (; p < p1; ++p) sum += val[p] * xb[col[p]];
    return sum;
}
#undef LANE
#undef GATHER_LANES

/* Rows [r0, r1) of Y = A X, block after block of columns. */
static void K(blocked_rows)(sn_size r0, sn_size r1, sn_size n_rows, sn_size n_blocks, sn_size width,
                            const sn_size *seg_ptr, const uint16_t *col, const REAL *val, sn_size k,
                            const REAL *X, REAL *Y)
{
    for (sn_size b = 0; b < n_blocks; ++b) {
        const sn_size *seg = seg_ptr + b * (n_rows + 1);
        const REAL *Xb = X + b * width * k;
        if (k > 1) {
            K(gather_rows)(r0, r1, seg, seg + 1, col, val, k, Xb, Y, b > 0, 1);
            continue;
        }
        for (sn_size i = r0; i < r1; ++i) {
            const REAL sum = K(block_dot)(seg[i], seg[i + 1], col, val, Xb);
            Y[i] = b > 0 ? Y[i] + sum : sum;
        }
    }
}

static int K(csr_blocked_matmul)(int n_threads, sn_size n_rows, sn_size n_blocks, sn_size width,
                             const sn_size *row_ptr, const sn_size *seg_ptr, const uint16_t *col,
                             const REAL *val, sn_size k, const REAL *X, REAL *Y)
{
    if (n_rows == 0 || k == 0) return SN_OK;
    if (n_blocks == 0) {
        memset(Y, 0, (size_t)(n_rows * k) * sizeof(REAL));
        return SN_OK;
    }
    const sn_size work = (row_ptr[n_rows] + n_rows * n_blocks) * k;
    const int nt = sn_threads_for(n_threads, work, SN_CSR_GRAIN);
    if (nt == 1) {  /* no parallel region: sparsenet.h, sn_threads_for */
        K(blocked_rows)(0, n_rows, n_rows, n_blocks, width, seg_ptr, col, val, k, X, Y);
        return SN_OK;
    }
#pragma omp parallel num_threads(nt)
    {
        const sn_size team = sn_team_size(), t = sn_thread_id();
        K(blocked_rows)(K(split)(n_rows, row_ptr, t, team), K(split)(n_rows, row_ptr, t + 1, team),
                        n_rows, n_blocks, width, seg_ptr, col, val, k, X, Y);
    }
    return SN_OK;
}

#undef K
#undef VEC
#undef VLEN
#undef COL
#undef CSR_VALUES
#undef CSR_VALUE
