"""The argument checks and normalisation that several API modules share.

Validation happens in the Python API layer, before any kernel reads user memory: the generic checks
(arrays and their dtypes, product operands, ``out=``, integer, real and bool arguments) are here;
the checks that belong to one family stay beside its API, in ``csr.py`` (the CSR structure: shape,
indptr, indices), ``shared.py`` (codebooks, codes), ``threshold.py`` (thresholds, formats, dense
``out=``) and ``omp.py`` (stop rules, finiteness). Messages name the argument, the expected and the
actual value. TypeError for types and dtypes, ValueError for shapes and values.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence, Tuple, Union
import inspect
import math

import numpy as np
from numpy.typing import DTypeLike

from sparsenet import _buffers, _policy

FLOATS = _policy.FLOATS


def result_dtype(*arrays_or_dtypes: Any, names: Sequence[str] = ()) -> np.dtype:
    """The float dtype NumPy's promotion gives the operands; integers and bools compute in float64."""
    # the common cases, one float operand or two of one float dtype, without the general rule
    first = getattr(arrays_or_dtypes[0], "dtype", arrays_or_dtypes[0]) if arrays_or_dtypes else None
    if first is not None and first in FLOATS and (
            len(arrays_or_dtypes) == 1 or len(arrays_or_dtypes) == 2
            and getattr(arrays_or_dtypes[1], "dtype", arrays_or_dtypes[1]) == first):
        return np.dtype(first)
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
    """`x` as an aligned C-contiguous array of `dtype` (copied only when it is not one already).

    Aligned: its address a multiple of the itemsize. A view made with ``np.frombuffer(buf,
    offset=1)`` is C-contiguous but not aligned, and a kernel's loads from it are undefined
    behaviour in C (UBSan flags them; some targets fault), so it is copied."""
    if isinstance(x, np.ndarray) and x.ndim == 2 and not x.flags.c_contiguous:
        return aligned_copy(x, dtype)  # a transposed matrix: the tiled copy
    x = np.ascontiguousarray(x, dtype=dtype)
    return x if x.flags.aligned else x.copy()


