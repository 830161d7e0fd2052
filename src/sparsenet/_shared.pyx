"""Thin wrappers of the parameter-sharing kernels: memoryviews in, the GIL released, status -> exception.

Arguments are validated by sparsenet.shared before they get here; nothing is checked twice. The
BLAS-backed products get scipy's Fortran xGEMM (scipy.linalg.cython_blas) from the generated
dispatchers of _kernels_shared.pxd, which pass the pointers this module sets when it is imported."""
from cpython.pycapsule cimport PyCapsule_GetName, PyCapsule_GetPointer
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t

from scipy.linalg import cython_blas

from sparsenet._kernels_shared cimport *

include "_status.pxi"
include "_gathers.pxi"


cdef void *_scipy_blas(name) except NULL:
    """The address of SciPy's BLAS function `name`, from the capsule scipy.linalg.cython_blas
    exports for every function (what a cimport of it reads at import; fetched here so that building
    sparsenet needs no SciPy)."""
    capsule = cython_blas.__pyx_capi__[name]
    return PyCapsule_GetPointer(capsule, PyCapsule_GetName(capsule))


sn_blas_sgemm = <sn_gemm_f32>_scipy_blas("sgemm")
sn_blas_dgemm = <sn_gemm_f64>_scipy_blas("dgemm")


def decode(int isa, int n_threads, sn_size n_rows, sn_size n_cols, const real[::1] codebook,
           const code[::1] codes, real[::1] W):
    """W (flat, C order) = codebook[codes]."""
    cdef sn_size n_codes = codebook.shape[0]
    cdef const code *cp = &codes[0] if codes.shape[0] else NULL
    cdef real *wp = &W[0] if W.shape[0] else NULL
    cdef int status
    with nogil:
        status = sn_shared_decode(isa, n_threads, n_rows, n_cols, n_codes, &codebook[0], cp, wp)
    raise_for_status(status)


def hashed_decode(int isa, int n_threads, sn_size n_rows, sn_size n_cols,
                  const real[::1] codebook, uint32_t seed, real[::1] W):
    """W (flat, C order) of a hashed matrix."""
    cdef sn_size n_codes = codebook.shape[0]
    cdef real *wp = &W[0] if W.shape[0] else NULL
    cdef int status
    with nogil:
        status = sn_hashed_decode(isa, n_threads, n_rows, n_cols, n_codes, &codebook[0], seed, wp)
    raise_for_status(status)


def matmul(int isa, int n_threads, sn_size n_rows, sn_size n_cols, const real[::1] codebook,
           const code[::1] codes, const real[:, ::1] X, real[:, ::1] Y, bint transpose,
           const real[::1] bias=None):
    """Y = W X (or W^T X), W = codebook[codes] (n_rows x n_cols), never decoded in full; then
    Y[i, :] += bias[i] when bias is given (one value per row of Y)."""
    cdef sn_size n_codes = codebook.shape[0], k = Y.shape[1]
    cdef const code *cp = &codes[0] if codes.shape[0] else NULL
    cdef const real *xp = &X[0, 0] if X.shape[0] and X.shape[1] else NULL
    cdef real *yp = &Y[0, 0] if Y.shape[0] and Y.shape[1] else NULL
    cdef const real *bp = &bias[0] if bias is not None and bias.shape[0] else NULL
    cdef int status
    with nogil:
        status = sn_shared_matmul(isa, n_threads, n_rows, n_cols, n_codes, &codebook[0], cp, k, xp, yp,
                                  transpose, bp)
    raise_for_status(status)


def hashed_matmul(int isa, int n_threads, sn_size n_rows, sn_size n_cols, const real[::1] codebook,
                  uint32_t seed, const real[:, ::1] X, real[:, ::1] Y, bint transpose,
                  const real[::1] bias=None):
    """Y = W X (or W^T X) for a hashed W, computed on the fly; then Y[i, :] += bias[i] when bias is
    given."""
    cdef sn_size n_codes = codebook.shape[0], k = Y.shape[1]
    cdef const real *xp = &X[0, 0] if X.shape[0] and X.shape[1] else NULL
    cdef real *yp = &Y[0, 0] if Y.shape[0] and Y.shape[1] else NULL
    cdef const real *bp = &bias[0] if bias is not None and bias.shape[0] else NULL
    cdef int status
    with nogil:
        status = sn_hashed_matmul(isa, n_threads, n_rows, n_cols, n_codes, &codebook[0], seed, k, xp, yp,
                                  transpose, bp)
    raise_for_status(status)


