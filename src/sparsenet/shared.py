"""Parameter sharing: weights that are entries of a small codebook, learned and multiplied fast.

- :func:`kmeans_codebook` learns a codebook by exact 1-D k-means (Deep Compression's weight sharing)
  and returns a :class:`SharedWeights`: K <= 65536 floats and one uint8/uint16 code per weight.
- :func:`shared_matvec` / :func:`shared_matmul` compute ``W @ x`` / ``W @ X`` (or ``W.T @ ...``)
  from the codes and the codebook; the dense W is never materialised in full.
- :func:`codebook_grad` is the gradient of a loss with respect to the codebook (fine-tuning).
- :class:`HashedWeights` (HashedNets) stores no codes at all: a weight's code and sign are a hash of
  its position (:func:`hashed_matvec`, :func:`hashed_matmul`).
- :class:`SharedCSR` is pruned and shared at once (Deep Compression's storage); ``sparsenet.spmv`` /
  ``sparsenet.spmm`` take it.
"""
from __future__ import annotations

import importlib
import warnings
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from sparsenet import _blas, _csr, _policy, backend, csr, reference
from sparsenet._validate import (Frozen, as_array, as_c_array, check_bool, check_index, check_out,
                                 new_output, product_operand, read_only, require_checked,
                                 result_dtype)

_CODE_DTYPES = _policy.CODE_DTYPES
_MAX_CODES = _policy.MAX_CODES
_BLAS_MAX = 2**31 - 1  # BLAS (LP64) dimensions are C ints


def _native() -> Any:
    """The compiled kernels, imported on first use: they bind SciPy's BLAS, whose import
    (scipy.linalg) would otherwise add a quarter of a second to ``import sparsenet``."""
    return importlib.import_module("sparsenet._shared")


_index_dtype = _policy.code_dtype


def _as_codebook(codebook: ArrayLike, name: str = "codebook") -> np.ndarray:
    """A 1-D float32/float64 codebook of 1 to 65536 entries (other real dtypes become float64)."""
    codebook = as_array(codebook, name, ndim=1)
    if not 1 <= codebook.shape[0] <= _MAX_CODES:
        raise ValueError(f"{name} must have 1 to {_MAX_CODES} entries, got {codebook.shape[0]}")
    return as_c_array(codebook, result_dtype(codebook, names=(name,)))


def _as_codes(codes: ArrayLike, n_codes: int, name: str) -> np.ndarray:
    """`codes` as a C-contiguous uint8/uint16 array with every value in [0, n_codes)."""
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype (uint8 or uint16), got {codes.dtype}")
    if codes.size:
        low, high = int(codes.min()), int(codes.max())
        if low < 0 or high >= n_codes:
            bad = low if low < 0 else high
            pos = np.unravel_index(int(np.argmax(codes == bad)), codes.shape)
            where = ", ".join(str(int(p)) for p in pos)
            raise ValueError(f"{name}[{where}]={bad} is out of range for a codebook of "
                             f"{n_codes} entries")
    dtype = codes.dtype if codes.dtype in _CODE_DTYPES else _index_dtype(n_codes)
    return as_c_array(codes, dtype)


class _CodebookWeights(Frozen):
    """What every codebook-backed weight matrix reports about its codebook, and its products."""

    __slots__ = ()
    codebook: np.ndarray
    _REFERENCE: Tuple[str, str]  # the reference's matvec and matmul of this kind

    @property
    def shape(self) -> Tuple[int, ...]:
        raise NotImplementedError

    @property
    def dtype(self) -> np.dtype:
        return self.codebook.dtype

    @property
    def n_codes(self) -> int:
        return int(self.codebook.shape[0])

    def _code_arrays(self) -> Tuple[np.ndarray, ...]:
        """The code arrays the products read (none when codes are computed)."""
        return ()

    def _native_matmul(self, isa: int, threads: int, codebook: np.ndarray, X: np.ndarray,
                       Y: np.ndarray, transpose: bool, bias: Optional[np.ndarray]) -> None:
        raise NotImplementedError

    def _matmul(self, X: np.ndarray, transpose: bool, out: Optional[np.ndarray],
                dtype: np.dtype, bias: Optional[np.ndarray] = None) -> np.ndarray:
        """``W @ X`` (``W.T @ X``) in `dtype`, for X (1-D or 2-D) and out already checked by
        :func:`_product`; plus ``bias[:, None]`` (one value per row of the result, `dtype`, C
        order: sparsenet.torch's layers), added as the product's last step."""
        if backend.use_numpy():
            fn = getattr(reference, self._REFERENCE[X.ndim - 1])
            Y = fn(self, X, transpose=transpose, out=out)
            if bias is not None:
                Y += bias.reshape(-1, *[1] * (Y.ndim - 1))
            return Y
        n_in, n_out = (self.shape[0], self.shape[1]) if transpose else (self.shape[1], self.shape[0])
        k = X.shape[1] if X.ndim == 2 else 1
        X2 = as_c_array(X, dtype).reshape(n_in, k)
        Y = out if out is not None else new_output((n_out, k) if X.ndim == 2 else (n_out,), dtype)
        isa, threads = backend.native_options()
        self._native_matmul(isa, threads, as_c_array(self.codebook, dtype), X2, Y.reshape(n_out, k),
                            transpose, bias)
        return Y


