/* Template: thresholding, top-k selection and pruning kernels (see threshold.h for the contracts).
 *
 * Included by threshold.c through sn_instantiate.h for float and double and every ISA level, with
 *   REAL     value type                 UINT   unsigned integer of the same width (selection keys)
 *   KBITS    bits of UINT               INF_BITS  bit pattern of +inf
 *   FABS     fabsf / fabs               SFX    type suffix (f32, f64)
 *   ISA      level name (sn_instantiate.h)
 * Every function writes its whole output; none reads memory the caller did not validate.
 *
 * Selection works on integer keys: the bit pattern of |x| (magnitude) or an order-preserving map of
 * x (value), so a radix select on the top bits finds the k-th largest exactly, in a few linear passes
 * over a row held in L1, without sorting. */

#define K(name) SN_CAT3(name, SFX, ISA)

#define SIGN_BIT ((UINT)1 << (KBITS - 1))
#define ABS_MASK (SIGN_BIT - 1)

/* The elementwise operators (enum sn_thr_op) on one value v with parameter p. */
#define THR_BIN(v, p) ((v) >= (p) ? (REAL)1 : (REAL)0)
#define THR_HARD(v, p) (FABS(v) >= (p) ? (v) : (REAL)0)
/* v - clamp(v, -p, p): NaN fails both comparisons, so the clamp gives -p and NaN - (-p) is NaN */
#define THR_SOFT(v, p) ((v) - ((v) > -(p) ? ((v) < (p) ? (v) : (p)) : -(p)))

/* Applies EXPR (of v, p) to n elements of x into y with the given strides; constant strides of 1
 * let the compiler vectorise the loop at the ISA's full width. */
#define THR_EACH(EXPR, XS, YS)                       \
    _Pragma("omp simd") for (sn_size i = 0; i < n; ++i) \
    {                                                \
        const REAL v = x[i * (XS)];                  \
        y[i * (YS)] = EXPR;                          \
    }

static void K(map_span)(int op, REAL p, sn_size n, const REAL *x, sn_size xs, REAL *y, sn_size ys)
{
    if (xs == 1 && ys == 1) {
        if (op == SN_THR_BINARIZE) THR_EACH(THR_BIN(v, p), 1, 1)
        else if (op == SN_THR_HARD) THR_EACH(THR_HARD(v, p), 1, 1)
        else THR_EACH(THR_SOFT(v, p), 1, 1)
    } else {
        if (op == SN_THR_BINARIZE) THR_EACH(THR_BIN(v, p), xs, ys)
        else if (op == SN_THR_HARD) THR_EACH(THR_HARD(v, p), xs, ys)
        else THR_EACH(THR_SOFT(v, p), xs, ys)
    }
}

#if SN_X86_DISPATCH
/* Unaligned GCC vectors of the ISA's width, and their integer twins for masks. */
typedef REAL K(vec) __attribute__((vector_size(SN_VBYTES), aligned(sizeof(REAL)), may_alias));
typedef SINT K(ivec) __attribute__((vector_size(SN_VBYTES), aligned(sizeof(REAL)), may_alias));
#define VEC K(vec)
#define IVEC K(ivec)
#define VLEN ((sn_size)(SN_VBYTES / sizeof(REAL)))

#if SN_VBYTES == 64
#define THR_STREAM(ptr, v) _mm512_stream_si512((__m512i *)(ptr), (__m512i)(v))
#elif SN_VBYTES == 32
#define THR_STREAM(ptr, v) _mm256_stream_si256((__m256i *)(ptr), (__m256i)(v))
#else
#define THR_STREAM(ptr, v) _mm_stream_si128((__m128i *)(ptr), (__m128i)(v))
#endif

/* mask ? a : b, lane by lane */
static inline VEC K(vselect)(IVEC mask, VEC a, VEC b)
{
    return (VEC)((mask & (IVEC)a) | (~mask & (IVEC)b));
}

static inline VEC K(vop)(int op, VEC v, VEC pv)
{
    if (op == SN_THR_BINARIZE) return (VEC)((IVEC)(v >= pv) & (IVEC)((VEC){0} + (REAL)1));
    if (op == SN_THR_HARD) {
        const VEC a = (VEC)((IVEC)v & ((IVEC){0} + (SINT)ABS_MASK)); /* |v| */
        return (VEC)((IVEC)(a >= pv) & (IVEC)v);
    }
    const VEC c = K(vselect)(v > -pv, v, -pv);
    return v - K(vselect)(c < pv, c, pv);
}

/* map_span for long contiguous spans: non-temporal stores, so writing the output costs no read
 * of it (the lines bypass the caches the output would not fit in anyway). */
