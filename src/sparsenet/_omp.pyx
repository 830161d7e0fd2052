"""Thin wrappers of the Batch-OMP kernel: memoryviews in, the GIL released, status -> exception.

Arguments are validated by sparsenet.omp before they get here; nothing is checked twice. Arrays are
passed flat (contiguous, any order) with their layout spelled out; an empty array stands for "absent"
(a NULL pointer in the kernel's problem).
"""
from libc.stdint cimport int32_t, int64_t

from sparsenet._kernels_omp cimport *

include "_status.pxi"


cdef inline const real *_ptr(const real[::1] a) noexcept nogil:
    return &a[0] if a.shape[0] else NULL


def row_length(sn_size n_atoms):
    """Row length of the kernel's Gram matrix (n_atoms rounded up; see csrc/batch_omp.h)."""
    return sn_omp_row_length(n_atoms)


def gram(int isa, int n_threads, const real[:, ::1] D, sn_size n_atoms, real[:, ::1] G):
    """G = D^T D (n_atoms rows, zero past column n_atoms); D is row-major n_features x row_length."""
    cdef int status
    with nogil:
        status = sn_omp_gram(isa, n_threads, D.shape[0], n_atoms, &D[0, 0], &G[0, 0])
    raise_for_status(status)


def run(int isa, int n_threads, sn_size n_features, sn_size n_atoms, sn_size n_signals,
        sn_size max_atoms, const real[::1] D, const real[::1] G, const real[::1] X, sn_size x_ld,
        bint x_signal_major, const real[::1] DtX, sn_size dtx_atom_stride,
        sn_size dtx_signal_stride, const real[::1] norms, double tol, real[::1] Y,
        real[::1] values, int32_t[::1] indices, int64_t[::1] counts):
    """Codes n_signals signals (see csrc/batch_omp.h); returns the number stopped prematurely."""
    cdef sn_omp_problem_f64 p64
    cdef sn_omp_problem_f32 p32
    cdef sn_size n_premature = 0
    cdef int status
    cdef int32_t *ip = &indices[0] if indices.shape[0] else NULL
    cdef int64_t *cp = &counts[0] if counts.shape[0] else NULL
    if real is double:
        p64.n_features, p64.n_atoms, p64.n_signals, p64.max_atoms = n_features, n_atoms, n_signals, max_atoms
        p64.D, p64.G, p64.X, p64.DtX, p64.norms = _ptr(D), _ptr(G), _ptr(X), _ptr(DtX), _ptr(norms)
        p64.x_ld, p64.x_signal_major = x_ld, x_signal_major
        p64.dtx_atom_stride, p64.dtx_signal_stride = dtx_atom_stride, dtx_signal_stride
        p64.tol = tol
        p64.Y = &Y[0] if Y.shape[0] else NULL
        p64.values = &values[0] if values.shape[0] else NULL
        p64.indices, p64.counts = ip, cp
        with nogil:
            status = sn_omp_f64(isa, n_threads, &p64, &n_premature)
    else:
        p32.n_features, p32.n_atoms, p32.n_signals, p32.max_atoms = n_features, n_atoms, n_signals, max_atoms
        p32.D, p32.G, p32.X, p32.DtX, p32.norms = _ptr(D), _ptr(G), _ptr(X), _ptr(DtX), _ptr(norms)
        p32.x_ld, p32.x_signal_major = x_ld, x_signal_major
        p32.dtx_atom_stride, p32.dtx_signal_stride = dtx_atom_stride, dtx_signal_stride
        p32.tol = <float>tol
        p32.Y = &Y[0] if Y.shape[0] else NULL
        p32.values = &values[0] if values.shape[0] else NULL
        p32.indices, p32.counts = ip, cp
        with nogil:
            status = sn_omp_f32(isa, n_threads, &p32, &n_premature)
    raise_for_status(status)
    return n_premature
