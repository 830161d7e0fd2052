/* Template: CSR products Y = A X and Y = A^T X (X with k columns, C order; k = 1 is the vector case).
 *
 * Included through sn_instantiate.h for every type combination and ISA level, with
 *   REAL   value type          INDEX  index type of indptr and indices
 *   SFX    type suffix (f32_i32, ...)   ISA, SN_VBYTES  level name and vector width (sn_instantiate.h)
 *   CSR_VALUES, CSR_VALUE(v, p)  optional: how the stored values are passed and how value p is read.
 *          By default the values themselves (const REAL *, v[p]); shared.c passes codes into a
 *          codebook instead (pruned-and-shared CSR), and that is the only difference.
 *   CSR_CODE  with coded values: the code type; adds the entry point's shared_csr_matmul.
 * Every function writes its whole output; none reads memory the caller did not validate. */
#include "csr_tuning.h"

#define COL INDEX
#ifdef INDEX_BYTES
#define COL_BYTES INDEX_BYTES
#endif

#ifndef CSR_VALUES
#define CSR_VALUES const REAL *
#define CSR_VALUE(v, p) ((v)[p])
#define SN_CSR_DEFAULT_VALUES
#endif

#include "csr_segments.h"

/* ---- scattering one row segment (transposed products) --------------------------------------------- */

/* Y[indices[p], c : c + nv*VLEN] += CSR_VALUE(data, p) * xi[c : c + nv*VLEN]; xi's tile stays in registers. */
static inline __attribute__((always_inline)) void K(scatter_tile)(
    sn_size p0, sn_size p1, const INDEX *indices, CSR_VALUES data, sn_size k, const REAL *xi,
    REAL *Y, sn_size c, const int nv)
{
    VEC xv[4];
    for (int j = 0; j < nv; ++j) xv[j] = ((const VEC *)(xi + c))[j];
    for (sn_size p = p0; p < p1; ++p) {
        const REAL v = CSR_VALUE(data, p);
        VEC *yr = (VEC *)(Y + (sn_size)indices[p] * k + c);
        for (int j = 0; j < nv; ++j) yr[j] += v * xv[j];
    }
}

/* a * b + c, rounded once where the level has FMA (x86's avx2 and up, every AArch64 CPU), else
 * twice, spelled out: clang may fuse a multiply-add written in C in one inlined copy of a function
 * and split it in another (it vectorised the unrolled scatter below when unchecked), and the
 * checked and trusted products must give the same bits. */
static inline __attribute__((always_inline)) REAL K(madd)(REAL a, REAL b, REAL c)
{
#if !SN_X86_DISPATCH || SN_VBYTES >= 32
    if (sizeof(REAL) == 4) return __builtin_fmaf((float)a, (float)b, (float)c);
    return __builtin_fma(a, b, c);
#else
    return a * b + c; /* no FMA instruction: the compilers do not fuse */
#endif
}

/* y[indices[p]] += CSR_VALUE(data, p) * v for the segment's entries, unrolled by hand four at a
 * time, the updates in order (an index may repeat): GCC kept the one-entry loop as it was, and the
 * unrolled one ran 1.25-1.5x faster (8192^2 at 1% and 10%, a C model, Xeon). With
 * `checked` (a constant where inlined), the four indices are compared with `last` before any of
 * them is used, in the registers the stores then use (four_outside, csr_segments.h); 0 at the first
 * bad index (entries before it may be added: the caller's y is garbage then), else 1. */
static inline __attribute__((always_inline)) int K(scatter_vector)(
    sn_size p0, sn_size p1, const INDEX *indices, CSR_VALUES data, REAL v, REAL *y,
    const int checked, INDEX last)
{
    sn_size p = p0;
    for (; p + 4 <= p1; p += 4) {
        INDEX c0 = indices[p], c1 = indices[p + 1], c2 = indices[p + 2], c3 = indices[p + 3];
        if (checked && K(four_outside)(&c0, &c1, &c2, &c3, last)) return 0;
        y[c0] = K(madd)(CSR_VALUE(data, p), v, y[c0]);
        y[c1] = K(madd)(CSR_VALUE(data, p + 1), v, y[c1]);
        y[c2] = K(madd)(CSR_VALUE(data, p + 2), v, y[c2]);
        y[c3] = K(madd)(CSR_VALUE(data, p + 3), v, y[c3]);
    }
    for (; p < p1; ++p) {
        INDEX c = indices[p];
        if (checked && K(column_outside)(&c, last)) return 0;
        y[c] = K(madd)(CSR_VALUE(data, p), v, y[c]);
    }
    return 1;
}

#ifdef SN_CSR_DEFAULT_VALUES
/* scatter_vector with every index checked, as a function of its own: clang compiles the body of an
 * OpenMP region as a function without the level's target attributes, so scatter_vector inlined
 * there had no FMA instruction (a call to fmaf per entry). */
static int K(scatter_vector_checked)(sn_size p0, sn_size p1, const INDEX *indices, const REAL *data,
                                     REAL v, REAL *y, INDEX last)
{
    return K(scatter_vector)(p0, p1, indices, data, v, y, 1, last);
}
#endif

/* Y[indices[p], :] += CSR_VALUE(data, p) * xi[:] for the segment's entries. */
static void K(scatter_segment)(sn_size p0, sn_size p1, const INDEX *indices, CSR_VALUES data,
                               sn_size k, const REAL *xi, REAL *Y)
{
    if (k == 1) {
        K(scatter_vector)(p0, p1, indices, data, xi[0], Y, 0, 0);
        return;
    }
    sn_size c = 0;
    for (; c + 4 * VLEN <= k; c += 4 * VLEN) K(scatter_tile)(p0, p1, indices, data, k, xi, Y, c, 4);
    for (; c + VLEN <= k; c += VLEN) K(scatter_tile)(p0, p1, indices, data, k, xi, Y, c, 1);
    for (; c < k; ++c)
        for (sn_size p = p0; p < p1; ++p)
            Y[(sn_size)indices[p] * k + c] += CSR_VALUE(data, p) * xi[c];
}

