"""Pruned weights in compressed sparse row (CSR) form: the validated container and its products.

``spmv``/``spmm`` take a :class:`CSR`, or a ``scipy.sparse`` ``csr_array``/``csr_matrix``. A scipy
matrix is checked in full on every call (one native pass over its indices: a user's index arrays
are never trusted); a :class:`CSR` was checked when it was built and is used as it is.
"""
import numpy as np

from sparsenet import _csr, _csr_blocks, backend, reference
from sparsenet._validate import (Frozen, aligned_empty, as_aligned_c_array, as_array, as_c_array,
                                 check_index, check_out, new_output, product_operand, read_only,
                                 require_checked, result_dtype)

_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


class CSR(Frozen):
    """A validated, read-only CSR matrix: the fast path of every sparsenet kernel.

    Parameters
    ----------
    data, indices, indptr : array_like
        Values (float32 or float64; other real dtypes become float64), column indices and row
        pointers, as in ``scipy.sparse.csr_array((data, indices, indptr), shape)``. Duplicate column
        indices in a row are summed by the products, unsorted ones are fine.
    shape : (int, int)
        ``(n_rows, n_cols)``.
    copy : bool, default True
        Copy the arrays, so that later changes to the caller's arrays cannot invalidate the checked
        structure. ``copy=False`` shares them: the caller promises not to modify them.

    Attributes
    ----------
    data, indices, indptr : ndarray (read-only views)
    shape : tuple of int
    has_canonical_format : bool
        Every row's column indices are strictly increasing.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> A = sparsenet.CSR.from_dense(np.array([[0., 2.], [3., 0.]], dtype=np.float32))
    >>> A.nnz, A.dtype
    (2, dtype('float32'))
    >>> sparsenet.spmv(A, np.array([1., 1.], dtype=np.float32))
    array([2., 3.], dtype=float32)
    """

    __slots__ = ("data", "indices", "indptr", "shape", "has_canonical_format", "_blocks",
                 "_blocks_t", "_optimized")

    def __init__(self, data, indices, indptr, shape, *, copy=True, _name="A"):
        shape = _check_shape(shape, _name)
        data = as_array(data, f"{_name}.data", ndim=1)
        indices, indptr, canonical = check_structure(indices, indptr, shape, _name,
                                                     values=(data, f"{_name}.data"))
        dtype = result_dtype(data, names=(f"{_name}.data",))
        arrays = [as_c_array(data, dtype), indices, indptr]
        if copy:
            arrays = [np.array(a, copy=True) for a in arrays]
        self.data, self.indices, self.indptr = (read_only(a, owned=copy) for a in arrays)
        self.shape = shape
        self.has_canonical_format = canonical
        self._blocks = self._blocks_t = self._optimized = None
        self._seal()

    @classmethod
    def _from_trusted(cls, data, indices, indptr, shape, *, canonical):
        """A CSR around arrays sparsenet has just built, without the O(nnz) check.

        Safe only for arrays valid by construction that nobody else holds: from_dense (np.nonzero's
        output) and the thresholding kernels (sparsenet.threshold), which write indptr as the
        prefix sum of their own row counts (it starts at 0, never decreases and ends at
        len(indices) == len(data)) and column indices below n_cols, into fresh arrays that no one
        can change after this. Never call it on user input.
        """
        self = cls.__new__(cls)
        self.data, self.indices, self.indptr = (read_only(a, owned=True)
                                                for a in (data, indices, indptr))
        self.shape = (int(shape[0]), int(shape[1]))
        self.has_canonical_format = bool(canonical)
        self._blocks = self._blocks_t = self._optimized = None
        self._seal()
        return self

    @classmethod
    def from_scipy(cls, A, *, copy=True):
        """A CSR from a ``scipy.sparse`` matrix or array (other formats are converted with ``tocsr``).

        Examples
        --------
        >>> import scipy.sparse as sp, sparsenet
        >>> sparsenet.CSR.from_scipy(sp.eye(3, format="csr")).nnz
        3
        """
        if not (hasattr(A, "format") and hasattr(A, "tocsr")):
            raise TypeError(f"A must be a scipy.sparse matrix or array, got {type(A).__name__}")
        if A.format != "csr":
            A, copy = A.tocsr(), False
        return cls(A.data, A.indices, A.indptr, A.shape, copy=copy)

    @classmethod
    def from_dense(cls, W):
        """A CSR holding the nonzero entries of the 2-D array `W` (NaN counts as nonzero).

        Examples
        --------
        >>> import numpy as np, sparsenet
        >>> sparsenet.CSR.from_dense(np.eye(2)).indices
        array([0, 1], dtype=int32)
        """
        W = as_array(W, "W", ndim=2)
        dtype = result_dtype(W, names=("W",))
        rows, cols = np.nonzero(W)
        index = np.int32 if max(W.shape[1], rows.size) < 2**31 else np.int64
        indptr = np.zeros(W.shape[0] + 1, dtype=index)
        np.cumsum(np.bincount(rows, minlength=W.shape[0]), out=indptr[1:])
        # np.nonzero lists entries row by row, columns increasing: valid and canonical as built
        return cls._from_trusted(W[rows, cols].astype(dtype), cols.astype(index), indptr,
                                 W.shape, canonical=True)

    def to_scipy(self, kind="array"):
        """The same matrix as a ``scipy.sparse.csr_array`` (kind="array") or ``csr_matrix``
        (kind="matrix"), sharing no memory with this one."""
        import scipy.sparse as sp

        if kind not in ("array", "matrix"):
            raise ValueError(f"kind must be 'array' or 'matrix', got {kind!r}")
        make = sp.csr_array if kind == "array" else sp.csr_matrix
        return make((self.data.copy(), self.indices.copy(), self.indptr.copy()), shape=self.shape)

    def toarray(self):
        """The dense matrix (duplicates summed)."""
        out = np.zeros(self.shape, dtype=self.dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        np.add.at(out, (rows, self.indices), self.data)
        return out

    def optimize(self, *, batch=1, transpose=False):
        """This matrix with a layout for faster products (an inspector-executor step, as MKL's
        ``mkl_sparse_optimize``): call it once on a matrix you multiply many times.

        The entries are also stored in blocks of columns, so that each block's products gather from
        a slice of the dense operand that stays in cache; ``spmv`` and ``spmm`` then use the blocks.
        Results are the same to rounding (sums are grouped by block) and, as always, the same for
        every thread count.

        Parameters
        ----------
        batch : int, default 1
            The number of columns of X the products will mostly see (1 for ``spmv``): the blocks
            are sized for it. Products with any other number are correct, and faster or slower.
        transpose : bool, default False
            Also store A^T in blocks, for ``transpose=True`` products (the backward pass): they then
            gather instead of scatter (``spmv`` at 8192^2, 10%: 3.5x faster than without).

        Returns
        -------
        CSR
            A new matrix sharing this one's arrays, with the blocks. Memory: 6 bytes per stored
            float32 entry (10 per float64) and 8 per row and block (at 8192^2, 10%: 40 MB and,
            for batch=64, 4 MB), twice with ``transpose=True``. When blocks would not pay (one
            block covers every column, or rows are too sparse) none are made and the products
            run as before.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp, sparsenet
        >>> S = sp.random(300, 5000, density=0.1, format="csr", dtype=np.float32, random_state=0)
        >>> A = sparsenet.CSR.from_scipy(S).optimize(transpose=True)
        >>> x = np.ones(5000, dtype=np.float32)
        >>> bool(np.allclose(sparsenet.spmv(A, x), S @ x, rtol=1e-5))
        True
        >>> y = np.ones(300, dtype=np.float32)
        >>> bool(np.allclose(sparsenet.spmv(A, y, transpose=True), S.T @ y, rtol=1e-5))
        True
        """
        require_checked(self, "A")
        batch = check_index(batch, "batch", low=1, high=2**31)
        if not isinstance(transpose, (bool, np.bool_)):
            raise TypeError(f"transpose must be a bool, got {type(transpose).__name__}")
        optimized = CSR.__new__(CSR)
        for name in ("data", "indices", "indptr", "shape", "has_canonical_format"):
            setattr(optimized, name, getattr(self, name))
        optimized._blocks = _csr_blocks.for_product(self, batch, transposed=False)
        optimized._blocks_t = (_csr_blocks.for_product(self, batch, transposed=True)
                               if transpose else None)
        optimized._optimized = (batch, bool(transpose))
        optimized._seal()
        return optimized

    def __reduce__(self):
        # checked again on unpickling (see Frozen.__reduce__); the blocks are rebuilt, not stored
        return _unpickle_csr, (self.data, self.indices, self.indptr, self.shape, self._optimized)

    @classmethod
    def _from_fields(cls, fields):
        # a forged pickle's state (see Frozen.__setstate__): blocks are rebuilt, never taken
        A = super()._from_fields(fields)
        optimized = fields.get("_optimized")
        if optimized is None:
            return A
        if not (isinstance(optimized, tuple) and len(optimized) == 2):
            raise TypeError(f"a pickled CSR's _optimized must be (batch, transpose), "
                            f"got {optimized!r}")
        return A.optimize(batch=optimized[0], transpose=optimized[1])

    def operands(self):
        """The arrays the product kernels read."""
        return self.data, self.indices, self.indptr

    @property
    def nnz(self):
        """Number of stored entries (explicit zeros and duplicates included)."""
        return self.indices.shape[0]

    @property
    def dtype(self):
        return self.data.dtype

    def __matmul__(self, other):
        other = np.asarray(other)
        return spmv(self, other) if other.ndim == 1 else spmm(self, other)

    def __repr__(self):
        blocked = [what for what, blocks in (("A", self._blocks), ("A^T", self._blocks_t))
                   if blocks is not None]
        return (f"<sparsenet.CSR {self.shape[0]}x{self.shape[1]}, {self.nnz} stored {self.dtype} "
                f"entries, {self.indices.dtype} indices"
                + (f", column blocks of {' and '.join(blocked)}" if blocked else "") + ">")


def _unpickle_csr(data, indices, indptr, shape, optimized):
    A = CSR(data, indices, indptr, shape)
    return A if optimized is None else A.optimize(batch=optimized[0], transpose=optimized[1])


def _check_shape(shape, name):
    try:
        n_rows, n_cols = shape
    except (TypeError, ValueError):
        raise TypeError(f"{name}.shape must be a pair of ints, got {shape!r}") from None
    n_rows = check_index(n_rows, f"{name}.shape[0]", low=0, high=2**62)
    n_cols = check_index(n_cols, f"{name}.shape[1]", low=0, high=2**62)
    return n_rows, n_cols


def check_structure(indices, indptr, shape, name, values):
    """Check the CSR structure (indices, indptr) of a `shape` matrix whose stored values are
    values = (array, its name), in one native pass over the indices; returns (indices, indptr,
    canonical) with the index arrays of one dtype, int32 or int64."""
    indices, indptr = _index_arrays(indices, indptr, name)
    if indptr.shape[0] != shape[0] + 1:
        raise ValueError(f"{name}.indptr must have n_rows + 1 = {shape[0] + 1} entries, "
                         f"got {indptr.shape[0]}")
    nnz = indices.shape[0]
    if values[0].shape[0] != nnz:
        raise ValueError(f"{values[1]} and {name}.indices must have the same length, "
                         f"got {values[0].shape[0]} and {nnz}")
    if indptr[0] != 0:
        raise ValueError(f"{name}.indptr[0] must be 0, got {indptr[0]}")
    if indptr[-1] != nnz:
        raise ValueError(f"{name}.indptr[-1] must equal the number of stored entries {nnz}, "
                         f"got {indptr[-1]}")
    first_bad, canonical = _csr.check(*backend.native_options(), shape[1], indptr, indices)
    if first_bad < shape[0]:
        _raise_bad_row(first_bad, shape[1], indptr, indices, name)
    return indices, indptr, canonical


def _index_arrays(indices, indptr, name):
    """indices and indptr as 1-D arrays of one index dtype, int32 or int64 (values not yet checked)."""
    indices = np.asarray(indices)
    indptr = np.asarray(indptr)
    for arr, what in ((indices, "indices"), (indptr, "indptr")):
        if arr.ndim != 1:
            raise ValueError(f"{name}.{what} must be 1-D, got shape {arr.shape}")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name}.{what} must have an integer dtype, got {arr.dtype}")
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{name}.{what} has a value above 2**63 ({int(arr.max())}): out of range")
    if indices.dtype == indptr.dtype and indices.dtype in _INDEX_DTYPES:
        return as_c_array(indices, indices.dtype), as_c_array(indptr, indptr.dtype)
    # Widening to int64 keeps every value; an unsigned value above 2**63 wraps negative and is then
    # rejected by the range check, never silently accepted.
    return as_c_array(indices, np.int64), as_c_array(indptr, np.int64)


