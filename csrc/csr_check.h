/* Template: one-pass structural check of a CSR matrix, for the Python layer's input validation.
 * Included by csr.c through sn_instantiate.h for each INDEX type, with UINDEX its unsigned twin,
 * INDEX_LIMIT one more than its largest value and ISFX its suffix (i32, i64). */

#define KC(name) SN_CAT3(name, ISFX, ISA)

/* Scans rows [0, n_rows). Stores in *first_bad_row the smallest row whose indptr pair is decreasing or
 * outside [0, nnz], or one of whose column indices is outside [0, n_cols); n_rows when there is none.
 * *canonical becomes 1 when every row's indices are strictly increasing (sorted, no duplicates).
 * Reads indices only within [indptr[i], indptr[i+1]) of rows that passed the indptr check. */
static int KC(csr_check)(int n_threads, sn_size n_rows, sn_size n_cols, sn_size nnz,
                         const INDEX *indptr, const INDEX *indices, sn_size *first_bad_row,
                         int *canonical)
{
    /* one unsigned comparison catches negative and too large indices alike */
    const UINDEX limit = (UINDEX)SN_MIN(n_cols, (sn_size)INDEX_LIMIT);
    sn_size first_bad = n_rows;
    int unsorted = 0;
    const int nt = sn_threads_for(n_threads, n_rows + nnz, SN_CSR_GRAIN);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static) \
    reduction(min : first_bad) reduction(| : unsorted)
    for (sn_size i = 0; i < n_rows; ++i) {
        const sn_size start = indptr[i], end = indptr[i + 1];
        if (start < 0 || start > end || end > nnz) {
            first_bad = SN_MIN(first_bad, i);
            continue;
        }
        int out_of_range = 0, descending = 0;
        if (start < end) out_of_range = (UINDEX)indices[start] >= limit;
#pragma omp simd reduction(| : out_of_range, descending)
        for (sn_size p = start + 1; p < end; ++p) {
            out_of_range |= (UINDEX)indices[p] >= limit;
            descending |= indices[p] <= indices[p - 1];
        }
        if (out_of_range) first_bad = SN_MIN(first_bad, i);
        unsorted |= descending;
    }
    *first_bad_row = first_bad;
    *canonical = !unsorted;
    return SN_OK;
}

#undef KC
