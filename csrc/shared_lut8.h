/* Table lookups of a float32 codebook of <= 256 entries by uint8 codes, in registers (AVX-512 VBMI;
 * the matvec also without VBMI, by 16-bit halves: sn_lutw below).
 *
 * Included once by shared.c on x86-64; used by the avx512 level of the f32/u8 kernels of
 * shared_kernels.h at the avx512vbmi dispatch level (sn_instantiate.h with SN_WITH_VBMI). Gathers are slow on some AVX-512 CPUs
 * (Zen 4: about one element per cycle, slower than scalar loads), so each of the four bytes of the
 * codebook's floats is kept as a 256-byte table in four registers and looked up 64 codes at a time
 * with two vpermi2b and a blend; byte unpacks then rebuild the floats. The 64 codes are first
 * permuted so that the unpacks, which work within 128-bit lanes, leave the floats in natural order.
 * Every function gives exactly the values codebook[codes]; only summation orders differ from the
 * portable loops. */
#if SN_X86_DISPATCH
#include <immintrin.h>

#define SN_LUT8_TARGET __attribute__((target(SN_TARGET_AVX512 ",avx512vbmi")))

/* Byte b of the float codebook[64 h + m] is byte m of tables[4 b + h] (entries past n_codes: 0). */
typedef struct {
    __m512i tables[16];
    __m512i order; /* the code permutation that the unpacks undo */
} sn_lut8;

SN_LUT8_TARGET static void sn_lut8_init(sn_lut8 *lut, const float *codebook, sn_size n_codes)
{
    uint8_t bytes[4][256] = {{0}};
    for (sn_size c = 0; c < n_codes; ++c) {
        uint32_t u;
        memcpy(&u, codebook + c, sizeof u);
        for (int b = 0; b < 4; ++b)
            bytes[b][c] = (uint8_t)(u >> (8 * b));
    }
    for (int b = 0; b < 4; ++b)
        for (int h = 0; h < 4; ++h)
            lut->tables[4 * b + h] = _mm512_loadu_si512(bytes[b] + 64 * h);
    /* After the unpacks, float d of 128-bit lane L of output q comes from code 16 L + 4 q + d; feed
     * it code 16 q + 4 L + d (the permutation is its own inverse). */
    uint8_t order[64];
    for (int q = 0; q < 4; ++q)
        for (int l = 0; l < 4; ++l)
            for (int d = 0; d < 4; ++d)
                order[16 * l + 4 * q + d] = (uint8_t)(16 * q + 4 * l + d);
    lut->order = _mm512_loadu_si512(order);
}

/* The lookup without the code permutation: f[q] holds codebook[codes[P(16 q + e)]], e = 0..15, with
 * P(16 q + 4 l + d) = 16 l + 4 q + d (its own inverse). Callers that can permute the other operand
 * once (x, or the sums) save a shuffle per 64 codes. */
SN_LUT8_TARGET static inline void sn_lut8_lookup_raw(const sn_lut8 *lut, __m512i ix, __m512 f[4])
{
    const __mmask64 upper = _mm512_movepi8_mask(ix); /* codes >= 128 */
    __m512i plane[4];
    for (int b = 0; b < 4; ++b) {
        const __m512i *t = lut->tables + 4 * b;
        const __m512i lo = _mm512_permutex2var_epi8(t[0], ix, t[1]);
        const __m512i hi = _mm512_permutex2var_epi8(t[2], ix, t[3]);
        plane[b] = _mm512_mask_blend_epi8(upper, lo, hi);
    }
    const __m512i w01l = _mm512_unpacklo_epi8(plane[0], plane[1]);
    const __m512i w01h = _mm512_unpackhi_epi8(plane[0], plane[1]);
    const __m512i w23l = _mm512_unpacklo_epi8(plane[2], plane[3]);
    const __m512i w23h = _mm512_unpackhi_epi8(plane[2], plane[3]);
    f[0] = _mm512_castsi512_ps(_mm512_unpacklo_epi16(w01l, w23l));
    f[1] = _mm512_castsi512_ps(_mm512_unpackhi_epi16(w01l, w23l));
    f[2] = _mm512_castsi512_ps(_mm512_unpacklo_epi16(w01h, w23h));
    f[3] = _mm512_castsi512_ps(_mm512_unpackhi_epi16(w01h, w23h));
}

