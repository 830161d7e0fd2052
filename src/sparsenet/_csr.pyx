"""Thin wrappers of the CSR kernels: arrays in (typed memoryviews; the per-call products by the
buffer protocol, _arrays.pxi; one vector's product by NumPy's C API), the GIL released, status ->
exception.

Arguments are validated by sparsenet.csr before they get here; nothing is checked twice."""
from libc.stdint cimport int32_t, int64_t, uint16_t

from sparsenet._kernels_csr cimport *

cimport numpy as cnp

cnp.import_array()

include "_status.pxi"
include "_arrays.pxi"
include "_gathers.pxi"


def set_l2_bytes(n=None):
    """The L2 size in bytes this module's kernels plan for (sn_l2_bytes, sparsenet.h: a product
    requests the rows of X early where X is larger); None: this core's (sn_l2_bytes_detected), the
    default. For tests and diagnosis: it changes which loads are requested early, never a result."""
    global sn_l2_bytes
    sn_l2_bytes = sn_l2_bytes_detected() if n is None else n


def l2_bytes():
    """The L2 size in bytes this module's kernels plan for (set_l2_bytes)."""
    return sn_l2_bytes


set_l2_bytes(None)


cdef struct Product:
    # one product's arguments, the arrays' items typed by the fused function that reads them
    int isa, n_threads, transpose, checked, sorted_rows
    sn_size n_rows, n_cols, nnz, k, ldx
    const void *indptr
    const void *indices
    const void *data
    const void *X
    void *Y
    sn_size first_bad


cdef int product_typed(real real_tag, index index_tag, Product *p) noexcept nogil:
    """The product p in the items of the fused types (the tags select them; their values are
    unused)."""
    cdef const index *ip = <const index *>p.indptr
    cdef const index *ix = <const index *>p.indices
    cdef const real *dx = <const real *>p.data
    cdef const real *xp = <const real *>p.X
    cdef real *yp = <real *>p.Y
    if p.checked and p.transpose:
        return sn_csr_matmul_t_checked(p.isa, p.n_threads, p.n_rows, p.n_cols, p.nnz, ip, ix, dx,
                                       p.k, xp, yp, &p.first_bad)
    if p.checked:
        return sn_csr_matmul_checked(p.isa, p.n_threads, p.n_rows, p.n_cols, p.nnz, ip, ix, dx,
                                     p.k, p.ldx, xp, yp, &p.first_bad)
    if p.transpose:
        return sn_csr_matmul_t(p.isa, p.n_threads, p.sorted_rows, p.n_rows, p.n_cols, ip, ix, dx,
                               p.k, xp, yp)
    return sn_csr_matmul(p.isa, p.n_threads, p.n_rows, p.n_cols, ip, ix, dx, p.k, p.ldx, xp, yp)


cdef int product_of(Product *p, bint real64, bint index64) noexcept nogil:
    """The product p, its items float64 or float32 and its indices int64 or int32."""
    if real64:
        return product_typed(<double>0, <int64_t>0, p) if index64 \
            else product_typed(<double>0, <int32_t>0, p)
    return product_typed(<float>0, <int64_t>0, p) if index64 \
        else product_typed(<float>0, <int32_t>0, p)


