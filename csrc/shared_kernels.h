/* Template: products with a shared (codebook) or hashed weight matrix, its decode and its codebook
 * gradient. See shared.h for the storage and the hash.
 *
 * Included by shared.c through sn_instantiate.h with
 *   REAL  value type     GEMM  its Fortran xGEMM pointer type     SFX  suffix (f32_u8, f64_hash, ...)
 *   CODE  code type (uint8_t / uint16_t) for a shared matrix, or SN_SHARED_HASHED defined for a hashed one
 *   ISA, SN_VBYTES  level name and vector width (sn_instantiate.h)
 *   SN_SHARED_LUT8  defined for float (uint8_t codes or hashed): the avx512vbmi level uses the register
 *                   tables of shared_lut8.h when the codebook has <= 256 entries and the CPU has VBMI;
 *                   the avx512 level its word tables in the matvecs of uint8 codes
 * Every weight is produced by W_AT(j) on row i after ROW_BEGIN(i), so the loops below are written once
 * for both kinds of storage; each writes its whole output. */

#define K(name) SN_CAT3(name, SFX, ISA)

#ifdef SN_SHARED_HASHED
#define SRC_PARAM uint32_t seed
#define SRC_ARG seed
/* The code (h >> 1) % n_codes without an integer division, so that the loops vectorise: the quotient
 * from a double product is exact or one off, and one correction each way makes the remainder exact. */
static inline uint32_t K(hash_code)(uint32_t h, uint32_t n_codes, double inv_codes)
{
    const uint32_t v = h >> 1;
    const uint32_t q = (uint32_t)(int32_t)((double)(int32_t)v * inv_codes);
    uint32_t r = v - q * n_codes;
    r = (int32_t)r < 0 ? r + n_codes : r;
    return r >= n_codes ? r - n_codes : r;
}
static inline REAL K(hashed_value)(const REAL *cb, uint32_t h, uint32_t n_codes, double inv_codes)
{
    const REAL v = cb[K(hash_code)(h, n_codes, inv_codes)];
    return (h & 1u) ? -v : v;
}
/* t, negated when bit 0 of h is set, by its sign bit: GCC made (h & 1) ? -t : t a branch, which
 * the random signs mispredict half the time (the hashed codebook gradient took 7.3-7.9 ns a weight
 * to a shared one's 1.0-1.2, Zen 3) */
static inline double K(hash_signed)(double t, uint32_t h)
{
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits ^= (uint64_t)(h & 1u) << 63;
    memcpy(&t, &bits, sizeof bits);
    return t;
}
#define SRC_LOCALS                                   \
    const uint32_t n_codes32_ = (uint32_t)n_codes;   \
    const double inv_codes_ = 1.0 / (double)n_codes; \
    (void)n_codes32_;                                \
    (void)inv_codes_
#define ROW_BEGIN(i) const uint32_t row_key_ = sn_fmix32((uint32_t)(i) * 0x9E3779B1u ^ seed)
#define HASH_AT(j) sn_fmix32(row_key_ + (uint32_t)(j) * 0x85EBCA77u)
#define W_AT(j) K(hashed_value)(cb, HASH_AT(j), n_codes32_, inv_codes_)
#define BIN_ADD(bins, j, t)                                                       \
    do {                                                                          \
        const uint32_t h_ = HASH_AT(j);                                           \
        const double t_ = (double)(t);                                            \
        bins[K(hash_code)(h_, n_codes32_, inv_codes_)] += K(hash_signed)(t_, h_); \
    } while (0)
#define PREFETCH_WEIGHTS(r0, r1, c0, c1) ((void)0) /* nothing stored */
#else
#define SRC_PARAM const CODE *codes
#define SRC_ARG codes
#define SRC_LOCALS (void)n_codes
#define ROW_BEGIN(i) const CODE *row_codes_ = codes + (sn_size)(i) * n_cols
#define W_AT(j) cb[row_codes_[j]]
#define BIN_ADD(bins, j, t) (bins[row_codes_[j]] += (double)(t))
/* Asks for the codes of rows [r0, r1), columns [c0, c1): short pieces of rows far apart, which the
 * hardware's prefetchers do not foresee */
#define PREFETCH_WEIGHTS(r0, r1, c0, c1)                                                 \
    do {                                                                                 \
        for (sn_size i_ = (r0); i_ < (r1); ++i_) {                                       \
            const char *a_ = (const char *)(codes + i_ * n_cols + (c0));                 \
            const char *z_ = (const char *)(codes + i_ * n_cols + (c1));                 \
            for (; a_ < z_; a_ += 64)                                                    \
                __builtin_prefetch(a_);                                                  \
            __builtin_prefetch(z_ - 1); /* the last line, where a_ started mid-line */   \
        }                                                                                \
    } while (0)
#endif

/* Weights of work that pay for one more thread: a hashed weight, whose hash is computed, costs
 * about 10 coded ones (hashed_matvec at 1024^2: 0.48 ms against 0.046 ms, Zen 5). */
#ifdef SN_SHARED_HASHED
#define GRAIN (SN_SHARED_GRAIN / 8)
#else
#define GRAIN SN_SHARED_GRAIN
#endif

/* shared_lut8.h's word tables: the avx512 level of the float / uint8 matvecs */
#if SN_X86_DISPATCH && SN_VBYTES == 64 && defined(SN_SHARED_LUT8) && !defined(SN_ISA_VBMI) \
    && !defined(SN_SHARED_HASHED)
#define SN_SHARED_LUTW 1
#else
#define SN_SHARED_LUTW 0
#endif

#if defined(SN_SHARED_LUT8) && defined(SN_ISA_VBMI)
#define LUT8_OK (n_codes <= 256)
#ifdef SN_SHARED_HASHED
#define LUT8_FN(name) sn_lut8h_##name
#else
#define LUT8_FN(name) sn_lut8_##name
#endif
#else
#define LUT8_OK 0
#endif