/* ---- tiling for rows with sorted column indices ------------------------------------------------- */

/* Columns per block of A^T X by column ownership: Y's rows of one block stay in L2 while a panel of
 * A is swept. 0 when ownership does not pay: rows unsorted, row segments per block shorter than
 * SN_CSR_MIN_SEGMENT entries on average, or a vector (k = 1), whose scatter into private buffers is
 * faster than sweeping row segments (measured on Zen 4: 6.5 ms against 8.7 ms at 8192^2, 10%). */
static sn_size K(owner_block)(int sorted_rows, sn_size n_rows, sn_size n_cols, sn_size nnz,
                              sn_size k)
{
    if (!sorted_rows || n_rows == 0 || k == 1) return 0;
    const sn_size block = SN_MAX((sn_size)1, SN_CSR_L2_BLOCK / (k * (sn_size)sizeof(REAL)));
    if (block < n_cols && nnz / n_rows * block < SN_CSR_MIN_SEGMENT * n_cols) return 0;
    return block;
}

/* End of the panel of rows starting at r: about SN_CSR_PANEL_NNZ entries, so the panel stays in L3
 * while it is swept once per column block; at least one row. */
static sn_size K(panel_end)(sn_size r, sn_size r1, const INDEX *indptr)
{
    const sn_size limit = (sn_size)indptr[r] + SN_CSR_PANEL_NNZ;
    sn_size lo = r + 1, hi = r1; /* last row end e in [r+1, r1] with indptr[e] <= limit */
    while (lo < hi) {
        const sn_size mid = hi - (hi - lo) / 2;
        if ((sn_size)indptr[mid] <= limit)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* First entry at or after p (in a sorted row ending at end) whose column is >= col. */
static inline sn_size K(segment_end)(sn_size p, sn_size end, const INDEX *indices, sn_size col)
{
    while (p + 32 <= end && (sn_size)indices[p + 31] < col) p += 32;
    while (p < end && (sn_size)indices[p] < col) ++p;
    return p;
}

/* Y = A^T X for sorted rows, by thread `t` of `team`: the thread owns a contiguous range of column
 * blocks (rows of Y), zeroes it, and adds every row's entries in that range in row order, so Y does
 * not depend on the team size or the block size. Panels of rows are swept once per block, so the
 * block's rows of Y stay in cache. cursor[0:n_rows] is this thread's scratch. */
static void K(matmul_t_owned)(int t, int team, sn_size block, sn_size n_rows, sn_size n_cols,
                              const INDEX *indptr, const INDEX *indices, CSR_VALUES data,
                              sn_size k, const REAL *X, REAL *Y, sn_size *cursor)
{
    const sn_size n_blocks = (n_cols + block - 1) / block;
    const sn_size b0 = n_blocks * t / team, b1 = n_blocks * (t + 1) / team;
    if (b0 == b1) return;
    const sn_size col0 = b0 * block, col1 = SN_MIN(n_cols, b1 * block);
    memset(Y + col0 * k, 0, (size_t)((col1 - col0) * k) * sizeof(REAL));
    for (sn_size ps = 0; ps < n_rows;) {
        const sn_size pe = K(panel_end)(ps, n_rows, indptr);
        for (sn_size i = ps; i < pe; ++i)
            cursor[i] = K(segment_end)(indptr[i], indptr[i + 1], indices, col0);
        for (sn_size b = b0; b < b1; ++b) {
            const sn_size bend = SN_MIN(n_cols, (b + 1) * block);
            for (sn_size i = ps; i < pe; ++i) {
                const sn_size p = cursor[i];
                const sn_size e = K(segment_end)(p, indptr[i + 1], indices, bend);
                K(scatter_segment)(p, e, indices, data, k, X + i * k, Y);
                cursor[i] = e;
            }
        }
        ps = pe;
    }
}

/* ---- one vector of at most 128 floats, held in registers ------------------------------------------ */

#undef SN_CSR_X_TABLES /* this template is instantiated once per type and level */
#undef SN_CSR_X_REGISTERS
#if SN_VBYTES == 64 && defined(SN_CSR_DEFAULT_VALUES) && defined(REAL_BYTES) && REAL_BYTES == 4
#define SN_CSR_X_TABLES 8 /* the most registers x takes (16: 1024 x 256 at 90% 9.8 -> 10.5 us) */
#define SN_CSR_X_REGISTERS (16 * SN_CSR_X_TABLES) /* the most columns */
/* The 16 lanes' columns of entries [p, p + 16) under `mask` (0 in the others), as 32-bit lanes;
 * with `checked`, 1 in *bad when one taken as unsigned is past `last` (a negative index is a large
 * one), compared in the register that is then used (the empty asm, as in gather_dot_hw). */
static inline __attribute__((always_inline)) __m512i K(lane_columns)(
    const INDEX *indices, sn_size p, __mmask16 mask, const int checked, INDEX last, int *bad)
{
#if INDEX_BYTES == 4
    __m512i ix = _mm512_maskz_loadu_epi32(mask, indices + p);
    if (checked) {
        __asm__("" : "+v"(ix));
        *bad = _mm512_cmpgt_epu32_mask(ix, _mm512_set1_epi32((int)last)) != 0;
    }
    return ix;
#else
    __m512i lo = _mm512_maskz_loadu_epi64((__mmask8)mask, indices + p);
    __m512i hi = _mm512_maskz_loadu_epi64((__mmask8)(mask >> 8), indices + p + 8);
    if (checked) { /* before narrowing: a large index must not wrap into range */
        __asm__("" : "+v"(lo), "+v"(hi));
        const __m512i top = _mm512_set1_epi64((long long)last);
        *bad = (_mm512_cmpgt_epu64_mask(lo, top) | _mm512_cmpgt_epu64_mask(hi, top)) != 0;
    }
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(lo)),
                              _mm512_cvtepi64_epi32(hi), 1);
#endif
}