static void K(map_span_stream)(int op, REAL p, sn_size n, const REAL *x, REAL *y)
{
    sn_size i = 0;
    while (i < n && ((uintptr_t)(y + i) % SN_VBYTES) != 0) {
        K(map_span)(op, p, 1, x + i, 1, y + i, 1);
        ++i;
    }
    const VEC pv = (VEC){0} + p;
    if (op == SN_THR_BINARIZE) {
        for (; i + VLEN <= n; i += VLEN) THR_STREAM(y + i, K(vop)(SN_THR_BINARIZE, *(const VEC *)(x + i), pv));
    } else if (op == SN_THR_HARD) {
        for (; i + VLEN <= n; i += VLEN) THR_STREAM(y + i, K(vop)(SN_THR_HARD, *(const VEC *)(x + i), pv));
    } else {
        for (; i + VLEN <= n; i += VLEN) THR_STREAM(y + i, K(vop)(SN_THR_SOFT, *(const VEC *)(x + i), pv));
    }
    K(map_span)(op, p, n - i, x + i, 1, y + i, 1);
}
#endif

/* binarize into bytes (bool / uint8 output) */
static void K(map_span_bytes)(REAL p, sn_size n, const REAL *x, sn_size xs, uint8_t *y, sn_size ys)
{
    if (xs == 1 && ys == 1) {
#pragma omp simd
        for (sn_size i = 0; i < n; ++i)
            y[i] = x[i] >= p;
    } else {
        for (sn_size i = 0; i < n; ++i)
            y[i * ys] = x[i * xs] >= p;
    }
}

/* Each thread takes an equal run of elements in row-major order, so one long row splits too. */
static int K(threshold_map)(int n_threads, int op, REAL p, sn_size n_rows, sn_size n_cols,
                            const REAL *X, sn_size x_rs, sn_size x_cs, void *Y, int y_bytes,
                            sn_size y_rs, sn_size y_cs)
{
    const sn_size total = n_rows * n_cols;
    if (total == 0) return SN_OK;
    const int nt = sn_threads_for(n_threads, total, SN_THR_MAP_GRAIN);
    const int stream = !y_bytes && total * (sn_size)sizeof(REAL) >= SN_THR_STREAM_BYTES;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const sn_size team = sn_team_size(), t = sn_thread_id();
        const sn_size e0 = total / team * t + total % team * t / team;
        const sn_size e1 = total / team * (t + 1) + total % team * (t + 1) / team;
        sn_size r = e0 / n_cols, c = e0 % n_cols;
        for (sn_size e = e0; e < e1; ++r, c = 0) {
            const sn_size len = SN_MIN(n_cols - c, e1 - e);
            const REAL *x = X + r * x_rs + c * x_cs;
            if (y_bytes)
                K(map_span_bytes)(p, len, x, x_cs, (uint8_t *)Y + r * y_rs + c * y_cs, y_cs);
#if SN_X86_DISPATCH
            else if (stream && x_cs == 1 && y_cs == 1)
                K(map_span_stream)(op, p, len, x, (REAL *)Y + r * y_rs + c);
#endif
            else
                K(map_span)(op, p, len, x, x_cs, (REAL *)Y + r * y_rs + c * y_cs, y_cs);
            e += len;
        }
#if SN_X86_DISPATCH
        if (stream) _mm_sfence(); /* order the streamed stores before the caller reads them */
#else
        (void)stream;
#endif
    }
    return SN_OK;
}

/* Counts the nonzero EXPR(v, p) of a row; a constant stride of 1 lets it vectorise. */
#define THR_COUNT_XS(EXPR, XS)                                                     \
    _Pragma("omp simd reduction(+ : count)") for (sn_size j = 0; j < n_cols; ++j) \
    {                                                                              \
        const REAL v = x[j * (XS)];                                                \
        count += (EXPR) != 0;                                                      \
    }
#define THR_COUNT(EXPR)                \
    if (x_cs == 1) {                   \
        THR_COUNT_XS(EXPR, 1)          \
    } else {                           \
        THR_COUNT_XS(EXPR, x_cs)       \
    }

static int K(threshold_count)(int n_threads, int op, REAL p, sn_size n_rows, sn_size n_cols,
                              const REAL *X, sn_size x_rs, sn_size x_cs, sn_size *counts)
{
    const int nt = sn_threads_for(n_threads, n_rows * n_cols, SN_THR_GRAIN);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (sn_size i = 0; i < n_rows; ++i) {
        const REAL *x = X + i * x_rs;
        sn_size count = 0;
        if (op == SN_THR_BINARIZE) {
            THR_COUNT(THR_BIN(v, p))
        } else if (op == SN_THR_HARD) {
            THR_COUNT(THR_HARD(v, p))
        } else {
            THR_COUNT(THR_SOFT(v, p))
        }
        counts[i] = count;
    }
    return SN_OK;
}

/* ---- selection keys and radix select ---- */

