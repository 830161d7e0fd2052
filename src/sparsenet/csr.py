"""Pruned weights in compressed sparse row (CSR) form: the validated container and its products.

``spmv``/``spmm`` (and ``@``) take a :class:`CSR`, a ``SharedCSR``, the transposed view ``.T`` of
either, or a ``scipy.sparse`` CSR matrix (or CSC, read as the transpose of a CSR one, as scipy's
``A.T`` is). A scipy matrix is checked in full on every call (one native pass over its indices: a
user's index arrays are never trusted); a :class:`CSR` was checked when it was built and is used as
it is. Each matrix type computes its own products (:meth:`SparseMatrix._matmul`).
"""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from sparsenet import _buffers, _csr, _csr_blocks, _policy, backend, reference
from sparsenet._validate import (Frozen, aligned_empty, as_array, as_c_array,
                                 as_matrix_operand, check_bool, check_index, check_out, new_output,
                                 product_operand, read_only, require_checked, result_dtype)

if TYPE_CHECKING:
    import scipy.sparse

_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def _is_scipy_sparse(A: object) -> bool:
    return hasattr(A, "format") and hasattr(A, "tocsr")


class SparseMatrix(Frozen):
    """What the CSR products take besides scipy matrices: a checked 2-D sparse matrix that computes
    its own products (:class:`CSR`, ``sparsenet.SharedCSR`` and their transposed views).

    It behaves as a scipy sparse array where it can: ``A @ x`` and ``x @ A`` for a dense x, ``.T``
    (a view, no copy), ``.transpose()``, ``.ndim``, ``.shape``, ``.nnz``, ``.dtype``, ``.toarray()``
    and ``.todense()``. As for scipy, ``np.asarray(A)`` raises TypeError (call ``A.toarray()``) and
    NumPy ufuncs refuse it.
    """

    __slots__ = ()
    __array_ufunc__ = None  # ndarray @ A returns NotImplemented, so Python calls A.__rmatmul__
    ndim = 2
    format = "csr"
    shape: Tuple[int, int]

    # --- what each matrix type defines ---

    @property
    def dtype(self) -> np.dtype:
        raise NotImplementedError

    @property
    def nnz(self) -> int:
        """Number of stored entries (explicit zeros and duplicates included)."""
        raise NotImplementedError

    def operands(self) -> Tuple[np.ndarray, ...]:
        """The arrays the product kernels read."""
        raise NotImplementedError

    def toarray(self) -> np.ndarray:
        """The dense matrix (duplicates summed)."""
        raise NotImplementedError

    def _native_matmul(self, isa: int, threads: int, X: np.ndarray, Y: np.ndarray,
                       transpose: bool) -> None:
        """Y = A @ X (A.T @ X) by the native kernel, on checked C-ordered 2-D X and Y of the
        result dtype."""
        raise NotImplementedError

    # --- shared by all ---

    def _matmul(self, X: np.ndarray, transpose: bool, out: Optional[np.ndarray],
                dtype: np.dtype) -> np.ndarray:
        """``A @ X`` (``A.T @ X`` when transpose) in `dtype`, for X already checked by
        :func:`_product` (1-D or 2-D, rows matching) and `out` checked or None."""
        if backend.use_numpy():
            fn = reference.spmv if X.ndim == 1 else reference.spmm
            return fn(self, X, transpose=transpose, out=out)
        n_in, n_out = (self.shape[0], self.shape[1]) if transpose else self.shape[::-1]
        k = X.shape[1] if X.ndim == 2 else 1
        if X.ndim == 1:
            X2 = as_c_array(X, dtype).reshape(n_in, 1)
            Y = out if out is not None else new_output((n_out,), dtype)
        else:  # rows of a matrix operand are loaded whole
            X2 = as_matrix_operand(X, dtype, self._reads_per_operand_row(n_in, transpose),
                                   padded=self._takes_padded_rows(transpose))
            Y = out if out is not None else aligned_empty((n_out, k), dtype)
        isa, threads = backend.native_options()
        self._native_matmul(isa, threads, X2, Y.reshape(n_out, k), transpose)
        return Y

    def _reads_per_operand_row(self, n_in: int, transpose: bool) -> float:
        """How often a product reads each row of its matrix operand on average: once per stored
        entry in the row's column (A X, or A^T X gathered from the blocks of A^T), about once when
        A^T X scatters (each row of X times one row of A)."""
        if transpose and getattr(self, "_blocks_t", None) is None:
            return 1.0
        return self.nnz / max(n_in, 1)

    def _takes_padded_rows(self, transpose: bool) -> bool:
        """Whether the native product reads a matrix operand of rows padded to whole cache lines
        (as_matrix_operand's `padded`): the kernels that take X's row stride apart from its width."""
        return False

    @property
    def T(self) -> SparseMatrix:
        """The transpose, a view sharing this matrix's arrays (no copy): its products are this
        matrix's ``transpose=True`` products (with the A^T blocks of ``optimize(transpose=True)``
        when it has them), and ``A.T.T`` is ``A``."""
        return Transposed(self)

    def transpose(self, axes: None = None, copy: bool = False) -> SparseMatrix:
        """The transpose, as scipy's: a view (:attr:`T`), or a copy's view with ``copy=True``."""
        if axes is not None and tuple(axes) != (1, 0):
            raise ValueError("axes must be None or (1, 0): swapping the two axes is the only "
                             f"transpose of a matrix, got {axes!r}")
        return (self._copy() if check_bool(copy, "copy") else self).T

    def _copy(self) -> SparseMatrix:
        raise NotImplementedError

    def todense(self) -> np.ndarray:
        """The dense matrix, as an ndarray (as scipy's sparse arrays give, not np.matrix)."""
        return self.toarray()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(f"sparsenet.{type(self).__name__} does not convert to a dense array "
                        f"implicitly; use .toarray()")

    def __matmul__(self, other: ArrayLike) -> np.ndarray:
        _check_dense_operand(other, "x")
        x = as_array(other, "x", ndim=(1, 2))
        return spmv(self, x) if x.ndim == 1 else _product(self, x, False, None, 2)

    def __rmatmul__(self, other: ArrayLike) -> np.ndarray:
        # x @ A = (A.T @ x.T).T: the transposed product, no copy of A
        _check_dense_operand(other, "x")
        x = as_array(other, "x", ndim=(1, 2))
        if x.shape[-1] != self.shape[0]:
            raise ValueError(f"shape mismatch: x @ A needs x.shape[-1] == A.shape[0] = "
                             f"{self.shape[0]}; got x.shape={x.shape}")
        if x.ndim == 1:
            return spmv(self, x, transpose=True)
        return _product(self, x.T, True, None, 2).T


