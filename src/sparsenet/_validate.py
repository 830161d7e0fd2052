"""The argument checks and normalisation that several API modules share.

Validation happens in the Python API layer, before any kernel reads user memory: the generic checks
(arrays and their dtypes, product operands, ``out=``, integer and bool arguments) are here; the
checks that belong to one family stay beside its API, in ``csr.py`` (the CSR structure: shape,
indptr, indices), ``shared.py`` (codebooks, codes), ``threshold.py`` (thresholds, formats, dense
``out=``) and ``omp.py`` (stop rules, finiteness). Messages name the argument, the expected and the
actual value. TypeError for types and dtypes, ValueError for shapes and values.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import DTypeLike

from sparsenet import _buffers, _policy

FLOATS = _policy.FLOATS


def result_dtype(*arrays_or_dtypes: Any, names: Sequence[str] = ()) -> np.dtype:
    """The float dtype NumPy's promotion gives the operands; integers and bools compute in float64."""
    dtypes = [np.dtype(getattr(a, "dtype", a)) for a in arrays_or_dtypes]
    for i, dt in enumerate(dtypes):
        if dt.kind not in "biuf":
            name = names[i] if i < len(names) else "input"
            raise TypeError(f"{name} must have a real numeric dtype (float32 or float64), got {dt}")
    dtype = np.result_type(*dtypes)  # _policy.float_dtype's rule, inline: this runs on every call
    return dtype if dtype in FLOATS else np.dtype(np.float64)


def as_array(x: Any, name: str, *, ndim: Union[None, int, Tuple[int, ...]] = None) -> np.ndarray:
    """`x` as an ndarray, with its dimension checked (`ndim`: an int or a tuple of allowed ones).

    TypeError for what is not an array of real numbers (None, strings, objects, sparse matrices),
    before any shape check."""
    if not isinstance(x, np.ndarray):
        if hasattr(x, "toarray") and hasattr(x, "nnz"):
            kind = "scipy.sparse" if hasattr(x, "tocsr") else "sparse"
            raise TypeError(f"{name} must be a dense array, got a {kind} {type(x).__name__} "
                            f"(call {name}.toarray())")
        try:
            converted = np.asarray(x)
        except (TypeError, ValueError):
            converted = None
        if converted is None or converted.dtype.kind in "OSUV":
            raise TypeError(f"{name} must be an array of real numbers, got {type(x).__name__}")
        x = converted
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must have a real numeric dtype, got {x.dtype}")
    if ndim is not None and x.ndim != ndim and not (isinstance(ndim, tuple) and x.ndim in ndim):
        allowed = " or ".join(f"{n}-D" for n in (ndim if isinstance(ndim, tuple) else (ndim,)))
        raise ValueError(f"{name} must be {allowed}, got an array of shape {x.shape}")
    return x


def product_operand(X: Any, shape: Tuple[int, ...], transpose: bool, ndim: int,
                    names: Tuple[str, str]) -> Tuple[np.ndarray, int, int, int, Tuple[int, ...]]:
    """Check the dense operand X (ndim 1: a vector, 2: a matrix) of a product with the matrix
    `names[0]` of `shape` (its transpose when `transpose`); returns (X, n_in, n_out, k, out_shape)."""
    wname, xname = names
    X = as_array(X, xname, ndim=ndim)
    n_in, n_out = (shape[0], shape[1]) if transpose else (shape[1], shape[0])
    if X.shape[0] != n_in:
        op = f"{wname}.T" if transpose else wname
        raise ValueError(f"shape mismatch: {op} is {n_out}x{n_in}, so {xname}.shape[0] must be "
                         f"{n_in}; got {xname}.shape={X.shape}")
    k = X.shape[1] if ndim == 2 else 1
    return X, n_in, n_out, k, ((n_out, k) if ndim == 2 else (n_out,))


def as_c_array(x: Any, dtype: DTypeLike) -> np.ndarray:
    """`x` as a C-contiguous array of `dtype` (copied only when it is not one already)."""
    return np.ascontiguousarray(x, dtype=dtype)