static inline int sn_lut8_perm(int p)
{
    return 16 * ((p >> 2) & 3) + 4 * (p >> 4) + (p & 3);
}

/* f[q] = codebook[codes[16 q + e]], e = 0..15, for the 64 codes in `ix`. */
SN_LUT8_TARGET static inline void sn_lut8_lookup(const sn_lut8 *lut, __m512i ix, __m512 f[4])
{
    sn_lut8_lookup_raw(lut, _mm512_permutexvar_epi8(lut->order, ix), f);
}

/* The codes of [j, j + 64) of a row with `left` = n - j codes left (< 64: masked, zeros past the end),
 * and the per-output lane masks. */
SN_LUT8_TARGET static inline __m512i sn_lut8_load(const uint8_t *codes, sn_size left, __mmask16 m[4])
{
    if (left >= 64) {
        m[0] = m[1] = m[2] = m[3] = (__mmask16)0xFFFF;
        return _mm512_loadu_si512(codes);
    }
    for (int q = 0; q < 4; ++q) {
        const sn_size n = SN_MAX((sn_size)0, SN_MIN((sn_size)16, left - 16 * q));
        m[q] = (__mmask16)((1u << n) - 1u);
    }
    return _mm512_maskz_loadu_epi8(_cvtu64_mask64((~0ULL) >> (64 - left)), codes);
}

/* y[i] = sum_j codebook[codes[i, j]] x[j] for rows [r0, r1). Full blocks of 64 use the raw lookup
 * against x permuted once (xp, n_cols floats of scratch; NULL: permute the codes instead), the last
 * partial block the natural one. One row at a time keeps the 16 tables in registers. */
SN_LUT8_TARGET static void sn_lut8_matvec_rows(sn_size r0, sn_size r1, sn_size n_cols,
                                               const float *codebook, sn_size n_codes,
                                               const uint8_t *codes, const float *x, float *y,
                                               float *xp)
{
    sn_lut8 lut;
    sn_lut8_init(&lut, codebook, n_codes);
    const sn_size full = n_cols / 64 * 64;
    if (xp != NULL)
        for (sn_size j = 0; j < full; j += 64)
            for (int p = 0; p < 64; ++p)
                xp[j + p] = x[j + sn_lut8_perm(p)];
    for (sn_size i = r0; i < r1; ++i) {
        const uint8_t *row = codes + i * n_cols;
        __m512 s[4], f[4];
        __mmask16 m[4];
        for (int q = 0; q < 4; ++q)
            s[q] = _mm512_setzero_ps();
        if (xp != NULL) {
            for (sn_size j = 0; j < full; j += 64) {
                sn_lut8_lookup_raw(&lut, _mm512_loadu_si512(row + j), f);
                for (int q = 0; q < 4; ++q)
                    s[q] = _mm512_fmadd_ps(f[q], _mm512_loadu_ps(xp + j + 16 * q), s[q]);
            }
        } else {
            for (sn_size j = 0; j < full; j += 64) {
                sn_lut8_lookup(&lut, _mm512_loadu_si512(row + j), f);
                for (int q = 0; q < 4; ++q)
                    s[q] = _mm512_fmadd_ps(f[q], _mm512_loadu_ps(x + j + 16 * q), s[q]);
            }
        }
        if (full < n_cols) {
            sn_lut8_lookup(&lut, sn_lut8_load(row + full, n_cols - full, m), f);
            for (int q = 0; q < 4; ++q)
                s[q] = _mm512_mask3_fmadd_ps(f[q], _mm512_maskz_loadu_ps(m[q], x + full + 16 * q), s[q], m[q]);
        }
        y[i] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])));
    }
}