static inline UINT K(bits)(REAL v)
{
    UINT b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* |x|'s bit pattern; every NaN one above +inf */
static inline UINT K(key_mag)(REAL v)
{
    const UINT a = K(bits)(v) & ABS_MASK;
    return a > INF_BITS ? INF_BITS + 1 : a;
}

/* order-preserving: negatives flipped below SIGN_BIT, positives above; -0 is +0, NaN the maximum */
static inline UINT K(key_val)(REAL v)
{
    const UINT b = K(bits)(v), a = b & ABS_MASK;
    const UINT k = (b & SIGN_BIT) ? ~b : (b | SIGN_BIT);
    return a > INF_BITS ? ~(UINT)0 : (a == 0 ? SIGN_BIT : k);
}

/* the key of 0 */
#define ZERO_KEY(rank) ((rank) == SN_RANK_MAGNITUDE ? (UINT)0 : SIGN_BIT)

#define THR_KEYS(KEY, XS)                  \
    _Pragma("omp simd") for (sn_size j = 0; j < n; ++j) keys[j] = KEY(x[j * (XS)]);

static void K(row_keys)(int rank, sn_size n, const REAL *x, sn_size xs, UINT *keys)
{
    if (rank == SN_RANK_MAGNITUDE) {
        if (xs == 1) THR_KEYS(K(key_mag), 1) else THR_KEYS(K(key_mag), xs)
    } else {
        if (xs == 1) THR_KEYS(K(key_val), 1) else THR_KEYS(K(key_val), xs)
    }
}
#undef THR_KEYS

/* Copies the keys v of src[0, n) with (v >> lo & mask) == b (SN_THR_IN_BUCKET), or v >= b
 * (SN_THR_AT_LEAST), to buf; returns how many. Blocks without one are skipped by a vector test, so
 * rare hits cost little; within a hit block the copy is branch-free. buf may be src (m <= i: each
 * key is read before its slot is written). */
#define THR_PICK(v) (how == SN_THR_IN_BUCKET ? (((v) >> lo) & mask) == b : (v) >= b)
static sn_size K(compact)(const UINT *src, sn_size n, int how, int lo, UINT mask, UINT b, UINT *buf)
{
    sn_size m = 0, i = 0;
#if SN_X86_DISPATCH && SN_VBYTES == 64
    /* AVX-512: compress the keys >= b of a whole vector and store all of it; the lanes past the
     * kept ones land on slots m + c .. m + VLEN - 1 <= i + VLEN - 1, already read and later
     * overwritten or beyond the result. */
    if (how == SN_THR_AT_LEAST) {
        const sn_size vlen = 64 / (sn_size)sizeof(UINT);
        for (; i + vlen <= n; i += vlen) {
            const __m512i v = _mm512_loadu_si512((const void *)(src + i));
            unsigned keep;
            __m512i packed;
            if (sizeof(UINT) == 4) {
                keep = _mm512_cmpge_epu32_mask(v, _mm512_set1_epi32((int)b));
                packed = _mm512_maskz_compress_epi32((__mmask16)keep, v);
            } else {
                keep = _mm512_cmpge_epu64_mask(v, _mm512_set1_epi64((long long)b));
                packed = _mm512_maskz_compress_epi64((__mmask8)keep, v);
            }
            _mm512_storeu_si512((void *)(buf + m), packed);
            m += __builtin_popcount(keep);
        }
    }
#endif
    for (; i + SN_THR_BLOCK <= n; i += SN_THR_BLOCK) {
        int any = 0;
#pragma omp simd reduction(| : any)
        for (int t = 0; t < SN_THR_BLOCK; ++t)
            any |= THR_PICK(src[i + t]);
        if (!any) continue;
        for (int t = 0; t < SN_THR_BLOCK; ++t) {
            const UINT v = src[i + t];
            buf[m] = v;
            m += THR_PICK(v);
        }
    }
    for (; i < n; ++i) {
        const UINT v = src[i];
        buf[m] = v;
        m += THR_PICK(v);
    }
    return m;
}
#undef THR_PICK

static sn_size K(count_equal)(const UINT *keys, sn_size n, UINT key)
{
    sn_size count = 0;
#pragma omp simd reduction(+ : count)
    for (sn_size j = 0; j < n; ++j)
        count += keys[j] == key;
    return count;
}

/* Counts of (src[i] >> lo) & mask over [b0, b1] into hist[b0..b1]; four interleaved sub-histograms
 * (32-bit, filled in chunks) keep runs of equal keys from waiting on each other's increments. */
__attribute__((noinline)) /* inlined with a constant n, GCC 12 warns of a bogus overflow */
static void K(histogram)(const UINT *src, sn_size n, int lo, UINT mask, sn_size b0, sn_size b1,
                         sn_size *hist)
{
    uint32_t sub[4][(sn_size)1 << SN_THR_RADIX];
    const sn_size width = b1 - b0 + 1;
    for (sn_size b = b0; b <= b1; ++b)
        hist[b] = 0;
    for (sn_size c0 = 0; c0 < n; c0 += (sn_size)1 << 30) {
        const sn_size c1 = SN_MIN(n, c0 + ((sn_size)1 << 30));
        for (int u = 0; u < 4; ++u)
            memset(sub[u], 0, (size_t)width * sizeof(uint32_t));
        sn_size i = c0;
        for (; i + 4 <= c1; i += 4) {
            ++sub[0][((src[i] >> lo) & mask) - b0];
            ++sub[1][((src[i + 1] >> lo) & mask) - b0];
            ++sub[2][((src[i + 2] >> lo) & mask) - b0];
            ++sub[3][((src[i + 3] >> lo) & mask) - b0];
        }
        for (; i < c1; ++i)
            ++sub[0][((src[i] >> lo) & mask) - b0];
        for (sn_size b = 0; b < width; ++b)
            hist[b0 + b] += (sn_size)sub[0][b] + sub[1][b] + sub[2][b] + sub[3][b];
    }
}

/* The k-th largest (1 <= k <= n) of keys[0, n), and in *n_greater how many keys exceed it.
 * Radix select from the top bits down. Each round skips the leading bits all candidates share
 * (from their maximum and minimum), histograms the next SN_THR_RADIX bits to find the bucket of
 * the k-th, and compacts that bucket into buf (n entries) for the next round; a round ends the
 * search when the k-th is the largest or smallest candidate or all candidates are equal.
 * hist holds 2^SN_THR_RADIX counts. After `rounds` rounds it stops at the smallest key of the
 * bucket reached (a lower bound of the k-th; *n_greater is then not set). */
static UINT K(select_rounds)(const UINT *src, sn_size n, sn_size k, sn_size *hist, UINT *buf,
                             sn_size *n_greater, int rounds)
{
    sn_size above = 0;
    for (int round = 1;; ++round) {
        UINT top = 0, bottom = ~(UINT)0;
#pragma omp simd reduction(max : top) reduction(min : bottom)
        for (sn_size i = 0; i < n; ++i) {
            top = src[i] > top ? src[i] : top;
            bottom = src[i] < bottom ? src[i] : bottom;
        }
        if (k == 1 || top == bottom) {
            *n_greater = above;
            return top;
        }
        if (k == n) {
            *n_greater = above + n - K(count_equal)(src, n, bottom);
            return bottom;
        }
        const UINT diff = top ^ bottom; /* the candidates share every bit above diff's highest */
        int hi = KBITS;
        while (!((diff >> (hi - 1)) & 1))
            --hi;
        const int lo = hi > SN_THR_RADIX ? hi - SN_THR_RADIX : 0;
        const UINT mask = ((UINT)1 << (hi - lo)) - 1;
        const sn_size b_top = (sn_size)((top >> lo) & mask), b_bottom = (sn_size)((bottom >> lo) & mask);
        K(histogram)(src, n, lo, mask, b_bottom, b_top, hist);
        sn_size b = b_top, acc = 0;
        while (acc + hist[b] < k)
            acc += hist[b--];
        above += acc;
        k -= acc;
        if (lo == 0) { /* every bit is fixed: the shared high bits of top, then b */
            *n_greater = above;
            return (top & ~mask) | (UINT)b;
        }
        if (round == rounds) /* out of rounds: the smallest key of the bucket */
            return (top & ~(mask << lo)) | ((UINT)b << lo);
        n = K(compact)(src, n, SN_THR_IN_BUCKET, lo, mask, (UINT)b, buf);
        src = buf;
    }
}

static UINT K(select)(const UINT *src, sn_size n, sn_size k, sn_size *hist, UINT *buf,
                      sn_size *n_greater)
{
    *n_greater = 0;
    return K(select_rounds)(src, n, k, hist, buf, n_greater, KBITS);
}

/* A key t with at least r (1 <= r <= n) of keys[0, n) >= t, and usually not many more: two rounds
 * of the radix select, then the smallest key of the bucket reached. Enough for a filter. */
static UINT K(at_least)(UINT *keys, sn_size n, sn_size r, sn_size *hist)
{
    sn_size unused = 0;
    return K(select_rounds)(keys, n, r, hist, keys, &unused, 2);
}

/* Per-thread scratch of the row selections: keys and candidates of one row, and a histogram. */
typedef struct {
    UINT *keys, *buf, *buf2;
    sn_size *hist;
} K(scratch);

static int K(scratch_alloc)(K(scratch) *s, sn_size n)
{
    const size_t len = (size_t)SN_MAX(n, 1) * sizeof(UINT);
    s->keys = (UINT *)malloc(len);
    s->buf = (UINT *)malloc(len);
    s->buf2 = (UINT *)malloc(len);
    s->hist = (sn_size *)malloc(((size_t)1 << SN_THR_RADIX) * sizeof(sn_size));
    return s->keys != NULL && s->buf != NULL && s->buf2 != NULL && s->hist != NULL;
}

static void K(scratch_free)(K(scratch) *s)
{
    free(s->keys);
    free(s->buf);
    free(s->buf2);
    free(s->hist);
}

/* Cut of one row for its top k (0 < k < n): the keys are in s->keys; returns the cut key, in
 * *quota how many of the entries at the cut are kept (the first ones), and in *ties how many
 * entries are at the cut. */
static UINT K(row_cut)(K(scratch) *s, sn_size n, sn_size k, sn_size *quota, sn_size *ties)
{
    sn_size greater = 0;
    UINT cut;
    /* A small k of a long row: a key t0 from a regular sample, at a rank that should leave about
     * 2k + 4 n / SN_THR_SAMPLE keys >= t0, filters the row to a few candidates in one vector pass.
     * The k-th largest is >= t0 exactly when at least k keys are, and then every key at or above
     * it is a candidate, so selecting among them is exact; if too few pass, select in the row. */
    const sn_size rank = 2 * k * SN_THR_SAMPLE / SN_MAX(n, 1) + 4;
    if (n >= 4 * SN_THR_SAMPLE && rank <= SN_THR_SAMPLE / 4) {
        UINT sample[SN_THR_SAMPLE];
        const sn_size stride = n / SN_THR_SAMPLE;
        for (sn_size t = 0; t < SN_THR_SAMPLE; ++t)
            sample[t] = s->keys[t * stride];
        const UINT t0 = K(at_least)(sample, SN_THR_SAMPLE, rank, s->hist);
        const sn_size m = K(compact)(s->keys, n, SN_THR_AT_LEAST, 0, 0, t0, s->buf);
        if (m >= k) {
            cut = K(select)(s->buf, m, k, s->hist, s->buf2, &greater);
            *quota = k - greater;
            *ties = K(count_equal)(s->buf, m, cut);
            return cut;
        }
    }
    cut = K(select)(s->keys, n, k, s->hist, s->buf, &greater);
    *quota = k - greater;
    *ties = K(count_equal)(s->keys, n, cut);
    return cut;
}

static int K(topk)(int n_threads, int rank, sn_size n_rows, sn_size n, sn_size k, const REAL *X,
                   sn_size x_rs, sn_size x_cs, REAL *Y)
{
    int failed = 0;
    if (n_rows == 0 || n == 0) return SN_OK;
    const int nt = sn_threads_for(n_threads, n_rows * n, SN_THR_GRAIN);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        K(scratch) s = {NULL, NULL, NULL, NULL};
        const int ok = (k == 0 || k >= n) || K(scratch_alloc)(&s, n);
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (sn_size i = 0; i < n_rows; ++i) {
            const REAL *x = X + i * x_rs;
            REAL *y = Y + i * n;
            if (k == 0) {
                memset(y, 0, (size_t)n * sizeof(REAL));
                continue;
            }
            if (k >= n) {
#pragma omp simd
                for (sn_size j = 0; j < n; ++j)
                    y[j] = x[j * x_cs];
                continue;
            }
            if (!ok) continue;
            K(row_keys)(rank, n, x, x_cs, s.keys);
            sn_size quota, ties;
            const UINT cut = K(row_cut)(&s, n, k, &quota, &ties);
            const UINT *keys = s.keys;
            if (ties == quota) { /* every entry at the cut is kept: no search for the first ones */
                if (x_cs == 1) {
#pragma omp simd
                    for (sn_size j = 0; j < n; ++j)
                        y[j] = keys[j] >= cut ? x[j] : (REAL)0;
                } else {
                    for (sn_size j = 0; j < n; ++j)
                        y[j] = keys[j] >= cut ? x[j * x_cs] : (REAL)0;
                }
                continue;
            }
#pragma omp simd
            for (sn_size j = 0; j < n; ++j)
                y[j] = keys[j] > cut ? x[j * x_cs] : (REAL)0;
            for (sn_size j0 = 0; quota > 0; j0 += SN_THR_BLOCK) { /* the first quota ties */
                const sn_size j1 = SN_MIN(j0 + SN_THR_BLOCK, n);
                int any = 0;
#pragma omp simd reduction(| : any)
                for (sn_size j = j0; j < j1; ++j)
                    any |= keys[j] == cut;
                for (sn_size j = j0; any && j < j1 && quota > 0; ++j)
                    if (keys[j] == cut) {
                        y[j] = x[j * x_cs];
                        --quota;
                    }
            }
        }
        K(scratch_free)(&s);
    }
    return failed ? SN_ENOMEM : SN_OK;
}