static inline INDEX K(last_column)(sn_size n_cols); /* the checked products', below */
static inline int K(row_range)(const INDEX *indptr, sn_size i, sn_size nnz, sn_size *p0,
                               sn_size *p1);

/* y[i] = row i of A times x for rows [r0, r1), x of 0 < n_cols <= 16 * tables floats (tables =
 * 2, 4 or 8, a constant where inlined) held in registers: each 16 entries of a row look their x up
 * by two-table permutes (vpermt2ps) and a blend per further bit of the column, where gather_dot
 * takes two loads an entry. DLMC ResNet-50 at 90%, N=1, Zen 4: 256 x 64 1.53 -> 1.22 us, 512 x 128
 * 3.42 -> 2.96 us, geometric mean of the 54 layers 1.47x -> 1.52x dense GEMV; a transpose-and-add
 * network over 16 rows' sums in place of each row's reduction measured the same. The entries of a
 * row add in lane order into one vector (a masked FMA: lanes past the row's end keep their sum, so
 * an inf or NaN in x reaches only the rows that store its column), then the vector's lanes in a
 * fixed tree: the same bits for every thread count, checked or not. With `checked` (a constant),
 * the rows' pointers (row_range) and every vector of columns are checked before they are used;
 * the first bad row is returned, else r1. */
static inline __attribute__((always_inline)) sn_size K(dot_rows_x_registers)(
    sn_size r0, sn_size r1, sn_size n_cols, sn_size nnz, const INDEX *indptr, const INDEX *indices,
    const REAL *data, const REAL *x, REAL *y, const int tables, const int checked)
{
    __m512 table[SN_CSR_X_TABLES];
    for (int j = 0; j < tables; ++j) { /* columns past n_cols read as 0 and are never looked up */
        const sn_size left = n_cols - 16 * j;
        table[j] = left <= 0 ? _mm512_setzero_ps()
                   : _mm512_maskz_loadu_ps(left >= 16 ? (__mmask16)0xffff
                                                      : (__mmask16)((1u << left) - 1),
                                           x + 16 * j);
    }
    const INDEX last = K(last_column)(n_cols);
    for (sn_size i = r0; i < r1; ++i) {
        sn_size p0, p1;
        if (!checked) {
            p0 = (sn_size)indptr[i];
            p1 = (sn_size)indptr[i + 1];
        } else if (!K(row_range)(indptr, i, nnz, &p0, &p1)) {
            return i;
        }
        __m512 sum = _mm512_setzero_ps();
        for (sn_size p = p0; p < p1; p += 16) {
            const __mmask16 m = p1 - p >= 16 ? (__mmask16)0xffff
                                             : (__mmask16)((1u << (p1 - p)) - 1);
            int bad = 0;
            const __m512i ix = K(lane_columns)(indices, p, m, checked, last, &bad);
            if (checked && bad) return i;
            __m512 part[SN_CSR_X_TABLES / 2]; /* x[ix] from each pair of tables, then the */
            for (int j = 0; j < tables / 2; ++j) /* pairs of those chosen by the next bit */
                part[j] = _mm512_permutex2var_ps(table[2 * j], ix, table[2 * j + 1]);
            for (int n = tables / 2, bit = 32; n > 1; n /= 2, bit *= 2) {
                const __mmask16 upper = _mm512_test_epi32_mask(ix, _mm512_set1_epi32(bit));
                for (int j = 0; j < n / 2; ++j)
                    part[j] = _mm512_mask_blend_ps(upper, part[2 * j], part[2 * j + 1]);
            }
            sum = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(m, data + p), part[0], sum, m);
        }
        y[i] = _mm512_reduce_add_ps(sum);
    }
    return r1;
}

/* dot_rows_x_registers with the fewest tables that hold n_cols (<= SN_CSR_X_REGISTERS) columns. */
static sn_size K(dot_rows_small_x)(sn_size r0, sn_size r1, sn_size n_cols, sn_size nnz,
                                   const INDEX *indptr, const INDEX *indices, const REAL *data,
                                   const REAL *x, REAL *y, const int checked)
{
#define ROWS(tables, checked) \
    K(dot_rows_x_registers)(r0, r1, n_cols, nnz, indptr, indices, data, x, y, tables, checked)
    if (checked)
        return n_cols <= 32 ? ROWS(2, 1) : n_cols <= 64 ? ROWS(4, 1) : ROWS(8, 1);
    return n_cols <= 32 ? ROWS(2, 0) : n_cols <= 64 ? ROWS(4, 0) : ROWS(8, 0);
#undef ROWS
}
#endif

/* ---- drivers -------------------------------------------------------------------------------------- */

/* Y[i, :] = row i of A times X (n_cols rows ldx apart) for rows [r0, r1), row i's entries
 * [start[i], start[i + 1]), in panels of `panel` columns (plain_panel; k: none). The trusted and
 * the checked product both sweep their rows here, so they give the same bits. Where X stays in
 * cache (no prefetches: sn_csr_prefetches), the common widths as compile-time constants
 * (gather_rows' fixed_widths), as the column-blocked kernel takes them: 1.07x in geometric mean
 * over 60 random products of 16-128 columns with X of 16-512 KiB (0.82-1.52x a case, X of 16-32 KiB
 * gaining most; one thread, Zen 4), where they had made products from an X in L3 5% slower. Not for
 * the codebook values of shared.c, whose instantiations grew by a quarter for them. */