#if SN_X86_DISPATCH && SN_VBYTES >= 32 && !defined(SN_SHARED_HASHED)
/* A row's weights times x, GATHER_LANES weights at a time from the codebook, which stays in L1:
 * by AVX-512 gathers where they pay (sn_hw_gathers: Intel), else one load a weight into the lanes,
 * the codes read 8 bytes at a time. GCC's own loop put each code's weight in its lane one by one,
 * through general registers, and ran at half the speed of the AVX2 level's on a Xeon (4096^2, uint8
 * codes, K=256: 11.0 ms against 5.3 ms), where the gathers did best. On AMD the gathers are the slow
 * ones: at AVX-512 on Zen 5, shared_matvec at 4096^2, K=256, one thread, 5.6-5.9 ms float32 and
 * 8.5-8.7 ms float64 against 3.6-3.8 and 3.9-4.3 ms with the loads; AVX2's on Zen 1, 19 ms against
 * 6 ms (and Intel's GDS microcode slows them too: none at AVX2). The loads limit the loop (two a
 * cycle on Zen 1), so the codes come 8 bytes a load: GCC's loop at AVX2, a load a code, took
 * 9.0-9.5 ms to these 6.7-7.0 ms (float64: 16.6-17.8 to 6.9-8.8 ms). */
typedef REAL K(gather_vec) __attribute__((vector_size(SN_VBYTES), aligned(sizeof(REAL)), may_alias));
#define SN_SHARED_GATHER_DOT 1
#define GATHER_LANES ((sn_size)(SN_VBYTES / sizeof(REAL))) /* weights per code_gather */
#if SN_VBYTES == 64
#define HW_GATHERS sn_hw_gathers
#else
#define HW_GATHERS 0
#endif
#define CODES_PER_WORD (8 / sizeof(CODE))
/* the weight of code k of the 8-byte words w */
#define LOAD(k) cb[(CODE)(w[(k) / CODES_PER_WORD] >> (8 * sizeof(CODE) * ((k) % CODES_PER_WORD)))]
#define LOAD4(k) LOAD(k), LOAD((k) + 1), LOAD((k) + 2), LOAD((k) + 3)
#if SN_VBYTES / REAL_BYTES == 16
#define CODE_LOADS {LOAD4(0), LOAD4(4), LOAD4(8), LOAD4(12)}
#elif SN_VBYTES / REAL_BYTES == 8
#define CODE_LOADS {LOAD4(0), LOAD4(4)}
#else
#define CODE_LOADS {LOAD4(0)}
#endif

/* cb[c[0]], ..., cb[c[GATHER_LANES - 1]], by gathers if hw (HW_GATHERS, read once by the caller:
 * read in the loop, the global was read again on every call, as stores may change it) */
static inline __attribute__((always_inline)) K(gather_vec) K(code_gather)(const CODE *c,
                                                                          const REAL *cb, int hw)
{
#if SN_VBYTES == 64
    if (hw) {
        if (sizeof(REAL) == 4) {
            const __m512i ix = sizeof(CODE) == 1
                                   ? _mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)c))
                                   : _mm512_cvtepu16_epi32(_mm256_loadu_si256((const void *)c));
            return (K(gather_vec))_mm512_i32gather_ps(ix, (const void *)cb, 4);
        }
        const __m256i ix = sizeof(CODE) == 1
                               ? _mm256_cvtepu8_epi32(_mm_loadl_epi64((const void *)c))
                               : _mm256_cvtepu16_epi32(_mm_loadu_si128((const void *)c));
        return (K(gather_vec))_mm512_i32gather_pd(ix, (const void *)cb, 8);
    }
#endif
    (void)hw;
    uint64_t w[(GATHER_LANES * sizeof(CODE) + 7) / 8] = {0};
    memcpy(w, c, GATHER_LANES * sizeof(CODE));
    return (K(gather_vec))CODE_LOADS; /* an initializer: a loop of lane stores measured 5-10% slower */
}
#undef LOAD
#undef LOAD4
#undef CODE_LOADS
#undef CODES_PER_WORD

/* sum_j cb[c[j]] x[j] over j < n: two sums in flight, a tree reduction, the last < L one by one;
 * called with a constant hw, so that each kind of lookup gets a loop of its own. */
static inline __attribute__((always_inline)) REAL K(coded_dot_by)(const CODE *c, const REAL *cb,
                                                                  const REAL *x, sn_size n, int hw)
{
    enum { L = GATHER_LANES };
    K(gather_vec) sum0 = {0}, sum1 = {0};
    sn_size j = 0;
    for (; j + 2 * L <= n; j += 2 * L) {
        sum0 += K(code_gather)(c + j, cb, hw) * *(const K(gather_vec) *)(x + j);
        sum1 += K(code_gather)(c + j + L, cb, hw) * *(const K(gather_vec) *)(x + j + L);
    }
    if (j + L <= n) {
        sum0 += K(code_gather)(c + j, cb, hw) * *(const K(gather_vec) *)(x + j);
        j += L;
    }
    sum0 += sum1;
    for (int half = L / 2; half > 0; half /= 2)
        for (int q = 0; q < half; ++q) sum0[q] += sum0[q + half];
    REAL sum = sum0[0];
    for (; j < n; ++j) sum += cb[c[j]] * x[j];
    return sum;
}

static REAL K(coded_dot)(const CODE *c, const REAL *cb, const REAL *x, sn_size n)
{
    return HW_GATHERS ? K(coded_dot_by)(c, cb, x, n, 1) : K(coded_dot_by)(c, cb, x, n, 0);
}
#else
#define SN_SHARED_GATHER_DOT 0
#endif

