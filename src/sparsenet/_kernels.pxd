# Declarations of the C kernels in csrc/ (the one place they are declared to Cython).
from libc.stdint cimport int32_t, int64_t

cdef extern from "sparsenet.h" nogil:
    ctypedef int64_t sn_size
    enum:
        SN_OK
        SN_ENOMEM
    int sn_isa_supported()
    int sn_has_openmp()

cdef extern from "csr.h" nogil:
    int sn_csr_matmul_f32_i32(int isa, int n_threads, sn_size n_rows, const int32_t *indptr,
                              const int32_t *indices, const float *data, sn_size k,
                              const float *X, float *Y)
    int sn_csr_matmul_f32_i64(int isa, int n_threads, sn_size n_rows, const int64_t *indptr,
                              const int64_t *indices, const float *data, sn_size k,
                              const float *X, float *Y)
    int sn_csr_matmul_f64_i32(int isa, int n_threads, sn_size n_rows, const int32_t *indptr,
                              const int32_t *indices, const double *data, sn_size k,
                              const double *X, double *Y)
    int sn_csr_matmul_f64_i64(int isa, int n_threads, sn_size n_rows, const int64_t *indptr,
                              const int64_t *indices, const double *data, sn_size k,
                              const double *X, double *Y)
    int sn_csr_matmul_t_f32_i32(int isa, int n_threads, sn_size n_rows, sn_size n_cols,
                                const int32_t *indptr, const int32_t *indices, const float *data,
                                sn_size k, const float *X, float *Y)
    int sn_csr_matmul_t_f32_i64(int isa, int n_threads, sn_size n_rows, sn_size n_cols,
                                const int64_t *indptr, const int64_t *indices, const float *data,
                                sn_size k, const float *X, float *Y)
    int sn_csr_matmul_t_f64_i32(int isa, int n_threads, sn_size n_rows, sn_size n_cols,
                                const int32_t *indptr, const int32_t *indices, const double *data,
                                sn_size k, const double *X, double *Y)
    int sn_csr_matmul_t_f64_i64(int isa, int n_threads, sn_size n_rows, sn_size n_cols,
                                const int64_t *indptr, const int64_t *indices, const double *data,
                                sn_size k, const double *X, double *Y)
    int sn_csr_check_i32(int n_threads, sn_size n_rows, sn_size n_cols, sn_size nnz,
                         const int32_t *indptr, const int32_t *indices, sn_size *first_bad_row,
                         int *canonical)
    int sn_csr_check_i64(int n_threads, sn_size n_rows, sn_size n_cols, sn_size nnz,
                         const int64_t *indptr, const int64_t *indices, sn_size *first_bad_row,
                         int *canonical)

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