class SharedWeights(_CodebookWeights):
    """A weight array stored as a codebook and one code per weight: ``W = codebook[codes]``.

    Parameters
    ----------
    codebook : array_like, shape (K,)
        The K <= 65536 shared values, float32 or float64 (other real dtypes become float64).
    codes : array_like of int
        One code in [0, K) per weight, any shape (2-D for the products). Stored as uint8 or uint16.
    copy : bool, default True
        Copy the arrays, so that later changes to the caller's arrays cannot invalidate the checked
        codes. ``copy=False`` shares them: the caller promises not to modify them.
    indices : array_like of int, optional
        Deprecated name of `codes` (a DeprecationWarning).

    Attributes
    ----------
    codebook, codes : ndarray (read-only)
        ``indices``, the old name of ``codes``, still reads it, with a DeprecationWarning.
    shape : tuple of int
    nbytes : int
        Bytes of the codebook and the codes.
    compression_ratio : float
        Bytes of the dense array (in the codebook's dtype) over ``nbytes``.

    Examples
    --------
    >>> import io, numpy as np, sparsenet
    >>> sw = sparsenet.SharedWeights(np.array([-1., 0.5], dtype=np.float32),
    ...                              np.array([[0, 1], [1, 1]], dtype=np.uint8))
    >>> sw.decode()
    array([[-1. ,  0.5],
           [ 0.5,  0.5]], dtype=float32)
    >>> sw.nbytes, sw.compression_ratio
    (12, 1.3333333333333333)
    >>> f = io.BytesIO(); np.savez(f, **sw.to_arrays()); _ = f.seek(0)
    >>> sparsenet.SharedWeights(**np.load(f)).decode()[0]
    array([-1. ,  0.5], dtype=float32)
    """

    __slots__ = ("codebook", "codes")
    codes: np.ndarray
    _REFERENCE = ("shared_matvec", "shared_matmul")

    def __init__(self, codebook: ArrayLike, codes: Optional[ArrayLike] = None, *, copy: bool = True,
                 indices: Optional[ArrayLike] = None) -> None:
        if indices is not None:
            if codes is not None:
                raise TypeError("give codes, not both codes and indices (its deprecated name)")
            warnings.warn("SharedWeights(indices=...) is deprecated: the argument is now called "
                          "codes", DeprecationWarning, stacklevel=2)
            codes = indices
        if codes is None:
            raise TypeError("SharedWeights needs codes: one code into the codebook per weight")
        values = _as_codebook(codebook)
        checked = _as_codes(codes, values.shape[0], "codes")
        if copy:
            values, checked = values.copy(), checked.copy()
        self.codebook = read_only(values, owned=copy)
        self.codes = read_only(checked, owned=copy)
        self._seal()

    def _init_args(self) -> Tuple[Any, ...]:
        return self.codebook, self.codes

    @property
    def indices(self) -> np.ndarray:
        """Deprecated: the old name of :attr:`codes`."""
        warnings.warn("SharedWeights.indices is deprecated: use SharedWeights.codes",
                      DeprecationWarning, stacklevel=2)
        return self.codes

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self.codes.shape)

    @property
    def nbytes(self) -> int:
        return int(self.codebook.nbytes + self.codes.nbytes)

    @property
    def compression_ratio(self) -> float:
        return float(self.codes.size * self.codebook.itemsize / self.nbytes)

    def decode(self) -> np.ndarray:
        """The dense weights ``codebook[codes]``."""
        return decode(self)

    def to_arrays(self) -> Dict[str, np.ndarray]:
        """{"codebook", "codes"}: what ``numpy.savez(file, **sw.to_arrays())`` stores and
        ``SharedWeights(**numpy.load(file))`` reads back (no pickle)."""
        return {"codebook": self.codebook, "codes": self.codes}

    def _code_arrays(self) -> Tuple[np.ndarray, ...]:
        return (self.codes,)

    def _native_matmul(self, isa: int, threads: int, codebook: np.ndarray, X: np.ndarray,
                       Y: np.ndarray, transpose: bool, bias: Optional[np.ndarray]) -> None:
        _native().matmul(isa, threads, self.shape[0], self.shape[1], codebook, self.codes.ravel(),
                         X, Y, transpose, bias)

    def __matmul__(self, other: ArrayLike) -> np.ndarray:
        x = as_array(other, "x", ndim=(1, 2))
        return shared_matvec(self, x) if x.ndim == 1 else shared_matmul(self, x)

    def __repr__(self) -> str:
        return (f"<sparsenet.SharedWeights {self.shape}, {self.codes.dtype} codes into a codebook "
                f"of {self.n_codes} {self.dtype} values, {self.compression_ratio:.2f}x smaller>")


