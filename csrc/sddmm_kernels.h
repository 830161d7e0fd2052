/* Template: the sampled dense-dense product (SDDMM) over the pattern of a CSR matrix,
 *
 *     out[pos[p]] = dot(A[i, :], B[indices[p], :])   for every stored entry p of every row i,
 *
 * A (n_rows x k) and B (n_cols x k) dense, C order; pos the identity when NULL. It is the gradient
 * of a sparse layer's stored values (A = dL/dY^T, B = X^T), computed without the dense n_rows x
 * n_cols product. With pos, the caller passes a pattern's transpose (its columns as rows, pos each
 * entry's place in the pattern) and swaps A and B: the product then re-reads A's rows where B's
 * were, for a B that does not fit L2 beside an A that does (an entry's value is the same: its
 * products and their sum do not depend on which operand is which).
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

/* The integer vector of VEC's shape (int32 lanes for float, int64 for double): shuffle masks. */
typedef __typeof__((VEC){0} < (VEC){0}) K(sddmm_ivec);
#define IVEC K(sddmm_ivec)

/* The lanes of x then y picked by mask (mask values >= VLEN pick from y). */
static inline __attribute__((always_inline)) VEC K(sddmm_shuffle)(VEC x, VEC y, IVEC mask)
{
#if defined(__clang__) /* no __builtin_shuffle; the unrolled lane copies become shuffles */
    VEC r;
    for (sn_size i = 0; i < VLEN; ++i)
        r[i] = mask[i] < (sn_size)VLEN ? x[mask[i]] : y[mask[i] - VLEN];
    return r;
#else
    return __builtin_shuffle(x, y, mask);
#endif
}

/* Lane w < n of the result: the sum of the lanes of v[w] (n a power of two <= VLEN; clobbers v).
 * A transpose-and-add network: step s adds the lanes s apart of pairs of vectors into one, then
 * the groups of n lanes left are folded. For 8 sums of 8 lanes, 21 shuffles and adds and one
 * vector of results, where a scalar tree per entry took a store and 7 adds each. Every lane's sum
 * has the same tree whichever w, so an entry's value does not depend on its place in a tile. The
 * masks are vector expressions of the constant lanes[]: they fold to constants once inlined. */