#if SN_X86_DISPATCH && SN_VBYTES == 32 && defined(SN_SHARED_HASHED) && REAL_BYTES == 4
/* Hashed float weights 8 at a time at AVX2: the hashes, codes and signs in 32-bit lanes, the
 * weights looked up one load a lane (AVX2's gathers were 1.8x slower on Zen 3) and signed by
 * their hash's bit 0. GCC's loop over W_AT (a double per code for the division, gathers) took
 * hashed_matvec at 1024^2 1.71 ms on Zen 3: 1.06 ms here, 0.74 when K is a power of two (a mask).
 * The code (h >> 1) % K divides by K with a multiply (Granlund-Montgomery's round-up method with
 * an add, exact for every 31-bit value and K >= 2): the same codes as hash_code's. The AVX-512
 * level keeps GCC's loop: not run on this project's machines yet. */
#define SN_SHARED_HASH_VEC 1
#define HASH_LANES 8
typedef REAL K(hash_wvec) __attribute__((vector_size(SN_VBYTES), aligned(sizeof(REAL)), may_alias));
typedef uint32_t K(hash_uvec) __attribute__((vector_size(SN_VBYTES)));
typedef uint64_t K(hash_u64vec) __attribute__((vector_size(SN_VBYTES)));

/* v / n as mulhi(v, magic) and shifts, or v & mask for n a power of two (mask n - 1, 0 for 1) */
typedef struct {
    uint32_t n, mask, magic;
    int shift;
    int pow2;
} K(hash_divisor);

static inline K(hash_divisor) K(hash_divisor_of)(uint32_t n)
{
    K(hash_divisor) d = {n, n - 1, 0, 0, (n & (n - 1)) == 0};
    if (!d.pow2) {
        int l = 0;
        while ((UINT64_C(1) << l) < n) ++l; /* ceil(log2 n) >= 2 */
        d.magic = (uint32_t)((UINT64_C(1) << 32) * ((UINT64_C(1) << l) - n) / n + 1);
        d.shift = l - 1;
    }
    return d;
}

/* The codes of the row of key `row_key` at columns j .. j + HASH_LANES - 1, and their hashes in
 * *hash (bit 0: the sign). */
static inline __attribute__((always_inline)) K(hash_uvec) K(hash_codes)(uint32_t row_key, sn_size j,
                                                                         K(hash_divisor) d,
                                                                         K(hash_uvec) *hash)
{
    K(hash_uvec) h = {0, 1, 2, 3, 4, 5, 6, 7};
    h = row_key + (h + (uint32_t)j) * 0x85EBCA77u;
    h ^= h >> 16; /* sn_fmix32, lane by lane */
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    const K(hash_uvec) v = h >> 1;
    K(hash_uvec) code;
    if (d.pow2) {
        code = v & d.mask;
    } else { /* the high halves of v * magic: even lanes, then odd lanes (GCC's vector code for a
              * 64-bit product took 1.5x as long) */
        const __m256i m = _mm256_set1_epi32((int)d.magic), vi = (__m256i)v;
        const K(hash_u64vec) even = (K(hash_u64vec))_mm256_mul_epu32(vi, m) >> 32;
        const K(hash_u64vec) odd = (K(hash_u64vec))_mm256_mul_epu32(_mm256_srli_epi64(vi, 32), m);
        const K(hash_uvec) hi = (K(hash_uvec))(even | (odd & ~(uint64_t)0xFFFFFFFFu));
        code = v - ((hi + ((v - hi) >> 1)) >> d.shift) * d.n;
    }
    *hash = h;
    return code;
}

/* The weights of the row of key `row_key` at columns j .. j + HASH_LANES - 1. */
static inline __attribute__((always_inline)) K(hash_wvec) K(hashed_gather)(uint32_t row_key,
                                                                            sn_size j, const REAL *cb,
                                                                            K(hash_divisor) d)
{
    K(hash_uvec) h;
    const K(hash_uvec) code = K(hash_codes)(row_key, j, d, &h);
    uint32_t c[HASH_LANES];
    memcpy(c, &code, sizeof c);
    /* an initializer: GCC made a loop of lane loads a gather */
    const K(hash_wvec) w = {cb[c[0]], cb[c[1]], cb[c[2]], cb[c[3]],
                            cb[c[4]], cb[c[5]], cb[c[6]], cb[c[7]]};
    return (K(hash_wvec))((K(hash_uvec))w ^ (h << 31));
}

/* Adds t[j], signed, to bins[code of (row, j)] for the columns j of whole vectors, in order (the
 * scalar loop's sums, bit for bit); returns the first column left. A function of its own: clang
 * compiles what is inlined into an OpenMP region for the baseline, where AVX2's vectors fail. */
static sn_size K(bin_hashed)(double *bins, uint32_t row_key, const REAL *t, sn_size n_cols,
                             K(hash_divisor) d)
{
    sn_size j = 0;
    for (; j + HASH_LANES <= n_cols; j += HASH_LANES) {
        K(hash_uvec) h;
        const K(hash_uvec) code = K(hash_codes)(row_key, j, d, &h);
        for (int l = 0; l < HASH_LANES; ++l)
            bins[code[l]] += K(hash_signed)((double)t[j + l], h[l]);
    }
    return j;
}

/* sum_j W[row, j] x[j] over j < n: two sums in flight, a tree reduction, the last < HASH_LANES
 * terms one by one (as coded_dot). */
static REAL K(hashed_dot)(uint32_t row_key_, const REAL *cb, const REAL *x, sn_size n,
                          K(hash_divisor) d, uint32_t n_codes32_, double inv_codes_)
{
    enum { L = HASH_LANES };
    K(hash_wvec) sum0 = {0}, sum1 = {0};
    sn_size j = 0;
    for (; j + 2 * L <= n; j += 2 * L) {
        sum0 += K(hashed_gather)(row_key_, j, cb, d) * *(const K(hash_wvec) *)(x + j);
        sum1 += K(hashed_gather)(row_key_, j + L, cb, d) * *(const K(hash_wvec) *)(x + j + L);
    }
    if (j + L <= n) {
        sum0 += K(hashed_gather)(row_key_, j, cb, d) * *(const K(hash_wvec) *)(x + j);
        j += L;
    }
    sum0 += sum1;
    for (int half = L / 2; half > 0; half /= 2)
        for (int q = 0; q < half; ++q) sum0[q] += sum0[q + half];
    REAL sum = sum0[0];
    for (; j < n; ++j) sum += W_AT(j) * x[j];
    return sum;
}
#else
#define SN_SHARED_HASH_VEC 0
#endif