/* Stored entries of a row cut: the nonzero ones among those above the cut and the first quota at it. */
static sn_size K(cut_count)(int rank, const UINT *keys, sn_size n, UINT cut, sn_size quota)
{
    const UINT zero = ZERO_KEY(rank);
    sn_size count = 0;
#pragma omp simd reduction(+ : count)
    for (sn_size j = 0; j < n; ++j)
        count += (keys[j] > cut) & (keys[j] != zero);
    return count + (cut != zero ? quota : 0);
}

static int K(topk_cut)(int n_threads, int rank, sn_size n_rows, sn_size n, sn_size k,
                       const REAL *X, sn_size x_rs, sn_size x_cs, uint64_t *cut, sn_size *quota,
                       sn_size *counts)
{
    int failed = 0;
    if (n_rows == 0) return SN_OK;
    const int nt = sn_threads_for(n_threads, n_rows * n, SN_THR_GRAIN);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        K(scratch) s = {NULL, NULL, NULL, NULL};
        const int ok = K(scratch_alloc)(&s, n);
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (sn_size i = 0; i < n_rows; ++i) {
            if (!ok) continue;
            K(row_keys)(rank, n, X + i * x_rs, x_cs, s.keys);
            UINT c;
            sn_size q;
            if (k == 0) { /* nothing is above the largest key, none taken at it */
                c = ~(UINT)0;
                q = 0;
            } else if (k >= n) { /* everything is above the smallest key or taken at it */
                c = 0;
                q = 0;
#pragma omp simd reduction(+ : q)
                for (sn_size j = 0; j < n; ++j)
                    q += s.keys[j] == 0;
            } else {
                sn_size ties;
                c = K(row_cut)(&s, n, k, &q, &ties);
            }
            cut[i] = c;
            quota[i] = q;
            counts[i] = K(cut_count)(rank, s.keys, n, c, q);
        }
        K(scratch_free)(&s);
    }
    return failed ? SN_ENOMEM : SN_OK;
}