class HashedWeights(_CodebookWeights):
    """A weight matrix whose entries are a hash of their position (HashedNets): nothing per weight.

    ``W[i, j] = sign(i, j) * codebook[code(i, j)]`` with, in uint32 arithmetic (mod 2**32)::

        r = fmix32(i * 0x9E3779B1 ^ seed)
        h = fmix32(r + j * 0x85EBCA77)
        code(i, j) = (h >> 1) % K,    sign(i, j) = -1 if h & 1 else +1

    and fmix32 MurmurHash3's finaliser (``h ^= h >> 16; h *= 0x85EBCA6B; h ^= h >> 13;
    h *= 0xC2B2AE35; h ^= h >> 16``). ``sparsenet.reference.hashed_codes`` computes the same codes and
    signs with NumPy, bit for bit.

    Parameters
    ----------
    shape : (int, int)
    codebook : array_like, shape (K,), K <= 65536
    seed : int in [0, 2**32)

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> hw = sparsenet.HashedWeights((3, 4), np.array([0.5, 2.0]), seed=7)
    >>> W = hw.decode()
    >>> sorted(set(np.abs(W).ravel().tolist()))
    [0.5, 2.0]
    >>> np.allclose(sparsenet.hashed_matvec(hw, np.ones(4)), W @ np.ones(4))
    True
    """

    __slots__ = ("codebook", "shape", "seed")
    shape: Tuple[int, int]
    seed: int
    _REFERENCE = ("hashed_matvec", "hashed_matmul")

    def __init__(self, shape: Tuple[int, int], codebook: ArrayLike, seed: int = 0) -> None:
        try:
            self.shape = tuple(int(s) for s in shape)  # type: ignore[assignment]
        except (TypeError, ValueError):
            raise TypeError(f"shape must be a pair of ints, got {shape!r}") from None
        if len(self.shape) != 2 or min(self.shape) < 0:
            raise ValueError(f"shape must be a pair of non-negative ints, got {shape!r}")
        self.codebook = read_only(_as_codebook(codebook).copy(), owned=True)
        self.seed = check_index(seed, "seed", low=0, high=2**32 - 1)
        self._seal()

    def _init_args(self) -> Tuple[Any, ...]:
        return self.shape, self.codebook, self.seed

    @property
    def nbytes(self) -> int:
        return int(self.codebook.nbytes)

    @property
    def compression_ratio(self) -> float:
        return float(self.shape[0] * self.shape[1] * self.codebook.itemsize / self.nbytes)

    def decode(self) -> np.ndarray:
        """The dense weights."""
        return decode(self)

    def _native_matmul(self, isa: int, threads: int, codebook: np.ndarray, X: np.ndarray,
                       Y: np.ndarray, transpose: bool, bias: Optional[np.ndarray]) -> None:
        _native().hashed_matmul(isa, threads, self.shape[0], self.shape[1], codebook, self.seed, X, Y,
                                transpose, bias)

    def __matmul__(self, other: ArrayLike) -> np.ndarray:
        x = as_array(other, "x", ndim=(1, 2))
        return hashed_matvec(self, x) if x.ndim == 1 else hashed_matmul(self, x)

    def __repr__(self) -> str:
        return (f"<sparsenet.HashedWeights {self.shape}, a codebook of {self.n_codes} {self.dtype} "
                f"values, seed={self.seed}>")