#if SN_X86_DISPATCH && SN_VBYTES == 32 && defined(SN_SHARED_LUT8) && !defined(SN_SHARED_HASHED)
/* float weights and uint8 codes at AVX2: a codebook of <= 16 entries (4-bit codes, Deep
 * Compression's) fits in two registers, and 8 weights are two permutes and a blend on the codes'
 * bit 3. GCC's loop looks each weight up on its own (decode of 384 x 1536 at K=16: 0.33 ms). */
#define SN_SHARED_TABLE16 1
typedef struct {
    __m256 lo, hi;
} K(table16);

static inline K(table16) K(load_table16)(const float *cb, sn_size n_codes)
{
    float padded[16] = {0}; /* a smaller codebook's codes never reach the padding */
    memcpy(padded, cb, (size_t)n_codes * sizeof(float));
    return (K(table16)){_mm256_loadu_ps(padded), _mm256_loadu_ps(padded + 8)};
}

/* cb[c[0]], ..., cb[c[7]] */
static inline __attribute__((always_inline)) __m256 K(lookup16)(const uint8_t *c, K(table16) t)
{
    const __m256i ix = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const void *)c));
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(t.lo, ix), _mm256_permutevar8x32_ps(t.hi, ix),
                            _mm256_castsi256_ps(_mm256_slli_epi32(ix, 28)));
}

/* sum_j cb[c[j]] x[j] over j < n: two sums of 8 lanes, added in a fixed order, the last < 8 terms
 * one by one. */
static inline float K(dot16)(const uint8_t *c, K(table16) t, const float *cb, const float *x,
                             sn_size n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    sn_size j = 0;
    for (; j + 16 <= n; j += 16) {
        s0 = _mm256_fmadd_ps(K(lookup16)(c + j, t), _mm256_loadu_ps(x + j), s0);
        s1 = _mm256_fmadd_ps(K(lookup16)(c + j + 8, t), _mm256_loadu_ps(x + j + 8), s1);
    }
    if (j + 8 <= n) {
        s0 = _mm256_fmadd_ps(K(lookup16)(c + j, t), _mm256_loadu_ps(x + j), s0);
        j += 8;
    }
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float sum = _mm_cvtss_f32(h);
    for (; j < n; ++j)
        sum += cb[c[j]] * x[j];
    return sum;
}

static void K(decode_rows16)(sn_size r0, sn_size r1, sn_size c0, sn_size c1, sn_size n_cols,
                             sn_size n_codes, const float *cb, const uint8_t *codes, float *buf)
{
    const K(table16) t = K(load_table16)(cb, n_codes);
    const sn_size width = c1 - c0;
    for (sn_size i = r0; i < r1; ++i) {
        const uint8_t *c = codes + i * n_cols + c0;
        float *out = buf + (i - r0) * width;
        sn_size j = 0;
        for (; j + 8 <= width; j += 8)
            _mm256_storeu_ps(out + j, K(lookup16)(c + j, t));
        for (; j < width; ++j)
            out[j] = cb[c[j]];
    }
}
#else
#define SN_SHARED_TABLE16 0
#endif

/* y[i] = sum_j W[i, j] x[j] over rows [r0, r1): lookup, multiply, reduce, one row at a time. */
static void K(matvec_rows)(sn_size r0, sn_size r1, sn_size n_cols, sn_size n_codes, const REAL *cb,
                           SRC_PARAM, const REAL *x, REAL *y)
{
    SRC_LOCALS;
#ifdef LUT8_FN
    if (LUT8_OK) {
        float *xp = (float *)malloc((size_t)n_cols * sizeof(float)); /* NULL: a slower path, no error */
        LUT8_FN(matvec_rows)(r0, r1, n_cols, cb, n_codes, SRC_ARG, x, y, xp);
        free(xp);
        return;
    }
#endif
#if SN_SHARED_LUTW
    float *xp = n_codes <= 256 ? (float *)malloc((size_t)n_cols * sizeof(float)) : NULL;
    if (xp != NULL) { /* NULL: the loop below, no error */
        sn_lutw_matvec_rows(r0, r1, n_cols, cb, n_codes, codes, x, y, xp);
        free(xp);
        return;
    }
#endif
#if SN_SHARED_TABLE16
    if (n_codes <= 16) {
        const K(table16) t = K(load_table16)(cb, n_codes);
        for (sn_size i = r0; i < r1; ++i)
            y[i] = K(dot16)(codes + i * n_cols, t, cb, x, n_cols);
        return;
    }
#endif
#if SN_SHARED_HASH_VEC
    const K(hash_divisor) hd = K(hash_divisor_of)(n_codes32_);
    for (sn_size i = r0; i < r1; ++i) {
        ROW_BEGIN(i);
        y[i] = K(hashed_dot)(row_key_, cb, x, n_cols, hd, n_codes32_, inv_codes_);
    }
    return;
#endif
    for (sn_size i = r0; i < r1; ++i) {
        ROW_BEGIN(i);
#if SN_SHARED_GATHER_DOT
        y[i] = K(coded_dot)(row_codes_, cb, x, n_cols);
#else
        REAL sum = 0;
#pragma omp simd reduction(+ : sum)
        for (sn_size j = 0; j < n_cols; ++j)
            sum += W_AT(j) * x[j];
        y[i] = sum;
#endif
    }
}