/* Appends to out[m..] the magnitude keys of x[0, n) (stride xs) whose top bits (key >> shift) are
 * `bucket`; returns the new m. Contiguous rows skip blocks without one by a vector test. */
static sn_size K(gather_bucket)(const REAL *x, sn_size xs, sn_size n, int shift, UINT bucket,
                                UINT *out, sn_size m)
{
    sn_size j = 0;
    if (xs == 1) {
        for (; j + SN_THR_BLOCK <= n; j += SN_THR_BLOCK) {
            int any = 0;
#pragma omp simd reduction(| : any)
            for (int t = 0; t < SN_THR_BLOCK; ++t)
                any |= (K(key_mag)(x[j + t]) >> shift) == bucket;
            if (!any) continue;
            for (int t = 0; t < SN_THR_BLOCK; ++t) {
                const UINT key = K(key_mag)(x[j + t]);
                if ((key >> shift) == bucket) out[m++] = key;
            }
        }
    }
    for (; j < n; ++j) {
        const UINT key = K(key_mag)(x[j * xs]);
        if ((key >> shift) == bucket) out[m++] = key;
    }
    return m;
}

/* Global magnitude cut. Pass 1: per-thread histograms of the top SN_THR_GLOBAL_BITS bits of the
 * keys (their top bit is always 0) find the bucket of the n_keep-th largest; pass 2 gathers that
 * bucket's keys and a radix select finishes in it; pass 3 counts per row the keys above and at the
 * cut; the quota of entries at the cut goes to rows in order (ties to the lower index). */