def _raise_bad_row(row, n_cols, indptr, indices, name):
    start, end = int(indptr[row]), int(indptr[row + 1])
    if not 0 <= start <= end <= indices.shape[0]:
        raise ValueError(f"{name}.indptr must be non-decreasing from 0 to nnz={indices.shape[0]}; "
                         f"got indptr[{row}]={start}, indptr[{row + 1}]={end}")
    segment = indices[start:end]
    pos = start + int(np.flatnonzero((segment < 0) | (segment >= n_cols))[0])
    raise ValueError(f"{name}.indices[{pos}]={int(indices[pos])} (row {row}) is out of range for "
                     f"{n_cols} columns")


def as_csr(A, name="A"):
    """`A` as a validated :class:`CSR`: itself, or a checked view of a scipy CSR matrix's arrays."""
    if isinstance(A, CSR):
        return require_checked(A, name)
    if hasattr(A, "format") and hasattr(A, "tocsr"):
        if A.format != "csr":
            raise TypeError(f"{name} must be a CSR matrix; got scipy.sparse format {A.format!r} "
                            f"(convert it with {name}.tocsr())")
        return CSR(A.data, A.indices, A.indptr, A.shape, copy=False, _name=name)
    raise TypeError(f"{name} must be a sparsenet.CSR or a scipy.sparse CSR matrix, "
                    f"got {type(A).__name__}")