def _check_dense_operand(other: object, name: str) -> None:
    if isinstance(other, SparseMatrix) or _is_scipy_sparse(other):
        raise TypeError(f"sparse @ sparse products are not supported; {name} must be a dense "
                        f"array, got {type(other).__name__} (call .toarray() on one of them)")


class Transposed(SparseMatrix):
    """The transpose of a :class:`CSR` or ``SharedCSR`` (what ``A.T`` returns): a view sharing A's
    arrays, whose products are A's transposed products.

    As scipy's ``csr.T`` is a CSC matrix with the same arrays, its ``data``, ``indices`` and
    ``indptr`` are A's and its format is "csc".

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> A = sparsenet.CSR(np.array([[1., 0., 2.], [0., 3., 0.]]))
    >>> A.T.shape, A.T.T is A
    ((3, 2), True)
    >>> A.T @ np.array([1., 1.])
    array([1., 3., 2.])
    >>> np.array([1., 1.]) @ A     # x @ A is (A.T @ x.T).T
    array([1., 3., 2.])
    """

    __slots__ = ("base",)
    format = "csc"
    base: SparseMatrix

    def __init__(self, base: SparseMatrix) -> None:
        if not isinstance(base, SparseMatrix) or isinstance(base, Transposed):
            raise TypeError(f"base must be a sparsenet.CSR or SharedCSR, got {type(base).__name__}")
        self.base = base

    def _init_args(self) -> Tuple[Any, ...]:
        return (self.base,)

    @property
    def shape(self) -> Tuple[int, int]:  # type: ignore[override]
        return self.base.shape[1], self.base.shape[0]

    @property
    def dtype(self) -> np.dtype:
        return self.base.dtype

    @property
    def nnz(self) -> int:
        return self.base.nnz

    @property
    def data(self) -> np.ndarray:
        return self.base.data  # type: ignore[attr-defined]

    @property
    def indices(self) -> np.ndarray:
        return self.base.indices  # type: ignore[attr-defined]

    @property
    def indptr(self) -> np.ndarray:
        return self.base.indptr  # type: ignore[attr-defined]

    @property
    def has_canonical_format(self) -> bool:
        return self.base.has_canonical_format  # type: ignore[attr-defined]

    @property
    def T(self) -> SparseMatrix:
        return self.base

    def _copy(self) -> SparseMatrix:
        return self.base._copy().T

    def operands(self) -> Tuple[np.ndarray, ...]:
        return self.base.operands()

    def toarray(self) -> np.ndarray:
        return np.ascontiguousarray(self.base.toarray().T)

    def to_scipy(self, kind: str = "array") -> Any:
        """The same matrix as a ``scipy.sparse`` CSC array (or matrix), sharing no memory."""
        return self.base.to_scipy(kind).T  # type: ignore[attr-defined]

    def _matmul(self, X: np.ndarray, transpose: bool, out: Optional[np.ndarray],
                dtype: np.dtype) -> np.ndarray:
        return self.base._matmul(X, not transpose, out, dtype)

    def __repr__(self) -> str:
        return f"<transposed view of {self.base!r}>"


