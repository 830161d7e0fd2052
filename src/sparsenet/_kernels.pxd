# Declarations of the C kernels in csrc/ (the one place they are declared to Cython).
from libc.stdint cimport int32_t, int64_t, uint16_t

cdef extern from "sparsenet.h" nogil:
    ctypedef int64_t sn_size
    enum:
        SN_OK
        SN_ENOMEM
    int sn_isa_supported()
    int sn_has_openmp()

cdef extern from "csr.h" nogil:
    int sn_csr_matmul_f32_i32(int isa, int n_threads, sn_size n_rows,
                              const int32_t *indptr, const int32_t *indices,
                              const float *data, sn_size k, const float *X,
                              float *Y)
    int sn_csr_matmul_f32_i64(int isa, int n_threads, sn_size n_rows,
                              const int64_t *indptr, const int64_t *indices,
                              const float *data, sn_size k, const float *X,
                              float *Y)
    int sn_csr_matmul_f64_i32(int isa, int n_threads, sn_size n_rows,
                              const int32_t *indptr, const int32_t *indices,
                              const double *data, sn_size k, const double *X,
                              double *Y)
    int sn_csr_matmul_f64_i64(int isa, int n_threads, sn_size n_rows,
                              const int64_t *indptr, const int64_t *indices,
                              const double *data, sn_size k, const double *X,
                              double *Y)
    int sn_csr_matmul_t_f32_i32(int isa, int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols,
                                const int32_t *indptr, const int32_t *indices, const float *data,
                                sn_size k, const float *X, float *Y)
    int sn_csr_matmul_t_f32_i64(int isa, int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols,
                                const int64_t *indptr, const int64_t *indices, const float *data,
                                sn_size k, const float *X, float *Y)
    int sn_csr_matmul_t_f64_i32(int isa, int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols,
                                const int32_t *indptr, const int32_t *indices, const double *data,
                                sn_size k, const double *X, double *Y)
    int sn_csr_matmul_t_f64_i64(int isa, int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols,
                                const int64_t *indptr, const int64_t *indices, const double *data,
                                sn_size k, const double *X, double *Y)
    int sn_csr_check_i32(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size nnz,
                         const int32_t *indptr, const int32_t *indices, sn_size *first_bad_row,
                         int *canonical)
    int sn_csr_check_i64(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size nnz,
                         const int64_t *indptr, const int64_t *indices, sn_size *first_bad_row,
                         int *canonical)
    int sn_csr_blocked_matmul_f32(int isa, int n_threads, sn_size n_rows, sn_size n_blocks,
                                  sn_size width, const sn_size *row_ptr, const sn_size *seg_ptr,
                                  const uint16_t *col, const float *val, sn_size k, const float *X,
                                  float *Y)
    int sn_csr_blocked_matmul_f64(int isa, int n_threads, sn_size n_rows, sn_size n_blocks,
                                  sn_size width, const sn_size *row_ptr, const sn_size *seg_ptr,
                                  const uint16_t *col, const double *val, sn_size k, const double *X,
                                  double *Y)
    int sn_csr_build_blocks_i32(int transposed, sn_size n_rows, const int32_t *indptr,
                                const int32_t *indices, const void *data, int value_bytes, int shift,
                                sn_size out_rows, sn_size n_blocks, sn_size *seg_ptr, sn_size *row_ptr,
                                uint16_t *col, void *val)
    int sn_csr_build_blocks_i64(int transposed, sn_size n_rows, const int64_t *indptr,
                                const int64_t *indices, const void *data, int value_bytes, int shift,
                                sn_size out_rows, sn_size n_blocks, sn_size *seg_ptr, sn_size *row_ptr,
                                uint16_t *col, void *val)

# --- threshold ---
from libc.stdint cimport uint8_t, uint64_t