# Sparse matrix types of other kernel families that spmv/spmm also take (sparsenet.SharedCSR):
# type -> native(A, isa, threads, X, Y, transpose), run after the checks of _product.
_NATIVE_PRODUCTS = {}


def register_product(cls, native):
    """Make spmv/spmm take matrices of type `cls` (with .shape, .dtype, .indices, .indptr,
    .has_canonical_format and .operands(), the arrays its kernel reads), computing with
    `native(A, isa, threads, X, Y, transpose)` on checked C-ordered 2-D X and Y."""
    _NATIVE_PRODUCTS[cls] = native


def _csr_native(A, isa, threads, X, Y, transpose):
    blocks = A._blocks_t if transpose else A._blocks
    if blocks is not None:
        _csr.blocked_matmul(isa, threads, blocks.width, blocks.row_ptr, blocks.seg_ptr, blocks.col,
                            as_c_array(blocks.values, Y.dtype), X, Y)
        return
    _csr.matmul(isa, threads, A.indptr, A.indices, as_c_array(A.data, Y.dtype), X, Y, transpose,
                A.has_canonical_format)


def _product(A, X, transpose, out, ndim):
    """Shared body of spmv (ndim=1) and spmm (ndim=2)."""
    native = _NATIVE_PRODUCTS.get(type(A))
    if native is None:
        A, native = as_csr(A), _csr_native
    else:
        require_checked(A, "A")
    xname = "x" if ndim == 1 else "X"
    X, n_in, n_out, k, out_shape = product_operand(X, A.shape, transpose, ndim, ("A", xname))
    dtype = result_dtype(A.dtype, X, names=("A", xname))
    if out is not None:
        check_out(out, out_shape, dtype, inputs=(X, *A.operands()))
    if backend.use_numpy():
        fn = reference.spmv if ndim == 1 else reference.spmm
        return fn(A, X, transpose=transpose, out=out)
    # rows of a matrix operand are loaded whole: keep them on cache lines
    if ndim == 1:
        X2, Y = as_c_array(X, dtype).reshape(n_in, 1), out
        if Y is None:
            Y = new_output(out_shape, dtype)
    else:
        X2 = as_aligned_c_array(X, dtype)
        Y = out if out is not None else aligned_empty(out_shape, dtype)
    native(A, *backend.native_options(), X2, Y.reshape(n_out, k), transpose)
    return Y


