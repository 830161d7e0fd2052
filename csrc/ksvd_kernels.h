/* Template: the dictionary update of approximate K-SVD (Rubinstein, Zibulevsky and Elad, 2008), see
 * coding.h for the problem.
 *
 * Included by coding.c through sn_instantiate.h for float and double and every ISA level, with
 *   REAL  value type     SFX  type suffix (f32, f64)     SQRT  its square root
 *   ISA, SN_VBYTES  level name and vector width
 *
 * The codes come by signal (CSC); their by-atom index (each atom's signals, in signal order, and
 * where each value sits in the CSC) is built here by a counting sort while the other threads form
 * the residual R = X - D Gamma (one pass over the codes, by signal); then the atoms are updated in
 * order, each seeing the atoms and codes updated before it. For atom j, used by the
 * signals I with coefficients g, the residual without atom j is E = R_I + d_j g^T, never formed:
 *   E g   = R_I g + (g.g) d_j            d' = E g / ||E g||
 *   E^T d' = R_I^T d' + g (d_j.d')        g' = E^T d'   and   R_I += d_j g^T - d' g'^T.
 * Sums over I run in fixed chunks of signals whose partial sums are added in chunk order, so the
 * result does not depend on the thread count. An atom no signal uses is replaced by the
 * worst-represented signal (largest residual energy when the first unused atom is met), normalised;
 * an atom stays as it is when every signal not yet taken is represented to within rounding. */

#define K(name) SN_CAT3(name, SFX, ISA)

/* Signals per partial sum of E g. */
#define KSVD_CHUNK 64
/* The atom's signals are rows of R scattered over n_signals * n_features REALs (10 MB at 20000
 * patches of 64 doubles, beyond L2): each pass over them fetches the row KSVD_AHEAD signals on. */
#define KSVD_AHEAD 8

/* Partial sums per dot product: a sum over the features in one chain costs one FMA latency per
 * feature (the compiler may not reorder it), so g' = E^T d' took 4 cycles a feature and a third of
 * the update's time. KSVD_CHAINS vectors of partial sums, added up in a fixed order, keep the
 * result independent of the thread count and of where a row sits. */
#define KSVD_CHAINS 4
#define VEC K(ksvd_vec)
#define VLEN ((sn_size)(SN_VBYTES / sizeof(REAL)))
typedef REAL VEC __attribute__((vector_size(SN_VBYTES), aligned(sizeof(REAL)), may_alias));

/* dot(a, b) over n features. */
static inline REAL K(ksvd_dot)(const REAL *restrict a, const REAL *restrict b, sn_size n)
{
    VEC acc[KSVD_CHAINS] = {{0}};
    sn_size f = 0;
    for (; f + KSVD_CHAINS * VLEN <= n; f += KSVD_CHAINS * VLEN)
        for (int c = 0; c < KSVD_CHAINS; ++c)
            acc[c] += *(const VEC *)(a + f + c * VLEN) * *(const VEC *)(b + f + c * VLEN);
    for (; f + VLEN <= n; f += VLEN)
        acc[0] += *(const VEC *)(a + f) * *(const VEC *)(b + f);
    REAL sum = 0;
    for (; f < n; ++f)
        sum += a[f] * b[f];
    _Static_assert(KSVD_CHAINS == 4, "the chains are added as two pairs");
    const VEC v = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (sn_size l = 0; l < VLEN; ++l)
        sum += v[l];
    return sum;
}

/* ||a||^2 over n features, accumulated in double in KSVD_LANES chains (any REAL, any level). */
#define KSVD_LANES 16
static inline double K(ksvd_norm2)(const REAL *restrict a, sn_size n)
{
    double acc[KSVD_LANES] = {0};
    sn_size f = 0;
    for (; f + KSVD_LANES <= n; f += KSVD_LANES)
        for (int l = 0; l < KSVD_LANES; ++l)
            acc[l] += (double)a[f + l] * a[f + l];
    for (int l = 0; f < n; ++f, ++l)
        acc[l] += (double)a[f] * a[f];
    for (int w = KSVD_LANES / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; ++l)
            acc[l] += acc[l + w];
    return acc[0];
}