def _check_weights(w: Any, kind: Any, name: str) -> Any:
    if not isinstance(w, kind):
        raise TypeError(f"{name} must be a sparsenet.{kind.__name__}, got {type(w).__name__}")
    require_checked(w, name)
    if len(w.shape) != 2:
        raise ValueError(f"{name} must be 2-D for a product, got shape {w.shape}")
    return w


def kmeans_codebook(W: ArrayLike, n_clusters: int, *, init: Union[str, ArrayLike] = "linear",
                    max_iter: int = 300, tol: float = 1e-4, index_dtype: Optional[DTypeLike] = None,
                    random_state: Union[None, int, np.random.Generator] = None) -> SharedWeights:
    """Learn a codebook of `n_clusters` values for the weights `W` by exact 1-D k-means (Lloyd).

    The values are sorted once; each iteration then finds the cluster boundaries (midpoints between
    neighbouring centroids) by binary search and the cluster means from prefix sums, so it costs
    O(n_clusters log n) instead of O(n n_clusters). The iterations are scikit-learn's Lloyd
    iterations on the values as 1-D points: same stopping rules (``max_iter``; no point changes
    cluster; squared centroid shift <= ``tol`` times the variance of W).

    Parameters
    ----------
    W : array_like of float, any shape, finite, at least `n_clusters` values
    n_clusters : int, 1 <= n_clusters <= min(W.size, 65536)
    init : "linear", "density", "random" or array_like of n_clusters floats
        Initial centroids: evenly spaced between min and max (Deep Compression's recommendation),
        the quantiles of W, `n_clusters` distinct weights drawn with `random_state`, or given.
    max_iter : int, default 300
    tol : float, default 1e-4
    index_dtype : None, uint8 or uint16
        The codes' dtype; default uint8 when n_clusters <= 256, else uint16.
    random_state : int or numpy Generator, optional
        For ``init="random"``.

    Returns
    -------
    SharedWeights
        Codebook ascending (dtype of W: float32 stays float32), codes of W's shape. A point at equal
        distance from two centroids joins the lower one; an empty cluster takes the point farthest
        from its centroid (scikit-learn's rule, made deterministic).

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> W = np.array([[0.1, 0.11, 0.9], [1.0, 0.12, 0.95]], dtype=np.float32)
    >>> sw = sparsenet.kmeans_codebook(W, 2)
    >>> sw.codebook
    array([0.11, 0.95], dtype=float32)
    >>> sw.codes
    array([[0, 0, 1],
           [1, 0, 1]], dtype=uint8)
    """
    W = as_array(W, "W")
    dtype = result_dtype(W, names=("W",))
    if W.size == 0:
        raise ValueError("W must not be empty")
    n_clusters = check_index(n_clusters, "n_clusters", low=1, high=min(W.size, _MAX_CODES))
    max_iter = check_index(max_iter, "max_iter", low=1, high=2**31 - 1)
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.integer, np.floating)):
        raise TypeError(f"tol must be a real number, got {type(tol).__name__}")
    if not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, got {tol!r}")
    code_dtype = _index_dtype(n_clusters, index_dtype)
    w = as_c_array(W, dtype).ravel()
    if not np.isfinite(w).all():
        bad = int(np.flatnonzero(~np.isfinite(w))[0])
        raise ValueError(f"W must be finite; W.flat[{bad}] = {w[bad]}")
    if not isinstance(init, str):
        init = as_array(init, "init", ndim=1)
        if init.shape[0] != n_clusters:
            raise ValueError(f"init must have n_clusters = {n_clusters} values, got {init.shape[0]}")
        if not np.isfinite(init).all():
            raise ValueError("init must be finite")
    elif init not in ("linear", "density", "random"):
        raise ValueError(f"init must be 'linear', 'density', 'random' or an array, got {init!r}")
    if backend.use_numpy():
        learned = reference.kmeans_codebook(W.astype(dtype, copy=False), n_clusters, init=init,
                                            max_iter=max_iter, tol=tol, index_dtype=code_dtype,
                                            random_state=random_state)
        return SharedWeights(learned.codebook, learned.codes, copy=False)
    density = isinstance(init, str) and init == "density"
    centers = (np.zeros(n_clusters) if density
               else np.ascontiguousarray(_policy.kmeans_init(w, n_clusters, init, random_state)))
    codes = np.empty(w.shape[0], dtype=code_dtype)
    isa, threads = backend.native_options()
    _native().kmeans(isa, threads, w, density, max_iter, float(tol), centers, codes)
    return SharedWeights(centers.astype(dtype), codes.reshape(W.shape), copy=False)