def grad(int isa, int n_threads, sn_size n_rows, sn_size n_cols, const code[::1] codes,
         const real[:, ::1] G, const real[:, ::1] X, real[::1] out):
    """out[c] = sum of (G X^T)[i, j] over the (i, j) with codes == c."""
    cdef sn_size n_codes = out.shape[0], k = G.shape[1]
    cdef const code *cp = &codes[0] if codes.shape[0] else NULL
    cdef const real *gp = &G[0, 0] if G.shape[0] and G.shape[1] else NULL
    cdef const real *xp = &X[0, 0] if X.shape[0] and X.shape[1] else NULL
    cdef int status
    with nogil:
        status = sn_shared_grad(isa, n_threads, n_rows, n_cols, n_codes, cp, k, gp, xp, &out[0])
    raise_for_status(status)


def hashed_grad(int isa, int n_threads, sn_size n_rows, sn_size n_cols, uint32_t seed,
                const real[:, ::1] G, const real[:, ::1] X, real[::1] out):
    """Codebook gradient of a hashed matrix (signs included)."""
    cdef sn_size n_codes = out.shape[0], k = G.shape[1]
    cdef const real *gp = &G[0, 0] if G.shape[0] and G.shape[1] else NULL
    cdef const real *xp = &X[0, 0] if X.shape[0] and X.shape[1] else NULL
    cdef int status
    with nogil:
        status = sn_hashed_grad(isa, n_threads, n_rows, n_cols, n_codes, seed, k, gp, xp, &out[0])
    raise_for_status(status)


def kmeans(int isa, int n_threads, const real[::1] w, bint init_density, sn_size max_iter,
           double tol, double[::1] centers, code[::1] codes):
    """1-D k-means of w; centers in: initial (unless init_density), out: final ascending.
    Returns (n_iter, inertia)."""
    cdef sn_size n = w.shape[0], n_codes = centers.shape[0], n_iter = 0
    cdef double inertia = 0
    cdef int status
    with nogil:
        status = sn_kmeans(isa, n_threads, n, &w[0], n_codes, init_density, max_iter, tol,
                           &centers[0], &codes[0], &n_iter, &inertia)
    raise_for_status(status)
    return n_iter, inertia


def csr_matmul(int isa, int n_threads, sn_size n_cols, const int32_t[::1] indptr,
               const int32_t[::1] indices, const code[::1] codes, const real[::1] codebook,
               const real[:, ::1] X, real[:, ::1] Y, bint transpose, bint sorted_rows):
    """Y = A X (or A^T X), A a CSR matrix whose stored values are codebook[codes]; sorted_rows:
    every row's column indices are increasing. For A X, X may have more columns than Y (rows
    padded: those past Y's are not read)."""
    cdef sn_size n_rows = indptr.shape[0] - 1, k = Y.shape[1], ldx = X.shape[1]
    check_padded_rows(k, ldx, transpose)
    cdef const int32_t *ip = &indptr[0]
    cdef const int32_t *ix = &indices[0] if indices.shape[0] else NULL
    cdef const code *cp = &codes[0] if codes.shape[0] else NULL
    cdef const real *cb = &codebook[0]
    cdef const real *xp = &X[0, 0] if X.shape[0] and X.shape[1] else NULL
    cdef real *yp = &Y[0, 0] if Y.shape[0] and Y.shape[1] else NULL
    cdef int status
    with nogil:
        status = sn_shared_csr_matmul(isa, n_threads, sorted_rows, n_rows, n_cols, ip, ix, cp, cb, k,
                                      ldx, xp, yp, transpose)
    raise_for_status(status)
