/* Template: build the column blocks of a checked CSR matrix A, or of A^T (the layout of
 * csr_blocked_kernels.h), in three passes: count the entries of each (block, row), turn the counts
 * into starts, and place the entries. Entries of one (block, row) keep their CSR order.
 *
 * Included once per index type with INDEX and ISFX (i32, i64), defining the entry point
 * sn_csr_build_blocks_<ISFX> of csr.h; plain C, memory-bound, no ISA levels. `width` is a power of
 * two (1 << shift); the blocked matrix has out_rows = n_rows (A) or n_cols (A^T) rows and n_blocks
 * blocks. The caller gives seg_ptr[n_blocks * (out_rows + 1)] and row_ptr[out_rows + 1] zeroed,
 * col[nnz] and val[nnz] (value_bytes, 4 or 8, each). */

int SN_CAT(sn_csr_build_blocks, ISFX)(int transposed, sn_size n_rows, const INDEX *indptr,
                                      const INDEX *indices, const void *data, int value_bytes,
                                      int shift, sn_size out_rows, sn_size n_blocks,
                                      sn_size *seg_ptr, sn_size *row_ptr, uint16_t *col, void *val)
{
    const sn_size stride = out_rows + 1;
    /* counts: seg_ptr[b * stride + r] entries of row r in block b */
    for (sn_size i = 0; i < n_rows; ++i)
        for (sn_size p = indptr[i]; p < (sn_size)indptr[i + 1]; ++p) {
            const sn_size j = indices[p];
            const sn_size r = transposed ? j : i;
            ++seg_ptr[((transposed ? i : j) >> shift) * stride + r];
            ++row_ptr[r + 1];
        }
    for (sn_size r = 0; r < out_rows; ++r) row_ptr[r + 1] += row_ptr[r];
    /* starts, block after block; seg_ptr[b * stride + out_rows] ends block b */
    sn_size start = 0;
    for (sn_size b = 0; b < n_blocks; ++b) {
        sn_size *seg = seg_ptr + b * stride;
        for (sn_size r = 0; r < out_rows; ++r) {
            const sn_size count = seg[r];
            seg[r] = start;
            start += count;
        }
        seg[out_rows] = start;
    }
    /* place: seg[r] runs from the start to the end of (b, r) */
    for (sn_size i = 0; i < n_rows; ++i)
        for (sn_size p = indptr[i]; p < (sn_size)indptr[i + 1]; ++p) {
            const sn_size j = indices[p];
            const sn_size outer = transposed ? i : j, r = transposed ? j : i;
            const sn_size b = outer >> shift;
            const sn_size q = seg_ptr[b * stride + r]++;
            col[q] = (uint16_t)(outer - (b << shift));
            if (value_bytes == 4)
                memcpy((char *)val + q * 4, (const char *)data + p * 4, 4);
            else
                memcpy((char *)val + q * 8, (const char *)data + p * 8, 8);
        }
    /* back to starts: (b, r) starts where (b, r - 1) now ends */
    for (sn_size b = 0; b < n_blocks; ++b) {
        sn_size *seg = seg_ptr + b * stride;
        for (sn_size r = out_rows - 1; r > 0; --r) seg[r] = seg[r - 1];
        if (out_rows > 0) seg[0] = b == 0 ? 0 : seg_ptr[(b - 1) * stride + out_rows];
    }
    return SN_OK;
}