cdef sn_size run_product(Product *p, indptr, indices, data, X, Y) except -1:
    """Acquire the arrays, run p on them without the GIL, raise for a failed status; returns the
    first bad row of a checked product."""
    cdef Py_buffer views[5]
    memset(views, 0, sizeof(views))
    cdef int status
    cdef bint real64, index64
    try:
        get_array(indptr, &views[0], INDEX_ITEMS, 1, False)
        get_array(indices, &views[1], INDEX_ITEMS, 1, False)
        get_array(data, &views[2], REAL_ITEMS, 1, False)
        get_array(X, &views[3], REAL_ITEMS, 0, False)
        get_array(Y, &views[4], REAL_ITEMS, 0, True)
        real64 = views[2].itemsize == 8
        index64 = views[0].itemsize == 8
        if (views[1].itemsize == 8) != index64 or (views[3].itemsize == 8) != real64 \
                or (views[4].itemsize == 8) != real64:
            raise TypeError("sparsenet: native arguments of mixed item sizes")
        p.n_rows = views[0].shape[0] - 1
        p.nnz = min(views[1].shape[0], views[2].shape[0])
        p.k, p.ldx = columns(&views[4]), columns(&views[3])
        check_padded_rows(p.k, p.ldx, p.transpose)
        if not p.n_cols:  # the trusted products take it from the dense operands
            p.n_cols = views[3].shape[0] if not p.transpose else views[4].shape[0]
        p.first_bad = p.n_rows
        p.indptr = views[0].buf
        p.indices = data_or_null(&views[1])
        p.data = data_or_null(&views[2])
        p.X = data_or_null(&views[3])
        p.Y = data_or_null(&views[4])
        with nogil:
            status = product_of(p, real64, index64)
        raise_for_status(status)
        return p.first_bad
    finally:
        release_arrays(views, 5)


def matmul(int isa, int n_threads, indptr, indices, data, X, Y, bint transpose, bint sorted_rows):
    """Y = A X (transpose=False) or Y = A^T X, A given by (indptr, indices, data), all C-ordered,
    X and Y matrices or vectors; sorted_rows: every row's column indices are increasing. For A X,
    X may have more columns than Y (rows padded: those past Y's are not read)."""
    cdef Product p
    memset(&p, 0, sizeof(p))
    p.isa, p.n_threads, p.transpose, p.sorted_rows = isa, n_threads, transpose, sorted_rows
    run_product(&p, indptr, indices, data, X, Y)


def checked_matmul(int isa, int n_threads, sn_size n_cols, indptr, indices, data, X, Y,
                   bint transpose):
    """Y = A X or A^T X for an unvalidated A, checked in the product's own pass (n_cols >= 1,
    k >= 1); returns the first bad row, or n_rows when A was valid (else Y is garbage)."""
    cdef Product p
    memset(&p, 0, sizeof(p))
    p.isa, p.n_threads, p.transpose, p.checked, p.n_cols = isa, n_threads, transpose, True, n_cols
    return run_product(&p, indptr, indices, data, X, Y)


cdef int blocked_typed(real real_tag, int isa, int n_threads, sn_size width,
                       Py_buffer *views) noexcept nogil:
    """blocked_matmul's product on its acquired views, in the items the tag's type selects."""
    return sn_csr_blocked_matmul(isa, n_threads, views[0].shape[0] - 1, views[1].shape[0], width,
                                 <const sn_size *>views[0].buf,
                                 <const sn_size *>data_or_null(&views[1]),
                                 <const uint16_t *>data_or_null(&views[2]),
                                 <const real *>data_or_null(&views[3]), columns(&views[5]),
                                 columns(&views[4]), <const real *>data_or_null(&views[4]),
                                 <real *>data_or_null(&views[5]))


def blocked_matmul(int isa, int n_threads, sn_size width, row_ptr, seg_ptr, col, val, X, Y):
    """Y = A X, A in column blocks (seg_ptr: one row of n_rows + 1 pointers per block); X may
    have more columns than Y (rows padded: those past Y's are not read)."""
    cdef Py_buffer views[6]
    memset(views, 0, sizeof(views))
    cdef int status
    try:
        get_array(row_ptr, &views[0], SIZE_ITEMS, 1, False)
        get_array(seg_ptr, &views[1], SIZE_ITEMS, 2, False)
        get_array(col, &views[2], U16_ITEMS, 1, False)
        get_array(val, &views[3], REAL_ITEMS, 1, False)
        get_array(X, &views[4], REAL_ITEMS, 0, False)
        get_array(Y, &views[5], REAL_ITEMS, 0, True)
        if views[4].itemsize != views[3].itemsize or views[5].itemsize != views[3].itemsize:
            raise TypeError("sparsenet: native arguments of mixed item sizes")
        if columns(&views[4]) < columns(&views[5]):
            raise ValueError("sparsenet: X has fewer columns than Y")
        with nogil:
            if views[3].itemsize == 8:
                status = blocked_typed(<double>0, isa, n_threads, width, views)
            else:
                status = blocked_typed(<float>0, isa, n_threads, width, views)
        raise_for_status(status)
    finally:
        release_arrays(views, 6)