cdef extern from "threshold.h" nogil:
    enum:
        SN_THR_BINARIZE
        SN_THR_HARD
        SN_THR_SOFT
        SN_RANK_MAGNITUDE
        SN_RANK_VALUE
    int sn_copy_rows_f32(int isa, int n_threads, sn_size n_rows, sn_size n_cols, const float *X,
                         sn_size x_rs, sn_size x_cs, float *Y)
    int sn_copy_rows_f64(int isa, int n_threads, sn_size n_rows, sn_size n_cols, const double *X,
                         sn_size x_rs, sn_size x_cs, double *Y)
    int sn_threshold_map_f32(int isa, int n_threads, int op, float p, sn_size n_rows,
                             sn_size n_cols, const float *X, sn_size x_rs, sn_size x_cs, void *Y,
                             int y_bytes, sn_size y_rs, sn_size y_cs)
    int sn_threshold_map_f64(int isa, int n_threads, int op, double p, sn_size n_rows,
                             sn_size n_cols, const double *X, sn_size x_rs, sn_size x_cs, void *Y,
                             int y_bytes, sn_size y_rs, sn_size y_cs)
    int sn_threshold_count_f32(int isa, int n_threads, int op, float p, sn_size n_rows,
                               sn_size n_cols, const float *X, sn_size x_rs, sn_size x_cs,
                               sn_size *counts)
    int sn_threshold_count_f64(int isa, int n_threads, int op, double p, sn_size n_rows,
                               sn_size n_cols, const double *X, sn_size x_rs, sn_size x_cs,
                               sn_size *counts)
    int sn_topk_f32(int isa, int n_threads, int rank, sn_size n_rows, sn_size n, sn_size k,
                    const float *X, sn_size x_rs, sn_size x_cs, float *Y)
    int sn_topk_f64(int isa, int n_threads, int rank, sn_size n_rows, sn_size n, sn_size k,
                    const double *X, sn_size x_rs, sn_size x_cs, double *Y)
    int sn_topk_cut_f32(int isa, int n_threads, int rank, sn_size n_rows, sn_size n, sn_size k,
                        const float *X, sn_size x_rs, sn_size x_cs, uint64_t *cut, sn_size *quota,
                        sn_size *counts)
    int sn_topk_cut_f64(int isa, int n_threads, int rank, sn_size n_rows, sn_size n, sn_size k,
                        const double *X, sn_size x_rs, sn_size x_cs, uint64_t *cut, sn_size *quota,
                        sn_size *counts)
    int sn_prune_cut_f32(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_keep,
                         const float *X, sn_size x_rs, sn_size x_cs, uint64_t *cut, sn_size *quota,
                         sn_size *counts)
    int sn_prune_cut_f64(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_keep,
                         const double *X, sn_size x_rs, sn_size x_cs, uint64_t *cut,
                         sn_size *quota, sn_size *counts)
    int sn_threshold_fill_f32_i32(int isa, int n_threads, int op, float p, sn_size n_rows,
                                  sn_size n_cols, const float *X, sn_size x_rs, sn_size x_cs,
                                  const int32_t *indptr, int32_t *indices, float *data)
    int sn_threshold_fill_f32_i64(int isa, int n_threads, int op, float p, sn_size n_rows,
                                  sn_size n_cols, const float *X, sn_size x_rs, sn_size x_cs,
                                  const int64_t *indptr, int64_t *indices, float *data)
    int sn_threshold_fill_f64_i32(int isa, int n_threads, int op, double p, sn_size n_rows,
                                  sn_size n_cols, const double *X, sn_size x_rs, sn_size x_cs,
                                  const int32_t *indptr, int32_t *indices, double *data)
    int sn_threshold_fill_f64_i64(int isa, int n_threads, int op, double p, sn_size n_rows,
                                  sn_size n_cols, const double *X, sn_size x_rs, sn_size x_cs,
                                  const int64_t *indptr, int64_t *indices, double *data)
    int sn_cut_fill_f32_i32(int isa, int n_threads, int rank, sn_size n_rows, sn_size n_cols,
                            const float *X, sn_size x_rs, sn_size x_cs, const uint64_t *cut,
                            const sn_size *quota, const int32_t *indptr, int32_t *indices,
                            float *data)
    int sn_cut_fill_f32_i64(int isa, int n_threads, int rank, sn_size n_rows, sn_size n_cols,
                            const float *X, sn_size x_rs, sn_size x_cs, const uint64_t *cut,
                            const sn_size *quota, const int64_t *indptr, int64_t *indices,
                            float *data)
    int sn_cut_fill_f64_i32(int isa, int n_threads, int rank, sn_size n_rows, sn_size n_cols,
                            const double *X, sn_size x_rs, sn_size x_cs, const uint64_t *cut,
                            const sn_size *quota, const int32_t *indptr, int32_t *indices,
                            double *data)
    int sn_cut_fill_f64_i64(int isa, int n_threads, int rank, sn_size n_rows, sn_size n_cols,
                            const double *X, sn_size x_rs, sn_size x_cs, const uint64_t *cut,
                            const sn_size *quota, const int64_t *indptr, int64_t *indices,
                            double *data)