def as_aligned(x: np.ndarray) -> np.ndarray:
    """`x` itself when its address is a multiple of its itemsize, else an aligned copy in the same
    memory layout (see as_c_array)."""
    return x if x.flags.aligned else x.copy(order="K")


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
    dtype = np.dtype(dtype)
    n_bytes = math.prod(shape) * dtype.itemsize
    if n_bytes < ALIGN_MIN_BYTES:
        return np.empty(shape, dtype)
    if n_bytes >= _buffers.MIN_BYTES:  # cached blocks: page-aligned (plain np.empty over the limit)
        a = _buffers.empty(shape, dtype)
        if a.ctypes.data % ALIGNMENT == 0:
            return a
    # malloc's large blocks start 16 bytes into a page: one padded allocation, not a second try
    buffer = np.empty(n_bytes + ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % ALIGNMENT
    return buffer[start:start + n_bytes].view(dtype).reshape(shape)


# A product that reads each row of its matrix operand at least this many times on average pays for
# copying a misaligned operand to an aligned buffer. Measured on a Xeon (AVX-512), one thread: at
# 8192^2, 10%, 64 columns (819 reads a row) the copy made the product 1.2x faster (plain CSR and
# column blocks); at 1% (82 reads) it helped the column blocks and slowed the plain CSR; at the
# DLMC ResNet-50 layers whose rows of X are whole cache lines apart (6-51 reads a row) it cost
# more than the split loads it saved, 1.6x in geometric mean (and the kernels take rows of 32
# vectors or more in aligned vectors themselves: csr_segments.h, peel_columns).
REALIGN_MIN_READS = 128

# A product that reads each row of its matrix operand at least this many times on average pays for
# copying an operand whose rows are not whole cache lines long (most of their vector loads split
# across two lines) to rows padded to whole lines: see as_matrix_operand's `padded`.
PAD_MIN_READS = 8
# Rows of at most this many bytes are never padded: NumPy aligns its arrays to 16 bytes, so such
# rows never cross a cache line, and padding them only spreads X over more lines. Measured on Zen 4,
# scipy input at 8192^2, one thread, both in one process: padding 2 and 4 columns of float32 cost
# 11% at 1% density (0.80 -> 0.90 ms) and up to 5% at 10%; it paid from 8 columns (9.5 -> 8.4 ms
# at 10%) and 12 (10.8 -> 8.9).
UNSPLIT_ROW_BYTES = 16

# The same for B of sddmm, whose rows are read nnz / n_cols times each, every read a whole dot
# product. Measured on Zen 4 (AVX-512), B 16 bytes off a cache line as NumPy's large arrays are:
# issue 13's twelve MiniLM matrices (38 and 154 reads a row) 4.8 -> 3.9 ms (3.7 aligned), one
# thread; from 1536 x 384 to 4096^2, k = 32 to 256, the copy paid from 5-12 reads a row on one
# thread (1.14-1.46x at 20 reads and more), 0.96-1.83x on two with the operands rewritten before
# each call as in training, and it cost up to 20 us of a 28 us product at 1-4 reads.
SDDMM_REALIGN_MIN_READS = 16


def as_matrix_operand(x: Any, dtype: DTypeLike, reads_per_row: float,
                      min_reads: float = REALIGN_MIN_READS, *, padded: bool = False) -> np.ndarray:
    """`x` as a C-contiguous array of `dtype` for a kernel that loads its rows whole, each
    `reads_per_row` times on average: copied when its dtype or order differ, or to a cache-line
    aligned buffer when it is large (ALIGN_MIN_BYTES), its rows all start equally far from a cache
    line (rows a whole number of lines long) and they are read at least `min_reads` times, enough
    to pay for the copy.

    `padded`: the kernel takes X's row stride apart from its width (Y's). A matrix whose rows are
    not a whole number of cache lines long and are read at least PAD_MIN_READS times each is then
    copied, in the same one copy as any other, to rows padded to whole lines (aligned_empty),
    x in its first columns (the padding is never read)."""
    x = np.asarray(x)
    if (padded and x.ndim == 2 and x.shape[1] * np.dtype(dtype).itemsize > UNSPLIT_ROW_BYTES
            and reads_per_row >= PAD_MIN_READS):
        line = ALIGNMENT // np.dtype(dtype).itemsize
        ld = -(-x.shape[1] // line) * line
        if ld != x.shape[1]:
            out = aligned_empty((x.shape[0], ld), dtype)
            copy_into(out[:, :x.shape[1]], x)
            return out
    if not (x.dtype == dtype and x.flags.c_contiguous and x.flags.aligned):
        return aligned_copy(x, dtype)
    row_bytes = x.shape[-1] * x.itemsize  # C-contiguous: the kernel's row stride
    # the address last: x.ctypes builds an object on each access, the other tests are attributes
    if (x.nbytes >= ALIGN_MIN_BYTES and reads_per_row >= min_reads
            and row_bytes % ALIGNMENT == 0 and x.ctypes.data % ALIGNMENT):
        return aligned_copy(x, dtype)
    return x


def aligned_copy(x: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """A copy of `x` in `dtype`, C-contiguous and cache-line aligned (see aligned_empty)."""
    out = aligned_empty(x.shape, dtype)
    copy_into(out, x)
    return out


# Below this many elements NumPy's copy of a transposed matrix costs no more than a native call.
TILED_COPY_MIN = 4096


def copy_into(out: np.ndarray, x: np.ndarray, threads: int = 1) -> None:
    """``out[...] = x`` (cast unsafely), `out` with contiguous rows: a column-major float matrix (a
    transposed C array: PyTorch layers hand over x^T) by the native tiled copy
    (sparsenet._buffers.copy_rows, 2-13x NumPy's copy, which reads such a matrix a cache line an
    element), anything else by NumPy (a broadcast operand, stride 0, is a fill for NumPy)."""
    if (x.ndim == 2 and x.strides[0] == x.itemsize and x.strides[1] != x.itemsize
            and x.dtype == out.dtype and x.dtype in FLOATS and x.size >= TILED_COPY_MIN
            and x.flags.aligned):
        _buffers.copy_rows(threads, x, out)
    else:
        np.copyto(out, x, casting="unsafe")


class Frozen:
    """Attributes set once, by a checking constructor: the kernels trust what it checked, so a
    checked object's arrays, shape or codebook cannot be swapped afterwards.

    Every way of making one checks: __init__; pickles and copies, which __reduce__ sends through
    __init__ again; and forged pickles, whose state (NEWOBJ + BUILD, or copyreg's reconstructor,
    bypass __init__ and __reduce__) __setstate__ sends through it too. A checking constructor ends
    with _seal(); the entry points that hand the object's arrays to a kernel call require_checked,
    which refuses an unsealed one (e.g. ``CSR.__new__(CSR)`` with attributes set by hand)."""

    __slots__ = ("_checked",)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_checked" or hasattr(self, name):
            raise AttributeError(f"{type(self).__name__}.{name} is read-only (checked when the "
                                 f"object was built); build a new {type(self).__name__} instead")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__}.{name} is read-only")

    def _seal(self) -> None:
        """Marks this object as built by a checking constructor (the last step of each)."""
        object.__setattr__(self, "_checked", True)

    def __reduce__(self) -> Tuple[Any, ...]:
        # A pickle is untrusted input, and its arrays would come back writeable: unpickling goes
        # through __init__ again, which checks them and keeps read-only copies.
        return type(self), self._init_args()

    def _init_args(self) -> Tuple[Any, ...]:
        """The positional arguments of __init__ that rebuild this object (for pickling)."""
        raise NotImplementedError

    def __setstate__(self, state):
        # Only a pickle that sparsenet did not write gets here (ours rebuild through __init__): an
        # object made without __init__, then given `state`, the fields by name, as a dict or as
        # (dict, slots) the way pickle stores slot objects; older sparsenet pickles look like this.
        # The fields are checked by the constructor, whose result this object becomes.
        if getattr(self, "_checked", False):
            raise TypeError(f"this {type(self).__name__} is already built; its state is read-only")
        built = type(self)._from_fields(_state_fields(state, type(self).__name__))
        for name in _slots(type(self)):
            if hasattr(built, name):
                object.__setattr__(self, name, getattr(built, name))

    @classmethod
    def _from_fields(cls, fields):
        """A checked object from the fields of a pickle's state (the arguments of __init__ by
        name; the rest, derived by __init__, is ignored)."""
        params = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        missing = [p.name for p in params if p.name not in fields and p.default is p.empty
                   and p.kind is p.POSITIONAL_OR_KEYWORD]
        if missing:
            raise TypeError(f"a pickled {cls.__name__} must hold {', '.join(missing)}")
        return cls(**{p.name: fields[p.name] for p in params if p.name in fields})


def _state_fields(state, what):
    """The fields of a pickle's state: a dict, or (dict or None, dict or None)."""
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
    fields = {}
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, dict) or not all(isinstance(k, str) for k in part):
            raise TypeError(f"a pickled {what} must have its fields by name, got a "
                            f"{type(part).__name__}")
        fields.update(part)
    return fields


def _slots(cls):
    return [name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())]


def require_checked(obj, name):
    """`obj` (a Frozen container) if a checking constructor built it; ValueError otherwise."""
    if getattr(obj, "_checked", False) is not True:
        kind = type(obj).__name__
        raise ValueError(f"{name} is a {kind} that no checking constructor built (made with "
                         f"{kind}.__new__ or an edited pickle?); build it with sparsenet.{kind}(...)")
    return obj


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
    if not out.flags.aligned:
        raise ValueError(f"{name} must be aligned (its address a multiple of its itemsize "
                         f"{out.itemsize}); a kernel cannot write a misaligned array in place")
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


def check_real(value: Any, name: str, *, low: float = 0.0, strict: bool = False) -> float:
    """A finite real number >= low (> low with `strict`), as a float: TypeError unless an int or
    a float (Python's or NumPy's; not a bool), ValueError for NaN, infinities and values below."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not (value > low if strict else value >= low) or math.isinf(value):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}, "
                         f"got {value!r}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """A bool (Python's or NumPy's); TypeError for anything else (0, 1, None, strings)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)