def panel_columns(int isa, int itemsize, sn_size n_rows, sn_size n_cols, sn_size nnz, sn_size k):
    """The columns per panel of the plain kernel's A X (csr_matmul) at level `isa` for values of
    `itemsize` bytes, or k when it takes none."""
    cdef sn_size panel = k
    cdef int status = (sn_csr_panel_columns_f64 if itemsize == 8 else sn_csr_panel_columns_f32)(
        isa, n_rows, n_cols, nnz, k, &panel)
    raise_for_status(status)
    return panel


def split_matmul(int isa, int n_threads, const index[::1] indptr, const index[:, ::1] block_start,
                 const index[::1] indices, const real[::1] data, const real[:, ::1] X,
                 real[:, ::1] Y):
    """Y = A X, each row's entries taken block after block of columns (block_start: one row of
    n_rows starts per block, then the row ends); A's rows sorted by column. X may have more
    columns than Y (rows padded: those past Y's are not read)."""
    cdef sn_size n_rows = indptr.shape[0] - 1
    cdef sn_size n_blocks = block_start.shape[0] - 1
    cdef sn_size k = Y.shape[1]
    if X.shape[1] < k:
        raise ValueError("sparsenet: X has fewer columns than Y")
    cdef const index *bp = &block_start[0, 0] if n_rows else NULL
    cdef const index *ix = &indices[0] if indices.shape[0] else NULL
    cdef const real *dx = &data[0] if data.shape[0] else NULL
    cdef const real *xp = &X[0, 0] if X.shape[0] and X.shape[1] else NULL
    cdef real *yp = &Y[0, 0] if Y.shape[0] and Y.shape[1] else NULL
    cdef int status
    with nogil:
        status = sn_csr_split_matmul(isa, n_threads, n_rows, n_blocks, &indptr[0], bp, ix, dx, k,
                                     X.shape[1], xp, yp)
    raise_for_status(status)


def gather_values(const real[::1] values, const index[::1] order, real[::1] out):
    """out[p] = values[order[p]] (order from sparsenet: in bounds)."""
    cdef sn_size n = order.shape[0]
    with nogil:
        sn_csr_gather_values(n, &values[0] if values.shape[0] else NULL,
                             &order[0] if n else NULL, &out[0] if n else NULL)


def build_blocks(bint transposed, const index[::1] indptr, const index[::1] indices,
                 const real[::1] data, int shift, sn_size[:, ::1] seg_ptr, sn_size[::1] row_ptr,
                 uint16_t[::1] col, real[::1] val):
    """Fill the column blocks (seg_ptr and row_ptr zeroed, col, val) of a checked CSR matrix, or
    of its transpose; see csrc/csr_blocks_build.h."""
    cdef sn_size n_rows = indptr.shape[0] - 1
    cdef sn_size nnz = indices.shape[0]
    cdef sn_size out_rows = row_ptr.shape[0] - 1
    cdef sn_size n_blocks = seg_ptr.shape[0]
    cdef const index *ix = &indices[0] if nnz else NULL
    cdef const real *dp = &data[0] if nnz else NULL
    cdef sn_size *sp = &seg_ptr[0, 0] if n_blocks else NULL
    cdef uint16_t *cp = &col[0] if nnz else NULL
    cdef real *vp = &val[0] if nnz else NULL
    with nogil:
        sn_csr_build_blocks(transposed, n_rows, &indptr[0], ix, dp, sizeof(real), shift, out_rows,
                            n_blocks, sp, &row_ptr[0], cp, vp)


def check(int isa, int n_threads, sn_size n_cols, const index[::1] indptr, const index[::1] indices):
    """(first bad row or n_rows, canonical) of the structure; see csrc/csr_check.h."""
    cdef sn_size n_rows = indptr.shape[0] - 1
    cdef sn_size nnz = indices.shape[0]
    cdef const index *ix = &indices[0] if nnz else NULL
    cdef sn_size first_bad = 0
    cdef int canonical = 0
    with nogil:
        sn_csr_check(isa, n_threads, n_rows, n_cols, nnz, &indptr[0], ix, &first_bad, &canonical)
    return first_bad, bool(canonical)


