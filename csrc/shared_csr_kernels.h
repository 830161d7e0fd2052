/* Template: products with a pruned-and-shared CSR matrix (Deep Compression storage), whose stored
 * value p is codebook[codes[p]]. The same structure as csr_kernels.h (rows cut by nnz, a gather-FMA
 * row reduction, register tiles of X's columns, chunked scatter for the transpose); only the value
 * load differs.
 *
 * Included by shared.c through sn_instantiate.h with REAL, INDEX, CODE, SFX (f32_i32_u8, ...) and the
 * ISA, SN_VBYTES of sn_instantiate.h. */

#define K(name) SN_CAT3(name, SFX, ISA)
#define VEC K(vec)
#define VLEN ((sn_size)(SN_VBYTES / sizeof(REAL)))
#define VALUE(p) cb[codes[p]]

typedef REAL VEC __attribute__((vector_size(SN_VBYTES), aligned(sizeof(REAL)), may_alias));

/* First row of part `part` of [0, n_rows) cut into `parts` ranges of equal nnz + rows. */
static sn_size K(split)(sn_size n_rows, const INDEX *indptr, sn_size part, sn_size parts)
{
    if (part <= 0) return 0;
    if (part >= parts) return n_rows;
    const sn_size total = (sn_size)indptr[n_rows] + n_rows;
    const sn_size target = total / parts * part + total % parts * part / parts;
    sn_size lo = 0, hi = n_rows;
    while (lo < hi) {
        const sn_size mid = lo + (hi - lo) / 2;
        if ((sn_size)indptr[mid] + mid < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void K(spmv_rows)(sn_size r0, sn_size r1, const INDEX *indptr, const INDEX *indices,
                         const CODE *codes, const REAL *cb, const REAL *x, REAL *y)
{
    for (sn_size i = r0; i < r1; ++i) {
        const sn_size end = indptr[i + 1];
        REAL sum = 0;
#pragma omp simd reduction(+ : sum)
        for (sn_size p = indptr[i]; p < end; ++p)
            sum += VALUE(p) * x[indices[p]];
        y[i] = sum;
    }
}

static void K(spmm_rows)(sn_size r0, sn_size r1, const INDEX *indptr, const INDEX *indices,
                         const CODE *codes, const REAL *cb, sn_size k, const REAL *X, REAL *Y)
{
    for (sn_size i = r0; i < r1; ++i) {
        const sn_size start = indptr[i], end = indptr[i + 1];
        REAL *yi = Y + i * k;
        sn_size c = 0;
        for (; c + 4 * VLEN <= k; c += 4 * VLEN) {
            VEC a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
            for (sn_size p = start; p < end; ++p) {
                const REAL v = VALUE(p);
                const VEC *xr = (const VEC *)(X + (sn_size)indices[p] * k + c);
                a0 += v * xr[0];
                a1 += v * xr[1];
                a2 += v * xr[2];
                a3 += v * xr[3];
            }
            VEC *yr = (VEC *)(yi + c);
            yr[0] = a0;
            yr[1] = a1;
            yr[2] = a2;
            yr[3] = a3;
        }
        for (; c + VLEN <= k; c += VLEN) {
            VEC a0 = {0};
            for (sn_size p = start; p < end; ++p)
                a0 += VALUE(p) * *(const VEC *)(X + (sn_size)indices[p] * k + c);
            *(VEC *)(yi + c) = a0;
        }
        for (; c < k; ++c) {
            REAL sum = 0;
            for (sn_size p = start; p < end; ++p)
                sum += VALUE(p) * X[(sn_size)indices[p] * k + c];
            yi[c] = sum;
        }
    }
}

static void K(spmm_t_rows)(sn_size r0, sn_size r1, const INDEX *indptr, const INDEX *indices,
                           const CODE *codes, const REAL *cb, sn_size k, const REAL *X, REAL *Y)
{
    for (sn_size i = r0; i < r1; ++i) {
        const sn_size start = indptr[i], end = indptr[i + 1];
        const REAL *xi = X + i * k;
        sn_size c = 0;
        for (; c + 4 * VLEN <= k; c += 4 * VLEN) {
            const VEC *xv = (const VEC *)(xi + c);
            const VEC x0 = xv[0], x1 = xv[1], x2 = xv[2], x3 = xv[3];
            for (sn_size p = start; p < end; ++p) {
                const REAL v = VALUE(p);
                VEC *yr = (VEC *)(Y + (sn_size)indices[p] * k + c);
                yr[0] += v * x0;
                yr[1] += v * x1;
                yr[2] += v * x2;
                yr[3] += v * x3;
            }
        }
        for (; c + VLEN <= k; c += VLEN) {
            const VEC x0 = *(const VEC *)(xi + c);
            for (sn_size p = start; p < end; ++p)
                *(VEC *)(Y + (sn_size)indices[p] * k + c) += VALUE(p) * x0;
        }
        for (; c < k; ++c)
            for (sn_size p = start; p < end; ++p)
                Y[(sn_size)indices[p] * k + c] += VALUE(p) * xi[c];
    }
}

static int K(shared_csr_matmul)(int n_threads, sn_size n_rows, const INDEX *indptr,
                                const INDEX *indices, const CODE *codes, const REAL *cb, sn_size k,
                                const REAL *X, REAL *Y)
{
    if (n_rows == 0 || k == 0) return SN_OK;
    const sn_size work = ((sn_size)indptr[n_rows] + n_rows) * k;
    const int nt = sn_threads_for(n_threads, work, SN_SHARED_GRAIN);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        const sn_size team = sn_team_size(), t = sn_thread_id();
        const sn_size r0 = K(split)(n_rows, indptr, t, team);
        const sn_size r1 = K(split)(n_rows, indptr, t + 1, team);
        if (k == 1)
            K(spmv_rows)(r0, r1, indptr, indices, codes, cb, X, Y);
        else
            K(spmm_rows)(r0, r1, indptr, indices, codes, cb, k, X, Y);
    }
    return SN_OK;
}

/* Each of `chunks` row ranges scatters into its own buffer, added in chunk order: `chunks` depends on
 * the matrix only, so the result is the same for every thread count. */
static int K(shared_csr_matmul_t)(int n_threads, sn_size n_rows, sn_size n_cols,
                                  const INDEX *indptr, const INDEX *indices, const CODE *codes,
                                  const REAL *cb, sn_size k, const REAL *X, REAL *Y)
{
    const sn_size out_size = n_cols * k;
    if (out_size == 0) return SN_OK;
    const sn_size work = ((sn_size)indptr[n_rows] + n_rows) * k;
    const sn_size chunks = sn_shared_csr_t_chunks(work, out_size * (sn_size)sizeof(REAL));
    REAL *scratch = NULL;
    if (chunks > 1) {
        scratch = (REAL *)malloc((size_t)((chunks - 1) * out_size) * sizeof(REAL));
        if (scratch == NULL) return SN_ENOMEM;
    }
    const int nt = (int)SN_MIN(chunks, (sn_size)sn_threads_for(n_threads, work, SN_SHARED_GRAIN));
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
#pragma omp for schedule(static)
        for (sn_size c = 0; c < chunks; ++c) {
            REAL *buf = c == 0 ? Y : scratch + (c - 1) * out_size;
            memset(buf, 0, (size_t)out_size * sizeof(REAL));
            const sn_size r0 = K(split)(n_rows, indptr, c, chunks);
            const sn_size r1 = K(split)(n_rows, indptr, c + 1, chunks);
            K(spmm_t_rows)(r0, r1, indptr, indices, codes, cb, k, X, buf);
        }
        if (chunks > 1) {
#pragma omp for simd schedule(static)
            for (sn_size j = 0; j < out_size; ++j) {
                REAL sum = Y[j];
                for (sn_size c = 1; c < chunks; ++c)
                    sum += scratch[(c - 1) * out_size + j];
                Y[j] = sum;
            }
        }
    }
    free(scratch);
    return SN_OK;
}

#undef K
#undef VEC
#undef VLEN
#undef VALUE
