/* Template: exact 1-D k-means (Lloyd) of a weight array, the 1-D way (see sn_kmeans_* in shared.h).
 *
 * Included by shared.c through sn_instantiate.h with
 *   REAL  value type   KEY  unsigned integer of REAL's width (radix-sort key)   CODE  code type
 *   SFX   suffix (f32_u8, ...)   ISA, SN_VBYTES (sn_instantiate.h)
 * The values are sorted once (LSD radix sort on order-preserving integer keys) and summed once
 * (prefix sums in double); an iteration then costs O(n_codes log n). */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sparsenet.h"

#ifndef SN_KMEANS_GRAIN
/* Weights of work that pay for starting one more thread in the final assignment. */
#define SN_KMEANS_GRAIN ((sn_size)1 << 15)
#endif

#define K(name) SN_CAT3(name, SFX, ISA)
#define KEY_BITS ((int)(8 * sizeof(KEY)))

/* sorted[0..n) = w sorted ascending. -0.0 sorts before +0.0; the values are finite. The keys are
 * sorted in `keys` (n KEYs, any memory the caller can spare: kmeans lends the prefix-sum buffer)
 * and a buffer of our own, and only then written to `sorted` as REALs: every buffer is read as the
 * type it was last written as (no REAL memory read as KEY or KEY memory as REAL). */
static int K(radix_sort)(sn_size n, const REAL *w, KEY *keys, REAL *sorted)
{
    KEY *a = keys, *b = (KEY *)malloc((size_t)n * sizeof(KEY));
    sn_size(*counts)[256] = calloc(sizeof(KEY), sizeof *counts);
    if (b == NULL || counts == NULL) {
        free(b);
        free(counts);
        return SN_ENOMEM;
    }
    const KEY sign = (KEY)1 << (KEY_BITS - 1);
    for (sn_size i = 0; i < n; ++i) { /* flip: negatives reversed below positives */
        KEY u;
        memcpy(&u, w + i, sizeof u);
        u ^= (u & sign) ? (KEY)~(KEY)0 : sign;
        a[i] = u;
        for (int d = 0; d < (int)sizeof(KEY); ++d)
            counts[d][(u >> (8 * d)) & 255]++;
    }
    for (int d = 0; d < (int)sizeof(KEY); ++d) {
        if (counts[d][(a[0] >> (8 * d)) & 255] == n) continue; /* this digit is the same everywhere */
        sn_size offset = 0;
        for (int v = 0; v < 256; ++v) {
            const sn_size c = counts[d][v];
            counts[d][v] = offset;
            offset += c;
        }
        for (sn_size i = 0; i < n; ++i)
            b[counts[d][(a[i] >> (8 * d)) & 255]++] = a[i];
        KEY *t = a;
        a = b;
        b = t;
    }
    for (sn_size i = 0; i < n; ++i) {
        KEY u = a[i];
        u ^= (u & sign) ? sign : (KEY)~(KEY)0;
        REAL x;
        memcpy(&x, &u, sizeof x);
        sorted[i] = x;
    }
    free(a == keys ? b : a); /* the buffer allocated here, wherever the passes left it */
    free(counts);
    return SN_OK;
}

