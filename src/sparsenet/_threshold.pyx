"""Thin wrappers of the thresholding kernels: memoryviews in, the GIL released, status -> exception.

Arguments are validated by sparsenet.threshold before they get here; nothing is checked twice.
Dense inputs are 2-D strided views (any strides, any sign); strides are passed in elements."""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t

from sparsenet._kernels_threshold cimport *

include "_status.pxi"


cdef inline const real *_base(const real[:, :] X) noexcept:
    return &X[0, 0] if X.shape[0] and X.shape[1] else NULL


def map_values(int isa, int n_threads, int op, double p, const real[:, :] X, real[:, :] Y):
    """Y = op(X; p) elementwise (Y may be X itself)."""
    cdef sn_size n_rows = X.shape[0], n_cols = X.shape[1]
    cdef sn_size x_rs = X.strides[0] // <sn_size>sizeof(real), x_cs = X.strides[1] // <sn_size>sizeof(real)
    cdef sn_size y_rs = Y.strides[0] // <sn_size>sizeof(real), y_cs = Y.strides[1] // <sn_size>sizeof(real)
    cdef const real *xp = _base(X)
    cdef void *yp = <void *>&Y[0, 0] if n_rows and n_cols else NULL
    cdef int status
    with nogil:
        status = sn_threshold_map(isa, n_threads, op, <real>p, n_rows, n_cols, xp, x_rs, x_cs, yp,
                                  0, y_rs, y_cs)
    raise_for_status(status)


def binarize_bytes(int isa, int n_threads, double p, const real[:, :] X, uint8_t[:, :] Y):
    """Y = (X >= p) as bytes 0 / 1 (bool or uint8 output)."""
    cdef sn_size n_rows = X.shape[0], n_cols = X.shape[1]
    cdef sn_size x_rs = X.strides[0] // <sn_size>sizeof(real), x_cs = X.strides[1] // <sn_size>sizeof(real)
    cdef sn_size y_rs = Y.strides[0], y_cs = Y.strides[1]
    cdef const real *xp = _base(X)
    cdef void *yp = <void *>&Y[0, 0] if n_rows and n_cols else NULL
    cdef int status
    with nogil:
        status = sn_threshold_map(isa, n_threads, SN_THR_BINARIZE, <real>p, n_rows, n_cols, xp,
                                  x_rs, x_cs, yp, 1, y_rs, y_cs)
    raise_for_status(status)


def count(int isa, int n_threads, int op, double p, const real[:, :] X, sn_size[::1] counts):
    """counts[i] = number of nonzero op(X[i, :]; p)."""
    cdef sn_size n_rows = X.shape[0], n_cols = X.shape[1]
    cdef sn_size x_rs = X.strides[0] // <sn_size>sizeof(real), x_cs = X.strides[1] // <sn_size>sizeof(real)
    cdef const real *xp = _base(X)
    cdef sn_size *cp = &counts[0] if n_rows else NULL
    cdef int status
    with nogil:
        status = sn_threshold_count(isa, n_threads, op, <real>p, n_rows, n_cols, xp, x_rs, x_cs, cp)
    raise_for_status(status)


def fill(int isa, int n_threads, int op, double p, const real[:, :] X, const index[::1] indptr,
         index[::1] indices, real[::1] data):
    """CSR arrays of the nonzero op(X; p); indptr from the counts of `count`."""
    cdef sn_size n_rows = X.shape[0], n_cols = X.shape[1]
    cdef sn_size x_rs = X.strides[0] // <sn_size>sizeof(real), x_cs = X.strides[1] // <sn_size>sizeof(real)
    cdef const real *xp = _base(X)
    cdef index *ip = &indices[0] if indices.shape[0] else NULL
    cdef real *dp = &data[0] if data.shape[0] else NULL
    cdef int status
    with nogil:
        status = sn_threshold_fill(isa, n_threads, op, <real>p, n_rows, n_cols, xp, x_rs, x_cs,
                                   &indptr[0], ip, dp)
    raise_for_status(status)


def topk(int isa, int n_threads, int rank, sn_size k, const real[:, :] X, real[:, ::1] Y):
    """Y = the top k of each row of X, the rest zero."""
    cdef sn_size n_rows = X.shape[0], n = X.shape[1]
    cdef sn_size x_rs = X.strides[0] // <sn_size>sizeof(real), x_cs = X.strides[1] // <sn_size>sizeof(real)
    cdef const real *xp = _base(X)
    cdef real *yp = &Y[0, 0] if n_rows and n else NULL
    cdef int status
    with nogil:
        status = sn_topk(isa, n_threads, rank, n_rows, n, k, xp, x_rs, x_cs, yp)
    raise_for_status(status)


def topk_cut(int isa, int n_threads, int rank, sn_size k, const real[:, :] X, uint64_t[::1] cut,
             sn_size[::1] quota, sn_size[::1] counts):
    """Per-row cut of the top k, and the stored entries of each row under it."""
    cdef sn_size n_rows = X.shape[0], n = X.shape[1]
    cdef sn_size x_rs = X.strides[0] // <sn_size>sizeof(real), x_cs = X.strides[1] // <sn_size>sizeof(real)
    cdef const real *xp = _base(X)
    if n_rows == 0:
        return
    cdef int status
    with nogil:
        status = sn_topk_cut(isa, n_threads, rank, n_rows, n, k, xp, x_rs, x_cs, &cut[0],
                             &quota[0], &counts[0])
    raise_for_status(status)


def prune_cut(int isa, int n_threads, sn_size n_keep, const real[:, :] X, uint64_t[::1] cut,
              sn_size[::1] quota, sn_size[::1] counts):
    """Cut of the n_keep entries of largest magnitude of X, and the stored entries of each row."""
    cdef sn_size n_rows = X.shape[0], n_cols = X.shape[1]
    cdef sn_size x_rs = X.strides[0] // <sn_size>sizeof(real), x_cs = X.strides[1] // <sn_size>sizeof(real)
    cdef const real *xp = _base(X)
    if n_rows == 0:
        return
    cdef int status
    with nogil:
        status = sn_prune_cut(isa, n_threads, n_rows, n_cols, n_keep, xp, x_rs, x_cs, &cut[0],
                              &quota[0], &counts[0])
    raise_for_status(status)


def cut_fill(int isa, int n_threads, int rank, const real[:, :] X, const uint64_t[::1] cut,
             const sn_size[::1] quota, const index[::1] indptr, index[::1] indices,
             real[::1] data):
    """CSR arrays of the nonzero entries a cut selects; indptr from the cut's counts."""
    cdef sn_size n_rows = X.shape[0], n_cols = X.shape[1]
    cdef sn_size x_rs = X.strides[0] // <sn_size>sizeof(real), x_cs = X.strides[1] // <sn_size>sizeof(real)
    cdef const real *xp = _base(X)
    cdef index *ip = &indices[0] if indices.shape[0] else NULL
    cdef real *dp = &data[0] if data.shape[0] else NULL
    if n_rows == 0:
        return
    cdef int status
    with nogil:
        status = sn_cut_fill(isa, n_threads, rank, n_rows, n_cols, xp, x_rs, x_cs, &cut[0],
                             &quota[0], &indptr[0], ip, dp)
    raise_for_status(status)