static inline void K(gather_rows_in_panels)(sn_size r0, sn_size r1, sn_size n_cols,
                                            const INDEX *start, const INDEX *indices,
                                            CSR_VALUES data, sn_size k, sn_size ldx, const REAL *X,
                                            REAL *Y, sn_size panel)
{
    if (panel < k) {
        K(gather_panels)(r0, r1, 1, start, 0, indices, data, k, ldx, X, 0, Y, panel);
        return;
    }
    const int ahead = sn_csr_prefetches(n_cols, k, sizeof(REAL));
#ifdef SN_CSR_DEFAULT_VALUES
    const int fixed_widths = !ahead;
#else
    const int fixed_widths = 0;
#endif
    K(gather_rows)(r0, r1, start, start + 1, indices, data, k, ldx, X, Y, 0, fixed_widths, ahead);
}

/* Y[r0:r1] = those rows of A times X (rows ldx apart), in panels of `panel` columns. */
static inline void K(matmul_rows)(sn_size r0, sn_size r1, sn_size n_cols, const INDEX *indptr,
                                  const INDEX *indices, CSR_VALUES data, sn_size k, sn_size ldx,
                                  const REAL *X, REAL *Y, sn_size panel)
{
#ifdef SN_CSR_X_REGISTERS
    if (k == 1 && ldx == 1 && n_cols > 0 && n_cols <= SN_CSR_X_REGISTERS) {
        K(dot_rows_small_x)(r0, r1, n_cols, 0, indptr, indices, data, X, Y, 0);
        return;
    }
#endif
    K(gather_rows_in_panels)(r0, r1, n_cols, indptr, indices, data, k, ldx, X, Y, panel);
}

static int K(csr_matmul)(int n_threads, sn_size n_rows, sn_size n_cols, const INDEX *indptr,
                         const INDEX *indices, CSR_VALUES data, sn_size k, sn_size ldx,
                         const REAL *X, REAL *Y)
{
    if (n_rows == 0 || k == 0) return SN_OK;
    const int nt = sn_threads_for(n_threads, sn_csr_thread_work((sn_size)indptr[n_rows] + n_rows, k),
                                  SN_CSR_GRAIN);
    const sn_size panel = K(plain_panel)(n_rows, n_cols, (sn_size)indptr[n_rows] - indptr[0], k);
    if (nt == 1) {  /* no parallel region: sparsenet.h, sn_threads_for */
        K(matmul_rows)(0, n_rows, n_cols, indptr, indices, data, k, ldx, X, Y, panel);
        return SN_OK;
    }
#pragma omp parallel num_threads(nt)
    {
        const sn_size team = sn_team_size(), t = sn_thread_id();
        K(matmul_rows)(K(split)(n_rows, indptr, t, team), K(split)(n_rows, indptr, t + 1, team),
                       n_cols, indptr, indices, data, k, ldx, X, Y, panel);
    }
    return SN_OK;
}

/* Y = A X taking each row's entries in n_blocks ranges of columns, block after block: row i's
 * entries in block b are [block_start[b * n_rows + i], block_start[(b + 1) * n_rows + i]) of the
 * CSR arrays (its row 0 and row n_blocks are the row pointers' starts and ends). Sweeping one
 * block of columns at a time keeps that block's rows of X in cache, as the column-blocked layout
 * does (csr_blocked_kernels.h), but it reads the CSR's own indices and values: a layer whose
 * values change at every step needs no copy of them (MiniLM FFN at 10%, 128 tokens: gathering
 * the values into the blocks cost 15% of the forward pass). The blocks are the column blocks'
 * widths (block_width), their slices of X in cache: it requests the scattered segments early, not
 * X's rows (csr_tuning.h). Unused by shared.c, which instantiates this template too. */
static int __attribute__((unused)) K(csr_split_matmul)(
    int n_threads, sn_size n_rows, sn_size n_blocks, const INDEX *indptr, const INDEX *block_start,
    const INDEX *indices, CSR_VALUES data, sn_size k, sn_size ldx, const REAL *X, REAL *Y)
{
    if (n_rows == 0 || k == 0) return SN_OK;
    if (n_blocks == 0) {
        memset(Y, 0, (size_t)(n_rows * k) * sizeof(REAL));
        return SN_OK;
    }
    const sn_size work = sn_csr_thread_work((sn_size)indptr[n_rows] + n_rows * n_blocks, k);
    const int nt = sn_threads_for(n_threads, work, SN_CSR_GRAIN);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const sn_size team = sn_team_size(), t = sn_thread_id();
        const sn_size r0 = K(split)(n_rows, indptr, t, team);
        const sn_size r1 = K(split)(n_rows, indptr, t + 1, team);
        for (sn_size b = 0; b < n_blocks; ++b)
            K(gather_rows)(r0, r1, block_start + b * n_rows, block_start + (b + 1) * n_rows,
                           indices, data, k, ldx, X, Y, b > 0, 1, SN_CSR_AHEAD_SEGMENTS);
    }
    return SN_OK;
}

/* Y += the scratch buffers of chunks 1 .. chunks-1, added in chunk order; called inside a parallel
 * region, whose threads share the entries (an orphaned `omp for`). */
static inline void K(add_chunks)(sn_size chunks, sn_size out_size, const REAL *scratch, REAL *Y)
{
#pragma omp for simd schedule(static)
    for (sn_size j = 0; j < out_size; ++j) {
        REAL sum = Y[j];
        for (sn_size c = 1; c < chunks; ++c) sum += scratch[(c - 1) * out_size + j];
        Y[j] = sum;
    }
}

