/* Template part: what the CSR product drivers share, the plain ones (csr_kernels.h) and the
 * column-blocked ones (csr_blocked_kernels.h): the row partition and the gathering row-segment
 * primitives (a segment: the entries [p0, p1) of one row). Both templates include it first and
 * #undef K, VEC, VLEN, COL, COL_BYTES after.
 *
 * Parameters: REAL, INDEX (type of the row pointers), SFX, ISA, SN_VBYTES, CSR_VALUES / CSR_VALUE
 * (csr_kernels.h), and
 *   COL    the type of the column indices the segments read (INDEX for plain CSR, uint16_t for
 *          column blocks, whose columns count from the block's first), and COL_BYTES its size for
 *          the preprocessor (gather_dot's AVX-512 gathers need it; without it dot_segment is a
 *          plain `omp simd` loop). */

#define K(name) SN_CAT3(name, SFX, ISA)
#define VEC K(vec)
#define VLEN ((sn_size)(SN_VBYTES / sizeof(REAL)))

/* Unaligned GCC vector of VLEN REALs: plain arithmetic compiles to the ISA's widest FMAs. */
typedef REAL VEC __attribute__((vector_size(SN_VBYTES), aligned(sizeof(REAL)), may_alias));

/* First row of part `part` when [0, n_rows) is cut into `parts` ranges of equal nnz + rows, so a few
 * dense rows do not leave the other threads idle. */
