"""Thin wrappers of the batch LASSO and K-SVD update kernels (csrc/coding.h): memoryviews in, the GIL
released, status -> exception. Arguments are validated by sparsenet.lasso / sparsenet.ksvd; an empty
array stands for "absent" (NULL)."""
from libc.stdint cimport int32_t, int64_t

from sparsenet._kernels_coding cimport *

include "_status.pxi"


cdef inline const real *_ptr(const real[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] else NULL


def lasso(int isa, int n_threads, sn_size n_atoms, sn_size n_signals, const real[::1] G,
          sn_size g_ld, const real[::1] B, sn_size b_atom_stride, sn_size b_signal_stride,
          sn_size n_features, const real[::1] D, const real[::1] X, sn_size x_ld,
          bint x_signal_major, const real[::1] norms, double alpha, bint positive,
          sn_size max_iter, double tol, bint warm, real[::1] A):
    """Codes n_signals signals (see csrc/coding.h); returns (most sweeps used, unconverged count)."""
    cdef sn_size n_iter_max = 0, n_unconverged = 0
    cdef int status
    with nogil:
        status = sn_lasso(isa, n_threads, n_atoms, n_signals, _ptr(G), g_ld, _ptr(B),
                          b_atom_stride, b_signal_stride, n_features, _ptr(D), _ptr(X), x_ld,
                          x_signal_major, _ptr(norms), alpha, positive, max_iter, tol, warm,
                          &A[0] if A.shape[0] else NULL, &n_iter_max, &n_unconverged)
    raise_for_status(status)
    return n_iter_max, n_unconverged


def ksvd_update(int isa, int n_threads, sn_size n_features, sn_size n_atoms, sn_size n_signals,
                const real[::1] X, const int64_t[::1] csc_indptr, const int32_t[::1] csc_atoms,
                real[::1] csc_values, real[::1] D, real[::1] R, bint want_energy):
    """One K-SVD dictionary update in place (see csrc/coding.h); returns (energy, n_replaced),
    energy None unless asked for."""
    cdef double energy = 0
    cdef sn_size n_replaced = 0
    cdef int status
    cdef const int32_t *ca = &csc_atoms[0] if csc_atoms.shape[0] else NULL
    cdef real *cv = &csc_values[0] if csc_values.shape[0] else NULL
    with nogil:
        status = sn_ksvd_update(isa, n_threads, n_features, n_atoms, n_signals, _ptr(X),
                                &csc_indptr[0], ca, cv, &D[0], &R[0],
                                &energy if want_energy else NULL, &n_replaced)
    raise_for_status(status)
    return (energy if want_energy else None), n_replaced