/* The plan of a chunked A^T X (matmul_t_chunked, csr_matmul_t_checked) of `entries` row entries
 * (nnz + n_rows) times k columns into out_size outputs: returns the number of chunks, from the
 * problem alone (sn_csr_t_chunks), with *scratch the buffers of chunks 1 .. chunks-1 (NULL for one
 * chunk) and *nt the threads to share them; 0 when the buffers cannot be had. */
static sn_size K(t_chunk_plan)(int n_threads, sn_size entries, sn_size k, sn_size out_size,
                               REAL **scratch, int *nt)
{
    const sn_size chunks = sn_csr_t_chunks(entries * k, out_size * (sn_size)sizeof(REAL));
    *scratch = NULL;
    if (chunks > 1) {
        *scratch = (REAL *)malloc((size_t)((chunks - 1) * out_size) * sizeof(REAL));
        if (*scratch == NULL) return 0;
    }
    *nt = (int)SN_MIN(
        chunks, (sn_size)sn_threads_for(n_threads, sn_csr_thread_work(entries, k), SN_CSR_GRAIN));
    return chunks;
}

/* A^T X of rows in any order scatters, so each of `chunks` row ranges sums into its own buffer and
 * the buffers are added in chunk order. `chunks` depends on the problem only (sn_csr_t_chunks), so
 * the result is the same for every thread count. */
static int K(matmul_t_chunked)(int n_threads, sn_size n_rows, sn_size n_cols, const INDEX *indptr,
                               const INDEX *indices, CSR_VALUES data, sn_size k, const REAL *X,
                               REAL *Y)
{
    const sn_size out_size = n_cols * k;
    REAL *scratch;
    int nt;
    const sn_size chunks =
        K(t_chunk_plan)(n_threads, (sn_size)indptr[n_rows] + n_rows, k, out_size, &scratch, &nt);
    if (chunks == 0) return SN_ENOMEM;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
#pragma omp for schedule(static)
        for (sn_size c = 0; c < chunks; ++c) {
            REAL *buf = c == 0 ? Y : scratch + (c - 1) * out_size;
            memset(buf, 0, (size_t)out_size * sizeof(REAL));
            const sn_size r1 = K(split)(n_rows, indptr, c + 1, chunks);
            for (sn_size i = K(split)(n_rows, indptr, c, chunks); i < r1; ++i)
                K(scatter_segment)(indptr[i], indptr[i + 1], indices, data, k, X + i * k, buf);
        }
        if (chunks > 1) K(add_chunks)(chunks, out_size, scratch, Y);
    }
    free(scratch);
    return SN_OK;
}

static int K(csr_matmul_t)(int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols,
                           const INDEX *indptr, const INDEX *indices, CSR_VALUES data, sn_size k,
                           const REAL *X, REAL *Y)
{
    if (n_cols == 0 || k == 0) return SN_OK;
    const sn_size nnz = indptr[n_rows];
    const int nt = sn_threads_for(n_threads, sn_csr_thread_work(nnz + n_rows, k), SN_CSR_GRAIN);
    const sn_size block = K(owner_block)(sorted_rows, n_rows, n_cols, nnz, k);
    if (block == 0)
        return K(matmul_t_chunked)(n_threads, n_rows, n_cols, indptr, indices, data, k, X, Y);
    sn_size *cursor = (sn_size *)malloc((size_t)(n_rows * nt) * sizeof(sn_size));
    if (cursor == NULL) return SN_ENOMEM;
#pragma omp parallel num_threads(nt) if (nt > 1)
    K(matmul_t_owned)(sn_thread_id(), sn_team_size(), block, n_rows, n_cols, indptr, indices, data,
                      k, X, Y, cursor + (sn_size)sn_thread_id() * n_rows);
    free(cursor);
    return SN_OK;
}

#ifdef SN_CSR_DEFAULT_VALUES
/* ---- products of an unvalidated matrix (a scipy matrix as passed) --------------------------------
 * The bounds check is fused into the product's own pass: each row pointer is read once, and the
 * column indices are copied in pieces of SN_CSR_CHECK_PIECE (a long row's piece, or a window of
 * short rows) into the thread's own buffer, the copy is checked, and the product reads the checked
 * copy. So a malformed matrix, or one another thread changes meanwhile, gives an error and never
 * an access out of bounds, for the cost of a copy that stays in L1. *first_bad_row: the first row
 * with a pair of row pointers decreasing or outside [0, nnz], or a column outside [0, n_cols);
 * n_rows when none (else Y is garbage). nnz: the length of indices and data. n_cols and k must be
 * positive (else SN_EINVAL: no entry would be read, so the caller checks such a matrix on its own).
 * Rows are split evenly, not by indptr's values, which are not trusted yet. */
#define SN_CSR_CHECK_PIECE 256

/* The largest valid column as an INDEX: n_cols - 1, or INDEX's maximum when that is smaller (then
 * no stored index can be too large). */
static inline INDEX K(last_column)(sn_size n_cols)
{
    const sn_size index_max = sizeof(INDEX) == 4 ? (sn_size)INT32_MAX : (sn_size)INT64_MAX;
    return (INDEX)SN_MIN(n_cols - 1, index_max);
}