cdef enum:
    ANY_TYPE = -2      # plain_vector's typenum: any item type
    INDEX_TYPE = -1    # a signed integer of 4 or 8 bytes


cdef inline bint plain_vector(object a, int typenum, cnp.npy_intp length) noexcept:
    """a is an ndarray (no subclass) of typenum (or ANY_TYPE, INDEX_TYPE), 1-D of `length` items
    (-1: any), C-contiguous, aligned and in native byte order: what a kernel reads in place."""
    if type(a) is not cnp.ndarray:
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    if cnp.PyArray_NDIM(arr) != 1 or not cnp.PyArray_ISCARRAY_RO(arr) \
            or not cnp.PyArray_ISNOTSWAPPED(arr) \
            or (length >= 0 and cnp.PyArray_DIM(arr, 0) != length):
        return False
    if typenum == ANY_TYPE:
        return True
    if typenum == INDEX_TYPE:
        return cnp.PyArray_ISSIGNED(arr) and cnp.PyArray_ITEMSIZE(arr) in (4, 8)
    return cnp.PyArray_TYPE(arr) == typenum


cdef inline cnp.ndarray new_vector(cnp.npy_intp n, int typenum, new_large, sn_size large_bytes,
                                   like):
    """An uninitialised vector of n items: PyArray_EMPTY, or new_large(n, like.dtype) (the output
    cache) from large_bytes on."""
    if n * (8 if typenum == cnp.NPY_DOUBLE else 4) < large_bytes:
        return cnp.PyArray_EMPTY(1, &n, typenum, 0)
    return new_large(n, like.dtype)


def checked_vector(indptr, indices, data, sn_size n_rows, sn_size n_cols, x, bint transpose,
                   tuple options, new_large, sn_size large_bytes):
    """y = A x (A^T x with transpose) for a scipy matrix's arrays taken as they are, its indices
    checked in the product's own pass, with options (isa level, threads); None when an array is
    not one the kernel reads in place (plain_vector: float data and x of one dtype, indices and
    indptr of one integer type), the row pointers do not frame the entries, or the check finds a
    bad row: the general path then copies, or names the error."""
    if not plain_vector(data, ANY_TYPE, -1) or n_cols == 0:
        return None
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>data)
    cdef cnp.npy_intp nnz = cnp.PyArray_DIM(<cnp.ndarray>data, 0)
    cdef cnp.npy_intp n_out = n_cols if transpose else n_rows
    if (typenum != cnp.NPY_FLOAT and typenum != cnp.NPY_DOUBLE) \
            or not plain_vector(x, typenum, n_rows if transpose else n_cols) \
            or not plain_vector(indices, INDEX_TYPE, nnz) \
            or not plain_vector(indptr, INDEX_TYPE, n_rows + 1):
        return None
    cdef cnp.ndarray ia = <cnp.ndarray>indices, pa = <cnp.ndarray>indptr
    cdef bint index64 = cnp.PyArray_ITEMSIZE(pa) == 8
    if cnp.PyArray_ITEMSIZE(ia) != cnp.PyArray_ITEMSIZE(pa):
        return None
    cdef const void *ptr = cnp.PyArray_DATA(pa)
    cdef const int64_t *ptr64 = <const int64_t *>ptr
    cdef const int32_t *ptr32 = <const int32_t *>ptr
    cdef int64_t first = ptr64[0] if index64 else ptr32[0]
    cdef int64_t last = ptr64[n_rows] if index64 else ptr32[n_rows]
    if first != 0 or last != nnz:
        return None  # _check_layout's errors
    cdef cnp.ndarray y = new_vector(n_out, typenum, new_large, large_bytes, x)
    cdef Product p
    memset(&p, 0, sizeof(p))
    p.isa, p.n_threads = options
    p.transpose, p.checked, p.n_rows, p.n_cols, p.nnz, p.k, p.ldx = (transpose, True, n_rows, n_cols,
                                                                    nnz, 1, 1)
    p.first_bad = n_rows
    p.indptr = ptr
    p.indices = cnp.PyArray_DATA(ia) if nnz else NULL
    p.data = cnp.PyArray_DATA(<cnp.ndarray>data) if nnz else NULL
    p.X = cnp.PyArray_DATA(<cnp.ndarray>x) if (n_rows if transpose else n_cols) else NULL
    p.Y = cnp.PyArray_DATA(y) if n_out else NULL
    cdef int status
    with nogil:
        status = product_of(&p, typenum == cnp.NPY_DOUBLE, index64)
    raise_for_status(status)
    return y if p.first_bad == n_rows else None