# --- shared (parameter sharing) ---
from libc.stdint cimport uint8_t, uint16_t, uint32_t

cdef extern from "shared.h" nogil:
    ctypedef void (*sn_gemm_f32)(char *transa, char *transb, int *m, int *n, int *k, float *alpha,
                                 float *a, int *lda, float *b, int *ldb, float *beta, float *c,
                                 int *ldc) noexcept nogil
    ctypedef void (*sn_gemm_f64)(char *transa, char *transb, int *m, int *n, int *k, double *alpha,
                                 double *a, int *lda, double *b, int *ldb, double *beta, double *c,
                                 int *ldc) noexcept nogil

    int sn_shared_decode_f32_u8(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const float *codebook, const uint8_t *codes, float *W)
    int sn_shared_decode_f32_u16(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const float *codebook, const uint16_t *codes, float *W)
    int sn_shared_decode_f32_hash(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const float *codebook, uint32_t seed, float *W)
    int sn_shared_decode_f64_u8(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const double *codebook, const uint8_t *codes, double *W)
    int sn_shared_decode_f64_u16(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const double *codebook, const uint16_t *codes, double *W)
    int sn_shared_decode_f64_hash(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const double *codebook, uint32_t seed, double *W)

    int sn_shared_matmul_f32_u8(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const float *codebook, const uint8_t *codes, sn_size k, const float *X, float *Y, int transpose, sn_gemm_f32 gemm)
    int sn_shared_matmul_f32_u16(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const float *codebook, const uint16_t *codes, sn_size k, const float *X, float *Y, int transpose, sn_gemm_f32 gemm)
    int sn_shared_matmul_f32_hash(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const float *codebook, uint32_t seed, sn_size k, const float *X, float *Y, int transpose, sn_gemm_f32 gemm)
    int sn_shared_matmul_f64_u8(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const double *codebook, const uint8_t *codes, sn_size k, const double *X, double *Y, int transpose, sn_gemm_f64 gemm)
    int sn_shared_matmul_f64_u16(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const double *codebook, const uint16_t *codes, sn_size k, const double *X, double *Y, int transpose, sn_gemm_f64 gemm)
    int sn_shared_matmul_f64_hash(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const double *codebook, uint32_t seed, sn_size k, const double *X, double *Y, int transpose, sn_gemm_f64 gemm)

    int sn_shared_grad_f32_u8(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const uint8_t *codes, sn_size k, const float *G, const float *X, float *grad, sn_gemm_f32 gemm)
    int sn_shared_grad_f32_u16(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const uint16_t *codes, sn_size k, const float *G, const float *X, float *grad, sn_gemm_f32 gemm)
    int sn_shared_grad_f32_hash(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, uint32_t seed, sn_size k, const float *G, const float *X, float *grad, sn_gemm_f32 gemm)
    int sn_shared_grad_f64_u8(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const uint8_t *codes, sn_size k, const double *G, const double *X, double *grad, sn_gemm_f64 gemm)
    int sn_shared_grad_f64_u16(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, const uint16_t *codes, sn_size k, const double *G, const double *X, double *grad, sn_gemm_f64 gemm)
    int sn_shared_grad_f64_hash(int isa, int n_threads, sn_size n_rows, sn_size n_cols, sn_size n_codes, uint32_t seed, sn_size k, const double *G, const double *X, double *grad, sn_gemm_f64 gemm)

    int sn_kmeans_f32_u8(int isa, int n_threads, sn_size n, const float *w, sn_size n_codes, int init_density, sn_size max_iter, double tol, double *centers, uint8_t *codes, sn_size *n_iter, double *inertia)
    int sn_kmeans_f32_u16(int isa, int n_threads, sn_size n, const float *w, sn_size n_codes, int init_density, sn_size max_iter, double tol, double *centers, uint16_t *codes, sn_size *n_iter, double *inertia)
    int sn_kmeans_f64_u8(int isa, int n_threads, sn_size n, const double *w, sn_size n_codes, int init_density, sn_size max_iter, double tol, double *centers, uint8_t *codes, sn_size *n_iter, double *inertia)
    int sn_kmeans_f64_u16(int isa, int n_threads, sn_size n, const double *w, sn_size n_codes, int init_density, sn_size max_iter, double tol, double *centers, uint16_t *codes, sn_size *n_iter, double *inertia)

    int sn_shared_csr_matmul_f32_i32_u8(int isa, int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols, const int32_t *indptr, const int32_t *indices, const uint8_t *codes, const float *codebook, sn_size k, const float *X, float *Y, int transpose)
    int sn_shared_csr_matmul_f32_i32_u16(int isa, int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols, const int32_t *indptr, const int32_t *indices, const uint16_t *codes, const float *codebook, sn_size k, const float *X, float *Y, int transpose)
    int sn_shared_csr_matmul_f32_i64_u8(int isa, int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols, const int64_t *indptr, const int64_t *indices, const uint8_t *codes, const float *codebook, sn_size k, const float *X, float *Y, int transpose)
    int sn_shared_csr_matmul_f32_i64_u16(int isa, int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols, const int64_t *indptr, const int64_t *indices, const uint16_t *codes, const float *codebook, sn_size k, const float *X, float *Y, int transpose)
    int sn_shared_csr_matmul_f64_i32_u8(int isa, int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols, const int32_t *indptr, const int32_t *indices, const uint8_t *codes, const double *codebook, sn_size k, const double *X, double *Y, int transpose)
    int sn_shared_csr_matmul_f64_i32_u16(int isa, int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols, const int32_t *indptr, const int32_t *indices, const uint16_t *codes, const double *codebook, sn_size k, const double *X, double *Y, int transpose)
    int sn_shared_csr_matmul_f64_i64_u8(int isa, int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols, const int64_t *indptr, const int64_t *indices, const uint8_t *codes, const double *codebook, sn_size k, const double *X, double *Y, int transpose)
    int sn_shared_csr_matmul_f64_i64_u16(int isa, int n_threads, int sorted_rows, sn_size n_rows, sn_size n_cols, const int64_t *indptr, const int64_t *indices, const uint16_t *codes, const double *codebook, sn_size k, const double *X, double *Y, int transpose)