/* local[0:len] = indices[q:q+len]; 1 when every one is in [0, n_cols). The copy, then the check
 * of the copy, then (the caller) the product from the copy: a concurrent change of `indices` is a
 * data race, which C leaves undefined, so a compiler may read `indices` again wherever the program
 * reads a value it knows to equal it (clang did: a race test crashed a clang build when the check
 * and the product each read `indices`). The empty asm between the copy and the check forbids that
 * under gcc and clang alike: it takes local's address (so local escapes) and clobbers memory, so
 * the compiler must assume the asm may have rewritten local. After it, no value in local is known
 * to equal anything in `indices`: the check and the product must load local itself, which only
 * this thread writes, and the copy must be complete before it (the asm may read local). The same
 * clobber keeps the row pointers, read once (volatile) before it, from being read again after it.
 * The copy is a plain memcpy and the check a plain loop, both vectorised (the former copy loaded
 * each index through a volatile pointer, one scalar load at a time: scipy-input spmv ran at
 * 0.5-0.66x SciPy).
 * The check is written in INDEX's own width, so it vectorises as wide as the indices are. */
static inline int K(copy_checked)(const INDEX *indices, sn_size q, sn_size len, sn_size n_cols,
                                  INDEX *local)
{
    if (len > 0) /* a window of empty rows, maybe of a matrix with no entries (indices NULL) */
        memcpy(local, indices + q, (size_t)len * sizeof(INDEX));
    __asm__ __volatile__("" : : "r"(local) : "memory");
    const INDEX last = K(last_column)(n_cols);
    int outside = 0;
    for (sn_size t = 0; t < len; ++t)
        outside |= (local[t] < 0) | (local[t] > last);
    return !outside;
}

/* Requests the piece of indices and values after entry q, [q + PIECE, q + 2 PIECE): the copy of a
 * piece waits for its indices and the product for its values, so without it the two streams' reads
 * from memory did not overlap (scipy-input spmv took 1.6x the plain CSR's time at 8192^2, 10%). */
static inline void K(prefetch_next_piece)(const INDEX *indices, CSR_VALUES data, sn_size q,
                                          sn_size nnz)
{
    const sn_size lo = q + SN_CSR_CHECK_PIECE, hi = SN_MIN(nnz, lo + SN_CSR_CHECK_PIECE);
    for (sn_size p = lo; p < hi; p += 64 / sizeof(INDEX))
        __builtin_prefetch(indices + p);
    for (sn_size p = lo; p < hi; p += 64 / sizeof(REAL))
        __builtin_prefetch(data + p);
}

/* Row i's entries [*p0, *p1), each pointer loaded exactly once (volatile: the pair checked is the
 * pair used; two loads per row cost nothing); 0 when the pair is bad. */
static inline int K(row_range)(const INDEX *indptr, sn_size i, sn_size nnz, sn_size *p0,
                               sn_size *p1)
{
    const volatile INDEX *row = indptr + i;
    *p0 = (sn_size)row[0];
    *p1 = (sn_size)row[1];
    return 0 <= *p0 && *p0 <= *p1 && *p1 <= nnz;
}

/* Y[0, :] = the row with entries [p0, p1) times X, piece by piece; 0 when a column is bad. */
static int K(gather_long_row_checked)(sn_size p0, sn_size p1, sn_size n_cols, sn_size nnz,
                                      const INDEX *indices, const REAL *data, sn_size k,
                                      sn_size ldx, const REAL *X, REAL *Y, INDEX *local)
{
    REAL sum = 0; /* k = 1: one sum, kept in a register across the pieces */
    for (sn_size q = p0; q < p1; q += SN_CSR_CHECK_PIECE) {
        const sn_size len = SN_MIN((sn_size)SN_CSR_CHECK_PIECE, p1 - q);
        K(prefetch_next_piece)(indices, data, q, nnz);
        if (!K(copy_checked)(indices, q, len, n_cols, local)) return 0;
        if (k == 1) {
            sum += K(dot_segment)(0, len, local, data + q, X);
        } else {
            const INDEX piece[2] = {0, (INDEX)len};
            K(gather_rows)(0, 1, piece, piece + 1, local, data + q, k, ldx, X, Y, q > p0, 0,
                           sn_csr_prefetches(n_cols, k, sizeof(REAL)));
        }
    }
    if (k == 1) Y[0] = sum;
    return 1;
}

/* Which of a window's rows (offsets[t], offsets[t + 1]) holds its first bad column in local. */
static sn_size K(row_of_first_bad)(const INDEX *local, const INDEX *offsets, sn_size n_cols)
{
    const INDEX last = K(last_column)(n_cols);
    sn_size bad = 0, row = 0;
    while (local[bad] >= 0 && local[bad] <= last) ++bad;
    while (offsets[row + 1] <= bad) ++row;
    return row;
}

/* The window of rows from row i (entries [p0, p1), at most `piece`, local's and offsets' length
 * less one): row i and the rows after it, below r1, while all their entries fit in the piece (and
 * there are at most `piece` rows), copied into local and checked at once, for
 * the caller to multiply: a copy and a check per row cost more than the row's product at 1% density
 * (scipy-input spmv at 8192^2 took 2.2x the plain CSR's time). Each further pointer is read once
 * (volatile); a pair that is bad ends the window, and row_range reports it next. Returns the rows
 * n; offsets[0..n] are their entries' offsets from p0; *bad_row is the window's first row with a
 * bad column (counted from i), or -1. */
static sn_size K(copy_window_checked)(const INDEX *indptr, const INDEX *indices, const REAL *data,
                                      sn_size i, sn_size r1, sn_size nnz, sn_size n_cols,
                                      sn_size p0, sn_size p1, sn_size piece, INDEX *offsets,
                                      INDEX *local, sn_size *bad_row)
{
    const volatile INDEX *pointers = indptr;
    sn_size n = 1, end = p1;
    offsets[0] = 0;
    offsets[1] = (INDEX)(p1 - p0);
    while (i + n < r1 && n < piece) {
        const sn_size next = (sn_size)pointers[i + n + 1];
        if (next < end || next > nnz || next - p0 > piece) break;
        end = next;
        offsets[++n] = (INDEX)(end - p0);
    }
    K(prefetch_next_piece)(indices, data, p0, nnz);
    *bad_row = K(copy_checked)(indices, p0, end - p0, n_cols, local)
                   ? -1
                   : K(row_of_first_bad)(local, offsets, n_cols);
    return n;
}