/* r = x - sum_p values[p] D[atoms[p]] over p in [lo, hi), KSVD_RTILE vectors of r held in registers
 * across the atoms (subtracting into r in memory cost a load and a store per atom and vector). */
#define KSVD_RTILE 8
static void K(ksvd_residual)(sn_size nf, const REAL *restrict x, int64_t lo, int64_t hi,
                             const int32_t *atoms, const REAL *values, const REAL *D,
                             REAL *restrict r)
{
    sn_size f0 = 0;
    for (; f0 + KSVD_RTILE * VLEN <= nf; f0 += KSVD_RTILE * VLEN) {
        VEC acc[KSVD_RTILE];
        for (int t = 0; t < KSVD_RTILE; ++t)
            acc[t] = *(const VEC *)(x + f0 + t * VLEN);
        for (int64_t p = lo; p < hi; ++p) {
            const REAL v = values[p];
            const REAL *d = D + (sn_size)atoms[p] * nf + f0;
            for (int t = 0; t < KSVD_RTILE; ++t)
                acc[t] -= v * *(const VEC *)(d + t * VLEN);
        }
        for (int t = 0; t < KSVD_RTILE; ++t)
            *(VEC *)(r + f0 + t * VLEN) = acc[t];
    }
    for (; f0 + VLEN <= nf; f0 += VLEN) {
        VEC acc = *(const VEC *)(x + f0);
        for (int64_t p = lo; p < hi; ++p)
            acc -= values[p] * *(const VEC *)(D + (sn_size)atoms[p] * nf + f0);
        *(VEC *)(r + f0) = acc;
    }
    for (; f0 < nf; ++f0) {
        REAL acc = x[f0];
        for (int64_t p = lo; p < hi; ++p)
            acc -= values[p] * D[(sn_size)atoms[p] * nf + f0];
        r[f0] = acc;
    }
}

/* Prefetches row `signal` of R (n_features REALs), line by line, for writing when `write`. */
#define KSVD_PREFETCH_ROW(R, signal, nf, write)                                        \
    do {                                                                              \
        const char *row_ = (const char *)((R) + (sn_size)(signal) * (nf));            \
        for (sn_size b_ = 0; b_ < (nf) * (sn_size)sizeof(REAL); b_ += 64)             \
            __builtin_prefetch(row_ + b_, write);                                     \
    } while (0)

static int K(ksvd_update)(int n_threads, sn_size n_features, sn_size n_atoms, sn_size n_signals,
                          const REAL *X, const int64_t *csc_indptr, const int32_t *csc_atoms,
                          REAL *csc_values, REAL *D, REAL *R, double *energy,
                          sn_size *n_replaced)
{
    const sn_size nf = n_features;
    const sn_size n_chunks = (n_signals + KSVD_CHUNK - 1) / KSVD_CHUNK;
    if (energy != NULL) *energy = 0;
    *n_replaced = 0;
    const sn_size nnz = csc_indptr[n_signals];
    /* the codes by atom: atom j's signals csr_signals[csr_indptr[j] ..] and their values
     * csr_values[..], which go back to csc_values[csr_slot[..]] at the end */
    int64_t *csr_indptr = (int64_t *)calloc(2 * ((size_t)n_atoms + 1), sizeof(int64_t));
    int64_t *csr_slot = (int64_t *)malloc((size_t)(nnz + 1) * sizeof(int64_t));
    int32_t *csr_signals = (int32_t *)malloc((size_t)(nnz + 1) * sizeof(int32_t));
    REAL *csr_values = (REAL *)malloc((size_t)(nnz + 1) * sizeof(REAL));
    if (csr_indptr == NULL || csr_slot == NULL || csr_signals == NULL || csr_values == NULL) {
        free(csr_indptr);
        free(csr_slot);
        free(csr_signals);
        free(csr_values);
        return SN_ENOMEM;
    }
    /* Every atom costs the team two barriers, so threads pay only when an average atom's update
     * (4 flops per feature of each signal using it) is worth a thread of its own: with another
     * core busy, the quick bench's atoms (31 signals each) took 1.7-2.7x longer on 2 threads. */
    const int nt = sn_threads_for(n_threads, (nnz / SN_MAX(n_atoms, (sn_size)1) + 1) * nf * 4,
                                  SN_KSVD_ATOM_GRAIN);
    /* partial sums (n_chunks x nf), each thread's copy of the new atom (nf), per-signal energies
     * and taken flags */
    REAL *partial = (REAL *)malloc((size_t)((n_chunks + nt) * nf + n_chunks + 1) * sizeof(REAL));
    double *sig_energy = (double *)malloc((size_t)(n_signals + 1) * sizeof(double));
    char *taken = (char *)calloc((size_t)n_signals + 1, 1);
    if (partial == NULL || sig_energy == NULL || taken == NULL) {
        free(partial);
        free(sig_energy);
        free(taken);
        free(csr_indptr);
        free(csr_slot);
        free(csr_signals);
        free(csr_values);
        return SN_ENOMEM;
    }
    int have_energies = 0;
    sn_size replaced = 0;

#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        /* Every thread adds the partial sums up itself, in chunk order (the same new atom in
         * each, whatever the thread count): two barriers per atom, not four. */
        REAL *restrict dnew = partial + (n_chunks + sn_thread_id()) * nf;
        REAL *restrict chunk_gg = partial + (n_chunks + nt) * nf; /* g.g of each chunk */
        /* one thread sorts the codes by atom (a counting sort, signals in order) while the others
         * start on R, whose rows go to whichever thread is free */