class CSR(SparseMatrix):
    """A validated, read-only CSR matrix: the fast path of every sparsenet kernel.

    Built as scipy's ``csr_array`` is:

    - ``CSR((data, indices, indptr), shape=(M, N))``: the CSR arrays (shape inferred when omitted);
    - ``CSR((data, (row, col)), shape=(M, N))``: coordinates (duplicates summed, as scipy does);
    - ``CSR(S)``: from a ``scipy.sparse`` matrix or array of any format, or another sparsenet
      matrix;
    - ``CSR(D)``: the nonzero entries of a dense 2-D array (NaN counts as nonzero);
    - ``CSR((M, N))``: an empty M x N matrix;
    - and ``CSR(data, indices, indptr, shape)``, the arrays as separate arguments.

    Parameters
    ----------
    arg1 : tuple, scipy.sparse matrix, sparsenet matrix or array_like
        One of the forms above. Values are float32 or float64 (other real dtypes become float64).
        Duplicate column indices in a row are summed by the products, unsorted ones are fine.
    indices, indptr : array_like, optional
        Column indices and row pointers, when `arg1` is the data array.
    shape : (int, int), optional
        ``(n_rows, n_cols)``; required with separate arrays.
    dtype : float32 or float64, optional
        The values' dtype (by default the data's, integers becoming float64).
    copy : bool, default True
        Copy the arrays, so that later changes to the caller's arrays cannot invalidate the checked
        structure. ``copy=False`` shares them where it can: the caller promises not to modify
        them. (scipy's default is False; sparsenet's is the safe one.)

    Attributes
    ----------
    data, indices, indptr : ndarray (read-only views)
    shape : tuple of int
    has_canonical_format : bool
        Every row's column indices are strictly increasing.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> A = sparsenet.CSR(([2., 3.], [1, 0], [0, 1, 2]), shape=(2, 2), dtype=np.float32)
    >>> A.nnz, A.dtype, A.ndim
    (2, dtype('float32'), 2)
    >>> A @ np.array([1., 1.], dtype=np.float32)
    array([2., 3.], dtype=float32)
    >>> A.T.toarray()
    array([[0., 3.],
           [2., 0.]], dtype=float32)
    >>> np.asarray(A)
    Traceback (most recent call last):
    ...
    TypeError: sparsenet.CSR does not convert to a dense array implicitly; use .toarray()
    """

    __slots__ = ("data", "indices", "indptr", "shape", "has_canonical_format", "_blocks",
                 "_blocks_t", "_optimized", "_vector", "_by_columns")
    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    has_canonical_format: bool
    _blocks: Optional[_csr_blocks.ColumnBlocks]
    _blocks_t: Optional[_csr_blocks.ColumnBlocks]
    _optimized: Optional[Tuple[int, bool]]
    _vector: Any  # _csr.VectorProduct, built at the first spmv (None until then)
    _by_columns: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]]  # _entries_by_column's

    def __init__(self, arg1: Any, indices: Optional[ArrayLike] = None,
                 indptr: Optional[ArrayLike] = None, shape: Optional[Tuple[int, int]] = None, *,
                 dtype: Optional[DTypeLike] = None, copy: bool = True, _name: str = "A") -> None:
        copy = check_bool(copy, "copy")
        if indptr is None and shape is None and _is_shape(indices):
            indices, shape = None, indices  # scipy's positional shape: CSR(arg1, (M, N))
        if indices is not None or indptr is not None:
            if indices is None or indptr is None:
                raise TypeError("give both indices and indptr with the data array, or a tuple "
                                "(data, indices, indptr)")
            data = arg1
        else:
            data, indices, indptr, shape, copy = _csr_arrays_of(arg1, shape, copy, _name)
        shape = _check_shape(shape, _name)
        data = as_array(data, f"{_name}.data", ndim=1)
        indices, indptr, canonical = check_structure(indices, indptr, shape, _name,
                                                     values=(data, f"{_name}.data"))
        if dtype is None:
            value_dtype = result_dtype(data, names=(f"{_name}.data",))
        else:
            value_dtype = np.dtype(dtype)
            if value_dtype not in _policy.FLOATS:
                raise TypeError(f"dtype must be float32 or float64, got {value_dtype}")
            result_dtype(data, names=(f"{_name}.data",))  # a complex or object data still refused
        arrays = [as_c_array(data, value_dtype), indices, indptr]
        if copy:
            arrays = [np.array(a, copy=True) for a in arrays]
        self.data, self.indices, self.indptr = (read_only(a, owned=copy) for a in arrays)
        self.shape = shape
        self.has_canonical_format = canonical
        self._blocks = self._blocks_t = self._optimized = None
        self._seal()

    @classmethod
    def _from_trusted(cls, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
                      shape: Tuple[int, int], *, canonical: bool) -> CSR:
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
    def from_scipy(cls, A: Any, *, copy: bool = True) -> CSR:
        """A CSR from a ``scipy.sparse`` matrix or array (other formats are converted with ``tocsr``).

        Examples
        --------
        >>> import scipy.sparse as sp, sparsenet
        >>> sparsenet.CSR.from_scipy(sp.eye(3, format="csr")).nnz
        3
        """
        if not _is_scipy_sparse(A):
            raise TypeError(f"A must be a scipy.sparse matrix or array, got {type(A).__name__}")
        return cls(A, copy=copy)

    @classmethod
    def from_dense(cls, W: ArrayLike) -> CSR:
        """A CSR holding the nonzero entries of the 2-D array `W` (NaN counts as nonzero).

        Examples
        --------
        >>> import numpy as np, sparsenet
        >>> sparsenet.CSR.from_dense(np.eye(2)).indices
        array([0, 1], dtype=int32)
        """
        W = as_array(W, "W", ndim=2)
        # np.nonzero lists entries row by row, columns increasing: valid and canonical as built
        return cls._from_trusted(*_dense_to_csr_arrays(W, "W"), W.shape, canonical=True)

    def to_scipy(self, kind: str = "array") -> Any:
        """The same matrix as a ``scipy.sparse.csr_array`` (kind="array") or ``csr_matrix``
        (kind="matrix"), sharing no memory with this one."""
        import scipy.sparse as sp

        if kind not in ("array", "matrix"):
            raise ValueError(f"kind must be 'array' or 'matrix', got {kind!r}")
        make = sp.csr_array if kind == "array" else sp.csr_matrix
        return make((self.data.copy(), self.indices.copy(), self.indptr.copy()), shape=self.shape)

    def toarray(self) -> np.ndarray:
        """The dense matrix (duplicates summed)."""
        out = np.zeros(self.shape, dtype=self.dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        np.add.at(out, (rows, self.indices), self.data)
        return out

    def optimize(self, *, batch: int = 1, transpose: bool = False) -> CSR:
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
            for batch=64, 4 MB), twice with ``transpose=True``. When blocks would not pay (rows
            too sparse, or ``batch=1`` and one block would cover every column) none are made and
            the products run as before.

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
        transpose = check_bool(transpose, "transpose")
        optimized = CSR.__new__(CSR)
        for name in ("data", "indices", "indptr", "shape", "has_canonical_format"):
            setattr(optimized, name, getattr(self, name))
        optimized._blocks = _csr_blocks.for_product(self, batch, transposed=False)
        optimized._blocks_t = (_csr_blocks.for_product(self, batch, transposed=True)
                               if transpose else None)
        optimized._optimized = (batch, bool(transpose))
        optimized._seal()
        return optimized

    def __reduce__(self) -> Tuple[Any, ...]:
        # checked again on unpickling (see Frozen.__reduce__); the blocks are rebuilt, not stored
        return _unpickle_csr, (self.data, self.indices, self.indptr, self.shape, self._optimized)

    @classmethod
    def _from_fields(cls, fields):
        # a forged pickle's state (see Frozen.__setstate__): blocks are rebuilt, never taken
        missing = [f for f in ("data", "indices", "indptr", "shape") if f not in fields]
        if missing:
            raise TypeError(f"a pickled CSR must hold {', '.join(missing)}")
        A = cls((fields["data"], fields["indices"], fields["indptr"]), shape=fields["shape"])
        optimized = fields.get("_optimized")
        if optimized is None:
            return A
        if not (isinstance(optimized, tuple) and len(optimized) == 2):
            raise TypeError(f"a pickled CSR's _optimized must be (batch, transpose), "
                            f"got {optimized!r}")
        return A.optimize(batch=optimized[0], transpose=optimized[1])

    def operands(self) -> Tuple[np.ndarray, ...]:
        """The arrays the product kernels read."""
        return self.data, self.indices, self.indptr

    @property
    def nnz(self) -> int:
        """Number of stored entries (explicit zeros and duplicates included)."""
        return int(self.indices.shape[0])

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def _copy(self) -> CSR:
        copied = CSR(self.data, self.indices, self.indptr, self.shape)
        if self._optimized is None:
            return copied
        return copied.optimize(batch=self._optimized[0], transpose=self._optimized[1])

    def _takes_padded_rows(self, transpose: bool) -> bool:
        # A X (plain or in blocks) and A^T X from A^T's blocks gather rows of X; A^T X without
        # blocks scatters rows of A, each row of X read once
        return not transpose or self._blocks_t is not None

    def _native_matmul(self, isa: int, threads: int, X: np.ndarray, Y: np.ndarray,
                       transpose: bool) -> None:
        blocks = self._blocks_t if transpose else self._blocks
        if blocks is not None:
            blocks.matmul(isa, threads, as_c_array(blocks.values, Y.dtype), X, Y)
            return
        _csr.matmul(isa, threads, self.indptr, self.indices, as_c_array(self.data, Y.dtype), X, Y,
                    transpose, self.has_canonical_format)

    def _seal(self) -> None:
        self._vector = self._by_columns = None  # every checking constructor ends here: the
        super()._seal()  # caches start empty

    def _entries_by_column(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The structure of A^T in CSR form, (indptr, indices) of A's columns, and each of its
        entries' place in A's (``indices`` order), an array of A's index type; built once (a
        stable sort by column: within a column, rows ascending), then kept."""
        found = getattr(self, "_by_columns", None)
        if found is None:
            n_rows, n_cols = self.shape
            itype = self.indptr.dtype
            place = np.argsort(self.indices, kind="stable").astype(itype)
            rows = np.repeat(np.arange(n_rows, dtype=itype), np.diff(self.indptr))[place]
            indptr = np.zeros(n_cols + 1, itype)
            np.cumsum(np.bincount(self.indices, minlength=n_cols), out=indptr[1:])
            found = (read_only(indptr, owned=True), read_only(rows, owned=True),
                     read_only(place, owned=True))
            object.__setattr__(self, "_by_columns", found)  # a cache, as _vector
        return found

    def _vector_product(self) -> Any:
        """The native product of this matrix and one vector (_csr.VectorProduct), which holds
        the matrix's arrays; built at the first ``spmv`` of a sealed CSR, then kept. It serves
        the directions without column blocks (those have a kernel of their own)."""
        product = self._vector
        if product is None:
            product = _csr.VectorProduct(self.indptr, self.indices, self.data, self.shape[1],
                                         self.has_canonical_format, _buffers.empty,
                                         _buffers.MIN_BYTES, self._blocks is None,
                                         self._blocks_t is None)
            object.__setattr__(self, "_vector", product)  # a cache: past Frozen's one-set rule
        return product

    def __repr__(self) -> str:
        blocked = [what for what, blocks in (("A", self._blocks), ("A^T", self._blocks_t))
                   if blocks is not None]
        return (f"<sparsenet.CSR {self.shape[0]}x{self.shape[1]}, {self.nnz} stored {self.dtype} "
                f"entries, {self.indices.dtype} indices"
                + (f", column blocks of {' and '.join(blocked)}" if blocked else "") + ">")


def _unpickle_csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
                  shape: Tuple[int, int], optimized: Optional[Tuple[int, bool]]) -> CSR:
    A = CSR(data, indices, indptr, shape)
    return A if optimized is None else A.optimize(batch=optimized[0], transpose=optimized[1])


def _dense_to_csr_arrays(W: np.ndarray,
                         name: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, indices, indptr) of the nonzero entries of the checked 2-D array W, in fresh arrays."""
    W = np.asarray(W)  # an np.matrix would index as a matrix
    dtype = result_dtype(W, names=(name,))
    rows, cols = np.nonzero(W)
    index = _policy.csr_index_dtype(W.shape[1], rows.size)
    indptr = np.zeros(W.shape[0] + 1, dtype=index)
    np.cumsum(np.bincount(rows, minlength=W.shape[0]), out=indptr[1:])
    return W[rows, cols].astype(dtype), cols.astype(index), indptr