/* y[c0:c1] = sum_i x[i] W[i, c0:c1]: rows in order, so each y[j] has one fixed summation order. */
static void K(matvec_t_cols)(sn_size c0, sn_size c1, sn_size n_rows, sn_size n_cols, sn_size n_codes,
                             const REAL *cb, SRC_PARAM, const REAL *x, REAL *y)
{
    SRC_LOCALS;
    (void)n_cols;
#ifdef LUT8_FN
    if (LUT8_OK) {
        LUT8_FN(matvec_t_cols)(c0, c1, n_rows, n_cols, cb, n_codes, SRC_ARG, x, y);
        return;
    }
#endif
#if SN_SHARED_LUTW
    if (n_codes <= 256) {
        sn_lutw_matvec_t_cols(c0, c1, n_rows, n_cols, cb, n_codes, codes, x, y);
        return;
    }
#endif
    for (sn_size j = c0; j < c1; ++j)
        y[j] = 0;
#if SN_SHARED_TABLE16
    const int table16 = n_codes <= 16;
    const K(table16) t = K(load_table16)(cb, SN_MIN(n_codes, (sn_size)16));
#endif
#if SN_SHARED_GATHER_DOT
    const int hw_gathers = HW_GATHERS;
#endif
#if SN_SHARED_HASH_VEC
    const K(hash_divisor) hd = K(hash_divisor_of)(n_codes32_);
#endif
    for (sn_size i = 0; i < n_rows; ++i) {
        ROW_BEGIN(i);
        const REAL xi = x[i];
        sn_size j = c0;
#if SN_SHARED_HASH_VEC
        for (; j + HASH_LANES <= c1; j += HASH_LANES)
            *(K(hash_wvec) *)(y + j) += xi * K(hashed_gather)(row_key_, j, cb, hd);
#endif
#if SN_SHARED_TABLE16
        if (table16)
            for (; j + 8 <= c1; j += 8)
                _mm256_storeu_ps(y + j, _mm256_fmadd_ps(_mm256_set1_ps(xi),
                                                        K(lookup16)(row_codes_ + j, t),
                                                        _mm256_loadu_ps(y + j)));
#endif
#if SN_SHARED_GATHER_DOT /* as in matvec_rows: 7.8-9.1 -> 4.7-6.0 ms at 4096^2 (Xeon, avx512) */
        for (; j + GATHER_LANES <= c1; j += GATHER_LANES)
            *(K(gather_vec) *)(y + j) += xi * K(code_gather)(row_codes_ + j, cb, hw_gathers);
#endif
#pragma omp simd
        for (sn_size t = j; t < c1; ++t)
            y[t] += xi * W_AT(t);
    }
}

/* buf[(i - r0) * (c1 - c0) + j - c0] = W[i, j] for rows [r0, r1) and columns [c0, c1). */
static void K(decode_rows)(sn_size r0, sn_size r1, sn_size c0, sn_size c1, sn_size n_cols,
                           sn_size n_codes, const REAL *cb, SRC_PARAM, REAL *buf)
{
    SRC_LOCALS;
#ifdef LUT8_FN
    if (LUT8_OK) {
        LUT8_FN(decode_rows)(r0, r1, c0, c1, n_cols, cb, n_codes, SRC_ARG, buf);
        return;
    }
#endif
#if SN_SHARED_TABLE16
    if (n_codes <= 16) {
        K(decode_rows16)(r0, r1, c0, c1, n_cols, n_codes, cb, codes, buf);
        return;
    }
#endif
#if SN_SHARED_GATHER_DOT
    const int hw_gathers = HW_GATHERS;
#endif
#if SN_SHARED_HASH_VEC
    const K(hash_divisor) hd = K(hash_divisor_of)(n_codes32_);
#endif
    for (sn_size i = r0; i < r1; ++i) {
        ROW_BEGIN(i);
        REAL *out = buf + (i - r0) * (c1 - c0);
        sn_size j = c0;
#if SN_SHARED_HASH_VEC
        for (; j + HASH_LANES <= c1; j += HASH_LANES)
            *(K(hash_wvec) *)(out + (j - c0)) = K(hashed_gather)(row_key_, j, cb, hd);
#endif
#if SN_SHARED_GATHER_DOT /* as in matvec_rows */
        for (; j + GATHER_LANES <= c1; j += GATHER_LANES)
            *(K(gather_vec) *)(out + (j - c0)) = K(code_gather)(row_codes_ + j, cb, hw_gathers);
#endif
#pragma omp simd
        for (sn_size t = j; t < c1; ++t)
            out[t - c0] = W_AT(t);
    }
}

/* Rows of W per decoded tile: about SN_SHARED_TILE weights. */
static sn_size K(tile_rows)(sn_size n_rows, sn_size n_cols)
{
    return SN_MAX((sn_size)1, SN_MIN(n_rows, SN_SHARED_TILE / SN_MAX((sn_size)1, n_cols)));
}

/* Decodes rows [r0, r1) into buf on up to nt threads. */
static void K(decode_tile)(int nt, sn_size r0, sn_size r1, sn_size n_cols, sn_size n_codes,
                           const REAL *cb, SRC_PARAM, REAL *buf)
{
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const sn_size team = sn_team_size(), t = sn_thread_id(), rows = r1 - r0;
        const sn_size a = r0 + rows * t / team, b = r0 + rows * (t + 1) / team;
        K(decode_rows)(a, b, 0, n_cols, n_cols, n_codes, cb, SRC_ARG, buf + (a - r0) * n_cols);
    }
}

static int K(shared_decode)(int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes,
                            const REAL *cb, SRC_PARAM, REAL *W)
{
    const int nt = sn_threads_for(n_threads, n_rows * n_cols, GRAIN);
    K(decode_tile)(nt, 0, n_rows, n_cols, n_codes, cb, SRC_ARG, W);
    return SN_OK;
}