#ifdef SN_CSR_REGISTER_CHECK
/* y[i] = row i of A times x for rows [r0, r1), each vector of indices checked in the register the
 * gather uses (gather_dot, csr_segments.h): no copy, so a scipy matrix's spmv costs about what a
 * checked CSR's does. The first bad row, or r1. */
static sn_size K(dot_rows_checked)(sn_size r0, sn_size r1, sn_size n_cols, sn_size nnz,
                                   const INDEX *indptr, const INDEX *indices, const REAL *data,
                                   const REAL *x, REAL *y)
{
    const INDEX last = K(last_column)(n_cols); /* n_cols > 0 (csr_matmul_checked): at least 0 */
    for (sn_size i = r0; i < r1; ++i) {
        sn_size p0, p1;
        int bad = 0;
        if (!K(row_range)(indptr, i, nnz, &p0, &p1)) return i;
        y[i] = K(gather_dot)(p0, p1, indices, data, x, 1, last, &bad);
        if (bad) return i;
    }
    return r1;
}
#endif

/* Y[i, :] = row i of A times X (rows ldx apart) for rows [r0, r1), rows of at most `piece` entries
 * by windows (local and offsets hold piece and piece + 1), each swept as the trusted kernel sweeps
 * its rows (gather_rows_in_panels: the same sums, so the same bits), longer rows piece by piece;
 * the first bad row, or r1. */
static inline __attribute__((always_inline)) sn_size K(gather_windows_checked)(
    sn_size r0, sn_size r1, sn_size n_cols, sn_size nnz, const INDEX *indptr, const INDEX *indices,
    const REAL *data, sn_size k, sn_size ldx, const REAL *X, REAL *Y, sn_size panel, sn_size piece,
    INDEX *local, INDEX *offsets)
{
    sn_size i = r0;
    while (i < r1) {
        sn_size p0, p1;
        if (!K(row_range)(indptr, i, nnz, &p0, &p1)) return i;
        if (p1 - p0 > piece) {
            if (!K(gather_long_row_checked)(p0, p1, n_cols, nnz, indices, data, k, ldx, X,
                                            Y + i * k, local))
                return i;
            ++i;
            continue;
        }
        sn_size bad;
        const sn_size n = K(copy_window_checked)(indptr, indices, data, i, r1, nnz, n_cols, p0, p1,
                                                 piece, offsets, local, &bad);
        if (bad >= 0) return i + bad;
        K(gather_rows_in_panels)(0, n, n_cols, offsets, local, data + p0, k, ldx, X, Y + i * k,
                                 panel);
        i += n;
    }
    return r1;
}

/* Windows of a product in column panels hold this many entries (others SN_CSR_CHECK_PIECE, a copy
 * that stays in L1): each panel's slice of X is then read from L2 once a window and gathered from
 * L1, and rows of up to this many entries are taken whole, as the trusted kernel takes them. */
#define SN_CSR_PANEL_PIECE 2048

/* Y[i, :] = row i of A times X for rows [r0, r1) (gather_windows_checked); the first bad row, or
 * r1. */
static sn_size K(gather_rows_checked)(sn_size r0, sn_size r1, sn_size n_cols, sn_size nnz,
                                      const INDEX *indptr, const INDEX *indices, const REAL *data,
                                      sn_size k, sn_size ldx, const REAL *X, REAL *Y,
                                      sn_size panel)
{
#ifdef SN_CSR_REGISTER_CHECK
#ifdef SN_CSR_X_REGISTERS
    if (k == 1 && n_cols <= SN_CSR_X_REGISTERS)
        return K(dot_rows_small_x)(r0, r1, n_cols, nnz, indptr, indices, data, X, Y, 1);
#endif
    if (k == 1) return K(dot_rows_checked)(r0, r1, n_cols, nnz, indptr, indices, data, X, Y);
#endif
    if (panel < k) {
        INDEX local[SN_CSR_PANEL_PIECE], offsets[SN_CSR_PANEL_PIECE + 1];
        return K(gather_windows_checked)(r0, r1, n_cols, nnz, indptr, indices, data, k, ldx, X, Y,
                                         panel, SN_CSR_PANEL_PIECE, local, offsets);
    }
    INDEX local[SN_CSR_CHECK_PIECE], offsets[SN_CSR_CHECK_PIECE + 1];
    return K(gather_windows_checked)(r0, r1, n_cols, nnz, indptr, indices, data, k, ldx, X, Y, k,
                                     SN_CSR_CHECK_PIECE, local, offsets);
}