def _is_shape(value: object) -> bool:
    return (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in value))


def _csr_arrays_of(arg1: Any, shape: Optional[Tuple[int, int]], copy: bool,
                   name: str) -> Tuple[Any, Any, Any, Any, bool]:
    """(data, indices, indptr, shape, copy) of the one-argument forms of CSR(...), scipy's: a tuple
    (data, indices, indptr), (data, (row, col)) or (M, N), a sparse matrix, or a dense array.
    `copy` comes back False where the arrays are fresh already."""
    if isinstance(arg1, CSR):
        return arg1.data, arg1.indices, arg1.indptr, _same_shape(arg1.shape, shape, name), copy
    if isinstance(arg1, SparseMatrix):
        arg1 = arg1.to_scipy()  # type: ignore[attr-defined]
        copy = False
    if _is_scipy_sparse(arg1):
        if arg1.format != "csr":
            arg1, copy = arg1.tocsr(), False
        return arg1.data, arg1.indices, arg1.indptr, _same_shape(arg1.shape, shape, name), copy
    if isinstance(arg1, tuple):
        if _is_shape(arg1):
            n_rows = check_index(arg1[0], f"{name}.shape[0]", low=0, high=2**62)
            return (np.zeros(0), np.zeros(0, dtype=np.int32),
                    np.zeros(n_rows + 1, dtype=np.int32), _same_shape(arg1, shape, name), False)
        if len(arg1) == 3:
            data, indices, indptr = arg1
            if shape is None:  # scipy's inference: the rows indptr has, the columns indices reach
                indices_array, indptr_array = np.asarray(indices), np.asarray(indptr)
                if indptr_array.ndim != 1 or indices_array.ndim != 1:
                    raise ValueError(f"{name}.indices and {name}.indptr must be 1-D")
                if indices_array.size == 0:
                    raise ValueError(f"{name}: the shape cannot be inferred without stored "
                                     f"entries (as in scipy); give shape=(n_rows, n_cols)")
                shape = (indptr_array.shape[0] - 1, int(indices_array.max()) + 1)
            return data, indices, indptr, shape, copy
        if len(arg1) == 2:
            import scipy.sparse as sp

            try:
                coo = sp.coo_array(arg1, shape=shape)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{name}: bad (data, (row, col)) arguments: {error}") from None
            S = coo.tocsr()
            return S.data, S.indices, S.indptr, S.shape, False
        raise TypeError(f"{name} as a tuple must be (data, indices, indptr), (data, (row, col)) or "
                        f"a shape (M, N), got a tuple of {len(arg1)} items")
    if arg1 is None:
        raise TypeError(f"{name} must be a tuple of CSR arrays, a sparse matrix or a 2-D array, "
                        f"got None")
    W = as_array(arg1, name, ndim=2)
    data, indices, indptr = _dense_to_csr_arrays(W, name)
    return data, indices, indptr, _same_shape(W.shape, shape, name), False