static int K(prune_cut)(int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_keep,
                        const REAL *X, sn_size x_rs, sn_size x_cs, uint64_t *cut, sn_size *quota,
                        sn_size *counts)
{
    const sn_size total = n_rows * n_cols;
    if (n_rows == 0) return SN_OK;
    if (n_keep == 0 || n_keep >= total) { /* a cut above every key, or at the smallest */
        const int nt = sn_threads_for(n_threads, total, SN_THR_GRAIN);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
        for (sn_size i = 0; i < n_rows; ++i) {
            const REAL *x = X + i * x_rs;
            sn_size nonzero = 0;
#pragma omp simd reduction(+ : nonzero)
            for (sn_size j = 0; j < n_cols; ++j)
                nonzero += K(key_mag)(x[j * x_cs]) != 0;
            cut[i] = n_keep == 0 ? (UINT)~(UINT)0 : 0;
            quota[i] = n_keep == 0 ? 0 : n_cols;
            counts[i] = n_keep == 0 ? 0 : nonzero;
        }
        return SN_OK;
    }
    const int shift = KBITS - 1 - SN_THR_GLOBAL_BITS;
    const sn_size bins = (sn_size)1 << SN_THR_GLOBAL_BITS;
    const int nt = sn_threads_for(n_threads, total, SN_THR_GRAIN);
    sn_size *hists = (sn_size *)calloc((size_t)(nt * bins), sizeof(sn_size));
    sn_size *offsets = (sn_size *)malloc((size_t)(nt + 1) * sizeof(sn_size));
    UINT *cand = NULL;
    UINT the_cut = 0;
    sn_size bucket = 0, above = 0, n_cand = 0;
    int failed = hists == NULL || offsets == NULL;
    if (failed) goto done;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const int t = sn_thread_id(), team = sn_team_size();
        sn_size *h = hists + (sn_size)t * bins;
#pragma omp for schedule(static)
        for (sn_size i = 0; i < n_rows; ++i) {
            const REAL *x = X + i * x_rs;
            for (sn_size j = 0; j < n_cols; ++j)
                ++h[K(key_mag)(x[j * x_cs]) >> shift];
        }
#pragma omp single
        {
            sn_size acc = 0, b = bins - 1;
            for (;; --b) {
                sn_size hb = 0;
                for (int u = 0; u < team; ++u)
                    hb += hists[(sn_size)u * bins + b];
                if (acc + hb >= n_keep) break;
                acc += hb;
            }
            bucket = b;
            above = acc;
            offsets[0] = 0;
            for (int u = 0; u < team; ++u)
                offsets[u + 1] = offsets[u] + hists[(sn_size)u * bins + b];
            n_cand = offsets[team];
            cand = (UINT *)malloc((size_t)(2 * n_cand) * sizeof(UINT));
            failed = cand == NULL;
        } /* implicit barrier */
        if (!failed) {
            sn_size m = offsets[t];
#pragma omp for schedule(static)
            for (sn_size i = 0; i < n_rows; ++i)
                m = K(gather_bucket)(X + i * x_rs, x_cs, n_cols, shift, (UINT)bucket, cand, m);
        }
    }
    if (failed) goto done;
    {
        sn_size hist[(sn_size)1 << SN_THR_RADIX], greater = 0;
        the_cut = K(select)(cand, n_cand, n_keep - above, hist, cand + n_cand, &greater);
        above += greater;
    }