static int K(csr_matmul_checked)(int n_threads, sn_size n_rows, sn_size n_cols, sn_size nnz,
                                 const INDEX *indptr, const INDEX *indices, const REAL *data,
                                 sn_size k, sn_size ldx, const REAL *X, REAL *Y,
                                 sn_size *first_bad_row)
{
    sn_size first_bad = n_rows;
    if (n_cols <= 0 || k <= 0) return SN_EINVAL;
    const int nt = sn_threads_for(n_threads, sn_csr_thread_work(nnz + n_rows, k), SN_CSR_GRAIN);
    /* the trusted kernel's panels for a valid A: its entries from the first and last row pointers,
     * each read once; pointers outside [0, nnz] (a malformed A, reported below) count nnz, and
     * only the choice of panels, which reads nothing, depends on them */
    const volatile INDEX *ends = indptr;
    const sn_size first = (sn_size)ends[0], last = (sn_size)ends[n_rows];
    const sn_size entries = 0 <= first && first <= last && last <= nnz ? last - first : nnz;
    const sn_size panel = K(plain_panel)(n_rows, n_cols, entries, k);
    if (nt == 1) {  /* no parallel region: sparsenet.h, sn_threads_for */
        *first_bad_row = K(gather_rows_checked)(0, n_rows, n_cols, nnz, indptr, indices, data, k,
                                                ldx, X, Y, panel);
        return SN_OK;
    }
#pragma omp parallel num_threads(nt) reduction(min : first_bad)
    {
        const sn_size team = sn_team_size(), t = sn_thread_id();
        const sn_size r0 = n_rows * t / team, r1 = n_rows * (t + 1) / team;
        const sn_size bad = K(gather_rows_checked)(r0, r1, n_cols, nnz, indptr, indices, data, k,
                                                   ldx, X, Y, panel);
        first_bad = bad < r1 ? bad : n_rows;
    }
    *first_bad_row = first_bad;
    return SN_OK;
}

/* A^T X scattered into `chunks` private buffers as in matmul_t_chunked, chunk c taking the rows
 * [n_rows c / chunks, n_rows (c + 1) / chunks). */
static int K(csr_matmul_t_checked)(int n_threads, sn_size n_rows, sn_size n_cols, sn_size nnz,
                                   const INDEX *indptr, const INDEX *indices, const REAL *data,
                                   sn_size k, const REAL *X, REAL *Y, sn_size *first_bad_row)
{
    sn_size first_bad = n_rows;
    if (n_cols <= 0 || k <= 0) return SN_EINVAL;
    const sn_size out_size = n_cols * k;
    REAL *scratch;
    int nt;
    const sn_size chunks = K(t_chunk_plan)(n_threads, nnz + n_rows, k, out_size, &scratch, &nt);
    if (chunks == 0) return SN_ENOMEM;
    const INDEX last = K(last_column)(n_cols); /* n_cols > 0: at least 0 */
#pragma omp parallel num_threads(nt) if (nt > 1) reduction(min : first_bad)
    {
        INDEX local[SN_CSR_CHECK_PIECE], offsets[SN_CSR_CHECK_PIECE + 1];
        sn_size mine = n_rows; /* this thread's first bad row (first_bad's private copy starts at max) */
#pragma omp for schedule(static)
        for (sn_size c = 0; c < chunks; ++c) {
            REAL *buf = c == 0 ? Y : scratch + (c - 1) * out_size;
            memset(buf, 0, (size_t)out_size * sizeof(REAL));
            const sn_size r1 = n_rows * (c + 1) / chunks;
            sn_size i = n_rows * c / chunks;
            while (i < r1 && mine == n_rows) {
                sn_size p0, p1;
                if (!K(row_range)(indptr, i, nnz, &p0, &p1)) {
                    mine = i;
                } else if (k == 1) {
                    if (!K(scatter_vector_checked)(p0, p1, indices, data, X[i], buf, last))
                        mine = i;
                    ++i;
                } else if (p1 - p0 > SN_CSR_CHECK_PIECE) { /* a long row, piece by piece */
                    for (sn_size q = p0; q < p1 && mine == n_rows; q += SN_CSR_CHECK_PIECE) {
                        const sn_size len = SN_MIN((sn_size)SN_CSR_CHECK_PIECE, p1 - q);
                        K(prefetch_next_piece)(indices, data, q, nnz);
                        if (!K(copy_checked)(indices, q, len, n_cols, local))
                            mine = i;
                        else
                            K(scatter_segment)(0, len, local, data + q, k, X + i * k, buf);
                    }
                    ++i;
                } else {
                    sn_size bad;
                    const sn_size n = K(copy_window_checked)(indptr, indices, data, i, r1, nnz,
                                                             n_cols, p0, p1, SN_CSR_CHECK_PIECE,
                                                             offsets, local, &bad);
                    if (bad >= 0)
                        mine = i + bad;
                    else
                        for (sn_size t = 0; t < n; ++t)
                            K(scatter_segment)(offsets[t], offsets[t + 1], local, data + p0, k,
                                               X + (i + t) * k, buf);
                    i += n;
                }
            }
        }
        first_bad = mine;
        if (chunks > 1) K(add_chunks)(chunks, out_size, scratch, Y);
    }
    free(scratch);
    *first_bad_row = first_bad;
    return SN_OK;
}
#endif

#ifdef CSR_CODE
/* The pruned-and-shared product (shared.c): the same drivers, each value read through its code. */
static int K(shared_csr_matmul)(int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols,
                                const INDEX *indptr, const INDEX *indices, const CSR_CODE *codes,
                                const REAL *codebook, sn_size k, sn_size ldx, const REAL *X,
                                REAL *Y, int transpose)
{
    const CSR_VALUES values = {codes, codebook};
    if (transpose) /* X's rows k apart (the wrapper refuses padded rows) */
        return K(csr_matmul_t)(n_threads, sorted_rows, n_rows, n_cols, indptr, indices, values, k,
                               X, Y);
    return K(csr_matmul)(n_threads, n_rows, n_cols, indptr, indices, values, k, ldx, X, Y);
}
#endif

#undef K
#undef VEC
#undef VLEN
#undef COL
#undef COL_BYTES
#ifdef SN_CSR_DEFAULT_VALUES
#undef CSR_VALUES
#undef CSR_VALUE
#undef SN_CSR_DEFAULT_VALUES
#endif
#undef SN_CSR_REGISTER_CHECK