/* y[c0:c1] = sum_i x[i] codebook[codes[i, c0:c1]] (c1 - c0 small enough for y[c0:c1] to stay in
 * L1): the rows stream by in order, two at a time, each adding into y; full blocks of 64 columns
 * accumulate in the raw lookup's order and are put back in place at the end. The summation order of
 * every y[j] is the portable loop's: row 0, row 1, ... */
SN_LUT8_TARGET static void sn_lut8_matvec_t_cols(sn_size c0, sn_size c1, sn_size n_rows,
                                                 sn_size n_cols, const float *codebook,
                                                 sn_size n_codes, const uint8_t *codes,
                                                 const float *x, float *y)
{
    sn_lut8 lut;
    sn_lut8_init(&lut, codebook, n_codes);
    const sn_size full = c0 + (c1 - c0) / 64 * 64;
    for (sn_size j = c0; j < c1; ++j)
        y[j] = 0;
    sn_size i = 0;
    for (; i + 2 <= n_rows; i += 2) {
        const uint8_t *a = codes + i * n_cols, *b = a + n_cols;
        const __m512 xa = _mm512_set1_ps(x[i]), xb = _mm512_set1_ps(x[i + 1]);
        for (sn_size j = c0; j < full; j += 64) {
            __m512 fa[4], fb[4];
            sn_lut8_lookup_raw(&lut, _mm512_loadu_si512(a + j), fa);
            sn_lut8_lookup_raw(&lut, _mm512_loadu_si512(b + j), fb);
            for (int q = 0; q < 4; ++q) {
                float *yq = y + j + 16 * q;
                _mm512_storeu_ps(yq, _mm512_fmadd_ps(xb, fb[q], _mm512_fmadd_ps(xa, fa[q], _mm512_loadu_ps(yq))));
            }
        }
    }
    for (; i < n_rows; ++i) {
        const uint8_t *a = codes + i * n_cols;
        const __m512 xa = _mm512_set1_ps(x[i]);
        for (sn_size j = c0; j < full; j += 64) {
            __m512 fa[4];
            sn_lut8_lookup_raw(&lut, _mm512_loadu_si512(a + j), fa);
            for (int q = 0; q < 4; ++q) {
                float *yq = y + j + 16 * q;
                _mm512_storeu_ps(yq, _mm512_fmadd_ps(xa, fa[q], _mm512_loadu_ps(yq)));
            }
        }
    }
    for (sn_size j = c0; j < full; j += 64) {
        float sums[64];
        memcpy(sums, y + j, sizeof sums);
        for (int p = 0; p < 64; ++p)
            y[j + sn_lut8_perm(p)] = sums[p];
    }
    if (full < c1) { /* the last partial block: natural order, masked */
        __mmask16 m[4];
        __m512 s[4], f[4];
        for (int q = 0; q < 4; ++q)
            s[q] = _mm512_setzero_ps();
        for (sn_size r = 0; r < n_rows; ++r) {
            sn_lut8_lookup(&lut, sn_lut8_load(codes + r * n_cols + full, c1 - full, m), f);
            const __m512 xr = _mm512_set1_ps(x[r]);
            for (int q = 0; q < 4; ++q)
                s[q] = _mm512_fmadd_ps(xr, f[q], s[q]);
        }
        for (int q = 0; q < 4; ++q) {
            const sn_size n = SN_MAX((sn_size)0, SN_MIN((sn_size)16, c1 - full - 16 * q));
            _mm512_mask_storeu_ps(y + full + 16 * q, (__mmask16)((1u << n) - 1u), s[q]);
        }
    }
}