#define THR_GT_EQ(XS)                                                  \
    _Pragma("omp simd reduction(+ : gt, eq)")                          \
    for (sn_size j = 0; j < n_cols; ++j) {                             \
        const UINT key = K(key_mag)(x[j * (XS)]);                      \
        gt += key > the_cut;                                           \
        eq += key == the_cut;                                          \
    }
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (sn_size i = 0; i < n_rows; ++i) {
        const REAL *x = X + i * x_rs;
        sn_size gt = 0, eq = 0;
        if (x_cs == 1) {
            THR_GT_EQ(1)
        } else {
            THR_GT_EQ(x_cs)
        }
        counts[i] = gt;
        quota[i] = eq;
    }
#undef THR_GT_EQ
    {
        sn_size need = n_keep - above;
        for (sn_size i = 0; i < n_rows; ++i) {
            const sn_size q = SN_MIN(quota[i], need);
            need -= q;
            quota[i] = q;
            counts[i] += the_cut != 0 ? q : 0;
            cut[i] = the_cut;
        }
    }
done:
    free(hists);
    free(offsets);
    free(cand);
    return failed ? SN_ENOMEM : SN_OK;
}

/* ---- CSR fills, for each index type ---- */

/* Writes entry (j, v) at p and moves p on only when KEEP: no branch to mispredict. Blocks where
 * ANY (a pure test, true whenever KEEP may be) fails everywhere are skipped by one vector test. A
 * block runs only when the row has room for all of it, and the rest of the row stops when the row
 * is full, so nothing is written past indptr[i + 1]. */
#define THR_FILL_ROW_XS(ANY, KEEP, VALUE, XS)                               \
    {                                                                        \
        for (; j + SN_THR_BLOCK <= n_cols && p + SN_THR_BLOCK <= end; j += SN_THR_BLOCK) { \
            int any = 0;                                                     \
            _Pragma("omp simd reduction(| : any)")                           \
            for (int t = 0; t < SN_THR_BLOCK; ++t) {                         \
                const REAL v = x[(j + t) * (XS)];                            \
                any |= (ANY);                                                \
            }                                                                \
            if (!any) continue;                                              \
            for (int t = 0; t < SN_THR_BLOCK; ++t) {                         \
                const REAL v = x[(j + t) * (XS)];                            \
                const REAL r = VALUE;                                        \
                indices[p] = j + t;                                          \
                data[p] = r;                                                 \
                p += (KEEP);                                                 \
            }                                                                \
        }                                                                    \
        for (; j < n_cols && p < end; ++j) {                                 \
            const REAL v = x[j * (XS)];                                      \
            const REAL r = VALUE;                                            \
            indices[p] = j;                                                  \
            data[p] = r;                                                     \
            p += (KEEP);                                                     \
        }                                                                    \
    }
/* a constant stride of 1 lets the block tests vectorise */
#define THR_FILL_ROW(ANY, KEEP, VALUE)                 \
    if (x_cs == 1) {                                   \
        THR_FILL_ROW_XS(ANY, KEEP, VALUE, 1)           \
    } else {                                           \
        THR_FILL_ROW_XS(ANY, KEEP, VALUE, x_cs)        \
    }


/* Each row of a CSR fill (threshold_fill.h) is a function of its own, called from the parallel loop.
 * GCC inlines it, as the loop body was before; clang's OpenMP-outlined loop bodies do not inherit
 * the ISA level's target attribute, so there it stays a call, and the row still runs (and passes
 * vectors to its helpers) at the level's ISA. */
#if defined(__clang__)
#define THR_ROW static
#else
#define THR_ROW static inline __attribute__((always_inline))
#endif

#if SN_X86_DISPATCH && SN_VBYTES == 64
/* AVX-512: a vector of VLEN entries at once. The lanes of `keep` are packed with the compress
 * instructions (register form, fast on every AVX-512 core) and written with masked stores of
 * exactly popcount(keep) lanes, so nothing beyond the kept entries is touched. */
#define THR_HAS_COMPRESS 1
#define THR_LOW(c) ((1ull << (c)) - 1) /* c <= 16 */

static inline IVEC K(iota)(void)
{
    IVEC v;
    for (int t = 0; t < (int)VLEN; ++t)
        v[t] = t;
    return v;
}

static inline unsigned K(movemask)(IVEC m)
{
    return sizeof(REAL) == 4 ? (unsigned)_mm512_movepi32_mask((__m512i)m)
                             : (unsigned)_mm512_movepi64_mask((__m512i)m);
}

static inline void K(put_data)(unsigned keep, int c, VEC r, REAL *data)
{
    if (sizeof(REAL) == 4)
        _mm512_mask_storeu_ps(data, (__mmask16)THR_LOW(c),
                              _mm512_maskz_compress_ps((__mmask16)keep, (__m512)r));
    else
        _mm512_mask_storeu_pd(data, (__mmask8)THR_LOW(c),
                              _mm512_maskz_compress_pd((__mmask8)keep, (__m512d)r));
}