static sn_size K(split)(sn_size n_rows, const INDEX *indptr, sn_size part, sn_size parts)
{
    if (part <= 0) return 0;
    if (part >= parts) return n_rows;
    const sn_size total = (sn_size)indptr[n_rows] + n_rows;
    const sn_size target = total / parts * part + total % parts * part / parts;
    sn_size lo = 0, hi = n_rows; /* smallest r with indptr[r] + r >= target */
    while (lo < hi) {
        const sn_size mid = lo + (hi - lo) / 2;
        if ((sn_size)indptr[mid] + mid < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}


/* ---- one row segment: the entries [p0, p1) of one row ------------------------------------------ */

/* 1 when column *c, taken as unsigned (a negative index is a large one), is past `last`. The empty
 * asm first makes *c opaque, so the compiler cannot load it from memory again where the caller then
 * uses it: the value checked is the value used, whatever another thread writes meanwhile (see
 * copy_checked, csr_kernels.h). */
static inline __attribute__((always_inline)) int K(column_outside)(COL *c, INDEX last)
{
    __asm__("" : "+r"(*c));
    return (unsigned long long)*c > (unsigned long long)last;
}

/* 1 when any of four columns is past `last`: the largest of them taken as unsigned is compared
 * once, each made opaque first as in column_outside, so that the caller uses the values checked. */
static inline __attribute__((always_inline)) int K(four_outside)(COL *c0, COL *c1, COL *c2, COL *c3,
                                                                  INDEX last)
{
    typedef unsigned long long wide; /* sign-extends: a negative column is above any `last` */
    __asm__("" : "+r"(*c0), "+r"(*c1), "+r"(*c2), "+r"(*c3));
    return SN_MAX(SN_MAX((wide)*c0, (wide)*c1), SN_MAX((wide)*c2, (wide)*c3)) > (wide)last;
}

#undef SN_CSR_REGISTER_CHECK /* defined below where gather_dot is */
#undef SN_CSR_HW_GATHERS
#if SN_VBYTES == 64 && defined(SN_CSR_DEFAULT_VALUES) && defined(REAL_BYTES) && defined(COL_BYTES)
#define SN_CSR_HW_GATHERS 1
/* sum_p data[p] * x[indices[p]] with AVX-512's gathers (gather_dot below takes them on Intel): two
 * sums in flight, the row's last entries by a masked gather (no scalar tail) and a tree reduction.
 * GCC's vectorised loop ends each row in as many dependent scalar adds as a vector has lanes (its
 * in-order reduction), then a scalar tail: on DLMC ResNet-50 rows of 25-230 entries this is
 * 1.6-1.9x faster (a C model of the 1024x256, 2048x512 and 256x2304 layers at 90%, Xeon with
 * AVX-512). Column blocks' 16-bit
 * columns are widened to 32-bit lanes: against loading the entries one by one (as below AVX-512),
 * 1.16-1.56x on the same Xeon (8192^2 at 10% and 1%, DLMC 512 x 4608 at 90%), though Zen 4 had
 * the loads 1.2x faster (8192^2 at 10%, an earlier measurement). DOT_*: the intrinsics of the
 * lanes for REAL and COL: 16 lanes for float with 32- or 16-bit columns; 8 for double (32- or
 * 16-bit columns in a 256-bit vector) and for 64-bit columns (one 512-bit vector). */
#if REAL_BYTES == 4 && COL_BYTES == 2
#define DOT_LANES 16
#define DOT_INDEX_T __m512i
#define DOT_OUTSIDE(ix, last) _mm512_cmpgt_epu32_mask(ix, _mm512_set1_epi32(last))
#define DOT_VALUES_MASKED(m, p) _mm512_maskz_loadu_ps(m, data + (p))
#define DOT_INDEX(p) _mm512_cvtepu16_epi32(_mm256_loadu_si256((const void *)(indices + (p))))
#define DOT_INDEX_MASKED(m, p) _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, indices + (p)))
#define DOT_GATHER_MASKED(m, ix) _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, ix, x, 4)
#elif COL_BYTES == 2
#define DOT_LANES 8
#define DOT_INDEX_T __m256i
#define DOT_OUTSIDE(ix, last) _mm256_cmpgt_epu32_mask(ix, _mm256_set1_epi32(last))
#define DOT_VALUES_MASKED(m, p) _mm512_maskz_loadu_pd(m, data + (p))
#define DOT_INDEX(p) _mm256_cvtepu16_epi32(_mm_loadu_si128((const void *)(indices + (p))))
#define DOT_INDEX_MASKED(m, p) _mm256_cvtepu16_epi32(_mm_maskz_loadu_epi16(m, indices + (p)))
#define DOT_GATHER_MASKED(m, ix) _mm512_mask_i32gather_pd(_mm512_setzero_pd(), m, ix, x, 8)
#elif REAL_BYTES == 4 && COL_BYTES == 4
#define DOT_LANES 16
#define DOT_INDEX_T __m512i
#define DOT_OUTSIDE(ix, last) _mm512_cmpgt_epu32_mask(ix, _mm512_set1_epi32(last))
#define DOT_VALUES_MASKED(m, p) _mm512_maskz_loadu_ps(m, data + (p))
#define DOT_INDEX(p) _mm512_loadu_si512((const void *)(indices + (p)))
#define DOT_INDEX_MASKED(m, p) _mm512_maskz_loadu_epi32(m, indices + (p))
#define DOT_GATHER_MASKED(m, ix) _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, ix, x, 4)
#elif REAL_BYTES == 4
#define DOT_LANES 8
#define DOT_INDEX_T __m512i
#define DOT_OUTSIDE(ix, last) _mm512_cmpgt_epu64_mask(ix, _mm512_set1_epi64(last))
#define DOT_VALUES_MASKED(m, p) _mm256_maskz_loadu_ps(m, data + (p))
#define DOT_INDEX(p) _mm512_loadu_si512((const void *)(indices + (p)))
#define DOT_INDEX_MASKED(m, p) _mm512_maskz_loadu_epi64(m, indices + (p))
#define DOT_GATHER_MASKED(m, ix) _mm512_mask_i64gather_ps(_mm256_setzero_ps(), m, ix, x, 4)
#elif COL_BYTES == 4
#define DOT_LANES 8
#define DOT_INDEX_T __m256i
#define DOT_OUTSIDE(ix, last) _mm256_cmpgt_epu32_mask(ix, _mm256_set1_epi32(last))
#define DOT_VALUES_MASKED(m, p) _mm512_maskz_loadu_pd(m, data + (p))
#define DOT_INDEX(p) _mm256_loadu_si256((const void *)(indices + (p)))
#define DOT_INDEX_MASKED(m, p) _mm256_maskz_loadu_epi32(m, indices + (p))
#define DOT_GATHER_MASKED(m, ix) _mm512_mask_i32gather_pd(_mm512_setzero_pd(), m, ix, x, 8)
#else
#define DOT_LANES 8
#define DOT_INDEX_T __m512i
#define DOT_OUTSIDE(ix, last) _mm512_cmpgt_epu64_mask(ix, _mm512_set1_epi64(last))
#define DOT_VALUES_MASKED(m, p) _mm512_maskz_loadu_pd(m, data + (p))
#define DOT_INDEX(p) _mm512_loadu_si512((const void *)(indices + (p)))
#define DOT_INDEX_MASKED(m, p) _mm512_maskz_loadu_epi64(m, indices + (p))
#define DOT_GATHER_MASKED(m, ix) _mm512_mask_i64gather_pd(_mm512_setzero_pd(), m, ix, x, 8)
#endif
/* GCC's vector arithmetic on the lanes: the intrinsics' types differ by REAL and lane count */
typedef REAL K(gather_lanes) __attribute__((vector_size(DOT_LANES * REAL_BYTES), aligned(sizeof(REAL)),
                                         may_alias));

/* The row's entries [p0, p1) times x; with `checked` (a constant where inlined), each vector of
 * indices is compared with [0, last] in the register the gather then uses (an unsigned compare: a
 * negative index is a large one), and *bad = 1 ends the row before a gather of an index outside.
 * The empty asm makes the register's value opaque, so the compiler cannot load the indices from
 * memory again for the gather: the value checked is the value used, whatever another thread
 * writes meanwhile (see copy_checked, csr_kernels.h). */
static inline __attribute__((always_inline)) REAL K(gather_dot_hw)(
    sn_size p0, sn_size p1, const COL *indices, const REAL *data, const REAL *x, const int checked,
    INDEX last, int *bad)
{
    K(gather_lanes) sum0 = {0}, sum1 = {0};
    sn_size p = p0;
#define DOT_STEP(sum, ix, values)                                                                \
    do {                                                                                          \
        if (checked) {                                                                            \
            __asm__("" : "+v"(ix));                                                               \
            if (DOT_OUTSIDE(ix, last)) {                                                          \
                *bad = 1;                                                                         \
                return 0;                                                                         \
            }                                                                                     \
        }                                                                                         \
        sum += (values) * (K(gather_lanes))DOT_GATHER_MASKED(mask, ix);                           \
    } while (0)
    unsigned mask = (1u << DOT_LANES) - 1;
    for (; p + 2 * DOT_LANES <= p1; p += 2 * DOT_LANES) {
        DOT_INDEX_T ix0 = DOT_INDEX(p), ix1 = DOT_INDEX(p + DOT_LANES);
        DOT_STEP(sum0, ix0, *(const K(gather_lanes) *)(data + p));
        DOT_STEP(sum1, ix1, *(const K(gather_lanes) *)(data + p + DOT_LANES));
    }
    if (p + DOT_LANES <= p1) {
        DOT_INDEX_T ix = DOT_INDEX(p);
        DOT_STEP(sum0, ix, *(const K(gather_lanes) *)(data + p));
        p += DOT_LANES;
    }
    if (p < p1) {
        mask = (1u << (p1 - p)) - 1;
        DOT_INDEX_T ix = DOT_INDEX_MASKED(mask, p); /* zero, a valid column, in the other lanes */
        DOT_STEP(sum1, ix, (K(gather_lanes))DOT_VALUES_MASKED(mask, p));
    }
#undef DOT_STEP
    sum0 += sum1;
    for (int half = DOT_LANES / 2; half > 1; half /= 2) /* a tree: log2(lanes) dependent adds */
        for (int j = 0; j < half; ++j) sum0[j] += sum0[j + half];
    return sum0[0] + sum0[1];
}

#undef DOT_LANES
#undef DOT_INDEX_T
#undef DOT_OUTSIDE
#undef DOT_VALUES_MASKED
#undef DOT_INDEX
#undef DOT_INDEX_MASKED
#undef DOT_GATHER_MASKED
#endif

/* The four (two) columns at c: 16- and 32-bit ones by one or two 64-bit loads (one 32- or 64-bit
 * load) and shifts on little-endian machines, which leaves the load ports to the loads of x and of
 * the values (a load a column took them from those). DLMC ResNet-50, three runs of the bench's dlmc
 * family alternating the builds, Zen 4: at N=1 (gather_dot_loads, four columns) 90% 1.49-1.58x ->
 * 1.67-1.72x dense GEMV and 2.27-2.32x -> 2.44-2.52x SciPy, 80% 0.90-0.93x -> 1.00-1.07x and
 * 2.43-2.52x -> 2.75-2.78x; spmm (gather_tile's tiles of 2-4 vectors, two columns; the 49- and
 * 196-column layers at 90%) 4.63-4.75x -> 4.74-4.90x dense sgemm at 90%, 80% alike. Taking two
 * columns at a time in the wider tiles (one entry a step) changed nothing. */
static inline __attribute__((always_inline)) void K(two_columns)(const COL *c, COL *c0, COL *c1)
{
    if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && sizeof(COL) <= 4) {
        uint64_t w = 0;
        memcpy(&w, c, 2 * sizeof(COL));
        *c0 = (COL)w, *c1 = (COL)(w >> (sizeof(COL) == 2 ? 16 : 32));
    } else {
        *c0 = c[0], *c1 = c[1];
    }
}

static inline __attribute__((always_inline)) void K(four_columns)(const COL *c, COL *c0, COL *c1,
                                                                 COL *c2, COL *c3)
{
    if (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && sizeof(COL) == 2) {
        uint64_t w;
        memcpy(&w, c, 8);
        *c0 = (COL)w, *c1 = (COL)(w >> 16), *c2 = (COL)(w >> 32), *c3 = (COL)(w >> 48);
    } else {
        K(two_columns)(c, c0, c1);
        K(two_columns)(c + 2, c2, c3);
    }
}

#if SN_VBYTES < 64 || defined(SN_CSR_HW_GATHERS)
/* gather_dot_hw's sum from one load per entry: below AVX-512, vectors of 4 entries filled lane by
 * lane. AVX2's gathers are slower than the loads they stand for on AMD Zen 2/3 (measured: on Zen 3
 * this is 2-3x the gather loop for rows of 6-460 entries, a C model of DLMC ResNet-50 shapes at
 * 90%) and, by Intel's GDS advisory, on Skylake to Tiger Lake once the microcode mitigates GDS
 * (not measured here); 8 lanes gained nothing over 4: the loads, two per entry, are the limit.
 * With `checked`, the largest of 4 indices taken as unsigned (a negative index is a large one) is
 * compared with `last` before any of them is used, each in the register its load then uses (the
 * empty asm, as above); the tail's entries one by one (column_outside). */
typedef REAL K(load_lanes) __attribute__((vector_size(4 * sizeof(REAL)), aligned(sizeof(REAL)),
                                         may_alias));

static inline __attribute__((always_inline)) REAL K(gather_dot_loads)(
    sn_size p0, sn_size p1, const COL *indices, CSR_VALUES data, const REAL *x, const int checked,
    INDEX last, int *bad)
{
    K(load_lanes) sum0 = {0}, sum1 = {0};
    sn_size p = p0;
#define DOT_STEP(sum, q)                                                                          \
    do {                                                                                          \
        COL c0, c1, c2, c3;                                                                       \
        K(four_columns)(indices + (q), &c0, &c1, &c2, &c3);                                       \
        if (checked && K(four_outside)(&c0, &c1, &c2, &c3, last)) {                               \
            *bad = 1;                                                                             \
            return 0;                                                                             \
        }                                                                                         \
        sum += (K(load_lanes)){CSR_VALUE(data, (q)), CSR_VALUE(data, (q) + 1),                    \
                               CSR_VALUE(data, (q) + 2), CSR_VALUE(data, (q) + 3)}                \
             * (K(load_lanes)){x[c0], x[c1], x[c2], x[c3]};                                       \
    } while (0)
    for (; p + 8 <= p1; p += 8) {
        DOT_STEP(sum0, p);
        DOT_STEP(sum1, p + 4);
    }
    if (p + 4 <= p1) {
        DOT_STEP(sum0, p);
        p += 4;
    }
    REAL tail = 0;
    for (int j = 0; j < 3 && p < p1; ++j, ++p) { /* a constant bound: not vectorised */
        COL c = indices[p];
        if (checked && K(column_outside)(&c, last)) {
            *bad = 1;
            return 0;
        }
        tail += CSR_VALUE(data, p) * x[c];
    }
#undef DOT_STEP
    sum0 += sum1;
    return ((sum0[0] + sum0[2]) + (sum0[1] + sum0[3])) + tail;
}

/* The row's entries [p0, p1) times x (checked as in both above): AVX-512's gathers where
 * sn_hw_gathers says they beat the loads (Intel), else the loads. On AMD Zen 5 (AVX-512 with
 * 512-bit units) the gathers took 1.7x the loads' time on DLMC ResNet-50 at 90%, N=1; the
 * comment above gives the Xeon's figures the other way. The flag is one per process, read per
 * row: a predicted branch. */
static inline __attribute__((always_inline)) REAL K(gather_dot)(
    sn_size p0, sn_size p1, const COL *indices, CSR_VALUES data, const REAL *x, const int checked,
    INDEX last, int *bad)
{
#ifdef SN_CSR_HW_GATHERS
    if (sn_hw_gathers) return K(gather_dot_hw)(p0, p1, indices, data, x, checked, last, bad);
#endif
    return K(gather_dot_loads)(p0, p1, indices, data, x, checked, last, bad);
}
#define SN_CSR_REGISTER_CHECK 1
#endif

#ifdef SN_CSR_REGISTER_CHECK /* csr_kernels.h: the checked vector product uses gather_dot */
/* Inlined into the row loops: as a call (GCC's choice) the row's entries waited for six saved
 * registers and a realigned stack, and DLMC ResNet-50 at 90%, N=1, took 8% longer (Zen 5). */
static inline __attribute__((always_inline)) REAL K(dot_segment)(
    sn_size p0, sn_size p1, const COL *indices, CSR_VALUES data, const REAL *x)
{
    return K(gather_dot)(p0, p1, indices, data, x, 0, 0, NULL);
}
#else
/* sum_p CSR_VALUE(data, p) * x[indices[p]]: a gather-FMA reduction. */
static inline __attribute__((always_inline)) REAL K(dot_segment)(
    sn_size p0, sn_size p1, const COL *indices, CSR_VALUES data, const REAL *x)
{
    REAL sum = 0;
#pragma omp simd reduction(+ : sum)
    for (sn_size p = p0; p < p1; ++p)
        sum += CSR_VALUE(data, p) * x[indices[p]];
    return sum;
}
#endif

/* A vector's lanes under `mask` (a bit per lane), 0 in the others, and their store: AVX-512's
 * masked loads and stores touch no memory outside the mask. */
#if SN_VBYTES == 64
static inline __attribute__((always_inline)) VEC K(load_masked)(const REAL *p, unsigned mask)
{
    if (sizeof(REAL) == 4) return (VEC)_mm512_maskz_loadu_ps((__mmask16)mask, (const float *)p);
    return (VEC)_mm512_maskz_loadu_pd((__mmask8)mask, (const double *)p);
}
static inline __attribute__((always_inline)) void K(store_masked)(REAL *p, unsigned mask, VEC v)
{
    if (sizeof(REAL) == 4)
        _mm512_mask_storeu_ps((float *)p, (__mmask16)mask, (__m512)v);
    else
        _mm512_mask_storeu_pd((double *)p, (__mmask8)mask, (__m512d)v);
}
/* The same at half width (AVX-512VL): Zen 4 runs 512-bit FMAs and loads as two halves, so a last
 * vector of at most VLEN / 2 columns costs half as much at 256 bits. */
typedef REAL K(half_vec) __attribute__((vector_size(32)));
static inline __attribute__((always_inline)) K(half_vec) K(load_half)(const REAL *p, unsigned mask)
{
    if (sizeof(REAL) == 4)
        return (K(half_vec))_mm256_maskz_loadu_ps((__mmask8)mask, (const float *)p);
    return (K(half_vec))_mm256_maskz_loadu_pd((__mmask8)mask, (const double *)p);
}
static inline __attribute__((always_inline)) void K(store_half)(REAL *p, unsigned mask,
                                                                K(half_vec) v)
{
    if (sizeof(REAL) == 4)
        _mm256_mask_storeu_ps((float *)p, (__mmask8)mask, (__m256)v);
    else
        _mm256_mask_storeu_pd((double *)p, (__mmask8)mask, (__m256d)v);
}
#endif

/* yi[c + j*VLEN : c + (j+1)*VLEN] (+)= sum_p CSR_VALUE(data, p) * X[indices[p], same columns] for
 * j < nv <= 12 (nv is a constant wherever this is inlined, so the sums stay in registers: 12 sums
 * and the broadcast value fit AVX2's 16 registers). Narrow tiles take entries `ways` at a time into
 * separate sums so the FMA latency does not serialise them; a tile of 5 vectors or more has sums
 * enough in flight and takes one entry at a time, which halves the index, value and loop work per
 * FMA (MiniLM FFN 1536 x 384 at 10%, 128 columns, a C model of the plain sweep: 1.2-1.5x; no
 * change measured on column blocks). With `prefetch` (sn_csr_prefetches), the X rows needed
 * SN_CSR_PREFETCH entries later are requested early, one prefetch a cache line: they are random,
 * no hardware prefetcher can. The entries that have none that far ahead, and every entry of a
 * sweep that does not prefetch, run in a loop of their own, without the test. With masked_last (a
 * constant; AVX-512 only), vector nv - 1 is read and written in the lanes of `lanes` only; at 256
 * bits when masked_last is 2. */
static inline __attribute__((always_inline)) void K(gather_tile)(
    sn_size p0, sn_size p1, const COL *indices, CSR_VALUES data, sn_size ld, const REAL *X,
    REAL *yi, sn_size c, const int nv, const int accumulate, const int masked_last,
    const unsigned lanes, const int prefetch)
{
    enum { MAX_WAYS = 4, MAX_NV = 12, LINE_VECS = SN_VBYTES >= 64 ? 1 : 64 / SN_VBYTES };
#if SN_VBYTES == 64 /* vector j of the REALs at p (p[j] as vectors), masked when the last */
#define TILE_LOAD(p, j) \
    ((masked_last && (j) == nv - 1) ? K(load_masked)((const REAL *)((p) + (j)), lanes) : (p)[j])
#else
#define TILE_LOAD(p, j) ((p)[j])
#endif
    const int ways = nv == 1 ? 4 : nv < 5 ? 2 : 1;
#if SN_VBYTES == 64
    const int half = masked_last == 2, full = nv - half; /* vectors at full width */
    K(half_vec) hpart[MAX_WAYS];
    for (int w = 0; w < ways; ++w) hpart[w] = (K(half_vec)){0};
#define HALF_ENTRY(w, xr, v) if (half) hpart[w] += (v) * K(load_half)((const REAL *)((xr) + full), lanes)
#else
    const int full = nv;
#define HALF_ENTRY(w, xr, v)
#endif
    VEC part[MAX_WAYS][MAX_NV];
    for (int w = 0; w < ways; ++w)
        for (int j = 0; j < full; ++j) part[w][j] = (VEC){0};
    sn_size p = p0;
#define TILE_ENTRY_AT(w, q, col)                                                                  \
    do {                                                                                          \
        const REAL v = CSR_VALUE(data, q);                                                        \
        const VEC *xr = (const VEC *)(X + (sn_size)(col) * ld + c);                               \
        for (int j = 0; j < full; ++j) part[w][j] += v * TILE_LOAD(xr, j);                        \
        HALF_ENTRY(w, xr, v);                                                                     \
    } while (0)
#define TILE_ENTRY(w, q) TILE_ENTRY_AT(w, q, indices[q])
#define TILE_ENTRIES(q)                                                                           \
    do {                                                                                          \
        COL cs[MAX_WAYS];                                                                         \
        if (ways == 4)                                                                            \
            K(four_columns)(indices + (q), cs, cs + 1, cs + 2, cs + 3);                           \
        else if (ways == 2)                                                                       \
            K(two_columns)(indices + (q), cs, cs + 1);                                            \
        else                                                                                      \
            cs[0] = indices[q];                                                                   \
        for (int w = 0; w < ways; ++w) TILE_ENTRY_AT(w, (q) + w, cs[w]);                          \
    } while (0)
    for (const sn_size ahead_end = prefetch ? p1 : p0; p + SN_CSR_PREFETCH + ways <= ahead_end;
         p += ways) {
        for (int w = 0; w < ways; ++w) {
            const REAL *ahead = X + (sn_size)indices[p + SN_CSR_PREFETCH + w] * ld + c;
            for (int j = 0; j < nv; j += LINE_VECS) __builtin_prefetch(ahead + j * VLEN);
        }
        TILE_ENTRIES(p);
    }
    for (; p + ways <= p1; p += ways) TILE_ENTRIES(p);
    for (; p < p1; ++p) TILE_ENTRY(0, p);
#undef TILE_ENTRIES
#undef TILE_ENTRY_AT
#undef TILE_ENTRY
#undef HALF_ENTRY
    VEC *yr = (VEC *)(yi + c);
#if SN_VBYTES == 64
    if (half) {
        K(half_vec) sum = hpart[0];
        for (int w = 1; w < ways; ++w) sum += hpart[w];
        if (accumulate) sum += K(load_half)((const REAL *)(yr + full), lanes);
        K(store_half)((REAL *)(yr + full), lanes, sum);
    }
#endif
    for (int j = 0; j < full; ++j) {
        VEC sum = part[0][j];
        for (int w = 1; w < ways; ++w) sum += part[w][j];
        if (accumulate) sum += TILE_LOAD(yr, j);
#if SN_VBYTES == 64
        if (masked_last && j == nv - 1) {
            K(store_masked)((REAL *)(yr + j), lanes, sum);
            continue;
        }
#endif
        yr[j] = sum;
    }
}
#undef TILE_LOAD

/* yi[c:c + n] (+)= sum_p CSR_VALUE(data, p) * X[indices[p], c:c + n] for n < VLEN columns (X's
 * rows ld apart): a 32-byte vector, a 16-byte one, then columns one by one, as many as fit, the
 * largest first, so that none of these loads crosses a cache line when the columns start at a
 * vector boundary or end at one (the peel, gather_rows). Entries four at a time into separate
 * sums: one vector of sums would wait on each FMA's latency. Where 196 columns (DLMC) ended in four
 * columns one by one, one 16-byte vector took their place. */
static inline __attribute__((always_inline)) void K(gather_narrow)(
    sn_size p0, sn_size p1, const COL *indices, CSR_VALUES data, sn_size ld, const REAL *X,
    REAL *yi, sn_size c, sn_size n, const int accumulate)
{
    const sn_size end = c + n;
#define NARROW_PART(bytes)                                                                        \
    if (SN_VBYTES > (bytes) && end - c >= (sn_size)((bytes) / sizeof(REAL))) {                   \
        typedef REAL part_vec __attribute__((vector_size(bytes), aligned(sizeof(REAL)), may_alias)); \
        part_vec sum[4] = {{0}, {0}, {0}, {0}};                                                   \
        sn_size p = p0;                                                                           \
        for (; p + 4 <= p1; p += 4)                                                               \
            for (int w = 0; w < 4; ++w)                                                           \
                sum[w] += CSR_VALUE(data, p + w)                                                  \
                          * *(const part_vec *)(X + (sn_size)indices[p + w] * ld + c);            \
        for (; p < p1; ++p)                                                                       \
            sum[0] += CSR_VALUE(data, p) * *(const part_vec *)(X + (sn_size)indices[p] * ld + c); \
        sum[0] = (sum[0] + sum[1]) + (sum[2] + sum[3]);                                           \
        part_vec *y = (part_vec *)(yi + c);                                                       \
        if (accumulate) sum[0] += *y;                                                             \
        *y = sum[0];                                                                              \
        c += (bytes) / sizeof(REAL);                                                              \
    }
    NARROW_PART(32)
    NARROW_PART(16)
#undef NARROW_PART
    for (; c < end; ++c) {
        REAL sum = 0;
        for (sn_size p = p0; p < p1; ++p)
            sum += CSR_VALUE(data, p) * X[(sn_size)indices[p] * ld + c];
        yi[c] = accumulate ? yi[c] + sum : sum;
    }
}

/* yi[0:k] = sum_p CSR_VALUE(data, p) * X[indices[p], 0:k], or += with accumulate; X's rows are
 * ld apart; k > 1. The columns go in tiles of 12 vectors (as many sums as there are registers for)
 * while more than 16 remain, then 16 or fewer in at most two tiles (8 and the rest, or the rest
 * alone when it is 12 or under 9): each tile sweeps the segment's entries again, and column
 * blocks' segments are short (about 13 entries on DLMC ResNet-50), so a sweep's fixed costs
 * count. Against tiles of at most 8 vectors and a remainder in tiles of 4, 2 and 1, DLMC
 * ResNet-50's optimize()d products (one thread, Zen 1, AVX2) ran 1.05x faster at 80% and 90% and
 * 1.02x at 98% in geometric mean (the fastest of 7 calls per layer, 8 rounds alternating the
 * builds; 1.06-1.08x on its 49- and 196-column layers); the MiniLM FFN of sparsenet.torch (16
 * vectors: 8 + 8, as before) and 8192^2 products at 64 columns did not change. The columns left
 * over (under one vector) were not worth a vector of their own ending the row on AVX2, neither in
 * a sweep of their own nor as one more sum of the last tile (no faster, and 30% more code), nor by
 * AVX2's masked loads (the DLMC sweep at 90% from 53 to 66 ms). AVX-512's masked loads and stores
 * cost what plain ones do: there they end the last tile (49 columns: 3 vectors + 1 masked), which
 * with X's rows padded to whole cache lines (_validate.as_matrix_operand) took DLMC ResNet-50's
 * optimize()d products at 90% (one thread, Zen 4) from 35.5 to 41.8 GFLOP/s on the 49-column
 * layers and 45.5 to 52.2 on the 196-column ones; the masked tail alone, rows unpadded, gained
 * nothing (34.6, 46.0): split loads were the cost. A last vector of at most VLEN / 2 columns
 * goes at 256 bits (load_half), half the cost on Zen 4: 49 columns 43.4 -> 46.2 GFLOP/s, 196
 * columns 52.3 -> 54.2 (DLMC at 90%, three rounds alternating the builds). */
static inline __attribute__((always_inline)) void K(gather_segment)(
    sn_size p0, sn_size p1, const COL *indices, CSR_VALUES data, sn_size k, sn_size ld,
    const REAL *X, REAL *yi, const int accumulate, const int prefetch)
{
    sn_size c = 0, vectors = k / VLEN;
    /* AVX-512: the columns under a vector end the last tile as a masked vector, not a sweep of
     * their own (below) */
    const unsigned lanes = SN_VBYTES == 64 ? (1u << (k % VLEN)) - 1 : 0;
    if (lanes) vectors += 1;
#define TILE(nv, last)                                                                            \
    do {                                                                                          \
        K(gather_tile)(p0, p1, indices, data, ld, X, yi, c, nv, accumulate, last, lanes,         \
                       prefetch);                                                                 \
        c += (nv) * VLEN;                                                                         \
        vectors -= (nv);                                                                          \
    } while (0)
#define LAST_TILE(last)                                                                           \
    switch (vectors) {                                                                            \
    case 12: TILE(12, last); break;                                                               \
    case 8: TILE(8, last); break;                                                                 \
    case 7: TILE(7, last); break;                                                                 \
    case 6: TILE(6, last); break;                                                                 \
    case 5: TILE(5, last); break;                                                                 \
    case 4: TILE(4, last); break;                                                                 \
    case 3: TILE(3, last); break;                                                                 \
    case 2: TILE(2, last); break;                                                                 \
    case 1: TILE(1, last); break;                                                                 \
    default: break;                                                                               \
    }
    while (vectors > 16) TILE(12, 0);
    if (vectors > 12 || (vectors > 8 && vectors < 12)) TILE(8, 0); /* 16 as 8 + 8, not 12 + 4 */
    if (lanes && k % VLEN <= VLEN / 2) {
        LAST_TILE(2)
    } else if (lanes) {
        LAST_TILE(1)
    } else {
        LAST_TILE(0)
    }
#undef LAST_TILE
#undef TILE
    if (c < k) K(gather_narrow)(p0, p1, indices, data, ld, X, yi, c, k - c, accumulate);
}

/* Y[i, 0:k] (+)= row i of A times X[:, 0:k] for the rows [r0, r1) (X's and Y's rows ld apart),
 * row i's entries being [start[i], end[i]) (end = start + 1 for CSR row pointers; another block's
 * starts for csr_split_matmul); the first `peel` columns of each row narrow (peel_columns), the
 * rest from the vector boundary. With SN_CSR_AHEAD_SEGMENTS in `ahead` (csr_tuning.h), the first
 * and last lines of the entries AHEAD rows on are requested early: csr_split_matmul's segments are
 * short runs scattered through the CSR arrays, which the hardware prefetchers do not follow
 * (MiniLM FFN, 12 matrices at 10%, 128 columns: 7.4-8.8 -> 5.5-6.3 ms, 4 runs in 5); with
 * SN_CSR_AHEAD_X, the rows of X (gather_tile). */
static inline __attribute__((always_inline)) void K(gather_rows_k)(
    sn_size r0, sn_size r1, const INDEX *start, const INDEX *end, const COL *indices,
    CSR_VALUES data, sn_size k, sn_size peel, sn_size ldx, sn_size ldy, const REAL *X, REAL *Y,
    int accumulate, int ahead)
{
    enum { AHEAD = 8 };
    for (sn_size i = r0; i < r1; ++i) {
        if ((ahead & SN_CSR_AHEAD_SEGMENTS) && i + AHEAD < r1
            && start[i + AHEAD] < end[i + AHEAD]) {
            const sn_size p = start[i + AHEAD], q = (sn_size)end[i + AHEAD] - 1;
            __builtin_prefetch(indices + p);
            __builtin_prefetch(&CSR_VALUE(data, p));
            __builtin_prefetch(indices + q);
            __builtin_prefetch(&CSR_VALUE(data, q));
        }
        if (peel)
            K(gather_narrow)(start[i], end[i], indices, data, ldx, X, Y + i * ldy, 0, peel,
                             accumulate);
        K(gather_segment)(start[i], end[i], indices, data, k - peel, ldx, X + peel,
                          Y + i * ldy + peel, accumulate, ahead & SN_CSR_AHEAD_X);
    }
}

/* The columns to take first (gather_narrow) so that the rest of every row of X (k columns of rows
 * ld apart) loads as whole aligned vectors, or 0. That needs rows that all start equally far
 * before a vector boundary (a stride ld of whole vectors), and pays when rows are wide: each row
 * of A then sweeps its entries twice more (this and the narrow end), against loads split across
 * cache lines that cost 1.2-1.8x on DLMC ResNet-50 layers of 784 and 3136 columns (Xeon,
 * AVX-512). NumPy's large arrays start 16 bytes into a page; copying X to an aligned buffer
 * instead cost more than it saved on every DLMC layer (_validate.as_matrix_operand copies it only
 * for matrices that read its rows many times).
 * Below 32 vectors a row, the extra sweeps cost as much as the split loads (k = 256, 8192^2 and
 * 4096^2 at 10%). */
static inline sn_size K(peel_columns)(const REAL *X, sn_size k, sn_size ld)
{
    const sn_size misaligned = (sn_size)((uintptr_t)X % SN_VBYTES);
    if (misaligned == 0 || misaligned % sizeof(REAL) != 0 || k < 32 * VLEN
        || ld * sizeof(REAL) % SN_VBYTES != 0)
        return 0;
    return (SN_VBYTES - misaligned) / sizeof(REAL);
}

/* Columns per panel of a product whose blocks are `rows` columns of A wide (rows of X; a plain CSR
 * product is one block of all its columns), or k for no panels. gather_panels sweeps every row and
 * block over one panel of X's and Y's columns before the next, so that a block's slice of X stays
 * in L1 (SN_CSR_PANEL_BYTES) where whole rows of X left it in L2 or beyond, and Y's panel stays in
 * L2 across the blocks. Against whole rows, DLMC ResNet-50's optimize()d products (one thread, Zen
 * 4, AVX-512) ran 1.10x faster at 80% and 1.05x at 90% in geometric mean (1.32x and 1.09x on the
 * 784-column layers, 1.14x and 1.07x on the 3136-column ones; the fastest of 7 calls per layer, 4
 * rounds alternating the builds), and alike at 95% and 98% (0.99-1.0x). Panels are of equal width
 * in whole vectors; none when a slice of 4 vectors does not fit (98%: blocks of 512 columns, where
 * panels of 64 columns cost 2%), or when k is under two panels' width (the extra sweeps then cost
 * what the cache saves: 0.975x on the 196-column layers at 80%). Where L1 takes 4 to 7 vectors and
 * X's rows are wide (k of 4 such panels or more), panels of 8, their slice in L2: each sweep of a
 * row segment (about 13 entries) then does twice the work. DLMC at 90% (blocks of 128 columns):
 * 1.04-1.07x on the 784-column layers, 1.03-1.06x on the 3136-column ones, 1.3x on the 12544-column
 * one (three runs interleaving both in one process); 8 vectors on the 196-column layers cost 4%,
 * and at 95% (a slice of 128 KiB) 5%. The plain kernel takes panels too (plain_panel): DLMC's
 * layers of at most 128 columns as a plain CSR, three rounds alternating the builds, 784 columns
 * 1.10-1.13x and 3136 columns 1.21-1.29x faster at 80% and 90%. */
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

/* Columns per panel of the plain kernel's A X (column_panel, A as one block of its n_cols
 * columns), or k for none: a panel sweeps every row's entries once more, which pays only for rows
 * of SN_CSR_PANEL_MIN_ENTRIES or more on average. Decided for the whole matrix, never per thread:
 * panels regroup a row's sums (gather_tile's ways), and results must not depend on the thread
 * count. sparsenet.CSR.optimize asks the same question (csr_panel_columns). */
static inline sn_size K(plain_panel)(sn_size n_rows, sn_size n_cols, sn_size nnz, sn_size k)
{
    return nnz < SN_CSR_PANEL_MIN_ENTRIES * n_rows ? k : K(column_panel)(k, n_cols);
}

/* Y[i, :] (+)= row i of A times X for the rows [r0, r1), in panels of `panel` columns
 * (column_panel), each panel through all n_blocks blocks of columns before the next: row i's
 * entries in block b are [start[i], start[i + 1]), start = starts + b * block_stride, and gather
 * from X + b * x_block_offset (a plain CSR: one block, its row pointers). The first panel also
 * takes the columns before X's rows reach a vector boundary (peel_columns), the last the columns
 * under a vector past the last whole panel. A panel's slice of X is in cache by its size: no
 * prefetches (sn_csr_prefetches). */
static void K(gather_panels)(sn_size r0, sn_size r1, sn_size n_blocks, const INDEX *starts,
                             sn_size block_stride, const COL *indices, CSR_VALUES data, sn_size k,
                             sn_size ldx, const REAL *X, sn_size x_block_offset, REAL *Y,
                             sn_size panel)
{
    const sn_size lead = K(peel_columns)(X, k, ldx);
    for (sn_size c0 = 0, c1; c0 < k; c0 = c1) {
        c1 = SN_MIN(k, c0 + (c0 == 0 ? lead : 0) + panel);
        if (k - c1 < VLEN) c1 = k;
        for (sn_size b = 0; b < n_blocks; ++b) {
            const INDEX *start = starts + b * block_stride;
            K(gather_rows_k)(r0, r1, start, start + 1, indices, data, c1 - c0, c0 == 0 ? lead : 0,
                             ldx, k, X + b * x_block_offset + c0, Y + c0, b > 0, 0);
        }
    }
}

/* Y[i, :] (+)= row i of A times X (gather_rows_k), for any k, X's rows ldx >= k apart, requesting
 * early what `ahead` says (csr_tuning.h); with fixed_widths, k is a compile-time constant for the
 * common batch widths, so X's row offsets cost a shift, not a multiply. That was a quarter of the
 * time of column blocks' A X at k = 64 on Zen 4 (X's rows in L2), and made the plain kernel (X's
 * rows in L3) 5% slower. Padded rows of 64 (DLMC's 49 columns) likewise: 80% and 90% alike or up
 * to 1.1x faster on Zen 4 in three rounds alternating the builds (a noisy day). */
static void K(gather_rows)(sn_size r0, sn_size r1, const INDEX *start, const INDEX *end,
                           const COL *indices, CSR_VALUES data, sn_size k, sn_size ldx,
                           const REAL *X, REAL *Y, int accumulate, int fixed_widths,
                           int ahead)
{
    if (k == 1 && ldx == 1) {
        for (sn_size i = r0; i < r1; ++i) {
            const REAL sum = K(dot_segment)(start[i], end[i], indices, data, X);
            Y[i] = accumulate ? Y[i] + sum : sum;
        }
        return;
    }
#define ROWS(width, ldx) \
    K(gather_rows_k)(r0, r1, start, end, indices, data, width, K(peel_columns)(X, width, ldx), \
                     ldx, width, X, Y, accumulate, ahead)
#if SN_X86_DISPATCH && SN_VBYTES == 16
    /* x86's baseline runs only where AVX2 is missing (CPUs before 2013) or capped: no copies for
     * the constant widths, which took 18 s of the build's 270 s of compile time (GCC 12, Zen 3) */
    fixed_widths = 0;
#endif
    if (fixed_widths && ldx == 64 && k < 64) { /* padded rows (as_matrix_operand): 49 in 64 */
        ROWS(k, 64);
        return;
    }
    switch (fixed_widths && ldx == k ? k : 0) {
    case 16: ROWS(16, 16); break;
    case 32: ROWS(32, 32); break;
    case 64: ROWS(64, 64); break;
    case 128: ROWS(128, 128); break;
    default: ROWS(k, ldx); break;
#undef ROWS
    }
}