#pragma omp single nowait
        {
            int64_t *cursor = csr_indptr + n_atoms + 1; /* where each atom's next signal goes */
            for (sn_size p = 0; p < nnz; ++p)
                ++csr_indptr[csc_atoms[p] + 1];
            for (sn_size j = 0; j < n_atoms; ++j) {
                csr_indptr[j + 1] += csr_indptr[j];
                cursor[j] = csr_indptr[j];
            }
            for (sn_size i = 0; i < n_signals; ++i)
                for (int64_t p = csc_indptr[i]; p < csc_indptr[i + 1]; ++p) {
                    const int64_t q = cursor[csc_atoms[p]]++;
                    csr_signals[q] = (int32_t)i;
                    csr_values[q] = csc_values[p];
                    csr_slot[q] = p;
                }
        } /* done by the end of R's loop (its barrier) */
#pragma omp for schedule(dynamic, KSVD_CHUNK)
        for (sn_size i = 0; i < n_signals; ++i)
            K(ksvd_residual)(nf, X + i * nf, csc_indptr[i], csc_indptr[i + 1], csc_atoms,
                             csc_values, D, R + i * nf);
        for (sn_size j = 0; j < n_atoms; ++j) {
            const int64_t lo = csr_indptr[j];
            const sn_size m = (sn_size)(csr_indptr[j + 1] - lo);
            REAL *restrict dj = D + j * nf;
            if (m == 0) {
#pragma omp single
                {
                    if (!have_energies) {
                        /* a signal represented to within rounding (energy <= eps ||x||^2, the
                         * rule of sparsenet._policy.ksvd_badly_represented) is no candidate:
                         * among such signals the "worst" is noise, and an atom copying one adds
                         * nothing */
                        for (sn_size i = 0; i < n_signals; ++i) {
                            const double e = K(ksvd_norm2)(R + i * nf, nf);
                            sig_energy[i] = e > SN_EPS * K(ksvd_norm2)(X + i * nf, nf) ? e : -1;
                        }
                        have_energies = 1;
                    }
                    sn_size worst = -1;
                    for (sn_size i = 0; i < n_signals; ++i)
                        if (!taken[i] && sig_energy[i] >= 0
                            && (worst < 0 || sig_energy[i] > sig_energy[worst]))
                            worst = i;
                    if (worst >= 0) {
                        const REAL *x = X + worst * nf;
                        const double norm = K(ksvd_norm2)(x, nf);
                        taken[worst] = 1;
                        if (norm > 0) {
                            const REAL inv = (REAL)(1 / sqrt(norm));
                            for (sn_size f = 0; f < nf; ++f)
                                dj[f] = x[f] * inv;
                            ++replaced;
                        }
                    }
                }
                continue;
            }
            const sn_size chunks = (m + KSVD_CHUNK - 1) / KSVD_CHUNK;
#pragma omp for schedule(static)
            for (sn_size ch = 0; ch < chunks; ++ch) {
                REAL *restrict part = partial + ch * nf;
                for (sn_size f = 0; f < nf; ++f)
                    part[f] = 0;
                const sn_size end = SN_MIN(m, (ch + 1) * KSVD_CHUNK);
                REAL gg = 0;
                for (sn_size p = ch * KSVD_CHUNK; p < end; ++p) {
                    if (p + KSVD_AHEAD < end)
                        KSVD_PREFETCH_ROW(R, csr_signals[lo + p + KSVD_AHEAD], nf, 0);
                    const REAL g = csr_values[lo + p];
                    const REAL *restrict r = R + (sn_size)csr_signals[lo + p] * nf;
                    gg += g * g;
                    for (sn_size f = 0; f < nf; ++f)
                        part[f] += g * r[f];
                }
                chunk_gg[ch] = gg;
            }
            /* g.g from the chunks' sums: by now a thread ahead may be rewriting the values */
            REAL gg = 0; /* g.g */
            for (sn_size ch = 0; ch < chunks; ++ch)
                gg += chunk_gg[ch];
            for (sn_size f = 0; f < nf; ++f)
                dnew[f] = gg * dj[f];
            for (sn_size ch = 0; ch < chunks; ++ch)
                for (sn_size f = 0; f < nf; ++f)
                    dnew[f] += partial[ch * nf + f];
            const double norm = K(ksvd_norm2)(dnew, nf);
            if (!(norm > 0)) { /* the same decision in every thread */
#pragma omp barrier
                continue; /* (the barrier: no thread writes the next partial sums early) */
            }
            const REAL inv = (REAL)(1 / sqrt(norm));
            for (sn_size f = 0; f < nf; ++f)
                dnew[f] *= inv;
            const REAL overlap = K(ksvd_dot)(dj, dnew, nf); /* d_j . d' */
            /* R_I += d_j g^T - d' g'^T; the barrier at its end keeps the partial sums of the next
             * atom from overwriting these before every thread has read them */
#pragma omp for schedule(static)
            for (sn_size p = 0; p < m; ++p) {
                if (p + KSVD_AHEAD < m) KSVD_PREFETCH_ROW(R, csr_signals[lo + p + KSVD_AHEAD], nf, 1);
                REAL *restrict r = R + (sn_size)csr_signals[lo + p] * nf;
                const REAL g = csr_values[lo + p];
                const REAL gnew = g * overlap + K(ksvd_dot)(r, dnew, nf);
                for (sn_size f = 0; f < nf; ++f)
                    r[f] += g * dj[f] - gnew * dnew[f];
                csr_values[lo + p] = gnew;
            }
            /* d_j is not read again in this call (later atoms read their own), so one thread
             * writes it with no barrier after */
            if (sn_thread_id() == 0)
                for (sn_size f = 0; f < nf; ++f)
                    dj[f] = dnew[f];
        }
#pragma omp for schedule(static) nowait
        for (sn_size q = 0; q < nnz; ++q)
            csc_values[csr_slot[q]] = csr_values[q];
        if (energy != NULL) {
#pragma omp for schedule(static)
            for (sn_size i = 0; i < n_signals; ++i)
                sig_energy[i] = K(ksvd_norm2)(R + i * nf, nf);
        }
    }
    if (energy != NULL) {
        double total = 0;
        for (sn_size i = 0; i < n_signals; ++i)
            total += sig_energy[i];
        *energy = total;
    }
    *n_replaced = replaced;
    free(partial);
    free(sig_energy);
    free(taken);
    free(csr_indptr);
    free(csr_slot);
    free(csr_signals);
    free(csr_values);
    return SN_OK;
}

#undef KSVD_CHUNK
#undef KSVD_RTILE
#undef KSVD_LANES
#undef KSVD_CHAINS
#undef VEC
#undef VLEN
#undef KSVD_AHEAD
#undef KSVD_PREFETCH_ROW
#undef K