def _same_shape(actual: Tuple[int, ...], given: Optional[Tuple[int, int]],
                name: str) -> Tuple[int, ...]:
    if given is not None and tuple(given) != tuple(actual):
        raise ValueError(f"shape {tuple(given)} does not match the {tuple(actual)} of {name}")
    return tuple(actual)


def _check_shape(shape: Any, name: str) -> Tuple[int, int]:
    try:
        n_rows, n_cols = shape
    except (TypeError, ValueError):
        raise TypeError(f"{name}.shape must be a pair of ints, got {shape!r}") from None
    n_rows = check_index(n_rows, f"{name}.shape[0]", low=0, high=2**62)
    n_cols = check_index(n_cols, f"{name}.shape[1]", low=0, high=2**62)
    return n_rows, n_cols


def check_structure(indices: ArrayLike, indptr: ArrayLike, shape: Tuple[int, int], name: str,
                    values: Tuple[np.ndarray, str]) -> Tuple[np.ndarray, np.ndarray, bool]:
    """Check the CSR structure (indices, indptr) of a `shape` matrix whose stored values are
    values = (array, its name), in one native pass over the indices; returns (indices, indptr,
    canonical) with the index arrays of one dtype, int32 or int64."""
    indices, indptr = _check_layout(indices, indptr, shape, name, values)
    first_bad, canonical = _csr.check(*backend.native_options(), shape[1], indptr, indices)
    if first_bad < shape[0]:
        _raise_bad_row(first_bad, shape[1], indptr, indices, name)
    return indices, indptr, canonical


