/* Template: the CSR fills of threshold_kernels.h for one index type. Included by it once per type,
 * with INDEX the index type and ISFX its suffix (i32, i64), inside the value template (REAL, SFX,
 * ISA and its helpers defined). Writes the entries of each row between indptr[i] and indptr[i + 1]
 * (the counts of the count pass), never past them. */
#define KI(name) SN_CAT3(SN_CAT(name, SFX), ISFX, ISA)
#define PUT K(SN_CAT(put, ISFX)) /* the AVX-512 compressing store of this index type */

THR_ROW void KI(threshold_fill_row)(int op, REAL pp, sn_size n_cols, const REAL *x, sn_size x_cs,
                                    sn_size p, sn_size end, INDEX *indices, REAL *data)
{
    sn_size j = 0;
    if (THR_HAS_COMPRESS && x_cs == 1)
        THR_FILL_VEC_OP(PUT);
    if (op == SN_THR_BINARIZE) {
        THR_FILL_ROW(v >= pp, v >= pp, (REAL)1)
    } else if (op == SN_THR_HARD) {
        THR_FILL_ROW(THR_HARD(v, pp) != 0, r != 0, THR_HARD(v, pp))
    } else {
        THR_FILL_ROW(THR_SOFT(v, pp) != 0, r != 0, THR_SOFT(v, pp))
    }
}

static int KI(threshold_fill)(int n_threads, int op, REAL p, sn_size n_rows, sn_size n_cols,
                              const REAL *X, sn_size x_rs, sn_size x_cs, const INDEX *indptr,
                              INDEX *indices, REAL *data)
{
    const int nt = sn_threads_for(n_threads, n_rows * n_cols, SN_THR_GRAIN);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (sn_size i = 0; i < n_rows; ++i)
        KI(threshold_fill_row)(op, p, n_cols, X + i * x_rs, x_cs, indptr[i], indptr[i + 1], indices,
                               data);
    return SN_OK;
}

THR_ROW void KI(cut_fill_row)(int rank, sn_size n_cols, const REAL *x, sn_size x_cs, UINT c,
                              sn_size q, UINT zero, sn_size p, sn_size end, INDEX *indices,
                              REAL *data)
{
    sn_size j = 0;
    if (THR_HAS_COMPRESS && x_cs == 1 && rank == SN_RANK_MAGNITUDE && c <= INF_BITS + 1)
        THR_FILL_VEC_CUT(PUT);
    if (rank == SN_RANK_MAGNITUDE) {
        THR_FILL_ROW(K(key_mag)(v) >= c, K(cut_keep)(K(key_mag)(v), c, zero, &q), v)
    } else {
        THR_FILL_ROW(K(key_val)(v) >= c, K(cut_keep)(K(key_val)(v), c, zero, &q), v)
    }
}

static int KI(cut_fill)(int n_threads, int rank, sn_size n_rows, sn_size n_cols, const REAL *X,
                        sn_size x_rs, sn_size x_cs, const uint64_t *cut, const sn_size *quota,
                        const INDEX *indptr, INDEX *indices, REAL *data)
{
    const int nt = sn_threads_for(n_threads, n_rows * n_cols, SN_THR_GRAIN);
    const UINT zero = ZERO_KEY(rank);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (sn_size i = 0; i < n_rows; ++i)
        KI(cut_fill_row)(rank, n_cols, X + i * x_rs, x_cs, (UINT)cut[i], quota[i], zero, indptr[i],
                         indptr[i + 1], indices, data);
    return SN_OK;
}

#undef KI
#undef PUT