cdef class VectorProduct:
    """A checked CSR's ``A @ x`` and ``A.T @ x`` for one vector x, with the matrix's arrays
    acquired once, when it is built. A call reads x and makes y through NumPy's C API: a 64 x 64
    layer's product takes a fraction of a microsecond, and acquiring an array by the buffer
    protocol costs a tenth of one, as does np.empty called from here. Results of large_bytes or
    more come from new_large(n, dtype) (the output cache). forward / transposed: the directions
    this product serves (a direction with column blocks has a faster kernel of its own)."""
    cdef Py_buffer views[3]  # indptr, indices, data
    cdef Product product  # the fields that every call shares
    cdef object new_large
    cdef sn_size large_bytes
    cdef int typenum
    cdef bint directions[2]  # [transpose]: served

    def __cinit__(self, indptr, indices, data, sn_size n_cols, bint sorted_rows, new_large,
                  sn_size large_bytes, bint forward, bint transposed):
        memset(self.views, 0, sizeof(self.views))
        memset(&self.product, 0, sizeof(self.product))
        get_array(indptr, &self.views[0], INDEX_ITEMS, 1, False)
        get_array(indices, &self.views[1], INDEX_ITEMS, 1, False)
        get_array(data, &self.views[2], REAL_ITEMS, 1, False)
        if self.views[1].itemsize != self.views[0].itemsize:
            raise TypeError("sparsenet: native arguments of mixed item sizes")
        p = &self.product
        p.n_rows, p.n_cols, p.nnz = self.views[0].shape[0] - 1, n_cols, self.views[1].shape[0]
        p.k, p.ldx, p.sorted_rows = 1, 1, sorted_rows
        p.indptr = self.views[0].buf
        p.indices = data_or_null(&self.views[1])
        p.data = data_or_null(&self.views[2])
        self.typenum = cnp.NPY_DOUBLE if self.views[2].itemsize == 8 else cnp.NPY_FLOAT
        self.new_large, self.large_bytes = new_large, large_bytes
        self.directions[0], self.directions[1] = forward, transposed

    def __dealloc__(self):
        release_arrays(self.views, 3)

    def multiply(self, x, bint transpose, tuple options):
        """y = A x (A^T x with transpose) with options (isa level, threads), or None when this
        product does not serve the direction, or x is not an aligned, C-contiguous ndarray of A's
        dtype in native byte order and of the product's length (the general path then converts
        it, or says why not)."""
        cdef Product p = self.product
        cdef cnp.npy_intp n_in = p.n_rows if transpose else p.n_cols
        cdef cnp.npy_intp n_out = p.n_cols if transpose else p.n_rows
        if not self.directions[transpose] or not plain_vector(x, self.typenum, n_in):
            return None
        cdef cnp.ndarray xa = <cnp.ndarray>x
        cdef cnp.ndarray y = new_vector(n_out, self.typenum, self.new_large, self.large_bytes, x)
        p.isa, p.n_threads = options
        p.transpose = transpose
        p.X = cnp.PyArray_DATA(xa) if n_in else NULL  # as data_or_null
        p.Y = cnp.PyArray_DATA(y) if n_out else NULL
        cdef int status
        with nogil:
            status = product_of(&p, self.views[2].itemsize == 8, self.views[0].itemsize == 8)
        raise_for_status(status)
        return y