/* ---- Y = W X and Y = W^T X without BLAS: the decode is the packing of W ----
 * A GEMM packs its operands into panels that stay in cache; here W's panels are decoded straight
 * from the codes (the dense W is never written out), and X is packed a block of SN_SHARED_KC rows
 * at a time into blocks of PANEL_COLS columns. Each PANEL_ROWS x PANEL_COLS block of Y stays in
 * registers over the block's SN_SHARED_KC terms, then is added to Y: every Y[i, t] is the same sum
 * in the same order whatever the thread count. Zen 3, one thread, k = 128, against the earlier
 * BLAS path (tiles of W decoded, then SciPy's sgemm): W X 1.11-1.20x faster (MiniLM's FFN matrices
 * 1536 x 384 and 384 x 1536 at K = 16, 1024^2, 4096^2 at K = 256), level with sgemm on the decoded
 * W; W^T X 0.99-1.18x. Prefetching the next panel's codes took 4096^2 from 1.22x to 1.00x the time
 * of that sgemm: a panel reads short pieces of rows 4096 bytes apart, which the hardware does not
 * foresee. At k <= 8 with K = 256 (decoded by loads, one a weight) it is 0.75-0.98x the BLAS
 * path. */
typedef REAL K(panel_vec) __attribute__((vector_size(SN_VBYTES), aligned(sizeof(REAL)), may_alias));
#define PANEL_LANES ((sn_size)(SN_VBYTES / sizeof(REAL)))
#define PANEL_ROWS 6 /* 12 accumulators, two X vectors and a broadcast: AVX2's 16 registers */
#define PANEL_COLS (2 * PANEL_LANES)
#define STRIP_ROWS (8 * PANEL_ROWS) /* rows of Y a strip: W^T X decodes 48 codes a row of W */

/* Y[0:rows, 0:cols] = P X (+ Y if add, then + bias[i] on row i if bias) for the panel P (element
 * (i, j) at w[i * si + j * sj], i < PANEL_ROWS, j < kc) and a block of packed X (kc rows of
 * PANEL_COLS), of which `vectors` (1 or 2, a constant where inlined) hold the cols columns. */
static inline __attribute__((always_inline)) void K(panel_product)(sn_size kc, const REAL *w,
                                                                   sn_size si, sn_size sj,
                                                                   const REAL *x, REAL *Y,
                                                                   sn_size ldy, int rows, int cols,
                                                                   int add, const REAL *bias,
                                                                   const int vectors)
{
    typedef K(panel_vec) vec;
    vec acc[PANEL_ROWS][2] = {{{0}}};
    for (sn_size j = 0; j < kc; ++j) {
        const vec x0 = *(const vec *)(x + j * PANEL_COLS);
        const vec x1 = vectors == 2 ? *(const vec *)(x + j * PANEL_COLS + PANEL_LANES) : x0;
#pragma GCC unroll 6
        for (int i = 0; i < PANEL_ROWS; ++i) {
            const vec b = w[i * si + j * sj] - (vec){0}; /* s - 0 is s (s + 0 is not, for -0) */
            acc[i][0] += b * x0;
            if (vectors == 2) acc[i][1] += b * x1;
        }
    }
    if (rows == PANEL_ROWS && cols == vectors * PANEL_LANES) {
#pragma GCC unroll 6
        for (int i = 0; i < PANEL_ROWS; ++i)
            for (int v = 0; v < vectors; ++v) {
                vec *y = (vec *)(Y + i * ldy + v * PANEL_LANES), sum = acc[i][v];
                if (add) sum = *y + sum;
                if (bias) sum += bias[i] - (vec){0};
                *y = sum;
            }
        return;
    }
    for (int i = 0; i < rows; ++i) {
        REAL part[PANEL_COLS];
        memcpy(part, acc[i], sizeof part);
        for (int t = 0; t < cols; ++t) {
            REAL sum = add ? Y[i * ldy + t] + part[t] : part[t];
            Y[i * ldy + t] = bias ? sum + bias[i] : sum;
        }
    }
}

/* Xp[b * kc * PANEL_COLS + j * PANEL_COLS + t] = X[j, b * PANEL_COLS + t] for kc rows of nc
 * columns of X (row stride ldx), in blocks b of PANEL_COLS columns, the last one padded with 0. */
static void K(pack_x)(sn_size kc, sn_size nc, sn_size ldx, const REAL *X, REAL *Xp)
{
    const sn_size whole = nc / PANEL_COLS * PANEL_COLS;
    for (sn_size j = 0; j < kc; ++j) {
        const REAL *x = X + j * ldx;
        REAL *to = Xp + j * PANEL_COLS;
        for (sn_size c = 0; c < whole; c += PANEL_COLS)
            memcpy(to + c * kc, x + c, PANEL_COLS * sizeof(REAL));
        if (whole < nc)
            for (sn_size t = 0; t < PANEL_COLS; ++t)
                to[whole * kc + t] = whole + t < nc ? x[whole + t] : 0;
    }
}

/* Y[0:rows, 0:nc] (+)= P X (+ bias) for every block of X's nc packed columns (Y's row stride
 * ldy). */
static __attribute__((noinline)) void K(panel_times_x)(sn_size kc, const REAL *panel, sn_size si,
                                                       sn_size sj, const REAL *Xp, sn_size nc,
                                                       REAL *Y, sn_size ldy, int rows, int add,
                                                       const REAL *bias)
{
    for (sn_size c = 0; c < nc; c += PANEL_COLS) {
        const sn_size left = nc - c; /* one vector's columns take half the multiply-adds */
        if (left <= PANEL_LANES)
            K(panel_product)(kc, panel, si, sj, Xp + c * kc, Y + c, ldy, rows, (int)left, add,
                             bias, 1);
        else
            K(panel_product)(kc, panel, si, sj, Xp + c * kc, Y + c, ldy, rows,
                             (int)SN_MIN(PANEL_COLS, left), add, bias, 2);
    }
}