def decode(w: Union[SharedWeights, HashedWeights]) -> np.ndarray:
    """The dense weights of a :class:`SharedWeights` or :class:`HashedWeights` (C order).

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> sparsenet.decode(sparsenet.SharedWeights([1., 2.], [[1, 0]]))
    array([[2., 1.]])
    """
    if not isinstance(w, (SharedWeights, HashedWeights)):
        raise TypeError(f"w must be a sparsenet.SharedWeights or HashedWeights, got {type(w).__name__}")
    require_checked(w, "w")
    if backend.use_numpy():
        return reference.decode(w)
    isa, threads = backend.native_options()
    if isinstance(w, HashedWeights):
        out = new_output(w.shape, w.dtype)
        _native().hashed_decode(isa, threads, w.shape[0], w.shape[1], w.codebook, w.seed, out.ravel())
        return out
    out = new_output(w.shape, w.dtype)
    n_rows = w.shape[0] if w.codes.ndim else 1
    _native().decode(isa, threads, n_rows, w.codes.size // max(n_rows, 1), w.codebook,
                     w.codes.ravel(), out.ravel())
    return out


def _product(w: Any, X: Any, transpose: bool, out: Optional[np.ndarray], ndim: int, kind: type,
             names: Tuple[str, str]) -> np.ndarray:
    """Shared body of the shared/hashed matvec (ndim=1) and matmul (ndim=2): the checks, then the
    weights' own product."""
    wname, xname = names
    w = _check_weights(w, kind, wname)
    transpose = check_bool(transpose, "transpose")
    X, n_in, n_out, k, out_shape = product_operand(X, w.shape, transpose, ndim, names)
    dtype = result_dtype(w.codebook, X, names=(f"{wname}.codebook", xname))
    if k > 1 and max(w.shape[0], w.shape[1], k) > _BLAS_MAX:
        raise ValueError(f"every dimension must be below 2**31 for the blocked product, got "
                         f"{wname}.shape={w.shape} and {xname}.shape={X.shape}")
    if out is not None:
        check_out(out, out_shape, dtype, inputs=(X, w.codebook, *w._code_arrays()))
    return w._matmul(X, transpose, out, dtype)


def shared_matvec(sw: SharedWeights, x: ArrayLike, *, transpose: bool = False,
                  out: Optional[np.ndarray] = None) -> np.ndarray:
    """``y = W @ x`` (or ``W.T @ x``) for ``W = sw.codebook[sw.codes]``, from the codes directly.

    Parameters
    ----------
    sw : SharedWeights, 2-D
    x : array_like, shape (n_cols,), or (n_rows,) when transposed
    transpose : bool, default False
    out : ndarray, optional
        C-contiguous array of the result's shape and dtype to write into.

    Returns
    -------
    y : ndarray
        float32 when the codebook and x are float32, else NumPy's promotion (integers: float64).
        The same for every thread count.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> sw = sparsenet.SharedWeights(np.array([0., 1., 2.], dtype=np.float32), [[1, 2], [0, 1]])
    >>> sparsenet.shared_matvec(sw, np.array([1., 1.], dtype=np.float32))
    array([3., 1.], dtype=float32)
    >>> sparsenet.shared_matvec(sw, np.array([1., 1.], dtype=np.float32), transpose=True)
    array([1., 3.], dtype=float32)
    """
    return _product(sw, x, transpose, out, 1, SharedWeights, ("sw", "x"))


def shared_matmul(sw: SharedWeights, X: ArrayLike, *, transpose: bool = False,
                  out: Optional[np.ndarray] = None) -> np.ndarray:
    """``Y = W @ X`` (or ``W.T @ X``) for ``W = sw.codebook[sw.codes]``.

    The dense W is never held in full: a matrix product (k > 1) decodes small panels of W as its
    own blocked product packs them (no BLAS call).

    Parameters
    ----------
    sw : SharedWeights, 2-D
    X : array_like, shape (n_cols, k), or (n_rows, k) when transposed
    transpose : bool, default False
    out : ndarray, optional

    Returns
    -------
    Y : ndarray, C order

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> sw = sparsenet.SharedWeights([0., 1., 2.], [[1, 2], [0, 1]])
    >>> sparsenet.shared_matmul(sw, np.eye(2))
    array([[1., 2.],
           [0., 1.]])
    """
    return _product(sw, X, transpose, out, 2, SharedWeights, ("sw", "X"))