/* buf[(i - r0) (c1 - c0) + j - c0] = codebook[codes[i, j]] for rows [r0, r1), columns [c0, c1). */
SN_LUT8_TARGET static void sn_lut8_decode_rows(sn_size r0, sn_size r1, sn_size c0, sn_size c1,
                                               sn_size n_cols, const float *codebook,
                                               sn_size n_codes, const uint8_t *codes, float *buf)
{
    sn_lut8 lut;
    sn_lut8_init(&lut, codebook, n_codes);
    const sn_size width = c1 - c0;
    for (sn_size i = r0; i < r1; ++i) {
        const uint8_t *row = codes + i * n_cols + c0;
        float *out = buf + (i - r0) * width;
        for (sn_size j = 0; j < width; j += 64) {
            __mmask16 m[4];
            __m512 f[4];
            sn_lut8_lookup(&lut, sn_lut8_load(row + j, width - j, m), f);
            for (int q = 0; q < 4; ++q)
                _mm512_mask_storeu_ps(out + j + 16 * q, m[q], f[q]);
        }
    }
}

/* ---- without VBMI (AVX-512 BW): the floats' two 16-bit halves as 256-entry word tables ----
 * vpermt2w looks up 64 words from two registers, 32 codes at a time: four lookups and three blends
 * (on code bits 6 and 7) per half, then two word unpacks rebuild 32 floats. That is 8 lookups per
 * 32 codes where 32-bit lookups (vpermt2ps, 32 floats from two registers) take 8 per 16 codes and 7
 * blends (1.9 ms against 1.0 in a C model). shared_matvec at 4096^2, K=256, one thread, AMD Zen 5
 * with set_isa("avx512"): 1.03-1.37 ms against 3.6-3.9 ms for one load a weight (the level's path
 * until then), 20-25x NumPy's decode-then-GEMV. Used by both matvecs. */
#define SN_LUTW_TARGET __attribute__((target(SN_TARGET_AVX512)))

/* Half h (0: low, 1: high 16 bits) of the float codebook[32 t + m] is word m of tables[8 h + t]
 * (entries past n_codes: 0). */
typedef struct {
    __m512i tables[16];
} sn_lutw;

SN_LUTW_TARGET static void sn_lutw_init(sn_lutw *lut, const float *codebook, sn_size n_codes)
{
    uint16_t halves[2][256] = {{0}};
    for (sn_size c = 0; c < n_codes; ++c) {
        uint32_t u;
        memcpy(&u, codebook + c, sizeof u);
        halves[0][c] = (uint16_t)u;
        halves[1][c] = (uint16_t)(u >> 16);
    }
    for (int h = 0; h < 2; ++h)
        for (int t = 0; t < 8; ++t)
            lut->tables[8 * h + t] = _mm512_loadu_si512(halves[h] + 32 * t);
}

/* f[q] lane e holds codebook[codes[P(16 q + e)]] for the 32 codes of `codes`, with
 * P(16 q + 4 l + d) = 8 l + 4 q + d: the unpacks work within 128-bit lanes (sn_lutw_perm). */
SN_LUTW_TARGET static inline void sn_lutw_lookup_raw(const sn_lutw *lut, const uint8_t *codes,
                                                     __m512 f[2])
{
    const __m512i ix = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const void *)codes));
    const __mmask32 bit6 = _mm512_test_epi16_mask(ix, _mm512_set1_epi16(64));
    const __mmask32 bit7 = _mm512_test_epi16_mask(ix, _mm512_set1_epi16(128));
    __m512i half[2];
    for (int h = 0; h < 2; ++h) {
        const __m512i *t = lut->tables + 8 * h;
        __m512i quarter[4]; /* codes 64 q .. 64 q + 63 */
        for (int q = 0; q < 4; ++q)
            quarter[q] = _mm512_permutex2var_epi16(t[2 * q], ix, t[2 * q + 1]);
        const __m512i low = _mm512_mask_blend_epi16(bit6, quarter[0], quarter[1]);
        const __m512i high = _mm512_mask_blend_epi16(bit6, quarter[2], quarter[3]);
        half[h] = _mm512_mask_blend_epi16(bit7, low, high);
    }
    f[0] = _mm512_castsi512_ps(_mm512_unpacklo_epi16(half[0], half[1]));
    f[1] = _mm512_castsi512_ps(_mm512_unpackhi_epi16(half[0], half[1]));
}

