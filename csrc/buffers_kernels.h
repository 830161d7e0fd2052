/* Template: Y (n_rows x n_cols, rows ldy >= n_cols apart) = X, strides x_rs and x_cs in elements
 * (any sign): the C-ordered rows the products and the row kernels read whole, from any 2-D view.
 *
 * Included by buffers.c once per value type with REAL, REAL_BYTES (4, 8) and SFX (f32, f64),
 * defining the entry point sn_copy_rows_<SFX> of buffers.h.
 *
 * A row-major-like X (|x_rs| > |x_cs|) is copied row by row. Otherwise a row of Y takes one element
 * from each column of X, and read in that order each element would touch its own cache line
 * (NumPy's copy of a transposed 3136 x 256 float32 array ran at 3 GB/s). So Y is written in tiles
 * of COPY_TILE_ROWS rows by COPY_TILE_BYTES of columns: the tile's columns of X are read down
 * its rows (runs of whole cache lines, which the prefetchers follow) and the lines of Y it half
 * fills stay in L1 until the next tile fills them. With x_rs = 1 (a column-major X: the
 * transpose of a C-ordered array, as PyTorch layers hand over their input) the elements go through
 * registers in 4x4 (float) or 2x2 (double) SSE2 transposes. One thread, Zen 4, float32, in
 * cache: 14-29 GB/s for the transposes of 128 x 384 to 12544 x 64 (NumPy 1.3-6), where tiles
 * of 128 x 16 staged element by element in a buffer gave 8-10 GB/s; squarer tiles (32 x 32,
 * 64 x 64) lost up to 3x on rows a power of two apart (392 x 2048), whose lines share L1 sets.
 * Large matrices are bound by memory: 4-6 GB/s at 2048^2-4096^2 (NumPy 0.6-0.7). */

#define K(name) SN_CAT(name, SFX)
#define COPY_TILE_ROWS 128
#define COPY_TILE_BYTES 32
#define COPY_BLOCK (16 / REAL_BYTES) /* the elements of a 16-byte register */

/* y[d * ldy + c] = x[d + c * x_cs] for d, c < COPY_BLOCK: a column-major block of X, transposed. */
static inline void K(transpose_block)(const REAL *x, sn_size x_cs, REAL *y, sn_size ldy)
{
#if defined(__SSE2__) && REAL_BYTES == 4
    __m128 r0 = _mm_loadu_ps(x), r1 = _mm_loadu_ps(x + x_cs), r2 = _mm_loadu_ps(x + 2 * x_cs),
           r3 = _mm_loadu_ps(x + 3 * x_cs);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    _mm_storeu_ps(y, r0);
    _mm_storeu_ps(y + ldy, r1);
    _mm_storeu_ps(y + 2 * ldy, r2);
    _mm_storeu_ps(y + 3 * ldy, r3);
#elif defined(__SSE2__) && REAL_BYTES == 8
    const __m128d c0 = _mm_loadu_pd(x), c1 = _mm_loadu_pd(x + x_cs);
    _mm_storeu_pd(y, _mm_unpacklo_pd(c0, c1));
    _mm_storeu_pd(y + ldy, _mm_unpackhi_pd(c0, c1));
#else
    for (sn_size d = 0; d < COPY_BLOCK; ++d)
        for (sn_size c = 0; c < COPY_BLOCK; ++c) y[d * ldy + c] = x[d + c * x_cs];
#endif
}

/* Rows [i0, i1) and columns [j0, j1) of Y. */
static inline void K(copy_tile)(sn_size i0, sn_size i1, sn_size j0, sn_size j1, const REAL *X,
                                sn_size x_rs, sn_size x_cs, REAL *Y, sn_size ldy)
{
    sn_size i = i0;
    if (x_rs == 1)
        for (; i + COPY_BLOCK <= i1; i += COPY_BLOCK) {
            sn_size j = j0;
            for (; j + COPY_BLOCK <= j1; j += COPY_BLOCK)
                K(transpose_block)(X + i + j * x_cs, x_cs, Y + i * ldy + j, ldy);
            for (; j < j1; ++j)
                for (sn_size d = 0; d < COPY_BLOCK; ++d) Y[(i + d) * ldy + j] = X[i + d + j * x_cs];
        }
    for (sn_size j = j0; j < j1; ++j) /* other strides, and the last rows */
        for (sn_size r = i; r < i1; ++r) Y[r * ldy + j] = X[r * x_rs + j * x_cs];
}

int K(sn_copy_rows)(int n_threads, sn_size n_rows, sn_size n_cols, const REAL *X, sn_size x_rs,
                    sn_size x_cs, REAL *Y, sn_size ldy)
{
    if (n_rows <= 0 || n_cols <= 0) return SN_OK;
    const int nt = sn_threads_for(n_threads, n_rows * n_cols, SN_COPY_GRAIN);
    if ((x_rs < 0 ? -x_rs : x_rs) > (x_cs < 0 ? -x_cs : x_cs)) {
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
        for (sn_size i = 0; i < n_rows; ++i) {
            const REAL *x = X + i * x_rs;
            REAL *y = Y + i * ldy;
            if (x_cs == 1) {
                memcpy(y, x, (size_t)n_cols * sizeof(REAL));
            } else {
                for (sn_size j = 0; j < n_cols; ++j) y[j] = x[j * x_cs];
            }
        }
        return SN_OK;
    }
    const sn_size tile_cols = COPY_TILE_BYTES / REAL_BYTES;
    const sn_size tiles = (n_rows + COPY_TILE_ROWS - 1) / COPY_TILE_ROWS;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (sn_size t = 0; t < tiles; ++t) {
        const sn_size i0 = t * COPY_TILE_ROWS, i1 = SN_MIN(n_rows, i0 + COPY_TILE_ROWS);
        for (sn_size j0 = 0; j0 < n_cols; j0 += tile_cols)
            K(copy_tile)(i0, i1, j0, SN_MIN(n_cols, j0 + tile_cols), X, x_rs, x_cs, Y, ldy);
    }
    return SN_OK;
}

#undef K
#undef COPY_TILE_ROWS
#undef COPY_TILE_BYTES
#undef COPY_BLOCK