/* First position p in sorted[lo, hi) with sorted[p] > m (hi when none). */
static sn_size K(upper_bound)(const REAL *sorted, sn_size lo, sn_size hi, double m)
{
    while (lo < hi) {
        const sn_size mid = lo + (hi - lo) / 2;
        if ((double)sorted[mid] > m)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The farthest remaining point of cluster s (sorted[lo, hi) around centroid c): one of the ends. */
static void K(far_end)(const REAL *sorted, sn_size lo, sn_size hi, double c, double *dist,
                       sn_size *pos)
{
    const double dl = ((double)sorted[lo] - c) * ((double)sorted[lo] - c);
    const double dr = ((double)sorted[hi - 1] - c) * ((double)sorted[hi - 1] - c);
    *dist = dr > dl ? dr : dl;
    *pos = dr > dl ? hi - 1 : lo;
}

/* Max-heap of clusters by (distance of the farthest point, then lower position). */
static int K(heap_before)(const double *dist, const sn_size *pos, sn_size a, sn_size b)
{
    return dist[a] > dist[b] || (dist[a] == dist[b] && pos[a] < pos[b]);
}

static void K(heap_down)(sn_size *heap, sn_size size, sn_size at, const double *dist,
                         const sn_size *pos)
{
    for (;;) {
        sn_size best = at, l = 2 * at + 1, r = l + 1;
        if (l < size && K(heap_before)(dist, pos, heap[l], heap[best])) best = l;
        if (r < size && K(heap_before)(dist, pos, heap[r], heap[best])) best = r;
        if (best == at) return;
        const sn_size t = heap[at];
        heap[at] = heap[best];
        heap[best] = t;
        at = best;
    }
}

/* Gives every empty cluster (ascending) the point farthest from its centroid among clusters of two or
 * more points; updates sums and counts. scratch: 4 * n_codes sn_size + n_codes doubles. */
static void K(relocate_empty)(sn_size n_codes, const REAL *sorted, const sn_size *start,
                              const double *centers, double *sums, sn_size *counts, sn_size *scratch,
                              double *dist)
{
    sn_size *heap = scratch, *lo = scratch + n_codes, *hi = lo + n_codes, *pos = hi + n_codes;
    sn_size size = 0;
    for (sn_size s = 0; s < n_codes; ++s) {
        lo[s] = start[s];
        hi[s] = start[s + 1];
        if (counts[s] >= 2) {
            K(far_end)(sorted, lo[s], hi[s], centers[s], dist + s, pos + s);
            heap[size++] = s;
        }
    }
    for (sn_size i = size / 2; i-- > 0;)
        K(heap_down)(heap, size, i, dist, pos);
    for (sn_size e = 0; e < n_codes && size > 0; ++e) {
        if (counts[e] != 0) continue;
        const sn_size s = heap[0], p = pos[s];
        const double x = (double)sorted[p];
        sums[s] -= x;
        counts[s] -= 1;
        sums[e] = x;
        counts[e] = 1;
        if (p == lo[s])
            lo[s] += 1;
        else
            hi[s] -= 1;
        if (counts[s] >= 2) {
            K(far_end)(sorted, lo[s], hi[s], centers[s], dist + s, pos + s);
        } else {
            heap[0] = heap[--size];
        }
        K(heap_down)(heap, size, 0, dist, pos);
    }
}

static int K(cmp_double)(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* codes[i] = number of midpoints below w[i] (a branchless search over `mids`, padded with +inf to
 * `width` - 1 entries, width a power of two); returns the sum of squared distances, summed in fixed
 * chunks so that it does not depend on the thread count. */
static double K(assign)(int n_threads, sn_size n, const REAL *w, const double *mids, sn_size width,
                        const double *centers, CODE *codes)
{
    const sn_size chunk = (sn_size)1 << 16, n_chunks = (n + chunk - 1) / chunk;
    double total = 0;
    double *partial = (double *)malloc((size_t)SN_MAX(n_chunks, 1) * sizeof(double));
    const int nt = sn_threads_for(n_threads, n, SN_KMEANS_GRAIN);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (sn_size c = 0; c < n_chunks; ++c) {
        const sn_size end = SN_MIN(n, (c + 1) * chunk);
        double err = 0;
#pragma omp simd reduction(+ : err)
        for (sn_size i = c * chunk; i < end; ++i) {
            const double x = (double)w[i];
            sn_size idx = 0;
            for (sn_size step = width / 2; step >= 1; step /= 2)
                idx += mids[idx + step - 1] < x ? step : 0;
            codes[i] = (CODE)idx;
            err += (x - centers[idx]) * (x - centers[idx]);
        }
        if (partial != NULL)
            partial[c] = err;
        else
#pragma omp atomic
            total += err; /* out of memory for 8 bytes per 64Ki values: give up determinism only */
    }
    if (partial != NULL) {
        for (sn_size c = 0; c < n_chunks; ++c)
            total += partial[c];
        free(partial);
    }
    return total;
}

static int K(kmeans)(int n_threads, sn_size n, const REAL *w, sn_size n_codes, int init_density,
                     sn_size max_iter, double tol, double *centers, CODE *codes, sn_size *n_iter,
                     double *inertia)
{
    sn_size width = 1;
    while (width < n_codes)
        width *= 2;
    REAL *sorted = (REAL *)malloc((size_t)n * sizeof(REAL));
    /* n + 1 doubles hold n KEYs: the sort's keys live there until the prefix sums overwrite them */
    void *prefix_memory = malloc((size_t)(n + 1) * sizeof(double));
    double *buf = (double *)malloc((size_t)(3 * n_codes + width) * sizeof(double));
    sn_size *ibuf = (sn_size *)malloc((size_t)(7 * n_codes + 2) * sizeof(sn_size));
    int status = (sorted && prefix_memory && buf && ibuf)
                     ? K(radix_sort)(n, w, (KEY *)prefix_memory, sorted)
                     : SN_ENOMEM;
    double *prefix = (double *)prefix_memory;
    if (status != SN_OK) goto done;
    double *sums = buf, *fresh = buf + n_codes, *dist = buf + 2 * n_codes, *mids = buf + 3 * n_codes;
    sn_size *start = ibuf, *prev = ibuf + n_codes + 1, *counts = ibuf + 2 * n_codes + 2;
    sn_size *scratch = ibuf + 3 * n_codes + 2;

    prefix[0] = 0;
    for (sn_size i = 0; i < n; ++i)
        prefix[i + 1] = prefix[i] + (double)sorted[i];
    const double mean = prefix[n] / (double)n;
    double var = 0;
    for (sn_size i = 0; i < n; ++i)
        var += ((double)sorted[i] - mean) * ((double)sorted[i] - mean);
    const double tol_abs = tol * var / (double)n; /* scikit-learn's tolerance: tol * variance */

    if (init_density) {
        for (sn_size c = 0; c < n_codes; ++c)
            centers[c] = (double)sorted[((2 * c + 1) * (n - 1)) / (2 * n_codes)];
    }
    qsort(centers, (size_t)n_codes, sizeof(double), K(cmp_double));

    sn_size iter = 0;
    for (; iter < max_iter; ++iter) {
        start[0] = 0;
        start[n_codes] = n;
        for (sn_size s = 0; s + 1 < n_codes; ++s) /* points at a midpoint join the lower centroid */
            start[s + 1] = K(upper_bound)(sorted, start[s], n, 0.5 * (centers[s] + centers[s + 1]));
        if (iter > 0 && memcmp(start, prev, (size_t)(n_codes + 1) * sizeof(sn_size)) == 0) {
            ++iter; /* no point changed cluster: converged (counted as scikit-learn counts it) */
            break;
        }
        memcpy(prev, start, (size_t)(n_codes + 1) * sizeof(sn_size));
        int any_empty = 0;
        for (sn_size s = 0; s < n_codes; ++s) {
            counts[s] = start[s + 1] - start[s];
            sums[s] = prefix[start[s + 1]] - prefix[start[s]];
            any_empty |= counts[s] == 0;
        }
        if (any_empty) K(relocate_empty)(n_codes, sorted, start, centers, sums, counts, scratch, dist);
        double shift = 0;
        for (sn_size s = 0; s < n_codes; ++s) {
            fresh[s] = counts[s] > 0 ? sums[s] / (double)counts[s] : centers[s];
            shift += (fresh[s] - centers[s]) * (fresh[s] - centers[s]);
        }
        memcpy(centers, fresh, (size_t)n_codes * sizeof(double));
        if (any_empty) qsort(centers, (size_t)n_codes, sizeof(double), K(cmp_double));
        if (shift <= tol_abs) {
            ++iter;
            break;
        }
    }
    *n_iter = iter;
    for (sn_size s = 0; s + 1 < width; ++s)
        mids[s] = s + 1 < n_codes ? 0.5 * (centers[s] + centers[s + 1]) : (double)INFINITY;
    *inertia = K(assign)(n_threads, n, w, mids, width, centers, codes);
done:
    free(sorted);
    free(prefix_memory);
    free(buf);
    free(ibuf);
    return status;
}

#undef K
#undef KEY_BITS