def _check_layout(indices: ArrayLike, indptr: ArrayLike, shape: Tuple[int, int], name: str,
                  values: Tuple[np.ndarray, str]) -> Tuple[np.ndarray, np.ndarray]:
    """The O(1) checks of a CSR structure (dtypes, lengths, indptr's ends); the index arrays of one
    dtype, int32 or int64. The O(nnz) ones are check_structure's or the fused products'."""
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
    return indices, indptr


def _index_arrays(indices: ArrayLike, indptr: ArrayLike,
                  name: str) -> Tuple[np.ndarray, np.ndarray]:
    """indices and indptr as 1-D arrays of one index dtype, int32 or int64 (values not yet checked)."""
    if (type(indices) is np.ndarray and type(indptr) is np.ndarray and indices.ndim == indptr.ndim == 1
            and indices.dtype == indptr.dtype and indices.dtype in _INDEX_DTYPES
            and indices.flags.c_contiguous and indices.flags.aligned
            and indptr.flags.c_contiguous and indptr.flags.aligned):
        return indices, indptr  # what scipy matrices hold: nothing to convert (once per product)
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


def _raise_bad_row(row: int, n_cols: int, indptr: np.ndarray, indices: np.ndarray,
                   name: str) -> None:
    start, end = int(indptr[row]), int(indptr[row + 1])
    if not 0 <= start <= end <= indices.shape[0]:
        raise ValueError(f"{name}.indptr must be non-decreasing from 0 to nnz={indices.shape[0]}; "
                         f"got indptr[{row}]={start}, indptr[{row + 1}]={end}")
    segment = indices[start:end]
    outside = np.flatnonzero((segment < 0) | (segment >= n_cols))
    if outside.size == 0:  # the kernel saw a bad index that is gone now: changed while being read
        raise ValueError(f"{name}.indices (row {row}) held a column out of range for {n_cols} "
                         f"columns while the product read it (changed by another thread?)")
    pos = start + int(outside[0])
    raise ValueError(f"{name}.indices[{pos}]={int(indices[pos])} (row {row}) is out of range for "
                     f"{n_cols} columns")


def as_csr(A: Any, name: str = "A") -> CSR:
    """`A` as a validated :class:`CSR`: itself, or a checked view of a scipy CSR matrix's arrays."""
    if isinstance(A, CSR):
        return require_checked(A, name)
    if _is_scipy_sparse(A):
        if A.format != "csr":
            raise TypeError(f"{name} must be a CSR matrix; got scipy.sparse format {A.format!r} "
                            f"(convert it with {name}.tocsr())")
        return CSR(A.data, A.indices, A.indptr, A.shape, copy=False, _name=name)
    raise TypeError(f"{name} must be a sparsenet.CSR or a scipy.sparse CSR matrix, "
                    f"got {type(A).__name__}")