def hashed_matvec(hw: HashedWeights, x: ArrayLike, *, transpose: bool = False,
                  out: Optional[np.ndarray] = None) -> np.ndarray:
    """``y = W @ x`` (or ``W.T @ x``) for a :class:`HashedWeights` W, hashing on the fly.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> hw = sparsenet.HashedWeights((2, 3), [1.0], seed=1)
    >>> np.array_equal(sparsenet.hashed_matvec(hw, np.ones(3)), hw.decode().sum(axis=1))
    True
    """
    return _product(hw, x, transpose, out, 1, HashedWeights, ("hw", "x"))


def hashed_matmul(hw: HashedWeights, X: ArrayLike, *, transpose: bool = False,
                  out: Optional[np.ndarray] = None) -> np.ndarray:
    """``Y = W @ X`` (or ``W.T @ X``) for a :class:`HashedWeights` W (decoded in cache-sized
    pieces, as in :func:`shared_matmul`).

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> hw = sparsenet.HashedWeights((2, 3), [1.0, -0.5], seed=1)
    >>> np.allclose(sparsenet.hashed_matmul(hw, np.eye(3)), hw.decode())
    True
    """
    return _product(hw, X, transpose, out, 2, HashedWeights, ("hw", "X"))


def codebook_grad(w: Union[SharedWeights, HashedWeights], grad_out: ArrayLike,
                  X: ArrayLike) -> np.ndarray:
    """Gradient of a loss with respect to the codebook of the layer ``Y = W @ X``.

    ``grad[c] = sum of (grad_out @ X.T)[i, j] * sign(i, j)`` over the positions (i, j) of code c
    (sign = 1 for :class:`SharedWeights`). Fused: the full dL/dW is never formed; tiles of it are
    computed with BLAS and summed into the codebook's bins.

    Parameters
    ----------
    w : SharedWeights (2-D) or HashedWeights, shape (n_rows, n_cols)
    grad_out : array_like, shape (n_rows, k) or (n_rows,)
        dL/dY.
    X : array_like, shape (n_cols, k) or (n_cols,)
        The layer's input (same number of dimensions as grad_out).

    Returns
    -------
    grad : ndarray, shape (K,)
        Summed in a fixed order: the same for every thread count.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> sw = sparsenet.SharedWeights([0., 0.], [[0, 1], [1, 1]])
    >>> sparsenet.codebook_grad(sw, np.array([1., 2.]), np.array([3., 4.]))
    array([ 3., 18.])
    """
    if not isinstance(w, (SharedWeights, HashedWeights)):
        raise TypeError(f"w must be a sparsenet.SharedWeights or HashedWeights, got {type(w).__name__}")
    require_checked(w, "w")
    if len(w.shape) != 2:
        raise ValueError(f"w must be 2-D, got shape {w.shape}")
    G = as_array(grad_out, "grad_out", ndim=(1, 2))
    X = as_array(X, "X", ndim=(1, 2))
    if G.ndim != X.ndim:
        raise ValueError(f"grad_out and X must both be 1-D or both 2-D, got shapes {G.shape} and "
                         f"{X.shape}")
    if G.shape[0] != w.shape[0] or X.shape[0] != w.shape[1] or G.shape[1:] != X.shape[1:]:
        raise ValueError(f"shape mismatch: w is {w.shape[0]}x{w.shape[1]}, so grad_out must have "
                         f"{w.shape[0]} rows and X {w.shape[1]} rows, with as many columns; got "
                         f"grad_out.shape={G.shape}, X.shape={X.shape}")
    dtype = result_dtype(w.codebook, G, X, names=("w.codebook", "grad_out", "X"))
    k = G.shape[1] if G.ndim == 2 else 1
    if k > 1 and max(w.shape[0], w.shape[1], k) > _BLAS_MAX:
        raise ValueError("every dimension must be below 2**31 for the blocked gradient")
    if backend.use_numpy():
        return reference.codebook_grad(w, G, X)
    G2 = as_c_array(G, dtype).reshape(G.shape[0], k)
    X2 = as_c_array(X, dtype).reshape(X.shape[0], k)
    grad = np.empty(w.n_codes, dtype=dtype)
    isa, threads = backend.native_options()
    with _blas.one_thread(w.shape[0], w.shape[1], k):  # k > 1 forms tiles of G X^T with xGEMM
        if isinstance(w, HashedWeights):
            _native().hashed_grad(isa, threads, w.shape[0], w.shape[1], w.seed, G2, X2, grad)
        else:
            _native().grad(isa, threads, w.shape[0], w.shape[1], w.codes.ravel(), G2, X2, grad)
    return grad