def spmv(A, x, *, transpose=False, out=None):
    """Sparse matrix-vector product ``y = A @ x`` (or ``A.T @ x`` with ``transpose=True``).

    Parameters
    ----------
    A : sparsenet.CSR or scipy.sparse csr_array / csr_matrix
        The (n_rows, n_cols) matrix. A scipy matrix is checked in full on each call.
    x : array_like, shape (n_cols,), or (n_rows,) when transposed
    transpose : bool, default False
        Multiply by A^T (the backward pass of a sparse layer). The result is the same for every
        thread count.
    out : ndarray, optional
        C-contiguous array of the result's shape and dtype to write into.

    Returns
    -------
    y : ndarray
        float32 when A and x are float32; otherwise NumPy's promotion (integers give float64).
        NaN and inf in x or A propagate through the stored entries, as in SciPy.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, sparsenet
    >>> A = sp.csr_array(np.array([[1., 0., 2.], [0., 3., 0.]], dtype=np.float32))
    >>> sparsenet.spmv(A, np.ones(3, dtype=np.float32))
    array([3., 3.], dtype=float32)
    >>> sparsenet.spmv(A, np.ones(2, dtype=np.float32), transpose=True)
    array([1., 3., 2.], dtype=float32)
    """
    return _product(A, x, transpose, out, ndim=1)


def spmm(A, X, *, transpose=False, out=None):
    """Sparse times dense matrix product ``Y = A @ X`` (or ``A.T @ X`` with ``transpose=True``).

    Parameters
    ----------
    A : sparsenet.CSR or scipy.sparse csr_array / csr_matrix
    X : array_like, shape (n_cols, k), or (n_rows, k) when transposed
        A batch of activations, one per column. C order is fastest; other layouts are copied.
    transpose : bool, default False
    out : ndarray, optional
        C-contiguous array of shape (n_rows, k) (or (n_cols, k)) and the result's dtype.

    Returns
    -------
    Y : ndarray, C order

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, sparsenet
    >>> A = sp.csr_array(np.array([[1., 0.], [0., 2.]]))
    >>> sparsenet.spmm(A, np.array([[1., 2.], [3., 4.]]))
    array([[1., 2.],
           [6., 8.]])
    """
    return _product(A, X, transpose, out, ndim=2)