ALIGNMENT = 64  # bytes: one cache line, one AVX-512 register
# Below this size a realigning copy costs more than the split loads it saves.
ALIGN_MIN_BYTES = 1 << 16


def new_output(shape: Tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
    """A new uninitialised C-contiguous result array; large ones come from the output cache
    (sparsenet._buffers: page-aligned blocks whose pages are already mapped; see
    sparsenet.set_buffer_cache), small ones are plain np.empty."""
    return _buffers.empty(shape, dtype)


def new_output_like(x: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """``np.empty_like(x, dtype=dtype)`` (same shape, axes in x's memory order: C for C-contiguous
    x, F for F-contiguous, else sorted by decreasing |stride|, as NumPy's order="K"), from the
    output cache when large."""
    if x.size * np.dtype(dtype).itemsize < _buffers.MIN_BYTES:
        return np.empty_like(x, dtype=dtype)
    if x.flags.c_contiguous or x.ndim <= 1:
        return _buffers.empty(x.shape, dtype)
    if x.flags.f_contiguous:
        return _buffers.empty(x.shape[::-1], dtype).T
    perm = sorted(range(x.ndim), key=lambda i: -abs(x.strides[i]))  # stable, as NumPy's sort
    y = _buffers.empty(tuple(x.shape[i] for i in perm), dtype)
    return y.transpose(np.argsort(perm))


def aligned_empty(shape: Tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a cache line, so that kernels
    loading whole rows never split a vector load across two lines (large ones come from the output
    cache, page-aligned)."""
    a = _buffers.empty(shape, dtype)
    if a.ctypes.data % ALIGNMENT == 0 or a.nbytes < ALIGN_MIN_BYTES:
        return a
    dtype = np.dtype(dtype)
    n_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = np.empty(n_bytes + ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    return buffer[start:start + n_bytes].view(dtype).reshape(shape)


def as_aligned_c_array(x: Any, dtype: DTypeLike) -> np.ndarray:
    """`x` as a C-contiguous array of `dtype`, cache-line aligned unless it is small (copied only
    when needed)."""
    x = np.asarray(x)
    if x.dtype == dtype and x.flags.c_contiguous and (
            x.ctypes.data % ALIGNMENT == 0 or x.nbytes < ALIGN_MIN_BYTES):
        return x
    out = aligned_empty(x.shape, dtype)
    np.copyto(out, x, casting="unsafe")
    return out


class Frozen:
    """Attributes set once, in __init__: the kernels trust what __init__ checked, so a checked
    object's arrays, shape or codebook cannot be swapped afterwards."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, name):
            raise AttributeError(f"{type(self).__name__}.{name} is read-only (checked when the "
                                 f"object was built); build a new {type(self).__name__} instead")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__}.{name} is read-only")

    def __reduce__(self) -> Tuple[Any, ...]:
        # A pickle is untrusted input, and its arrays would come back writeable: unpickling goes
        # through __init__ again, which checks them and keeps read-only copies.
        return type(self), self._init_args()

    def _init_args(self) -> Tuple[Any, ...]:
        """The positional arguments of __init__ that rebuild this object (for pickling)."""
        raise NotImplementedError


def read_only(a: np.ndarray, *, owned: bool = False) -> np.ndarray:
    """A read-only view of `a`. With owned=True (a fresh copy nobody else holds) `a` itself is made
    read-only first, so the view cannot be made writeable again."""
    if owned:
        a.flags.writeable = False
    a = a.view()
    a.flags.writeable = False
    return a


def check_out(out: Any, shape: Tuple[int, ...], dtype: DTypeLike, inputs: Iterable[np.ndarray],
              name: str = "out") -> np.ndarray:
    """Check a caller-provided output array: ndarray, writeable, C-contiguous, the right shape and
    dtype, and sharing no memory with the inputs (a kernel would read what it overwrote)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    for array in inputs:
        if np.may_share_memory(out, array):
            raise ValueError(f"{name} must not share memory with the inputs")
    return out


def check_index(value: Any, name: str, *, low: int = 0, high: Optional[int] = None) -> int:
    """An int in [low, high] (high=None: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """A bool (Python's or NumPy's); TypeError for anything else (0, 1, None, strings)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)