/* panel[j * PANEL_ROWS + i] = strip[j * width + i] for i < rows (0 for the rest), j < kc */
static void K(interleave_panel)(const REAL *strip, sn_size width, sn_size kc, sn_size rows,
                                REAL *panel)
{
    for (sn_size j = 0; j < kc; ++j) {
        if (rows == PANEL_ROWS) {
            memcpy(panel + j * PANEL_ROWS, strip + j * width, PANEL_ROWS * sizeof(REAL));
            continue;
        }
        for (sn_size i = 0; i < PANEL_ROWS; ++i)
            panel[j * PANEL_ROWS + i] = i < rows ? strip[j * width + i] : 0;
    }
}

/* Y = W X (Y = W^T X): the threads take strips of STRIP_ROWS rows of Y. For each chunk of
 * SN_SHARED_NC columns of X and each block of SN_SHARED_KC terms, each thread packs its own copy of
 * X's block (no waiting, and in its own L2), then goes through its strips a panel at a time,
 * multiplying the panel by every block of the chunk's columns. A panel is PANEL_ROWS rows of W
 * (W X), decoded in place, or PANEL_ROWS columns of W (W^T X), copied out of the strip's decoded
 * rows (48 codes a row, decoded a vector at a time, where a panel's 6 would be one by one) in the
 * order the product reads them: 1.02-1.05x against reading them from the strip (Zen 3, k = 128). */
static int K(matmul_panels)(int nt, int transpose, sn_size n_rows, sn_size n_cols,
                            sn_size n_codes, const REAL *cb, SRC_PARAM, sn_size k, const REAL *X,
                            REAL *Y, const REAL *bias)
{
    const sn_size n_out = transpose ? n_cols : n_rows, n_in = transpose ? n_rows : n_cols;
    const sn_size x_cols = (SN_MIN(k, SN_SHARED_NC) + PANEL_COLS - 1) / PANEL_COLS * PANEL_COLS;
    const sn_size strips = (n_out + STRIP_ROWS - 1) / STRIP_ROWS;
    const sn_size reals = SN_SHARED_KC * (x_cols + PANEL_ROWS + (transpose ? STRIP_ROWS : 0));
    const sn_size per_thread = (reals * (sn_size)sizeof(REAL) + 63) / 64 * 64;
    nt = (int)SN_MIN((sn_size)nt, strips);
    char *memory = (char *)sn_aligned_alloc((size_t)(nt * per_thread));
    if (memory == NULL) return SN_ENOMEM;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const sn_size team = sn_team_size(), t = sn_thread_id();
        REAL *Xp = (REAL *)(memory + t * per_thread), *panel = Xp + SN_SHARED_KC * x_cols;
        REAL *strip = panel + SN_SHARED_KC * PANEL_ROWS;
        const sn_size s0 = strips * t / team, s1 = strips * (t + 1) / team;
        for (sn_size t0 = 0; t0 < k; t0 += SN_SHARED_NC)
            for (sn_size j0 = 0; j0 < n_in; j0 += SN_SHARED_KC) {
                const sn_size kc = SN_MIN(SN_SHARED_KC, n_in - j0);
                const sn_size nc = SN_MIN(SN_SHARED_NC, k - t0);
                const int add = j0 > 0, last = j0 + kc == n_in; /* the bias comes last */
                K(pack_x)(kc, nc, k, X + j0 * k + t0, Xp);
                for (sn_size s = s0; s < s1; ++s) {
                    const sn_size o0 = s * STRIP_ROWS, o1 = SN_MIN(n_out, o0 + STRIP_ROWS);
                    if (transpose) {
                        K(decode_rows)(j0, j0 + kc, o0, o1, n_cols, n_codes, cb, SRC_ARG, strip);
                        if (s + 1 < s1) /* the next strip's codes, while this one multiplies */
                            PREFETCH_WEIGHTS(j0, j0 + kc, o1, SN_MIN(n_out, o1 + STRIP_ROWS));
                    }
                    for (sn_size r0 = o0; r0 < o1; r0 += PANEL_ROWS) {
                        const sn_size r1 = SN_MIN(o1, r0 + PANEL_ROWS);
                        REAL *y = Y + r0 * k + t0;
                        const REAL *b = bias != NULL && last ? bias + r0 : NULL;
                        if (transpose) {
                            K(interleave_panel)(strip + (r0 - o0), o1 - o0, kc, r1 - r0, panel);
                            K(panel_times_x)(kc, panel, 1, PANEL_ROWS, Xp, nc, y, k,
                                             (int)(r1 - r0), add, b);
                            continue;
                        }
                        K(decode_rows)(r0, r1, j0, j0 + kc, n_cols, n_codes, cb, SRC_ARG, panel);
                        for (sn_size q = (r1 - r0) * kc; q < PANEL_ROWS * kc; ++q)
                            panel[q] = 0; /* a last panel's missing rows */
                        if (r1 < n_out && (r1 < o1 || s + 1 < s1)) /* the next panel's codes */
                            PREFETCH_WEIGHTS(r1, SN_MIN(n_out, r1 + PANEL_ROWS), j0, j0 + kc);
                        K(panel_times_x)(kc, panel, kc, 1, Xp, nc, y, k, (int)(r1 - r0), add,
                                         b);
                    }
                }
            }
    }
    free(memory);
    return SN_OK;
}
#undef PANEL_LANES
#undef PANEL_ROWS
#undef PANEL_COLS
#undef STRIP_ROWS

/* Y[i, :] += bias[i], after the products that do not add it themselves: the same sums, (W X)[i, t]
 * then + bias[i], as a separate pass. */
static void K(add_bias)(sn_size n_out, sn_size k, const REAL *bias, REAL *Y)
{
    for (sn_size i = 0; i < n_out; ++i)
        for (sn_size t = 0; t < k; ++t)
            Y[i * k + t] += bias[i];
}

