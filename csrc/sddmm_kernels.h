/* Template: the sampled dense-dense product (SDDMM) over the pattern of a CSR matrix,
 *
 *     out[p] = dot(A[i, :], B[indices[p], :])   for every stored entry p of every row i,
 *
 * A (n_rows x k) and B (n_cols x k) dense, C order. It is the gradient of a sparse layer's stored
 * values (A = dL/dY^T, B = X^T), computed without the dense n_rows x n_cols product.
 *
 * Included through sn_instantiate.h for every type combination and ISA level, with
 *   REAL   value type          INDEX  index type of indptr and indices
 *   SFX    type suffix (f32_i32, ...)   ISA, SN_VBYTES  level name and vector width (sn_instantiate.h)
 * Rows are split between threads by nnz (csr_segments.h); every entry is summed by one thread in a
 * fixed order, so the result does not depend on the thread count. */
#include <string.h>

#include "csr_tuning.h"

#define COL INDEX
#define CSR_VALUES const REAL *
#define CSR_VALUE(v, p) ((v)[p])
/* Only K(split), K, VEC and VLEN are used here: the CSR products' other row primitives stay unused. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "csr_segments.h"
#pragma GCC diagnostic pop

/* Sum of the lanes of v, pairwise (a tree of depth log2(VLEN), not a chain of VLEN dependent adds:
 * the chain cost more than the dot itself at k = 128). */
static inline REAL K(sddmm_hsum)(VEC v)
{
    REAL lanes[VLEN];
    memcpy(lanes, &v, sizeof lanes);
    for (int width = (int)VLEN / 2; width >= 1; width /= 2)
        for (int l = 0; l < width; ++l) lanes[l] += lanes[l + width];
    return lanes[0];
}

/* out[p + w] = dot(a, B[indices[p + w]]) for w < ways (ways is a constant wherever this is inlined):
 * a's vectors are loaded once for `ways` rows of B, each summed in its own registers. */
static inline __attribute__((always_inline)) void K(sddmm_tile)(
    const REAL *a, const REAL *B, const INDEX *indices, sn_size p, sn_size k, REAL *out,
    const int ways)
{
    enum { MAX_WAYS = 4 };
    const REAL *b[MAX_WAYS];
    VEC acc[MAX_WAYS][2];
    for (int w = 0; w < ways; ++w) {
        b[w] = B + (sn_size)indices[p + w] * k;
        acc[w][0] = acc[w][1] = (VEC){0};
    }
    sn_size c = 0;
    for (; c + 2 * VLEN <= k; c += 2 * VLEN) {
        const VEC a0 = *(const VEC *)(a + c), a1 = *(const VEC *)(a + c + VLEN);
        for (int w = 0; w < ways; ++w) {
            acc[w][0] += a0 * *(const VEC *)(b[w] + c);
            acc[w][1] += a1 * *(const VEC *)(b[w] + c + VLEN);
        }
    }
    if (c + VLEN <= k) {
        const VEC a0 = *(const VEC *)(a + c);
        for (int w = 0; w < ways; ++w) acc[w][0] += a0 * *(const VEC *)(b[w] + c);
        c += VLEN;
    }
    for (int w = 0; w < ways; ++w) {
        REAL sum = K(sddmm_hsum)(acc[w][0] + acc[w][1]);
        for (sn_size t = c; t < k; ++t) sum += a[t] * b[w][t];
        out[p + w] = sum;
    }
}

/* The entries of rows [r0, r1). */
static void K(sddmm_rows)(sn_size r0, sn_size r1, const INDEX *indptr, const INDEX *indices,
                          sn_size k, const REAL *A, const REAL *B, REAL *out)
{
    for (sn_size i = r0; i < r1; ++i) {
        const REAL *a = A + i * k;
        const sn_size end = indptr[i + 1];
        sn_size p = indptr[i];
        if (k < VLEN) { /* too short for vectors: plain dots */
            for (; p < end; ++p) {
                const REAL *b = B + (sn_size)indices[p] * k;
                REAL sum = 0;
                for (sn_size t = 0; t < k; ++t) sum += a[t] * b[t];
                out[p] = sum;
            }
            continue;
        }
        for (; p + 4 <= end; p += 4) K(sddmm_tile)(a, B, indices, p, k, out, 4);
        for (; p < end; ++p) K(sddmm_tile)(a, B, indices, p, k, out, 1);
    }
}

static int K(sddmm)(int n_threads, sn_size n_rows, const INDEX *indptr, const INDEX *indices,
                    sn_size k, const REAL *A, const REAL *B, REAL *out)
{
    if (n_rows == 0) return SN_OK;
    const int nt = sn_threads_for(n_threads, ((sn_size)indptr[n_rows] + n_rows) * SN_MAX(k, 1),
                                  SN_CSR_GRAIN);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const sn_size team = sn_team_size(), t = sn_thread_id();
        K(sddmm_rows)(K(split)(n_rows, indptr, t, team), K(split)(n_rows, indptr, t + 1, team),
                      indptr, indices, k, A, B, out);
    }
    return SN_OK;
}

#undef K
#undef VEC
#undef VLEN
#undef COL
#undef CSR_VALUES
#undef CSR_VALUE