cdef extern from "batch_omp.h" nogil:
    ctypedef struct sn_omp_problem_f64:
        sn_size n_features, n_atoms, n_signals, max_atoms
        const double *D
        const double *G
        const double *X
        const double *DtX
        const double *norms
        sn_size x_ld, dtx_atom_stride, dtx_signal_stride
        int x_signal_major
        double tol
        double *Y
        double *values
        int32_t *indices
        int64_t *counts
    ctypedef struct sn_omp_problem_f32:
        sn_size n_features, n_atoms, n_signals, max_atoms
        const float *D
        const float *G
        const float *X
        const float *DtX
        const float *norms
        sn_size x_ld, dtx_atom_stride, dtx_signal_stride
        int x_signal_major
        float tol
        float *Y
        float *values
        int32_t *indices
        int64_t *counts
    sn_size sn_omp_row_length(sn_size n_atoms)
    int sn_omp_gram_f64(int isa, int n_threads, sn_size n_features, sn_size n_atoms,
                        const double *D, double *G)
    int sn_omp_gram_f32(int isa, int n_threads, sn_size n_features, sn_size n_atoms,
                        const float *D, float *G)
    int sn_omp_f64(int isa, int n_threads, const sn_omp_problem_f64 *problem, sn_size *n_premature)
    int sn_omp_f32(int isa, int n_threads, const sn_omp_problem_f32 *problem, sn_size *n_premature)