def as_sparse_matrix(A: Any, name: str = "A", *, fused_check: bool = False) -> SparseMatrix:
    """`A` as a matrix that computes its own products: a sparsenet matrix as it is, a scipy CSR
    matrix as a checked :class:`CSR` view of its arrays, a scipy CSC matrix as the transposed view
    of the CSR matrix its arrays describe (scipy's ``A.T`` of a CSR matrix is one).

    With fused_check, a scipy matrix is instead an :class:`_ScipyOperand`, whose index arrays the
    native products check in their own pass (for one product: spmv, spmm; on both backends, so
    that a call with several bad arguments names the same one first on each)."""
    if isinstance(A, SparseMatrix):
        require_checked(A.base if isinstance(A, Transposed) else A, name)
        return A
    if _is_scipy_sparse(A):
        if A.format not in ("csr", "csc"):
            raise TypeError(f"{name} must be a CSR (or CSC) matrix; got scipy.sparse format "
                            f"{A.format!r} (convert it with {name}.tocsr())")
        shape = A.shape if A.format == "csr" else A.shape[::-1]
        if fused_check:
            matrix: SparseMatrix = _ScipyOperand(A.data, A.indices, A.indptr, shape, name)
        else:
            matrix = CSR(A.data, A.indices, A.indptr, shape, copy=False, _name=name)
        return matrix if A.format == "csr" else matrix.T
    return as_csr(A, name)  # the TypeError for anything else


class _ScipyOperand(SparseMatrix):
    """A scipy CSR matrix's arrays for one native product, their O(nnz) check fused into the
    product's own pass (csr_matmul_checked in csrc/csr_kernels.h): one pass over the indices
    instead of two, and no window in which another thread could change a checked index before the
    product reads it. Only the O(1) facts are checked here. Never handed to the user."""

    __slots__ = ("data", "indices", "indptr", "shape", "_name", "_dtype")
    has_canonical_format = False
    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: Tuple[int, int]
    _name: str
    _dtype: np.dtype

    def __init__(self, data: Any, indices: Any, indptr: Any, shape: Tuple[int, int],
                 name: str) -> None:
        # Built on every call with a scipy matrix, and never seen by the user: its fields are set
        # directly, without Frozen's per-attribute guard (a third of a small product's call cost).
        set_field = object.__setattr__
        shape = _check_shape(shape, name)
        data = as_array(data, f"{name}.data", ndim=1)
        indices, indptr = _check_layout(indices, indptr, shape, name, (data, f"{name}.data"))
        for field, value in (("shape", shape), ("data", data), ("indices", indices),
                             ("indptr", indptr), ("_name", name),
                             ("_dtype", result_dtype(data, names=(f"{name}.data",)))):
            set_field(self, field, value)

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    def operands(self) -> Tuple[np.ndarray, ...]:
        return (self.data, self.indices, self.indptr)

    def _checked(self) -> CSR:
        return CSR(self.data, self.indices, self.indptr, self.shape, copy=False, _name=self._name)

    def toarray(self) -> np.ndarray:
        return self._checked().toarray()

    def _copy(self) -> SparseMatrix:
        return self._checked()._copy()

    def _init_args(self) -> Tuple[Any, ...]:
        raise TypeError("a scipy operand of one product is not pickled")

    def _matmul(self, X: np.ndarray, transpose: bool, out: Optional[np.ndarray],
                dtype: np.dtype) -> np.ndarray:
        if backend.use_numpy():  # the reference reads checked arrays: the full check first
            return self._checked()._matmul(X, transpose, out, dtype)
        return super()._matmul(X, transpose, out, dtype)

    def _takes_padded_rows(self, transpose: bool) -> bool:
        return not transpose  # the fused check's A X takes X's row stride (A^T X: a private CSR's)

    def _native_matmul(self, isa: int, threads: int, X: np.ndarray, Y: np.ndarray,
                       transpose: bool) -> None:
        n_rows, n_cols = self.shape
        if n_cols == 0 or Y.shape[1] == 0 or X.shape[1] == 0:
            # no entry is read: check the structure on its own, as a CSR would be
            self._checked()._native_matmul(isa, threads, X, Y, transpose)
            return
        if transpose and X.shape[1] > 1:
            # A^T X for a batch: the checked CSR's owner-block product needs rows known sorted, and
            # beats the fused check's scatter into chunks by ~2x at 8192^2, k=64. The index arrays
            # are copied first, so the product reads only what was checked (a racing writer can
            # change the user's arrays, not the copy); the copy costs a few % of the product.
            private = CSR(self.data, self.indices.copy(), self.indptr.copy(), self.shape,
                          copy=False, _name=self._name)
            private._native_matmul(isa, threads, X, Y, transpose)
            return
        data = as_c_array(self.data, Y.dtype)
        first_bad = _csr.checked_matmul(isa, threads, n_cols, self.indptr, self.indices, data, X,
                                        Y, transpose)
        if first_bad < n_rows:
            _raise_bad_row(first_bad, n_cols, self.indptr, self.indices, self._name)


