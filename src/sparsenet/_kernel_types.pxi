# Types, constants and run-time facts of the native layer, written by hand; the generated
# sparsenet/_kernels.pxd (tools/kernelgen.py) includes this file before the entry points.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from "sparsenet.h" nogil:
    ctypedef int64_t sn_size
    enum:
        SN_OK
        SN_ENOMEM
        SN_EINVAL
    int sn_isa_supported()
    int sn_has_openmp()
    int sn_hw_gathers_pay()
    int sn_hw_gathers  # AVX-512 table reads by gathers (1) or loads (0): this module's copy
    sn_size sn_l2_bytes_detected()
    sn_size sn_l2_bytes  # the L2 size the kernels plan for: this module's copy
    int sn_install_fork_guard()
    int sn_fork_team_released()
    void sn_set_release_at_fork(int release)
    int sn_probe_threads(int n_threads)


cdef extern from "threshold.h" nogil:
    enum:
        SN_THR_BINARIZE
        SN_THR_HARD
        SN_THR_SOFT
        SN_RANK_MAGNITUDE
        SN_RANK_VALUE

cdef extern from "shared.h" nogil:
    ctypedef void (*sn_gemm_f32)(char *transa, char *transb, int *m, int *n, int *k, float *alpha,
                                 float *a, int *lda, float *b, int *ldb, float *beta, float *c,
                                 int *ldc) noexcept nogil
    ctypedef void (*sn_gemm_f64)(char *transa, char *transb, int *m, int *n, int *k, double *alpha,
                                 double *a, int *lda, double *b, int *ldb, double *beta, double *c,
                                 int *ldc) noexcept nogil
    # SciPy's xGEMM, which the generated dispatchers pass to the BLAS-backed shared products: set by
    # sparsenet._shared when it is imported (so that building needs no SciPy)
    sn_gemm_f32 sn_blas_sgemm
    sn_gemm_f64 sn_blas_dgemm

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

# The fused types of the spec's axes (csrc/kernels.spec): one name per axis.
ctypedef fused real:
    float
    double

ctypedef fused index:
    int32_t
    int64_t

ctypedef fused code:
    uint8_t
    uint16_t