def _nearest_codes(values: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """The code of the codebook entry nearest to each value (ties: the lower value)."""
    order = np.argsort(codebook, kind="stable")
    sorted_cb = codebook[order].astype(np.float64)
    mids = 0.5 * (sorted_cb[:-1] + sorted_cb[1:])
    return order[np.searchsorted(mids, values.astype(np.float64), side="left")]


class SharedCSR(csr.SparseMatrix):
    """A pruned and shared matrix (Deep Compression's storage): CSR whose values are codebook codes.

    Stored value p is ``codebook[codes[p]]``. ``sparsenet.spmv`` / ``sparsenet.spmm`` and ``@``
    take it and its transposed view ``.T`` (the CSR kernels' structure, the value looked up in the
    codebook); it behaves as a :class:`sparsenet.CSR` does (``.T``, ``.ndim``, ``.todense()``,
    ``x @ A``, no implicit ``np.asarray``).

    Parameters
    ----------
    codes : array_like of int, shape (nnz,)
        Codes in [0, K) (stored as uint8 or uint16).
    indices, indptr : array_like of int
        Column indices and row pointers, as for :class:`sparsenet.CSR` (checked in full). Stored
        as int32 wherever the shape and the number of entries allow, as ``scipy.sparse.csr_matrix``
        stores them (an int64 structure is narrowed, a copy even with ``copy=False``); the
        products read int32.
    shape : (int, int)
    codebook : array_like, shape (K,)
    copy : bool, default True
        Copy the arrays, so that later changes to the caller's arrays cannot invalidate the checked
        structure. ``copy=False`` shares them: the caller promises not to modify them.

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> W = np.array([[0., 0.9, 0.], [-1.1, 0., 1.05]], dtype=np.float32)
    >>> A = sparsenet.SharedCSR.from_dense(W, np.array([-1., 1.], dtype=np.float32))
    >>> A.codes, A.toarray()
    (array([1, 0, 1], dtype=uint8), array([[ 0.,  1.,  0.],
           [-1.,  0.,  1.]], dtype=float32))
    >>> sparsenet.spmv(A, np.ones(3, dtype=np.float32))
    array([1., 0.], dtype=float32)
    """

    __slots__ = ("codes", "codebook", "indices", "indptr", "shape", "has_canonical_format")
    codes: np.ndarray
    codebook: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    has_canonical_format: bool

    def __init__(self, codes: ArrayLike, indices: ArrayLike, indptr: ArrayLike,
                 shape: Tuple[int, int], codebook: ArrayLike, *, copy: bool = True) -> None:
        shape = csr._check_shape(shape, "A")
        codebook = _as_codebook(codebook)
        checked = _as_codes(codes, codebook.shape[0], "codes")
        if checked.ndim != 1:
            raise ValueError(f"codes must be 1-D, got shape {checked.shape}")
        indices, indptr, canonical = csr.check_structure(indices, indptr, shape, "A",
                                                         values=(checked, "codes"))
        narrow = (indices.dtype == np.int64  # to the int32 the kernel reads (csrc/shared.c)
                  and _policy.csr_index_dtype(shape[1], indices.shape[0]) == np.int32)
        index = np.dtype(np.int32) if narrow else indices.dtype
        # astype copies where it narrows, even with copy=False
        indices, indptr = (a.astype(index, copy=copy) for a in (indices, indptr))
        arrays = [checked, codebook]
        if copy:
            arrays = [np.array(a, copy=True) for a in arrays]
        self.codes, self.codebook = (read_only(a, owned=copy) for a in arrays)
        self.indices, self.indptr = (read_only(a, owned=copy or narrow) for a in (indices, indptr))
        self.shape = shape
        self.has_canonical_format = canonical
        self._seal()

    def _init_args(self) -> Tuple[Any, ...]:
        return self.codes, self.indices, self.indptr, self.shape, self.codebook

    @classmethod
    def from_dense(cls, W: ArrayLike, codebook: Union[int, ArrayLike], *,
                   index_dtype: Optional[DTypeLike] = None) -> SharedCSR:
        """The nonzeros of the 2-D `W`, each replaced by its nearest codebook entry; `codebook` may
        also be an int K: a codebook learned by :func:`kmeans_codebook` on the nonzeros."""
        return cls._from_csr(csr.CSR.from_dense(W), codebook, index_dtype)

    @classmethod
    def from_csr(cls, A: Any, codebook: Union[int, ArrayLike], *,
                 index_dtype: Optional[DTypeLike] = None) -> SharedCSR:
        """As :meth:`from_dense`, from a :class:`sparsenet.CSR` or a scipy CSR matrix."""
        return cls._from_csr(csr.as_csr(A), codebook, index_dtype)

    @classmethod
    def _from_csr(cls, A: csr.CSR, codebook: Union[int, ArrayLike],
                  index_dtype: Optional[DTypeLike]) -> SharedCSR:
        if isinstance(codebook, (int, np.integer)) and not isinstance(codebook, bool):
            sw = kmeans_codebook(A.data, int(codebook), index_dtype=index_dtype)
            codebook, codes = sw.codebook, sw.codes
        else:
            codebook = _as_codebook(codebook)
            if not np.isfinite(A.data).all():
                raise ValueError("the stored values must be finite to be quantised")
            codes = _nearest_codes(A.data, codebook).astype(
                _index_dtype(codebook.shape[0], index_dtype))
        # the structure is copied: from a scipy matrix it is the caller's, who may change it
        return cls(codes, A.indices, A.indptr, A.shape, codebook)

    def operands(self) -> Tuple[np.ndarray, ...]:
        """The arrays the product kernels read."""
        return self.codes, self.codebook, self.indices, self.indptr

    @property
    def nnz(self) -> int:
        return int(self.indices.shape[0])

    @property
    def dtype(self) -> np.dtype:
        return self.codebook.dtype

    @property
    def data(self) -> np.ndarray:
        """The stored values, decoded: ``codebook[codes]`` (a new array)."""
        return self.codebook[self.codes]

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes + self.codebook.nbytes + self.indices.nbytes
                   + self.indptr.nbytes)

    def to_csr(self) -> csr.CSR:
        """The same matrix as a :class:`sparsenet.CSR` with decoded values."""
        return csr.CSR(self.data, self.indices, self.indptr, self.shape, copy=False)

    def to_scipy(self, kind: str = "array") -> Any:
        """The same matrix, decoded, as a ``scipy.sparse.csr_array`` (or ``csr_matrix``)."""
        return self.to_csr().to_scipy(kind)

    def toarray(self) -> np.ndarray:
        """The dense matrix, decoded."""
        return self.to_csr().toarray()

    def _copy(self) -> SharedCSR:
        return SharedCSR(*self._init_args())

    def _takes_padded_rows(self, transpose: bool) -> bool:
        return not transpose  # A X gathers rows of X, as a CSR's

    def _native_matmul(self, isa: int, threads: int, X: np.ndarray, Y: np.ndarray,
                       transpose: bool) -> None:
        codebook = as_c_array(self.codebook, Y.dtype)
        if self.indices.dtype != np.int32:  # beyond int32: csr's kernels, on the decoded values
            _csr.matmul(isa, threads, self.indptr, self.indices, codebook[self.codes], X, Y,
                        transpose, self.has_canonical_format)
            return
        _native().csr_matmul(isa, threads, self.shape[1], self.indptr, self.indices, self.codes,
                             codebook, X, Y, transpose, self.has_canonical_format)

    def __repr__(self) -> str:
        return (f"<sparsenet.SharedCSR {self.shape[0]}x{self.shape[1]}, {self.nnz} stored "
                f"{self.codes.dtype} codes into a codebook of {self.codebook.shape[0]} "
                f"{self.dtype} values>")

__all__ = ["SharedWeights", "HashedWeights", "SharedCSR", "kmeans_codebook", "decode",
           "shared_matvec", "shared_matmul", "hashed_matvec", "hashed_matmul", "codebook_grad"]