static inline int sn_lutw_perm(int p)
{
    return 8 * ((p >> 2) & 3) + 4 * (p >> 4) + (p & 3);
}

/* y[i] = sum_j codebook[codes[i, j]] x[j] for rows [r0, r1): blocks of 32 codes against x permuted
 * once into xp (n_cols floats of scratch), the last n_cols % 32 one by one. */
SN_LUTW_TARGET static void sn_lutw_matvec_rows(sn_size r0, sn_size r1, sn_size n_cols,
                                               const float *codebook, sn_size n_codes,
                                               const uint8_t *codes, const float *x, float *y,
                                               float *xp)
{
    sn_lutw lut;
    sn_lutw_init(&lut, codebook, n_codes);
    const sn_size full = n_cols / 32 * 32;
    for (sn_size j = 0; j < full; j += 32)
        for (int p = 0; p < 32; ++p)
            xp[j + p] = x[j + sn_lutw_perm(p)];
    for (sn_size i = r0; i < r1; ++i) {
        const uint8_t *row = codes + i * n_cols;
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), f[2];
        for (sn_size j = 0; j < full; j += 32) {
            sn_lutw_lookup_raw(&lut, row + j, f);
            s0 = _mm512_fmadd_ps(f[0], _mm512_loadu_ps(xp + j), s0);
            s1 = _mm512_fmadd_ps(f[1], _mm512_loadu_ps(xp + j + 16), s1);
        }
        float sum = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
        for (sn_size j = full; j < n_cols; ++j)
            sum += codebook[row[j]] * x[j];
        y[i] = sum;
    }
}

/* y[c0:c1] = sum_i x[i] codebook[codes[i, c0:c1]] (as sn_lut8_matvec_t_cols: rows in order, two
 * at a time; full blocks of 32 columns accumulate in the raw lookup's order and are put back in
 * place at the end, the last (c1 - c0) % 32 columns one by one). */
SN_LUTW_TARGET static void sn_lutw_matvec_t_cols(sn_size c0, sn_size c1, sn_size n_rows,
                                                 sn_size n_cols, const float *codebook,
                                                 sn_size n_codes, const uint8_t *codes,
                                                 const float *x, float *y)
{
    sn_lutw lut;
    sn_lutw_init(&lut, codebook, n_codes);
    const sn_size full = c0 + (c1 - c0) / 32 * 32;
    for (sn_size j = c0; j < c1; ++j)
        y[j] = 0;
    for (sn_size i = 0; i < n_rows; i += 2) {
        const int pair = i + 1 < n_rows;
        const uint8_t *a = codes + i * n_cols, *b = pair ? a + n_cols : a;
        const __m512 xa = _mm512_set1_ps(x[i]), xb = _mm512_set1_ps(pair ? x[i + 1] : 0.0f);
        for (sn_size j = c0; j < full; j += 32) {
            __m512 fa[2], fb[2];
            sn_lutw_lookup_raw(&lut, a + j, fa);
            sn_lutw_lookup_raw(&lut, b + j, fb);
            for (int q = 0; q < 2; ++q) {
                float *yq = y + j + 16 * q;
                const __m512 first = _mm512_fmadd_ps(xa, fa[q], _mm512_loadu_ps(yq));
                _mm512_storeu_ps(yq, pair ? _mm512_fmadd_ps(xb, fb[q], first) : first);
            }
        }
        for (sn_size j = full; j < c1; ++j) {
            y[j] += x[i] * codebook[a[j]];
            if (pair)
                y[j] += x[i + 1] * codebook[b[j]];
        }
    }
    for (sn_size j = c0; j < full; j += 32) {
        float sums[32];
        memcpy(sums, y + j, sizeof sums);
        for (int p = 0; p < 32; ++p)
            y[j + sn_lutw_perm(p)] = sums[p];
    }
}