def _product(A: Any, X: Any, transpose: bool, out: Optional[np.ndarray], ndim: int) -> np.ndarray:
    """Shared body of spmv (ndim=1) and spmm (ndim=2): the checks, then A's own product."""
    transpose = check_bool(transpose, "transpose")  # first: the same error on both backends
    A = as_sparse_matrix(A, fused_check=True)
    xname = "x" if ndim == 1 else "X"
    X, _, _, _, out_shape = product_operand(X, A.shape, transpose, ndim, ("A", xname))
    dtype = result_dtype(A.dtype, X, names=("A", xname))
    if out is not None:
        check_out(out, out_shape, dtype, inputs=(X, *A.operands()))
    return A._matmul(X, transpose, out, dtype)


_scipy_csr_types: Tuple[type, ...] = ()


def _plain_vector_product(A: Any, x: Any, transpose: Any) -> Optional[np.ndarray]:
    """spmv's common case in a few steps, for one token at a time, where a product takes a
    microsecond and the general path's checks took three to seven: x a 1-D ndarray of A's float
    dtype, A a checked CSR or a scipy csr_array / csr_matrix with 1-D arrays of that dtype and one
    index dtype, transpose a bool, the native backend; the arrays C-contiguous, aligned and in
    native byte order. A CSR without column blocks for the product hands x to its native
    VectorProduct; a scipy matrix's arrays go to _csr.checked_vector, which reads them in place
    through NumPy's C API and checks the indices in the product's own pass. None for anything
    else, and for a scipy matrix that its fused check finds malformed: the general path then
    computes the same product with the same kernels (copying what needs it), or raises its
    error."""
    global _scipy_csr_types
    if transpose is not True and transpose is not False:
        return None
    options = backend.native_call_options()  # None: the NumPy reference
    if options is None:
        return None
    if type(A) is CSR:
        if getattr(A, "_checked", False) is not True:
            return None
        blocks = A._blocks_t if transpose else A._blocks
        if blocks is None:
            product = A._vector or A._vector_product()
            return product.multiply(x, transpose, options)  # None unless x fits
        n_in, n_out = (A.shape[0], A.shape[1]) if transpose else (A.shape[1], A.shape[0])
        if not (type(x) is np.ndarray and x.ndim == 1 and x.dtype == A.data.dtype
                and x.shape[0] == n_in):
            return None
        y = _allocator(n_out, x.dtype)(n_out, x.dtype)
        isa, threads = options
        try:
            blocks.matmul(isa, threads, blocks.values, x, y)  # A._native_matmul's call
        except BufferError:
            return None  # x not C-contiguous or not aligned: the general path copies it
        return y
    if not _scipy_csr_types:
        sparse = sys.modules.get("scipy.sparse")  # imported already if A is a scipy matrix
        if sparse is None:
            return None
        _scipy_csr_types = (sparse.csr_array, sparse.csr_matrix)
    if type(A) not in _scipy_csr_types:
        return None
    if len(A.shape) != 2:  # SciPy's 1-D arrays: the general path's error
        return None
    n_rows, n_cols = A.shape
    return _csr.checked_vector(A.indptr, A.indices, A.data, n_rows, n_cols, x, transpose, options,
                               _buffers.empty, _buffers.MIN_BYTES)


def _allocator(n: int, dtype: np.dtype) -> Callable[[int, np.dtype], np.ndarray]:
    """new_output's rule for n items of dtype, without its general steps: plain np.empty, or the
    output cache when large."""
    return np.empty if n * dtype.itemsize < _buffers.MIN_BYTES else _buffers.empty


SparseInput = Union[SparseMatrix, "scipy.sparse.sparray", "scipy.sparse.spmatrix"]
"""What spmv and spmm take as A."""


def spmv(A: SparseInput, x: ArrayLike, *, transpose: bool = False,
         out: Optional[np.ndarray] = None) -> np.ndarray:
    """Sparse matrix-vector product ``y = A @ x`` (or ``A.T @ x`` with ``transpose=True``).

    Parameters
    ----------
    A : sparsenet.CSR, sparsenet.SharedCSR, their ``.T``, or scipy.sparse csr_array / csr_matrix
        The (n_rows, n_cols) matrix. A scipy matrix is checked in full on each call (a CSC one is
        read as the transpose of the CSR matrix its arrays describe).
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
    if out is None:  # one token at a time: the product takes about a microsecond, a frame counts
        product = getattr(A, "_vector", None) if type(A) is CSR else None
        if product is not None and (transpose is True or transpose is False):
            options = backend.native_call_options()  # None: the NumPy reference
            if options is not None:
                y = product.multiply(x, transpose, options)
                if y is not None:
                    return y
        y = _plain_vector_product(A, x, transpose)
        if y is not None:
            return y
    return _product(A, x, transpose, out, ndim=1)


def spmm(A: SparseInput, X: ArrayLike, *, transpose: bool = False,
         out: Optional[np.ndarray] = None) -> np.ndarray:
    """Sparse times dense matrix product ``Y = A @ X`` (or ``A.T @ X`` with ``transpose=True``).

    Parameters
    ----------
    A : sparsenet.CSR, sparsenet.SharedCSR, their ``.T``, or scipy.sparse csr_array / csr_matrix
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