static inline __attribute__((always_inline)) VEC K(sddmm_lane_sums)(VEC *v, const int n)
{
    static const int lanes[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const int vlen = (int)VLEN;
    IVEC i;
    for (int l = 0; l < vlen; ++l) i[l] = lanes[l];
    for (int s = 1; s < n; s *= 2) {
        const IVEC odd = (i / s) % 2 != 0; /* all ones in the lanes taken from the second vector */
        const IVEC lo = i + (odd & (vlen - s)), hi = i + (odd & vlen) + (~odd & s);
        for (int j = 0; j < n / (2 * s); ++j)
            v[j] = K(sddmm_shuffle)(v[2 * j], v[2 * j + 1], lo)
                   + K(sddmm_shuffle)(v[2 * j], v[2 * j + 1], hi);
    }
    VEC r = v[0];
    for (int s = vlen / 2; s >= n; s /= 2) r += K(sddmm_shuffle)(r, r, (i + s) % vlen);
    return r;
}

/* out[p + w] = dot(a, B[indices[p + w]]) for w < n <= SN_SDDMM_WAYS: a's vectors loaded once for
 * 8 rows of B (on issue 13's workload, 4 rows with two sums each were 1-8% slower than 8 rows
 * with one, 16 rows 19-27%). Each entry is summed in SN_SDDMM_SUMS registers: two with AVX-512's
 * 32 (the row's even and odd vectors), 16 FMA chains half as long as 8, since a tile waited on its
 * chains rather than on the FMA pipes (1.3-1.5x on that workload's twelve matrices, k = 128); one
 * with AVX2's 16, where the second 8 sums spill (3% slower).
 * Ways past n repeat entry p, whose row is in L1 by then: a row's last tile costs a full tile's
 * FMAs (4-5% of them on that workload) but no branch per entry, and every entry takes one path. */
#define SN_SDDMM_WAYS 8
#define SN_SDDMM_SUMS (SN_VBYTES == 64 ? 2 : 1)
static inline __attribute__((always_inline)) void K(sddmm_tile)(
    const REAL *a, const REAL *B, const INDEX *indices, sn_size p, sn_size n, sn_size k,
    const INDEX *pos, REAL *out)
{
    enum { WAYS = SN_SDDMM_WAYS, SUMS = SN_SDDMM_SUMS };
    const int group = (int)SN_MIN(VLEN, (sn_size)WAYS); /* sums per vector of results */
    const REAL *b[WAYS];
    VEC acc[SUMS][WAYS];
    for (int w = 0; w < WAYS; ++w) {
        b[w] = B + (sn_size)indices[p + (w < n ? w : 0)] * k;
        for (int s = 0; s < SUMS; ++s) acc[s][w] = (VEC){0};
    }
    sn_size c = 0;
    for (; c + SUMS * VLEN <= k; c += SUMS * VLEN)
        for (int s = 0; s < SUMS; ++s) {
            const VEC av = *(const VEC *)(a + c + s * VLEN);
            for (int w = 0; w < WAYS; ++w) acc[s][w] += av * *(const VEC *)(b[w] + c + s * VLEN);
        }
    for (; c + VLEN <= k; c += VLEN) {
        const VEC av = *(const VEC *)(a + c);
        for (int w = 0; w < WAYS; ++w) acc[0][w] += av * *(const VEC *)(b[w] + c);
    }
    for (int s = 1; s < SUMS; ++s) /* + 0 when k < 2 VLEN: a sum begun at +0 is never -0 */
        for (int w = 0; w < WAYS; ++w) acc[0][w] += acc[s][w];
    for (int g = 0; g < WAYS; g += group) {
        const VEC sums = K(sddmm_lane_sums)(acc[0] + g, group);
        if (c == k && n == WAYS && pos == NULL) { /* a full tile and no scalar tail: one store */
            memcpy(out + p + g, &sums, (size_t)group * sizeof(REAL));
            continue;
        }
        for (int w = g; w < g + group && w < n; ++w) {
            REAL sum = sums[w - g];
            for (sn_size t = c; t < k; ++t) sum += a[t] * b[w][t];
            out[pos == NULL ? p + w : (sn_size)pos[p + w]] = sum;
        }
    }
}

/* The entries of rows [r0, r1). */
static inline __attribute__((always_inline)) void K(sddmm_rows_k)(
    sn_size r0, sn_size r1, const INDEX *indptr, const INDEX *indices, sn_size k, const REAL *A,
    const REAL *B, const INDEX *pos, REAL *out)
{
    for (sn_size i = r0; i < r1; ++i) {
        const REAL *a = A + i * k;
        const sn_size end = indptr[i + 1];
        for (sn_size p = indptr[i]; p < end; p += SN_SDDMM_WAYS)
            K(sddmm_tile)(a, B, indices, p, SN_MIN(end - p, (sn_size)SN_SDDMM_WAYS), k, pos, out);
    }
}

/* The same for any k; the common batch widths as compile-time constants, so the loop over a row's
 * vectors is unrolled and B's row offsets are shifts: 6-8% of issue 13's workload at k = 128
 * (20% with B's rows in L1). */
static void K(sddmm_rows)(sn_size r0, sn_size r1, const INDEX *indptr, const INDEX *indices,
                          sn_size k, const REAL *A, const REAL *B, const INDEX *pos, REAL *out)
{
    if (k < VLEN) { /* too short for vectors: plain dots */
        for (sn_size i = r0; i < r1; ++i)
            for (sn_size p = indptr[i]; p < indptr[i + 1]; ++p) {
                const REAL *a = A + i * k, *b = B + (sn_size)indices[p] * k;
                REAL sum = 0;
                for (sn_size t = 0; t < k; ++t) sum += a[t] * b[t];
                out[pos == NULL ? p : (sn_size)pos[p]] = sum;
            }
        return;
    }
    switch (k) {
    case 16: K(sddmm_rows_k)(r0, r1, indptr, indices, 16, A, B, pos, out); break;
    case 32: K(sddmm_rows_k)(r0, r1, indptr, indices, 32, A, B, pos, out); break;
    case 64: K(sddmm_rows_k)(r0, r1, indptr, indices, 64, A, B, pos, out); break;
    case 128: K(sddmm_rows_k)(r0, r1, indptr, indices, 128, A, B, pos, out); break;
    default: K(sddmm_rows_k)(r0, r1, indptr, indices, k, A, B, pos, out); break;
    }
}

static int K(sddmm)(int n_threads, sn_size n_rows, const INDEX *indptr, const INDEX *indices,
                    sn_size k, const REAL *A, const REAL *B, const INDEX *pos, REAL *out)
{
    if (n_rows == 0) return SN_OK;
    const int nt = sn_threads_for(n_threads, ((sn_size)indptr[n_rows] + n_rows) * SN_MAX(k, 1),
                                  SN_CSR_GRAIN);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const sn_size team = sn_team_size(), t = sn_thread_id();
        K(sddmm_rows)(K(split)(n_rows, indptr, t, team), K(split)(n_rows, indptr, t + 1, team),
                      indptr, indices, k, A, B, pos, out);
    }
    return SN_OK;
}

#undef IVEC
#undef SN_SDDMM_WAYS
#undef SN_SDDMM_SUMS
#undef K
#undef VEC
#undef VLEN
#undef COL
#undef CSR_VALUES
#undef CSR_VALUE