static int K(shared_matmul)(int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes,
                            const REAL *cb, SRC_PARAM, sn_size k, const REAL *X, REAL *Y,
                            int transpose, const REAL *bias)
{
    const sn_size n_out = transpose ? n_cols : n_rows;
    if (n_out == 0 || k == 0) return SN_OK;
    const int nt = sn_threads_for(n_threads, n_rows * n_cols * k, GRAIN);
    if (n_rows == 0 || n_cols == 0) {
        for (sn_size p = 0; p < n_out * k; ++p)
            Y[p] = 0;
    } else if (k == 1 && !transpose) { /* one contiguous range of rows per thread */
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            const sn_size team = sn_team_size(), t = sn_thread_id();
            K(matvec_rows)(n_rows * t / team, n_rows * (t + 1) / team, n_cols, n_codes, cb, SRC_ARG,
                           X, Y);
        }
    } else if (k == 1) {
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
        for (sn_size c = 0; c < n_cols; c += SN_SHARED_COLS)
            K(matvec_t_cols)(c, SN_MIN(n_cols, c + SN_SHARED_COLS), n_rows, n_cols, n_codes, cb,
                             SRC_ARG, X, Y);
    } else {
        return K(matmul_panels)(nt, transpose, n_rows, n_cols, n_codes, cb, SRC_ARG, k, X, Y, bias);
    }
    if (bias != NULL) K(add_bias)(n_out, k, bias, Y);
    return SN_OK;
}

/* The codebook gradient runs every BLAS call inside one OpenMP region whose threads also bin, so no
 * thread idles (spin-waiting) while another multiplies, and cuts the work into BLAS calls that
 * depend on the problem only (tiles of SN_SHARED_TILE weights, row blocks of SN_SHARED_GRAD_ROWS):
 * the results are the same for every thread count. BLAS's own threads are left as configured
 * (scipy's OpenBLAS: OPENBLAS_NUM_THREADS or threadpoolctl). Column-major view of the C-order
 * arrays: (G X^T)^T = X G^T. */

/* Partial sums of the gradient: row i adds into slot i % SN_SHARED_SLOTS, the slots are summed in
 * order, so the result does not depend on how many threads run the slots. */
static int K(shared_grad)(int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, SRC_PARAM,
                          sn_size k, const REAL *G, const REAL *X, REAL *grad, GEMM gemm)
{
    SRC_LOCALS;
#if SN_SHARED_HASH_VEC
    const K(hash_divisor) hd = K(hash_divisor_of)(n_codes32_);
#endif
    const sn_size slots = SN_SHARED_SLOTS;
    double *bins = (double *)calloc((size_t)(slots * n_codes), sizeof(double));
    const sn_size mb = K(tile_rows)(n_rows, n_cols);
    REAL *buf = NULL;
    if (k > 1 && n_rows > 0 && n_cols > 0) buf = (REAL *)malloc((size_t)(mb * n_cols) * sizeof(REAL));
    if (bins == NULL || (k > 1 && n_rows > 0 && n_cols > 0 && buf == NULL)) {
        free(bins);
        free(buf);
        return SN_ENOMEM;
    }
    const int nt = sn_threads_for(n_threads, n_rows * n_cols * SN_MAX(k, (sn_size)1), GRAIN);
    if (n_cols > 0 && k > 0) {
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            int ik = (int)k, in = (int)n_cols, im;
            REAL one = 1, zero = 0;
            for (sn_size r0 = 0; r0 < n_rows; r0 += mb) {
                const sn_size r1 = SN_MIN(n_rows, r0 + mb);
                if (k > 1) { /* tile = (G X^T)[r0:r1, :], in fixed blocks of rows */
#pragma omp for schedule(static)
                    for (sn_size r = r0; r < r1; r += SN_SHARED_GRAD_ROWS) {
                        im = (int)(SN_MIN(r1, r + SN_SHARED_GRAD_ROWS) - r);
                        gemm("T", "N", &in, &im, &ik, &one, (REAL *)X, &ik, (REAL *)G + r * k, &ik,
                             &zero, buf + (r - r0) * n_cols, &in);
                    }
                }
#pragma omp for schedule(static)
                for (sn_size s = 0; s < slots; ++s) {
                    double *b = bins + s * n_codes;
                    const sn_size first = r0 + (s - r0 % slots + slots) % slots;
                    for (sn_size i = first; i < r1; i += slots) {
                        ROW_BEGIN(i);
                        if (k > 1) {
                            const REAL *t = buf + (i - r0) * n_cols;
                            sn_size j = 0;
#if SN_SHARED_HASH_VEC
                            j = K(bin_hashed)(b, row_key_, t, n_cols, hd);
#endif
                            for (; j < n_cols; ++j)
                                BIN_ADD(b, j, t[j]);
                        } else {
                            const REAL gi = G[i];
                            for (sn_size j = 0; j < n_cols; ++j)
                                BIN_ADD(b, j, gi * X[j]);
                        }
                    }
                }
            }
        }
    }
    for (sn_size c = 0; c < n_codes; ++c) {
        double sum = 0;
        for (sn_size s = 0; s < slots; ++s)
            sum += bins[s * n_codes + c];
        grad[c] = (REAL)sum;
    }
    free(bins);
    free(buf);
    return SN_OK;
}

#undef K
#undef SRC_PARAM
#undef SRC_ARG
#undef SRC_LOCALS
#undef ROW_BEGIN
#undef W_AT
#undef BIN_ADD
#undef PREFETCH_WEIGHTS
#undef LUT8_OK
#undef SN_SHARED_LUTW
#undef SN_SHARED_GATHER_DOT
#undef SN_SHARED_TABLE16
#undef SN_SHARED_HASH_VEC
#undef HASH_LANES
#undef GATHER_LANES
#undef HW_GATHERS
#undef LUT8_FN
#undef GRAIN
#ifdef SN_SHARED_HASHED
#undef HASH_AT
#endif