static inline sn_size K(put_i32)(unsigned keep, VEC r, sn_size j, int32_t *indices, REAL *data)
{
    const int c = __builtin_popcount(keep);
    K(put_data)(keep, c, r, data);
    if (sizeof(REAL) == 4) {
        const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32((int)j), (__m512i)K(iota)());
        _mm512_mask_storeu_epi32(indices, (__mmask16)THR_LOW(c),
                                 _mm512_maskz_compress_epi32((__mmask16)keep, idx));
    } else {
        const __m256i idx = _mm256_add_epi32(_mm256_set1_epi32((int)j),
                                             _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm256_mask_storeu_epi32(indices, (__mmask8)THR_LOW(c),
                                 _mm256_maskz_compress_epi32((__mmask8)keep, idx));
    }
    return c;
}

static inline sn_size K(put_i64)(unsigned keep, VEC r, sn_size j, int64_t *indices, REAL *data)
{
    const int c = __builtin_popcount(keep);
    K(put_data)(keep, c, r, data);
    const __m512i iota = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    const unsigned lo = keep & 0xffu, hi = keep >> 8;
    const int c_lo = __builtin_popcount(lo);
    _mm512_mask_storeu_epi64(indices, (__mmask8)THR_LOW(c_lo),
                             _mm512_maskz_compress_epi64((__mmask8)lo,
                                                         _mm512_add_epi64(_mm512_set1_epi64(j), iota)));
    if (hi) /* float: lanes 8..15 */
        _mm512_mask_storeu_epi64(indices + c_lo, (__mmask8)THR_LOW(c - c_lo),
                                 _mm512_maskz_compress_epi64(
                                     (__mmask8)hi, _mm512_add_epi64(_mm512_set1_epi64(j + 8), iota)));
    return c;
}

/* Keys of a vector: |v|'s bits, NaN one above +inf (key_mag). */
static inline IVEC K(vkey_mag)(VEC v)
{
    const IVEC a = (IVEC)v & ((IVEC){0} + (SINT)ABS_MASK);
    const IVEC nan = a > (SINT)INF_BITS;
    return (nan & (SINT)(INF_BITS + 1)) | (~nan & a);
}
#else
#define THR_HAS_COMPRESS 0
#endif

#if THR_HAS_COMPRESS
/* The vector parts of the fills: whole vectors while the row has room for one more. */
#define THR_FILL_VEC_OP(PUT_FN)                                                   \
    do {                                                                          \
        const VEC pv = (VEC){0} + pp;                                             \
        for (; j + VLEN <= n_cols && p + VLEN <= end; j += VLEN) {                \
            const VEC r = K(vop)(op, *(const VEC *)(x + j), pv);                  \
            const unsigned keep = K(movemask)(r != 0);                            \
            p += PUT_FN(keep, r, j, indices + p, data + p); /* no branch */       \
        }                                                                         \
    } while (0)
#define THR_FILL_VEC_CUT(PUT_FN)                                                  \
    do {                                                                          \
        for (; j + VLEN <= n_cols && p + VLEN <= end; j += VLEN) {                \
            const VEC v = *(const VEC *)(x + j);                                  \
            const IVEC key = K(vkey_mag)(v);                                      \
            unsigned keep = K(movemask)((key > (SINT)c) & (key != 0));            \
            unsigned ties = q > 0 ? K(movemask)(key == (SINT)c) : 0;              \
            for (; ties && q > 0; --q, ties &= ties - 1) /* the first q ties */  \
                keep |= (ties & -ties) & (c != 0 ? ~0u : 0u);                     \
            p += PUT_FN(keep, v, j, indices + p, data + p); /* no branch */       \
        }                                                                         \
    } while (0)
#else
#define THR_FILL_VEC_OP(PUT_FN) (void)0
#define THR_FILL_VEC_CUT(PUT_FN) (void)0
#endif

/* Whether an entry of key `key` is stored under a cut; takes one of the quota at the cut. */
static inline int K(cut_keep)(UINT key, UINT cut, UINT zero, sn_size *quota)
{
    const int tie = (key == cut) & (*quota > 0);
    *quota -= tie;
    return ((key > cut) | tie) & (key != zero);
}

#define INDEX int32_t
#define ISFX i32
#include "threshold_fill.h"
#undef INDEX
#undef ISFX
#define INDEX int64_t
#define ISFX i64
#include "threshold_fill.h"
#undef INDEX
#undef ISFX

#undef K
#undef VEC
#undef IVEC
#undef VLEN
#undef THR_STREAM
#undef SIGN_BIT
#undef ABS_MASK
#undef THR_BIN
#undef THR_HARD
#undef THR_SOFT
#undef THR_EACH
#undef THR_COUNT
#undef THR_COUNT_XS
#undef THR_FILL_ROW_XS
#undef ZERO_KEY
#undef THR_FILL_ROW
#undef THR_ROW
#undef THR_FILL_VEC_OP
#undef THR_FILL_VEC_CUT
#undef THR_HAS_COMPRESS
#undef THR_LOW