/* ---- hashed weights (see shared.h): codes and signs computed 16 at a time, then looked up ---- */

/* The codes of columns [j, j + 64) of the row whose key is `row_key`, as bytes in natural order, and
 * in neg[q] the lanes of group q whose weight is negated. Bit for bit the scalar hash of
 * shared_kernels.h, quotient from a double product included. */
SN_LUT8_TARGET static inline __m512i sn_lut8h_codes(uint32_t row_key, sn_size j, uint32_t n_codes,
                                                    __mmask16 neg[4])
{
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i k = _mm512_set1_epi32((int)n_codes), one = _mm512_set1_epi32(1);
    const __m512d inv = _mm512_set1_pd(1.0 / (double)n_codes);
    __m128i bytes[4];
    for (int q = 0; q < 4; ++q) {
        const __m512i col = _mm512_add_epi32(_mm512_set1_epi32((int)(uint32_t)(j + 16 * q)), iota);
        __m512i h = _mm512_add_epi32(_mm512_set1_epi32((int)row_key),
                                     _mm512_mullo_epi32(col, _mm512_set1_epi32((int)0x85EBCA77u)));
        h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
        h = _mm512_mullo_epi32(h, _mm512_set1_epi32((int)0x85EBCA6Bu));
        h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 13));
        h = _mm512_mullo_epi32(h, _mm512_set1_epi32((int)0xC2B2AE35u));
        h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
        neg[q] = _mm512_test_epi32_mask(h, one);
        const __m512i v = _mm512_srli_epi32(h, 1);
        const __m256i qlo = _mm512_cvttpd_epi32(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(v)), inv));
        const __m256i qhi = _mm512_cvttpd_epi32(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(v, 1)), inv));
        const __m512i quot = _mm512_inserti64x4(_mm512_castsi256_si512(qlo), qhi, 1);
        __m512i r = _mm512_sub_epi32(v, _mm512_mullo_epi32(quot, k));
        r = _mm512_mask_add_epi32(r, _mm512_cmplt_epi32_mask(r, _mm512_setzero_si512()), r, k);
        r = _mm512_mask_sub_epi32(r, _mm512_cmpge_epi32_mask(r, k), r, k);
        bytes[q] = _mm512_cvtepi32_epi8(r);
    }
    __m512i ix = _mm512_castsi128_si512(bytes[0]);
    ix = _mm512_inserti32x4(ix, bytes[1], 1);
    ix = _mm512_inserti32x4(ix, bytes[2], 2);
    return _mm512_inserti32x4(ix, bytes[3], 3);
}

/* f[q] = the hashed weights of columns [j + 16 q, j + 16 q + 16) of the row with key `row_key`. */
SN_LUT8_TARGET static inline void sn_lut8h_weights(const sn_lut8 *lut, uint32_t row_key, sn_size j,
                                                   uint32_t n_codes, __m512 f[4])
{
    __mmask16 neg[4];
    sn_lut8_lookup(lut, sn_lut8h_codes(row_key, j, n_codes, neg), f);
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    for (int q = 0; q < 4; ++q)
        f[q] = _mm512_castsi512_ps(_mm512_mask_xor_epi32(_mm512_castps_si512(f[q]), neg[q],
                                                         _mm512_castps_si512(f[q]), sign));
}

static inline __mmask16 sn_lut8_tail_mask(sn_size left, int q)
{
    const sn_size n = SN_MAX((sn_size)0, SN_MIN((sn_size)16, left - 16 * q));
    return (__mmask16)((1u << n) - 1u);
}

static inline uint32_t sn_lut8h_row_key(sn_size i, uint32_t seed)
{
    return sn_fmix32((uint32_t)i * 0x9E3779B1u ^ seed);
}

/* y[i] = sum_j W[i, j] x[j] for rows [r0, r1) of a hashed matrix (xp: unused, for symmetry). */
SN_LUT8_TARGET static void sn_lut8h_matvec_rows(sn_size r0, sn_size r1, sn_size n_cols,
                                                const float *codebook, sn_size n_codes,
                                                uint32_t seed, const float *x, float *y, float *xp)
{
    (void)xp;
    sn_lut8 lut;
    sn_lut8_init(&lut, codebook, n_codes);
    for (sn_size i = r0; i < r1; ++i) {
        const uint32_t rk = sn_lut8h_row_key(i, seed);
        __m512 s[4], f[4];
        for (int q = 0; q < 4; ++q)
            s[q] = _mm512_setzero_ps();
        for (sn_size j = 0; j < n_cols; j += 64) {
            sn_lut8h_weights(&lut, rk, j, (uint32_t)n_codes, f);
            for (int q = 0; q < 4; ++q) {
                const __mmask16 m = sn_lut8_tail_mask(n_cols - j, q);
                s[q] = _mm512_mask3_fmadd_ps(f[q], _mm512_maskz_loadu_ps(m, x + j + 16 * q), s[q], m);
            }
        }
        y[i] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])));
    }
}

/* y[c0:c1] = sum_i x[i] W[i, c0:c1] of a hashed matrix, rows in order, 64 columns held in registers. */
SN_LUT8_TARGET static void sn_lut8h_matvec_t_cols(sn_size c0, sn_size c1, sn_size n_rows,
                                                  sn_size n_cols, const float *codebook,
                                                  sn_size n_codes, uint32_t seed, const float *x,
                                                  float *y)
{
    (void)n_cols;
    sn_lut8 lut;
    sn_lut8_init(&lut, codebook, n_codes);
    for (sn_size j = c0; j < c1; j += 64) {
        __m512 s[4], f[4];
        for (int q = 0; q < 4; ++q)
            s[q] = _mm512_setzero_ps();
        for (sn_size i = 0; i < n_rows; ++i) {
            sn_lut8h_weights(&lut, sn_lut8h_row_key(i, seed), j, (uint32_t)n_codes, f);
            const __m512 xi = _mm512_set1_ps(x[i]);
            for (int q = 0; q < 4; ++q)
                s[q] = _mm512_fmadd_ps(xi, f[q], s[q]);
        }
        for (int q = 0; q < 4; ++q)
            _mm512_mask_storeu_ps(y + j + 16 * q, sn_lut8_tail_mask(c1 - j, q), s[q]);
    }
}

/* buf[(i - r0) (c1 - c0) + j - c0] = W[i, j] of a hashed matrix for rows [r0, r1), columns
 * [c0, c1). */
SN_LUT8_TARGET static void sn_lut8h_decode_rows(sn_size r0, sn_size r1, sn_size c0, sn_size c1,
                                                sn_size n_cols, const float *codebook,
                                                sn_size n_codes, uint32_t seed, float *buf)
{
    (void)n_cols;
    sn_lut8 lut;
    sn_lut8_init(&lut, codebook, n_codes);
    for (sn_size i = r0; i < r1; ++i) {
        const uint32_t rk = sn_lut8h_row_key(i, seed);
        float *out = buf + (i - r0) * (c1 - c0);
        for (sn_size j = c0; j < c1; j += 64) {
            __m512 f[4];
            sn_lut8h_weights(&lut, rk, j, (uint32_t)n_codes, f);
            for (int q = 0; q < 4; ++q)
                _mm512_mask_storeu_ps(out + (j - c0) + 16 * q, sn_lut8_tail_mask(c1 - j, q), f[q]);
        }
    }
}
#endif /* SN_X86_DISPATCH */
