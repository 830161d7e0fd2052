"""PyTorch layers and autograd functions on sparsenet's kernels (``pip install sparsenet[torch]``).

Pruned (CSR), shared (codebook), pruned-and-shared and hashed weights that train with autograd on
CPU tensors: the structure (column indices, codes) is fixed, the stored values or the codebook are
``nn.Parameter``s. ``import sparsenet`` never imports torch; ``import sparsenet.torch`` does.

- Functions (differentiable in their tensor arguments to any order, in reverse mode, in forward
  mode with ``torch.autograd.forward_ad``, and under ``torch.func``'s transforms: ``grad``,
  ``jvp``, ``vmap`` and those made of them): :func:`csr_matmul`, :func:`sddmm`,
  :func:`shared_matmul`, :func:`shared_csr_matmul`, :func:`hashed_matmul`, :func:`kwinners`.
  ``torch.compile`` runs them eagerly (graph breaks); tracers of tensor operations
  (``torch.jit.trace``, ``make_fx``, ``torch.func.linearize``) are refused (RuntimeError).
- Layers with ``nn.Linear``'s conventions (input ``(..., in_features)``, ``weight`` ``(out, in)``,
  optional bias): :class:`SparseLinear`, :class:`SharedLinear`, :class:`SharedSparseLinear`,
  :class:`HashedLinear`, and :class:`KWinners`.
- Conversion of a trained model: :func:`sparsify` (magnitude pruning), :func:`share` (k-means
  codebook); :func:`stored_nbytes` is the size of a model in compact storage.

State dicts: a layer takes one of another structure (nnz, codebook size: its Parameters resized in
place) and, as ``nn.Linear``, refuses one of another shape (``load_state_dict`` raises RuntimeError,
"size mismatch for ...weight_shape"), leaving the layer as it was. The shape is the buffer
``weight_shape``, ``(out_features, in_features)``, as the rest need not tell it (a pruned layer's
last columns may be empty; a :class:`HashedLinear` stores nothing per weight); the structure is
checked against it in full when loading, as the first forward would. State dicts saved before
``weight_shape`` existed (version 1) still load, their structure checked but not their
``in_features``.

Tensors stay on the CPU and are shared with NumPy without copies (``Tensor.numpy()``,
``torch.from_numpy``) where the layout allows. Threads: every native call made here runs on at most
``min(sparsenet.get_num_threads(), torch.get_num_threads())`` threads, so ``torch.set_num_threads``
governs both libraries and the two never run more threads than torch was told to use.
"""
import contextlib
import functools
import math
from typing import Tuple

import numpy as np
import torch
from torch import nn
from torch.autograd import forward_ad

import sparsenet
from sparsenet import _csr, _csr_blocks, _policy, backend
from sparsenet.csr import CSR
from sparsenet.shared import HashedWeights, SharedCSR, SharedWeights
from sparsenet._validate import (aligned_empty, as_c_array, as_matrix_operand, check_index,
                                 copy_into, read_only, require_checked)

_FLOAT_DTYPES = (torch.float32, torch.float64)
# torch.compile must not trace into the kernels' calls (NumPy views of tensors, native code): the
# functions and layers run eagerly, as graph breaks of a compiled model (torch.compiler from 2.1)
_eager = torch.compiler.disable if hasattr(torch, "compiler") else torch._dynamo.disable
# torch.func: whether a transform runs (inside one, Tensor.numpy() fails on every tensor), and a
# context in which NumPy sees plain tensors' memory again. Private torch functions; without them
# torch.func fails in Tensor.numpy(), as it did before they were used
_transforms_active = getattr(torch._C, "_are_functorch_transforms_active", None)
_outside_transforms = getattr(torch._C, "_DisableFuncTorch", contextlib.nullcontext)
# the proxy-tensor tracer's dispatch mode (make_fx), None outside one (private too; without it,
# make_fx's tracing is not seen)
_PROXY = getattr(getattr(torch._C, "_TorchDispatchModeKey", None), "PROXY", None)
_proxy_mode = getattr(torch._C, "_get_dispatch_mode", None) if _PROXY is not None else None


# ---- tensors <-> arrays ------------------------------------------------------------------------------

def _check_tensor(t, name, dtype=None):
    """`t` as a CPU strided float tensor (of `dtype` when given), or a clear error."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{name} must be a CPU tensor (sparsenet's kernels run on the CPU), "
                         f"got device {t.device}; move it with {name}.cpu()")
    if t.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor, got layout {t.layout}")
    if dtype is None and t.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {t.dtype}")
    if dtype is not None and t.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype} (that of the weights), got {t.dtype}")
    return t


def _array(t):
    """The NumPy view of a checked CPU tensor (no copy; conjugate/negative views resolved)."""
    if _traced():
        raise RuntimeError(
            "sparsenet.torch computes on tensors' values through NumPy and native code, which a "
            "tracer (torch.jit.trace, torch.fx's make_fx, torch.func.linearize) cannot record: "
            "its graph would hold this call's result as a constant, a wrong answer for any other "
            "input. Run the model eagerly; torch.compile runs sparsenet's layers and functions "
            "eagerly, as graph breaks")
    if t.requires_grad or t.is_conj() or t.is_neg():  # tensor ops only where needed: in a
        # torch.func transform their results are the transform's tensors, without memory
        t = t.detach().resolve_conj().resolve_neg()
    return t.numpy()


def _traced():
    """Whether torch.jit.trace or a proxy-tensor tracer (make_fx: torch.func.linearize,
    torch.export) is recording: it sees tensor operations, not what NumPy computes."""
    return torch._C._is_tracing() or (_proxy_mode is not None and _proxy_mode(_PROXY) is not None)


def _tensor(a):
    """A tensor viewing the array `a` (no copy)."""
    return torch.from_numpy(a)


def _threads():
    """The cap on sparsenet's threads inside a torch computation: torch's intra-op thread count."""
    return backend.thread_limit(torch.get_num_threads())


def _native_options():
    """(isa, threads) for a native call made here: what _threads() gives the public functions,
    without entering a context (a layer's hot path)."""
    isa, threads = backend.native_options()
    return isa, min(threads, torch.get_num_threads())


def _in_transform():
    """Whether a torch.func transform (grad, jvp, vmap, ...) runs: then NumPy sees no tensor's
    memory (its tensors are wrappers without one; Tensor.numpy() fails on any tensor), so the
    kernels run only inside an autograd Function, which torch.func calls with plain tensors."""
    return _transforms_active is not None and _transforms_active()


def _recorded(*args):
    """Whether autograd records an operation on `args`: in reverse mode (grad enabled and a tensor
    that requires grad), in forward mode (a dual tensor's tangent, with or without grad mode), or
    anywhere while a torch.func transform runs."""
    if _in_transform():
        return True
    if torch.is_grad_enabled() and any(isinstance(a, torch.Tensor) and a.requires_grad
                                       for a in args):
        return True
    # a dual level is open: torch's private counter, -1 when none (were it gone, every call
    # would look at the tangents)
    return getattr(forward_ad, "_current_level", 0) >= 0 and any(
        isinstance(a, torch.Tensor) and forward_ad.unpack_dual(a).tangent is not None
        for a in args)


def _differentiable(function, *args):
    """``function.apply(*args)``, or only its forward when autograd records nothing (inference, or
    no tensor argument requiring grad; a backward pass without ``create_graph``): autograd's
    bookkeeping costs tens of microseconds a call, as much as a small layer's product."""
    if _recorded(*args):
        return function.apply(*args)
    return function.forward(*args)


# ---- structures with the tensor's current values -----------------------------------------------------

def _csr_pattern(pattern, name="pattern"):
    """A checked CSR (refusing one not built by a checking constructor), or a scipy CSR matrix
    checked now."""
    return sparsenet.csr.as_csr(pattern, name)


def _with_values(pattern, values):
    """The checked CSR `pattern` with `values` as its stored values (the structure is not checked
    again: it was when `pattern` was built, and its index arrays are read-only copies). Values
    that are a strided view (an expanded or flipped tensor, a gradient) or misaligned (a tensor
    over a byte buffer) are copied contiguous and aligned, as a CSR's arrays are: the kernels
    take no other."""
    A = CSR.__new__(CSR)
    for name in ("indices", "indptr", "shape", "has_canonical_format"):
        setattr(A, name, getattr(pattern, name))
    A.data = read_only(as_c_array(values, values.dtype))
    A._blocks = A._blocks_t = A._optimized = None
    A._seal()  # built from a checked structure: as trusted as `pattern`
    return A


class _Layout:
    """A checked CSR structure and how its products sweep blocks of columns (those of
    ``CSR.optimize``), so that each block gathers from a slice of X that stays in cache (MiniLM
    FFN, 1536 x 384 at 10%, 128 tokens: 1.0 -> 0.7 ms). A layer's values change at every
    training step, its structure never does, so the layout is made once per batch size:

    - for A, the cuts of each row between the blocks (rows sorted by column): the product reads
      the values where they are;
    - for A^T (and an A with unsorted rows), column blocks kept as the order of the stored
      values in the blocks: a product gathers the values first (nnz)."""

    def __init__(self, pattern):
        self.pattern = pattern
        self._widths = {}  # (batch, itemsize, transposed) -> block width (0: no blocks)
        self._layouts = {}  # (width, transposed) -> ColumnSplits, (blocks, order), or None
        self._vector = None  # (the values' data_ptr, their native vector product)

    def __getstate__(self):
        # the vector product reads a tensor's memory by its address: not carried by a pickle
        return {**self.__dict__, "_vector": None}

    def vector_product(self, values):
        """The native product of a vector and this structure with the stored `values` (a tensor
        of the layer), reading their memory in place, so that an optimizer's in-place steps are
        seen; kept while the values stay at one address (the array it holds keeps that memory
        alive, so no other tensor can take it). None for values that are not C-contiguous and
        aligned (a copy would not follow their updates)."""
        address = values.data_ptr()
        if self._vector is None or self._vector[0] != address:
            v = _array(values)
            if not (v.flags.c_contiguous and v.flags.aligned and v.ndim == 1):
                return None
            self._vector = (address, _with_values(self.pattern, v)._vector_product())
        return self._vector[1]

    def _blocked(self, batch, itemsize, transposed):
        P = self.pattern
        key = (batch, itemsize, transposed)
        if key not in self._widths:  # once per batch size: block_width is Python arithmetic
            n_rows, n_cols = P.shape[::-1] if transposed else P.shape
            self._widths[key] = _csr_blocks.block_width(n_rows, n_cols, P.nnz, batch, itemsize,
                                                        transposed=transposed)
        width = self._widths[key]
        if (width, transposed) not in self._layouts:
            found = None
            if width and not transposed and P.has_canonical_format:
                # one block (width >= n_cols): the plain kernel, which takes column panels itself
                found = _csr_blocks.column_splits(P, width) if width < P.shape[1] else None
            elif width and P.nnz < 2**53:  # entry numbers exact in float64
                numbered = _with_values(P, np.arange(P.nnz, dtype=np.float64))
                blocks = _csr_blocks.for_product(numbered, batch, transposed, itemsize)
                found = blocks and (blocks, blocks.values.astype(_policy.csr_index_dtype(0, P.nnz)))
            self._layouts[width, transposed] = found
        return self._layouts[width, transposed]

    def product(self, values, X, transpose):
        """``A @ X`` (``A.T @ X`` with `transpose`), A of this structure with the stored `values`
        (an array in CSR order), X a checked array of their dtype: the layers' hot path, with no
        matrix object built and no check repeated."""
        found = (self._blocked(X.shape[1], values.dtype.itemsize, transpose)
                 if X.ndim == 2 and X.shape[1] > 1 and not backend.use_numpy() else None)
        if found is None:
            if X.ndim == 1 or backend.use_numpy():
                with _threads():
                    return _plain_product(self.pattern, values, X, transpose)
            return self._plain_matmul(values, X, transpose)
        n_out = self.pattern.shape[1] if transpose else self.pattern.shape[0]
        Y = aligned_empty((n_out, X.shape[1]), values.dtype)
        reads_per_row = values.size / max(X.shape[0], 1)
        # padded rows where they pay: the blocked kernels take X's row stride apart from its width
        X = as_matrix_operand(X, values.dtype, reads_per_row, padded=True)
        values = np.ascontiguousarray(values)
        isa, threads = _native_options()
        if isinstance(found, _csr_blocks.ColumnSplits):
            found.matmul(isa, threads, self.pattern, values, X, Y)
        else:
            blocks, order = found
            ordered = np.empty(order.shape, values.dtype)
            _csr.gather_values(values, order, ordered)
            blocks.matmul(isa, threads, ordered, X, Y)
        return Y


    def _plain_matmul(self, values, X, transpose):
        """``A @ X`` (``A.T @ X``) by the plain kernel, X's operand made as CSR._matmul makes it
        (the same call and bits), without the matrix object, spmm's checks and a thread context:
        a 64x64 layer's forward of 32 tokens took 170 us against 24 for nn.Linear, most of it
        those."""
        P = self.pattern
        n_in, n_out = P.shape if transpose else P.shape[::-1]
        Y = aligned_empty((n_out, X.shape[1]), values.dtype)
        X = as_matrix_operand(X, values.dtype, P._reads_per_operand_row(n_in, transpose),
                              padded=P._takes_padded_rows(transpose))  # its rows may be wider
        _csr.matmul(*_native_options(), P.indptr, P.indices, as_c_array(values, values.dtype), X,
                    Y, transpose, P.has_canonical_format)
        return Y


def _with_codebook(w, codebook):
    """A copy of the checked SharedWeights / SharedCSR / HashedWeights `w` whose codebook is the
    array `codebook` (same length: the codes were checked against it)."""
    new = type(w).__new__(type(w))
    for name in type(w).__slots__:
        setattr(new, name, read_only(codebook) if name == "codebook" else getattr(w, name))
    new._seal()  # a checked object's fields, the codebook of the same length
    return new


def _check_values(values, n, name):
    _check_tensor(values, name)
    if values.ndim != 1 or values.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {tuple(values.shape)}")


def _check_operand(X, n_rows, dtype, name, what):
    _check_tensor(X, name, dtype)
    if X.ndim not in (1, 2) or X.shape[0] != n_rows:
        raise ValueError(f"{name} must have shape ({n_rows},) or ({n_rows}, k) ({what}), "
                         f"got {tuple(X.shape)}")


def _product(native, X, transpose=False):
    """Run native(X_array, transpose) -> array on a checked tensor X; returns a tensor."""
    with _threads():
        return _tensor(native(_array(X), transpose))


# ---- autograd functions -------------------------------------------------------------------------------

def _plain_product(pattern, values, X, transpose):
    """``A @ X`` (``A.T @ X``) for the checked CSR structure `pattern` with the stored `values`
    (arrays)."""
    A = _with_values(pattern, values)
    return (sparsenet.spmv if X.ndim == 1 else sparsenet.spmm)(A, X, transpose=transpose)


def _csr_product(pattern, values, X, transpose):
    """``A @ X`` (``A.T @ X``) as a tensor, A of the structure `pattern` (a checked CSR, or a
    SparseLinear's _Layout, whose column blocks are cached) with the stored `values`."""
    if isinstance(pattern, _Layout):
        return _tensor(pattern.product(_array(values), _array(X), transpose))
    with _threads():
        return _tensor(_plain_product(pattern, _array(values), _array(X), transpose))


def _gradient_rows(ctx, grad):
    """The output gradient of a product for the backward pass's two products (of the trainable
    values or codebook, and of X): a transposed gradient (PyTorch's ops hand one over) is copied to
    rows once, not by each product."""
    if not (ctx.needs_input_grad[0] and ctx.needs_input_grad[1] and grad.ndim == 2):
        return grad
    return _differentiable(_Rows, grad)


def _column_major(X):
    """Whether the matrix X is column-major (X^T of a row-major input: a layer's x.T)."""
    return X.ndim == 2 and X.shape[1] > 1 and X.stride(0) == 1 and X.stride(1) != 1


def _in_input_layout(ctx, grad_X):
    """The product's dL/dX (C-ordered) in the layout of the forward's X: column-major when X was
    (``ctx.column_major_input``), copied by the tiled copy. A layer's input gradient is then
    row-major like a row-major input, PyTorch's layout for a gradient; otherwise a leaf input's
    AccumulateGrad copied it with PyTorch's transposing copy (1.8 ms of a step of the bench's 1x1
    convolutions, profiled; the tiled copy of their 3136 x 256 float32 takes 0.3-0.4 ms from
    memory), and a dense layer or LayerNorm before this one got it column-major (a Linear, ReLU and
    SparseLinear step over those positions: 18.0 -> 15.1 ms). A gradient that autograd records
    (create_graph) or a transform's stays as it is."""
    if not ctx.column_major_input or _recorded(grad_X):
        return grad_X
    G = _array(grad_X)
    rows = aligned_empty(G.shape[::-1], G.dtype)
    copy_into(rows, G.T)
    return _tensor(rows).T


class _Function(torch.autograd.Function):
    """An autograd Function in torch.func's form (a forward without ctx, then setup_context),
    applied outside torch.func as autograd applies one of the older form: Function.apply first
    binds the arguments to forward's signature with inspect, ~20 us a call (as much as a small
    layer's product), for default values that these forwards do not have."""

    @classmethod
    def apply(cls, *args):
        if _in_transform():
            return super().apply(*args)
        return super(torch.autograd.Function, cls).apply(*args)  # torch's C++ apply


class _Rows(_Function):
    """A strided matrix copied to rows (C order, aligned), by the tiled copy where torch's own
    transposing copy took 4-5x longer; its gradient and tangent pass as they are."""

    @staticmethod
    def forward(X):
        rows = _array(X)
        return _tensor(as_c_array(rows, rows.dtype))

    @staticmethod
    def setup_context(ctx, inputs, output):
        # no gradient reaches the copy of a product's X but in a second derivative: None passes
        # as None, not as zeros added to X's gradient
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, grad):
        return grad

    @staticmethod
    def jvp(ctx, d_X):
        return d_X

    @staticmethod
    def vmap(info, in_dims, X):
        return X.contiguous(), in_dims[0]


def _saved_rows(values, X):
    """The matrix X copied to rows when the backward pass will read it (`values` requires grad)
    and it is strided (X^T of a row-major input), for the CSR product and the backward's sddmm
    alike: copied once, here, where each would copy it; else None. The copy stays in autograd's
    graph, so that a backward pass recorded for a second derivative sees X through it."""
    if X.ndim == 2 and not X.is_contiguous() and torch.is_grad_enabled() and values.requires_grad:
        return _differentiable(_Rows, X)
    return None


class _Bilinear(_Function):
    """A Function of two tensors, linear in each, then arguments that setup_context keeps as
    ``ctx.static`` (and the two tensors for forward mode): its tangent is f(d_first, second) +
    f(first, d_second), the terms of the tangents given; under vmap, a loop over the batch unless
    a subclass does better."""

    @classmethod
    def jvp(cls, ctx, d_first, d_second, *_):
        first, second = ctx.saved_tensors
        terms = []
        if d_first is not None:
            terms.append(_differentiable(cls, d_first, second, *ctx.static))
        if d_second is not None:
            terms.append(_differentiable(cls, first, d_second, *ctx.static))
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]

    @classmethod
    def vmap(cls, info, in_dims, *args):
        """By a loop: the Function on each member of the batch, the results stacked."""
        members = [[a if d is None else a.select(d, b) for a, d in zip(args, in_dims)]
                   for b in range(info.batch_size)]
        return torch.stack([_differentiable(cls, *member) for member in members]), 0


class _Product(_Bilinear):
    """``W @ X`` (``W.T @ X`` with `transpose`) for a structure whose weights are the tensor
    `first` (a CSR's stored values, a codebook), linear in `first` and in X; `rows`, when not
    None, is X copied to rows (_saved_rows), which the product and the backward read in its place.
    A subclass gives the forward and, as ``_first_gradient``, the _Sampled Function of dL/dfirst;
    its backward is that and the transposed product, each a Function (so differentiable again)."""

    _first_gradient: "type[_Sampled]"

    @staticmethod
    def setup_context(ctx, inputs, output):
        first, X, ctx.structure, ctx.transpose, rows = inputs
        ctx.static = (ctx.structure, ctx.transpose, None)  # a tangent's product reads it, not rows
        ctx.column_major_input = _column_major(X)
        ctx.save_for_backward(first, X if rows is None else rows)
        ctx.save_for_forward(first, X)

    @classmethod
    def vmap(cls, info, in_dims, first, X, *static):
        """A batch of X alone is one product of its columns side by side (a batch of inputs
        through a layer: one kernel call); a batch of `first` (of weights), the loop."""
        if in_dims[0] is not None or any(d is not None for d in in_dims[2:]):
            return super().vmap(info, in_dims, first, X, *static)
        columns = X.movedim(in_dims[1], -1)  # (n, [k,] batch)
        Y = _differentiable(cls, first, _as_rows(columns), *static)
        return Y.reshape(Y.shape[0], *columns.shape[1:]), columns.ndim - 1

    @classmethod
    def backward(cls, ctx, grad):
        first, X = ctx.saved_tensors
        grad_first = grad_X = None
        G = _gradient_rows(ctx, grad)
        if ctx.needs_input_grad[0]:  # G X^T sampled on W's weights ((X G^T) for W^T)
            A, B = (X, G) if ctx.transpose else (G, X)
            grad_first = _differentiable(cls._first_gradient, _as_rows(A), _as_rows(B),
                                         ctx.structure)
        if ctx.needs_input_grad[1]:  # W^T G (W G for W^T)
            grad_X = _in_input_layout(ctx, _differentiable(
                cls, first, G, ctx.structure, not ctx.transpose, None))
        return grad_first, grad_X, None, None, None


class _Sampled(_Bilinear):
    """The products ``A @ B.T`` sampled on a structure's weights (SDDMM: at each stored entry; a
    codebook's gradient: summed by code), linear in A and in B. A subclass gives the forward and,
    as ``_product``, the structure's _Product Function: the backward is that product with the
    gradient as the weights, S B for A and S^T A for B."""

    _product: "type[_Product]"

    @staticmethod
    def setup_context(ctx, inputs, output):
        A, B, ctx.structure = inputs
        ctx.static = (ctx.structure,)
        ctx.save_for_backward(A, B)
        ctx.save_for_forward(A, B)

    @classmethod
    def backward(cls, ctx, grad):
        A, B = ctx.saved_tensors
        grad_A = grad_B = None
        if ctx.needs_input_grad[0]:
            grad_A = _differentiable(cls._product, grad, B, ctx.structure, False, None)
        if ctx.needs_input_grad[1]:
            grad_B = _differentiable(cls._product, grad, A, ctx.structure, True, None)
        return grad_A, grad_B, None


class _CSRMatmul(_Product):
    """A X for the CSR matrix A of the structure `pattern` (a checked CSR, or a layer's _Layout)
    with the stored `values`."""

    @staticmethod
    def forward(values, X, pattern, transpose, rows):
        return _csr_product(pattern, values, X if rows is None else rows, transpose)


def _csr_matmul(values, X, pattern):
    """``A @ X`` through autograd where it records (X copied to rows once where that pays)."""
    return _differentiable(_CSRMatmul, values, X, pattern, False, _saved_rows(values, X))


@_eager
def csr_matmul(pattern, values, X):
    """``A @ X`` for the CSR matrix A with the structure of `pattern` and the stored values `values`,
    differentiable in `values` and `X`.

    The backward pass computes ``dL/dX = A.T @ dL/dY`` (transposed product) and
    ``dL/dvalues = sddmm(pattern, dL/dY, X)``: the gradient at the stored positions only.

    Parameters
    ----------
    pattern : sparsenet.CSR or scipy.sparse CSR matrix, shape (n_rows, n_cols)
        The structure (its own values are not read). A scipy matrix is checked on each call.
    values : Tensor, shape (nnz,), float32 or float64
    X : Tensor, shape (n_cols,) or (n_cols, k), the dtype of `values`

    Returns
    -------
    Tensor, shape (n_rows,) or (n_rows, k)

    Examples
    --------
    >>> import numpy as np, torch, sparsenet, sparsenet.torch as snt
    >>> P = sparsenet.CSR.from_dense(np.array([[1., 0.], [1., 1.]]))
    >>> values = torch.tensor([1., 2., 3.], requires_grad=True)
    >>> Y = snt.csr_matmul(P, values, torch.ones(2, 3))
    >>> Y
    tensor([[1., 1., 1.],
            [5., 5., 5.]], grad_fn=<_CSRMatmulBackward>)
    >>> Y.sum().backward(); values.grad
    tensor([3., 3., 3.])
    """
    pattern = _csr_pattern(pattern)
    _check_values(values, pattern.nnz, "values")
    _check_operand(X, pattern.shape[1], values.dtype, "X", "n_cols of the pattern")
    return _csr_matmul(values, X, pattern)


class _SDDMM(_Sampled):
    _product = _CSRMatmul

    @staticmethod
    def forward(A, B, pattern):
        pattern = pattern.pattern if isinstance(pattern, _Layout) else pattern
        with _threads():
            return _tensor(sparsenet.sddmm(pattern, _array(A), _array(B)))


_CSRMatmul._first_gradient = _SDDMM


@_eager
def sddmm(pattern, A, B):
    """``(A @ B.T)`` at the stored positions of `pattern` (see :func:`sparsenet.sddmm`), differentiable
    in `A` and `B`.

    Examples
    --------
    >>> import numpy as np, torch, sparsenet, sparsenet.torch as snt
    >>> P = sparsenet.CSR.from_dense(np.array([[1., 0.], [1., 1.]]))
    >>> snt.sddmm(P, torch.tensor([[1., 2.], [3., 4.]]), torch.eye(2))
    tensor([1., 3., 4.])
    """
    pattern = _csr_pattern(pattern)
    _check_tensor(A, "A")
    _check_tensor(B, "B", A.dtype)
    n_rows, n_cols = pattern.shape
    if A.ndim != 2 or B.ndim != 2 or A.shape[0] != n_rows or B.shape[0] != n_cols \
            or A.shape[1] != B.shape[1]:
        raise ValueError(f"shape mismatch: pattern is {n_rows}x{n_cols}, so A must be ({n_rows}, k) "
                         f"and B ({n_cols}, k); got A {tuple(A.shape)}, B {tuple(B.shape)}")
    return _differentiable(_SDDMM, A, B, pattern)


class _CodebookMatmul(_Product):
    """W X for a codebook-backed W (SharedWeights, HashedWeights or SharedCSR) whose codebook is
    the tensor `codebook` (`rows` is always None: the products copy X themselves)."""

    @staticmethod
    def forward(codebook, X, weights, transpose, rows):
        w = _with_codebook(weights, _array(codebook))
        return _product(lambda x, t: _codebook_product(w, x, t), X, transpose)


class _CodebookGrad(_Sampled):
    """dL/dcodebook of W X for the output gradient G: each codebook entry's sum of
    ``(G X^T)[i, j]`` over the weights (i, j) holding its code (sparsenet.codebook_grad)."""

    _product = _CodebookMatmul

    @staticmethod
    def forward(G, X, weights):
        G, X = _array(G), _array(X)
        w = _with_codebook(weights, np.zeros(weights.codebook.shape, G.dtype))
        with _threads():
            return _tensor(_codebook_grad(w, G, X))


_CodebookMatmul._first_gradient = _CodebookGrad


def _codebook_product(w, X, transpose):
    if isinstance(w, SharedCSR):
        return (sparsenet.spmv if X.ndim == 1 else sparsenet.spmm)(w, X, transpose=transpose)
    if isinstance(w, HashedWeights):
        return (sparsenet.hashed_matvec if X.ndim == 1 else sparsenet.hashed_matmul)(
            w, X, transpose=transpose)
    return (sparsenet.shared_matvec if X.ndim == 1 else sparsenet.shared_matmul)(
        w, X, transpose=transpose)


def _as_rows(a):
    """`a` as a matrix of its first axis's rows (reshape(n, -1) fails on an empty a with n = 0)."""
    return a.reshape(a.shape[0], math.prod(a.shape[1:]))


def _codebook_grad(w, G, X):
    if isinstance(w, SharedCSR):  # the values' gradient (SDDMM) summed into the codes' bins
        per_value = sparsenet.sddmm(w, _as_rows(G), _as_rows(X))
        return np.bincount(w.codes, weights=per_value,
                           minlength=w.codebook.shape[0]).astype(per_value.dtype)
    return sparsenet.codebook_grad(w, G, X)


def _plain_bias(bias, dtype, n):
    """Whether `bias` is a 1-D CPU tensor of `n` entries of `dtype`, which a product adds."""
    return (bias.dtype == dtype and bias.device.type == "cpu" and bias.layout == torch.strided
            and bias.shape == (n,))


def _codebook_product_plus_bias(weights, codebook, XT, bias):
    """``W X^T + bias[:, None]`` (no bias when None) for a codebook layer's checked structure
    `weights`, its `codebook` and input XT (checked by the layer, of the codebook's dtype), straight
    to the structure's product: the general path's calls (the autograd Function's forward, the
    public function's checks; for a SharedCSR all of spmm's) cost 70-100 us a call on one token
    of a MiniLM matrix. Shared and hashed weights add the bias as the product's last step, a
    SharedCSR after it: the same bits as adding it after. None when autograd records the call, or
    the bias is not a 1-D CPU tensor of that dtype."""
    if _recorded(XT, codebook, bias) or bias is not None and not _plain_bias(
            bias, codebook.dtype, weights.shape[0]):
        return None
    cb = _array(codebook)
    if isinstance(weights, SharedCSR):  # torch's add: NumPy's of a broadcast column took 2-3x longer
        w = _with_codebook(weights, cb)
        Y = _product(lambda X, transpose: w._matmul(X, transpose, None, X.dtype), XT)
        return Y if bias is None else Y.add_(bias[:, None])
    if backend.use_numpy():
        return None
    # shared and hashed weights: their native product at once (their _matmul's work: X in C
    # order), without _product's thread context and the codebook's copy of the structure, 28 us
    # of a one-token call on a MiniLM matrix (149 -> 120 us)
    X = as_c_array(_array(XT), cb.dtype)
    Y = aligned_empty((weights.shape[0], X.shape[1]), cb.dtype)
    b = None if bias is None else as_c_array(_array(bias), cb.dtype)
    weights._native_matmul(*_native_options(), cb, X, Y, False, b)
    return _tensor(Y)


def _codebook_layer_product_plus_bias(layer, XT, bias):
    """_SparsenetLinear._product_plus_bias of the codebook layers."""
    return _codebook_product_plus_bias(layer.structure(), layer.codebook, XT, bias)


def _codebook_call(weights, kind, codebook, X):
    if not isinstance(weights, kind):
        raise TypeError(f"weights must be a sparsenet.{kind.__name__}, got {type(weights).__name__}")
    require_checked(weights, "weights")
    if len(weights.shape) != 2:
        raise ValueError(f"weights must be 2-D, got shape {weights.shape}")
    _check_values(codebook, weights.codebook.shape[0], "codebook")
    _check_operand(X, weights.shape[1], codebook.dtype, "X", "n_cols of the weights")
    return _differentiable(_CodebookMatmul, codebook, X, weights, False, None)


@_eager
def shared_matmul(weights, codebook, X):
    """``W @ X`` for ``W = codebook[weights.codes]``, differentiable in `codebook` and `X`.

    The codes come from `weights` (a :class:`sparsenet.SharedWeights`; its own codebook is not
    read); the backward pass computes ``dL/dcodebook`` with :func:`sparsenet.codebook_grad`.

    Examples
    --------
    >>> import torch, sparsenet, sparsenet.torch as snt
    >>> sw = sparsenet.SharedWeights([0., 0.], [[0, 1], [1, 1]])
    >>> codebook = torch.tensor([1., 2.], dtype=torch.float64, requires_grad=True)
    >>> y = snt.shared_matmul(sw, codebook, torch.tensor([3., 4.], dtype=torch.float64))
    >>> y.detach()
    tensor([11., 14.], dtype=torch.float64)
    >>> y.sum().backward(); codebook.grad
    tensor([ 3., 11.], dtype=torch.float64)
    """
    return _codebook_call(weights, SharedWeights, codebook, X)


@_eager
def shared_csr_matmul(weights, codebook, X):
    """``A @ X`` for the pruned-and-shared :class:`sparsenet.SharedCSR` A whose codebook is the
    tensor `codebook`, differentiable in `codebook` and `X`.

    Examples
    --------
    >>> import numpy as np, torch, sparsenet, sparsenet.torch as snt
    >>> A = sparsenet.SharedCSR.from_dense(np.array([[0., 1.], [-1., 1.]]), np.array([-1., 1.]))
    >>> codebook = torch.tensor([-1., 1.], dtype=torch.float64, requires_grad=True)
    >>> snt.shared_csr_matmul(A, codebook, torch.ones(2, dtype=torch.float64)).sum().backward()
    >>> codebook.grad
    tensor([1., 2.], dtype=torch.float64)
    """
    return _codebook_call(weights, SharedCSR, codebook, X)


@_eager
def hashed_matmul(weights, codebook, X):
    """``W @ X`` for the hashed weights `weights` (:class:`sparsenet.HashedWeights`) with the
    codebook `codebook`, differentiable in `codebook` and `X`.

    Examples
    --------
    >>> import torch, sparsenet, sparsenet.torch as snt
    >>> hw = sparsenet.HashedWeights((3, 4), [0.], seed=1)
    >>> codebook = torch.tensor([0.5], dtype=torch.float64)
    >>> W = torch.from_numpy(sparsenet.HashedWeights((3, 4), [0.5], seed=1).decode())
    >>> x = torch.ones(4, dtype=torch.float64)
    >>> torch.allclose(snt.hashed_matmul(hw, codebook, x), W @ x)
    True
    """
    return _codebook_call(weights, HashedWeights, codebook, X)


class _KWinners(_Function):
    @staticmethod
    def forward(x, k, largest_magnitude):
        with _threads():
            return _tensor(sparsenet.topk(_array(x), k, largest_magnitude=largest_magnitude))

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def jvp(ctx, d_x, _k, _largest):
        (y,) = ctx.saved_tensors
        return d_x * (y != 0)  # the kept entries' tangents, as the backward's gradient

    @staticmethod
    def vmap(info, in_dims, x, k, largest_magnitude):
        # row by row along the last axis: the batch is more rows
        return _differentiable(_KWinners, x.movedim(in_dims[0], 0), k, largest_magnitude), 0

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (y != 0), None, None


@_eager
def kwinners(x, k, *, largest_magnitude=False):
    """k-winners-take-all along the last axis: the `k` largest entries of each row kept (by value,
    or by magnitude with ``largest_magnitude=True``), the rest zero (:func:`sparsenet.topk`; ties go
    to the lower index). The gradient flows through the kept entries only (a kept entry equal to
    zero passes none, as ReLU at 0).

    Examples
    --------
    >>> import torch, sparsenet.torch as snt
    >>> snt.kwinners(torch.tensor([[3., -4., 1., 4.]]), 2)
    tensor([[3., 0., 0., 4.]])
    """
    _check_tensor(x, "x")
    if x.ndim == 0:
        raise ValueError("x must be at least 1-D, got a 0-d tensor")
    k = check_index(k, "k", low=0)
    return _differentiable(_KWinners, x, k, bool(largest_magnitude))


# ---- layers -----------------------------------------------------------------------------------------

def _factory(device, dtype):
    if device is not None and torch.device(device).type != "cpu":
        raise ValueError(f"device must be the CPU (sparsenet's kernels run on the CPU), got {device}")
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    return dtype


def _linear_init(in_features, out_features, dtype):
    """nn.Linear's initial weight and bias (uniform in +-1/sqrt(in_features))."""
    in_features = check_index(in_features, "in_features")  # nn.Linear raises RuntimeError
    out_features = check_index(out_features, "out_features")
    lin = nn.Linear(in_features, out_features, dtype=dtype)
    return lin.weight.detach(), lin.bias.detach()


class _SparsenetLinear(nn.Module):
    """What the layers share: the input reshaping, the bias, the dtype checks, the cache of the
    checked structure (rebuilt, and checked again, when a structure buffer is replaced or changed
    in place) and the checks of a state dict against the layer's shape."""

    _structure_buffers: Tuple[str, ...] = ()
    _resizable_parameters: Tuple[str, ...] = ()
    _version = 2  # 2: the buffer weight_shape (state dicts of version 1 load without it)

    def __init__(self, in_features, out_features, bias, dtype):
        super().__init__()
        self.in_features = int(in_features)  # checked by _linear_init, or a weight's shape
        self.out_features = int(out_features)
        if bias is None:
            self.register_parameter("bias", None)
        else:
            self.bias = nn.Parameter(bias.to(dtype).clone())
        # what a state dict is checked against: its structure may have another nnz, and a
        # HashedLinear's holds nothing of the shape
        self.register_buffer("weight_shape", torch.tensor([self.out_features, self.in_features]))
        self._checked = None  # (key, sparsenet structure)

    def _structure_key(self):
        # the structure is checked against the length of the values or codebook too (one value per
        # stored weight, codes in range): a Parameter of another length, assigned or swapped in
        # through .data, is checked again; not their data, which every training step changes
        buffers, parameters = self._buffers, self._parameters
        return (tuple((b.data_ptr(), b._version, b.shape, b.dtype)
                      for b in (buffers[name] for name in self._structure_buffers)),
                tuple(parameters[name].shape for name in self._resizable_parameters))

    def structure(self):
        """The sparsenet object holding the layer's checked structure (built once, checked in full;
        rebuilt when a structure buffer changes, or the length of the values or codebook). Its
        values or codebook are zeros: the layer's are its Parameter ``values`` or ``codebook``."""
        key = self._structure_key()
        if self._checked is None or self._checked[0] != key:
            with _threads(), _outside_transforms():  # buffers read as arrays
                self._checked = (key, self._build_structure(self._tensors()))
        return self._checked[1]

    def _tensors(self, state_dict=None, prefix=""):
        """The layer's parameters and buffers by name; with `state_dict`, its tensors in their
        place where it holds them."""
        own = {**self._parameters, **self._buffers}
        if state_dict is None:
            return own
        found = {name: state_dict.get(prefix + name) for name in own}
        return {name: t.detach().cpu() if isinstance(t, torch.Tensor) else own[name]
                for name, t in found.items()}

    def _refusal(self, state_dict, prefix):
        """Why the tensors of `state_dict` cannot be this layer's (a message naming the key, as
        nn.Module's), or None."""
        found = self._tensors(state_dict, prefix)
        theirs, ours = found["weight_shape"].tolist(), [self.out_features, self.in_features]
        if theirs != ours:
            return (f"size mismatch for {prefix}weight_shape: copying the weights of a layer of "
                    f"shape {theirs} (out_features, in_features) from checkpoint, the shape in "
                    f"current model is {ours}.")
        if self._structure_buffers:  # checked in full now, as the first forward would
            try:
                self._build_structure(found)
            except (TypeError, ValueError) as error:
                keys = ", ".join(prefix + name
                                 for name in self._resizable_parameters + self._structure_buffers)
                return f"invalid structure for {keys} from checkpoint: {error}"
        return None

    def _parameter_dtype(self):
        raise NotImplementedError

    @_eager
    def forward(self, x):
        _check_tensor(x, "input", self._parameter_dtype())
        shape = x.shape
        if not shape or shape[-1] != self.in_features:
            raise ValueError(f"input must have shape (..., {self.in_features}), "
                             f"got {tuple(shape)}")
        batch = shape[:-1]
        x2 = x if len(batch) == 1 else x.reshape(math.prod(batch), self.in_features)  # not -1:
        # ambiguous at 0 features. sparsenet multiplies W by a matrix of column vectors: X^T in,
        # Y^T out, both views, so a column-major activation (this layer's output) reaches the
        # next layer without a copy
        bias = self.bias
        yT = self._product_plus_bias(x2.T, bias)
        if yT is not None:
            y = yT.T
        else:
            y = self._matmul(x2.T).T
            if bias is not None:  # in place into the fresh product when autograd is not watching
                y = y + bias if _recorded(y, bias) else y.add_(bias)
        return y if len(batch) == 1 else y.reshape(*batch, self.out_features)

    def _product_plus_bias(self, XT, bias):
        """``self._matmul(XT)`` with `bias` (or None) added to its rows, by a path of the layer's
        own where it has one and autograd records nothing; else None (the general path)."""
        return None

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        if (local_metadata.get("version") or 1) < 2:
            # saved before weight_shape existed: only the structure can be checked
            state_dict.setdefault(prefix + "weight_shape", self.weight_shape)
        # As nn.Module refuses a tensor of another shape, refuse a state dict of another layer shape
        # (or a structure that does not fit this one); before anything is loaded, where nn.Module
        # loads the tensors that fit: a structure loaded without its bias, or the reverse, would
        # leave a layer that is neither
        refused = self._refusal(state_dict, prefix)
        if refused is not None:
            error_msgs.append(refused)
            return
        # A state dict may carry another structure (nnz) than this layer's: take its sizes, in
        # place, as the Parameters below: layers with tied weights hold the same buffers
        for name in self._structure_buffers:
            key = prefix + name
            if key in state_dict and isinstance(state_dict[key], torch.Tensor):
                self._buffers[name].data = torch.empty_like(state_dict[key], device="cpu")
        for name in self._resizable_parameters:
            key = prefix + name
            param = getattr(self, name)
            if key in state_dict and tuple(state_dict[key].shape) != tuple(param.shape):
                # resized in place: the same Parameter object, so an optimizer built before the
                # load (and requires_grad) still holds it; a new Parameter left it stepping none
                param.data = torch.empty(state_dict[key].shape, dtype=param.dtype)
        self._checked = None
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _zeros_of(t, name):
    """An array of zeros of the shape and dtype of the float tensor `t` (the layer's `name`): the
    values or codebook of a layer's structure, whose products take the layer's Parameter instead
    (not read here: under torch.func it is a transform's tensor, with no memory for NumPy)."""
    _check_tensor(t, name)
    return np.zeros(tuple(t.shape), np.float32 if t.dtype == torch.float32 else np.float64)


def _index_tensor(a):
    return torch.from_numpy(np.array(a, copy=True))


class SparseLinear(_SparsenetLinear):
    """A pruned ``nn.Linear``: ``y = x @ W.T + b`` with W in CSR form, its stored values trainable.

    The structure (which weights exist) is fixed; the stored values are the parameter ``values``,
    in the order of the buffers ``indices`` (column of each value) and ``indptr`` (row pointers).
    Forward: the CSR product; backward: the transposed product for the input's gradient and SDDMM for
    the values' (only the stored positions: pruned weights stay zero in fine-tuning).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    sparsity : float in [0, 1), default 0.9
        The fraction of nn.Linear's initial weights pruned (by magnitude) to make the structure.
    device : must be None or the CPU
    dtype : torch.float32 (default dtype) or torch.float64

    Attributes
    ----------
    values : nn.Parameter, shape (nnz,)
        One of another length, assigned, is refused by the next forward (ValueError).
    indices, indptr : buffers (int32 or int64)
    bias : nn.Parameter or None, shape (out_features,)
    weight : Tensor, shape (out_features, in_features)
        The dense weight (zeros where pruned), differentiable in ``values``; for inspection.
    weight_shape : buffer, int64, ``[out_features, in_features]``
        What ``load_state_dict`` checks a state dict against (every layer here has it).

    Examples
    --------
    >>> import torch, sparsenet.torch as snt
    >>> _ = torch.manual_seed(0)
    >>> layer = snt.SparseLinear(20, 30, sparsity=0.9)
    >>> layer
    SparseLinear(in_features=20, out_features=30, bias=True, nnz=60, sparsity=0.90)
    >>> x = torch.randn(5, 20)
    >>> torch.allclose(layer(x), x @ layer.weight.T + layer.bias, atol=1e-6)
    True
    """

    _structure_buffers = ("indices", "indptr")
    _resizable_parameters = ("values",)

    def __init__(self, in_features, out_features, bias=True, *, sparsity=0.9, device=None,
                 dtype=None):
        dtype = _factory(device, dtype)
        weight, b = _linear_init(in_features, out_features, dtype)
        super().__init__(in_features, out_features, b if bias else None, dtype)
        self._set_csr(sparsenet.prune(weight.numpy(), sparsity=sparsity))

    def _set_csr(self, A):
        self.values = nn.Parameter(torch.from_numpy(np.array(A.data, copy=True)))
        self.register_buffer("indices", _index_tensor(A.indices))
        self.register_buffer("indptr", _index_tensor(A.indptr))
        self._checked = None

    @classmethod
    def from_dense(cls, linear, *, sparsity=0.9, threshold=None):
        """A SparseLinear with the weights of the ``nn.Linear`` `linear` (or a 2-D weight tensor)
        pruned by magnitude: to `sparsity`, or below `threshold` (see :func:`sparsenet.prune`)."""
        weight, bias = _weight_and_bias(linear)
        self = cls.__new__(cls)
        _SparsenetLinear.__init__(self, weight.shape[1], weight.shape[0], bias, weight.dtype)
        kwargs = {"threshold": threshold} if threshold is not None else {"sparsity": sparsity}
        self._set_csr(sparsenet.prune(_array(weight), **kwargs))
        return self

    def _build_structure(self, t):
        if t["indices"].ndim == 1:  # else the CSR's check says so; this one names the Parameter
            _check_values(t["values"], t["indices"].shape[0], "values")
        return _Layout(CSR(_zeros_of(t["values"], "values"), _array(t["indices"]),
                           _array(t["indptr"]), (self.out_features, self.in_features)))

    def structure(self):
        """The layer's checked structure, a :class:`sparsenet.CSR` (its values are zeros: the
        layer's are ``values``)."""
        return self._layout().pattern

    def _layout(self):
        return _SparsenetLinear.structure(self)

    def _parameter_dtype(self):
        return self.values.dtype

    def _matmul(self, XT):
        layout, values = self._layout(), self.values
        _check_values(values, layout.pattern.nnz, "values")  # XT: checked by forward
        return _csr_matmul(values, XT, layout)

    def _product_plus_bias(self, XT, bias):
        """One token outside autograd (XT a column): the structure's vector product of the values,
        kept while they keep their memory, then the bias. The general path's layers of calls took
        ~100 us a call where the product takes ~25 (a 90% MiniLM FFN matrix: the layer 120 ->
        65-70 us, nn.Linear's 70). More tokens: None (the general path; its calls are a few % of
        their product)."""
        values = self.values
        if (XT.shape[1] != 1 or backend.use_numpy() or _recorded(XT, values, bias)
                or bias is not None and not _plain_bias(bias, values.dtype, self.out_features)):
            return None
        layout = self._layout()
        _check_values(values, layout.pattern.nnz, "values")
        product = layout.vector_product(values)
        y = None if product is None else product.multiply(_array(XT).reshape(-1), False,
                                                          _native_options())
        if y is None:  # values or x not plain memory: the general path copies them
            return None
        if bias is not None:
            y += _array(bias)
        return _tensor(y).reshape(-1, 1)

    @property
    def nnz(self):
        return int(self.indices.shape[0])

    @property
    def weight(self):
        rows = torch.repeat_interleave(torch.arange(self.out_features),
                                       torch.diff(self.indptr.to(torch.int64)))
        flat = rows * self.in_features + self.indices.to(torch.int64)
        dense = torch.zeros(self.out_features * self.in_features, dtype=self.values.dtype)
        return dense.index_add(0, flat, self.values).view(self.out_features, self.in_features)

    def extra_repr(self):
        size = self.in_features * self.out_features
        return (super().extra_repr() + f", nnz={self.nnz}, "
                f"sparsity={1 - self.nnz / max(size, 1):.2f}")


def _weight_and_bias(linear):
    if isinstance(linear, nn.Linear):
        return linear.weight.detach(), (linear.bias.detach() if linear.bias is not None else None)
    if isinstance(linear, torch.Tensor) and linear.ndim == 2:
        return linear.detach(), None
    raise TypeError(f"linear must be an nn.Linear or a 2-D tensor, got {type(linear).__name__}")


def _codebook_size(n_clusters, n_weights):
    """A shared layer's codebook entries: `n_clusters` (checked), but no more than the weights to
    share, so that a layer small or sparse enough to have fewer is still made (as nn.Linear of any
    size is)."""
    n_clusters = check_index(n_clusters, "n_clusters", low=1, high=_policy.MAX_CODES)
    return min(n_clusters, max(n_weights, 1))


def _shared_weights(weight, n_clusters):
    """The weights shared by k-means; a layer without weights (0 inputs or outputs) has one zero
    entry and no codes."""
    n_clusters = _codebook_size(n_clusters, weight.size)
    if weight.size == 0:
        return SharedWeights(np.zeros(1, weight.dtype), np.zeros(weight.shape, np.uint8))
    return sparsenet.kmeans_codebook(weight, n_clusters)


class SharedLinear(_SparsenetLinear):
    """An ``nn.Linear`` whose weights share a codebook: ``W = codebook[codes]`` (Deep Compression's
    weight sharing); the codebook is trainable, the codes fixed.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    n_clusters : int, default 16
        Codebook entries, learned by :func:`sparsenet.kmeans_codebook` on nn.Linear's initial
        weights (16: 4-bit codes); no more than the layer has weights (a layer without weights,
        0 inputs or outputs, has one zero entry), as for :class:`SharedSparseLinear`'s stored
        values.
    device, dtype : as :class:`SparseLinear`

    Attributes
    ----------
    codebook : nn.Parameter, shape (n_clusters,)
        One of another length may be assigned: the next forward checks the codes against it
        (ValueError for a code out of its range).
    codes : buffer, shape (out_features, in_features), uint8 (uint16 above 256 entries)
    weight : Tensor, the decoded weights, differentiable in ``codebook``

    Examples
    --------
    >>> import torch, sparsenet.torch as snt
    >>> _ = torch.manual_seed(0)
    >>> layer = snt.SharedLinear(8, 4, n_clusters=4)
    >>> layer
    SharedLinear(in_features=8, out_features=4, bias=True, n_clusters=4)
    >>> x = torch.randn(3, 8)
    >>> torch.allclose(layer(x), x @ layer.weight.T + layer.bias, atol=1e-6)
    True
    """

    _structure_buffers = ("codes",)
    _resizable_parameters = ("codebook",)

    def __init__(self, in_features, out_features, bias=True, *, n_clusters=16, device=None,
                 dtype=None):
        dtype = _factory(device, dtype)
        weight, b = _linear_init(in_features, out_features, dtype)
        super().__init__(in_features, out_features, b if bias else None, dtype)
        self._set_shared(_shared_weights(weight.numpy(), n_clusters))

    def _set_shared(self, sw):
        self.codebook = nn.Parameter(torch.from_numpy(np.array(sw.codebook, copy=True)))
        self.register_buffer("codes", _index_tensor(sw.codes))
        self._checked = None

    @classmethod
    def from_dense(cls, linear, *, n_clusters=16):
        """A SharedLinear with the weights of the ``nn.Linear`` `linear` (or a 2-D weight tensor)
        shared by k-means (:func:`sparsenet.kmeans_codebook`)."""
        weight, bias = _weight_and_bias(linear)
        self = cls.__new__(cls)
        _SparsenetLinear.__init__(self, weight.shape[1], weight.shape[0], bias, weight.dtype)
        self._set_shared(_shared_weights(_array(weight), n_clusters))
        return self

    def _build_structure(self, t):
        sw = SharedWeights(_zeros_of(t["codebook"], "codebook"), _array(t["codes"]))
        if sw.shape != (self.out_features, self.in_features):
            raise ValueError(f"codes must have shape ({self.out_features}, {self.in_features}) "
                             f"(out_features, in_features), got {sw.shape}")
        return sw

    def _parameter_dtype(self):
        return self.codebook.dtype

    def _matmul(self, XT):
        return shared_matmul(self.structure(), self.codebook, XT)

    _product_plus_bias = _codebook_layer_product_plus_bias

    @property
    def weight(self):
        return self.codebook[self.codes.to(torch.int64)]

    def extra_repr(self):
        return super().extra_repr() + f", n_clusters={self.codebook.shape[0]}"


class SharedSparseLinear(_SparsenetLinear):
    """A pruned and shared ``nn.Linear`` (Deep Compression's storage): CSR structure whose stored
    values are codes into a trainable codebook (:class:`sparsenet.SharedCSR`).

    Built by :meth:`from_sparse` (or ``share(sparsify(model))``); the constructor makes a random
    one as :class:`SparseLinear` and :class:`SharedLinear` do.

    Attributes
    ----------
    codebook : nn.Parameter, shape (n_clusters,)
        One of another length may be assigned: the next forward checks the codes against it
        (ValueError for a code out of its range).
    codes, indices, indptr : buffers, shape (nnz,), (nnz,), (out_features + 1,)
    weight : Tensor, the dense decoded weights, differentiable in ``codebook``

    Examples
    --------
    >>> import torch, sparsenet.torch as snt
    >>> _ = torch.manual_seed(0)
    >>> layer = snt.SharedSparseLinear(20, 10, sparsity=0.8, n_clusters=4)
    >>> layer
    SharedSparseLinear(in_features=20, out_features=10, bias=True, nnz=40, n_clusters=4)
    >>> x = torch.randn(2, 20)
    >>> torch.allclose(layer(x), x @ layer.weight.T + layer.bias, atol=1e-6)
    True
    """

    _structure_buffers = ("codes", "indices", "indptr")
    _resizable_parameters = ("codebook",)

    def __init__(self, in_features, out_features, bias=True, *, sparsity=0.9, n_clusters=16,
                 device=None, dtype=None):
        sparse = SparseLinear(in_features, out_features, bias, sparsity=sparsity, device=device,
                              dtype=dtype)
        self.__dict__.update(SharedSparseLinear.from_sparse(sparse, n_clusters=n_clusters).__dict__)

    @classmethod
    def from_sparse(cls, sparse, *, n_clusters=16):
        """Share the stored values of the :class:`SparseLinear` `sparse` by k-means."""
        if not isinstance(sparse, SparseLinear):
            raise TypeError(f"sparse must be a SparseLinear, got {type(sparse).__name__}")
        self = cls.__new__(cls)
        bias = sparse.bias.detach() if sparse.bias is not None else None
        _SparsenetLinear.__init__(self, sparse.in_features, sparse.out_features, bias,
                                  sparse.values.dtype)
        n_clusters = _codebook_size(n_clusters, sparse.nnz)
        values = _array(sparse.values)
        A = SharedCSR.from_csr(_with_values(sparse.structure(), values),
                               n_clusters if sparse.nnz else np.zeros(1, values.dtype))
        self.codebook = nn.Parameter(torch.from_numpy(np.array(A.codebook, copy=True)))
        for name in ("codes", "indices", "indptr"):
            self.register_buffer(name, _index_tensor(getattr(A, name)))
        return self

    def _build_structure(self, t):
        return SharedCSR(_array(t["codes"]), _array(t["indices"]), _array(t["indptr"]),
                         (self.out_features, self.in_features),
                         _zeros_of(t["codebook"], "codebook"))

    def _parameter_dtype(self):
        return self.codebook.dtype

    def _matmul(self, XT):
        return shared_csr_matmul(self.structure(), self.codebook, XT)

    _product_plus_bias = _codebook_layer_product_plus_bias

    @property
    def nnz(self):
        return int(self.indices.shape[0])

    @property
    def weight(self):
        rows = torch.repeat_interleave(torch.arange(self.out_features),
                                       torch.diff(self.indptr.to(torch.int64)))
        flat = rows * self.in_features + self.indices.to(torch.int64)
        dense = torch.zeros(self.out_features * self.in_features, dtype=self.codebook.dtype)
        values = self.codebook[self.codes.to(torch.int64)]
        return dense.index_add(0, flat, values).view(self.out_features, self.in_features)

    def extra_repr(self):
        return (super().extra_repr() + f", nnz={self.nnz}, n_clusters={self.codebook.shape[0]}")


class HashedLinear(_SparsenetLinear):
    """An ``nn.Linear`` with hashed weights (HashedNets): ``W[i, j] = sign(i, j) codebook[code(i, j)]``
    with code and sign a hash of (i, j, seed) (:class:`sparsenet.HashedWeights`); nothing is stored
    per weight, the codebook is trainable.

    Parameters
    ----------
    in_features, out_features : int
    n_codes : int
        Codebook entries (<= 65536), initialised uniform in +-1/sqrt(in_features) as nn.Linear.
        The layer's ``codebook`` may later be given another length: the codes, a hash modulo
        its length, follow it.
    bias : bool, default True
    seed : int in [0, 2**32), default 0
    device, dtype : as :class:`SparseLinear`

    Notes
    -----
    Nothing in the codebook, seed and bias tells the layer's shape, so the state dict also holds it
    in the buffer ``weight_shape`` (a buffer, as the seed is, so that the state dict stays tensors
    only: ``torch.load(weights_only=True)`` and safetensors take it), and ``load_state_dict``
    refuses one of another shape. A state dict saved before it existed loads unchecked.

    Examples
    --------
    >>> import torch, sparsenet.torch as snt
    >>> _ = torch.manual_seed(0)
    >>> layer = snt.HashedLinear(16, 8, n_codes=10, seed=3)
    >>> layer
    HashedLinear(in_features=16, out_features=8, bias=True, n_codes=10, seed=3)
    >>> x = torch.randn(4, 16)
    >>> torch.allclose(layer(x), x @ layer.weight.T + layer.bias, atol=1e-6)
    True
    """

    _structure_buffers = ("seed",)
    _resizable_parameters = ("codebook",)

    def __init__(self, in_features, out_features, n_codes, bias=True, *, seed=0, device=None,
                 dtype=None):
        dtype = _factory(device, dtype)
        _, b = _linear_init(in_features, out_features, dtype)
        super().__init__(in_features, out_features, b if bias else None, dtype)
        n_codes = check_index(n_codes, "n_codes", low=1, high=1 << 16)
        seed = check_index(seed, "seed", low=0, high=2**32 - 1)
        bound = 1 / math.sqrt(in_features) if in_features > 0 else 0
        self.codebook = nn.Parameter(torch.empty(n_codes, dtype=dtype).uniform_(-bound, bound))
        self.register_buffer("seed", torch.tensor(seed, dtype=torch.int64))

    def _build_structure(self, t):
        return HashedWeights((self.out_features, self.in_features),
                             _zeros_of(t["codebook"], "codebook"), t["seed"].tolist())

    def _parameter_dtype(self):
        return self.codebook.dtype

    def _matmul(self, XT):
        return hashed_matmul(self.structure(), self.codebook, XT)

    _product_plus_bias = _codebook_layer_product_plus_bias

    @property
    def weight(self):
        codes, signs = sparsenet.reference.hashed_codes((self.out_features, self.in_features),
                                                        self.codebook.shape[0], int(self.seed))
        return self.codebook[torch.from_numpy(codes.astype(np.int64))] * torch.from_numpy(
            signs.astype(np.float64)).to(self.codebook.dtype)

    def extra_repr(self):
        return super().extra_repr() + f", n_codes={self.codebook.shape[0]}, seed={int(self.seed)}"


class KWinners(nn.Module):
    """k-winners-take-all activation: the `k` largest entries along the last axis kept, the rest
    zero (:func:`kwinners`); the gradient flows through the kept entries.

    Examples
    --------
    >>> import torch, sparsenet.torch as snt
    >>> snt.KWinners(1)(torch.tensor([[1., 3., 2.]]))
    tensor([[0., 3., 0.]])
    """

    def __init__(self, k, *, largest_magnitude=False):
        super().__init__()
        self.k = check_index(k, "k", low=0)
        self.largest_magnitude = bool(largest_magnitude)

    def forward(self, x):
        return kwinners(x, self.k, largest_magnitude=self.largest_magnitude)

    def extra_repr(self):
        return f"k={self.k}" + (", largest_magnitude=True" if self.largest_magnitude else "")


# ---- conversion -------------------------------------------------------------------------------------

def _label(name):
    """How a message names the layer of qualified name `name`."""
    return f"layer {name!r}" if name else "the model"


def _weight_names(layer):
    """The names of a layer's weight Parameters: nn.Linear's weight, a sparsenet layer's values or
    codebook (those a state dict may resize)."""
    return ("weight",) if isinstance(layer, nn.Linear) else layer._resizable_parameters


def _weight_parameters(layer):
    return [getattr(layer, name) for name in _weight_names(layer)]


def _role(attr):
    """What a layer's Parameter named `attr` is to a converter: its bias, or its weights."""
    return "bias" if attr == "bias" else "weights"


def _same_buffers(a, b):
    """Whether the modules `a` and `b` hold equal buffers (a pruned layer's structure)."""
    mine, theirs = dict(a.named_buffers(recurse=False)), dict(b.named_buffers(recurse=False))
    return mine.keys() == theirs.keys() and all(
        mine[k].shape == theirs[k].shape and bool((mine[k] == theirs[k]).all()) for k in mine)


def _tied(first, layer):
    """The new layer of `layer`, whose weights are tied to those `first` was converted from: of
    `first`'s kind, holding its weight Parameters and structure buffers (the same tensors: the tie
    holds in training and in ``load_state_dict``), with `layer`'s own bias."""
    twin = type(first).__new__(type(first))
    bias = layer.bias.detach() if layer.bias is not None else None
    _SparsenetLinear.__init__(twin, first.in_features, first.out_features, bias,
                              first._parameter_dtype())
    for name in first._resizable_parameters:
        setattr(twin, name, getattr(first, name))
    for name in first._structure_buffers:
        twin.register_buffer(name, first._buffers[name])
    return twin


def _converted(layer, convert):
    """convert(layer) with its weights and bias as trainable as the layer's: a frozen layer (one
    fine-tuned around, not in) stays frozen."""
    new = convert(layer)
    trainable = any(p.requires_grad for p in _weight_parameters(layer))
    for p in _weight_parameters(new):
        p.requires_grad_(trainable)
    if new.bias is not None:
        new.bias.requires_grad_(layer.bias.requires_grad)
    return new


def _add_tied(chosen, modules, candidates):
    """Add to `chosen` (id -> (name, layer)) every layer of `modules` (name -> module) holding a
    Parameter of a chosen layer, so that converting keeps the tie; ValueError for a holder not of
    the `candidates` types, or holding it in another role (bias, weights): converting would untie
    it."""
    held = {}  # id(Parameter) -> [(qualified name, module, attribute)] at every place it is held
    for name, m in modules.items():
        for attr, p in m._parameters.items():
            if p is not None:
                held.setdefault(id(p), []).append((name, m, attr))
    pending = list(chosen.values())
    while pending:
        name, m = pending.pop()
        for attr, p in m._parameters.items():
            for other_name, other, other_attr in held.get(id(p), ()) if p is not None else ():
                if not isinstance(other, candidates) or _role(other_attr) != _role(attr):
                    raise ValueError(
                        f"{_label(name)} shares its {attr} Parameter with "
                        f"{_label(other_name)} ({type(other).__name__}.{other_attr}), which "
                        f"cannot be converted with it: converting the layer would untie them. "
                        f"Untie them first (give one a copy, nn.Parameter(p.detach().clone())) "
                        f"or leave the layer out of names")
                if id(other) not in chosen:
                    chosen[id(other)] = (other_name, other)
                    pending.append((other_name, other))


def _check_convertible(name, m, refused):
    """Raise for the layer `m` (qualified name `name`) if it is off the CPU, of a dtype sparsenet
    does not take, or of a type in `refused` (see _replace)."""
    off_cpu = [t.device for t in (*m.parameters(recurse=False), *m.buffers(recurse=False))
               if t.device.type != "cpu"]
    if off_cpu:
        raise ValueError(f"{_label(name)} is on device {off_cpu[0]}; sparsify and share convert "
                         f"layers on the CPU, where sparsenet's kernels run: move the model there "
                         f"first (model.cpu(); a model on the meta device has no weights yet: "
                         f"load them on the CPU)")
    if isinstance(m, nn.Linear) and m.weight.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"{_label(name)} has dtype {m.weight.dtype}; sparsify and share take "
                        f"float32 or float64 layers (convert it first, e.g. with .float())")
    for kind, why in refused.items():
        if isinstance(m, kind):
            way_out = "; leave it out by naming the other layers in names" if name else ""
            raise TypeError(f"{_label(name)} is a {type(m).__name__}: {why}{way_out}")


def _check_ties(chosen):
    """ValueError for chosen layers sharing their weight Parameters but not their structure: not
    one weight, so no one new layer to hold it. It reads the buffers: after the device checks."""
    ties = {}  # id of a layer's first weight Parameter -> (name, layer) first holding it
    for name, m in chosen.values():
        first_name, first = ties.setdefault(id(_weight_parameters(m)[0]), (name, m))
        if not _same_buffers(first, m):
            raise ValueError(f"{_label(name)} shares its {', '.join(_weight_names(m))} with "
                             f"{_label(first_name)} but not its structure: they are not one "
                             f"weight to convert; untie them first")


def _replace(model, convert, kinds, names, refused):
    """Replace the submodules of `model` of a type in `kinds` (and, when given, a qualified name in
    `names`) by convert(module); returns the model (a new module when `model` itself is replaced).
    A layer of a type in `refused` (a dict: type or tuple of types -> why it is refused) raises
    TypeError, naming it, where it would have been converted: never left silently as it was.

    A layer at several places (tied weights), chosen by any of its names, is converted once and
    the one new layer put at each. Layers sharing a weight Parameter, any of them chosen, are all
    converted: the first once, the others to layers holding its new weights and structure, with
    their own biases (shared where the old ones were). A Parameter also held by a module that is
    not converted with the layer, or in another role, raises ValueError: converting would untie
    it. Nothing changes until every layer is checked and converted: one refused leaves the model
    as it was."""
    modules = dict(model.named_modules(remove_duplicate=False))  # every place of every layer
    candidates = (kinds, *refused)  # a refused layer is found, to be named, and never skipped
    places = {name: m for name, m in modules.items() if isinstance(m, candidates)}
    if names is not None:
        names = set(names)
        missing = names - places.keys()
        if missing:
            raise ValueError(f"names {sorted(missing)} are not layers that can be converted; "
                             f"candidates: {sorted(places)}")
    chosen = {}  # id(layer) -> (the first of its chosen names, layer)
    for name, m in places.items():
        if names is None or name in names:
            chosen.setdefault(id(m), (name, m))
    _add_tied(chosen, modules, candidates)
    for name, m in chosen.values():
        _check_convertible(name, m, refused)
    _check_ties(chosen)
    new, made, biases = {}, {}, {}  # made: id of a weight Parameter -> the layer made from it
    for key, (_, m) in chosen.items():
        tie = id(_weight_parameters(m)[0])
        first = made.get(tie)
        new[key] = _converted(m, convert if first is None else functools.partial(_tied, first))
        made.setdefault(tie, new[key])
        if m.bias is not None:  # a bias tied between layers stays tied too
            new[key].bias = biases.setdefault(id(m.bias), new[key].bias)
    for name, m in places.items():
        if id(m) in new:
            if not name:
                return new[id(m)]
            parent, _, attr = name.rpartition(".")
            setattr(modules[parent], attr, new[id(m)])
    return model


def sparsify(model, sparsity=0.9, names=None):
    """Replace every ``nn.Linear`` of `model` (or those whose qualified names are in `names`) by a
    :class:`SparseLinear` with its weights pruned by magnitude to `sparsity`; in place.

    A :class:`SparseLinear` already in `model` is pruned further to `sparsity` (its pruned weights
    stay pruned): ``sparsify`` with rising sparsities, fine-tuning in between, is Deep
    Compression's iterative pruning. A layer at several places (tied weights) becomes one new
    layer at all of them, whichever of its names `names` gives. Layers sharing one weight
    Parameter (``decoder.weight = encoder.weight``) stay tied: their new layers hold the same
    values (or codebook) and structure, each with its own bias (or the same one, where the biases
    were tied too), and naming one in `names` converts them all. Only ties inside `model` are
    seen: a layer tied to a module outside it (``sparsify(model.decoder)`` with the decoder's
    weight tied to ``model.encoder``) is converted alone and the outside module keeps the old
    Parameter, so convert the module holding both. A frozen weight or bias
    (``requires_grad=False``) stays frozen in the new layer's values and bias.

    Layers whose weights share a codebook (:class:`SharedLinear`, :class:`SharedSparseLinear`,
    :class:`HashedLinear`) are refused, by :func:`share` too: sparsenet's layers go from dense to
    pruned (again and again) to shared, never back. Prune, then share (``share(sparsify(model))``,
    Deep Compression's order): pruning shared weights by magnitude would choose arbitrarily among
    the many weights of one codebook value, and leave the codebook fitted to weights that are
    gone; a hashed layer stores nothing per weight to prune. To convert the other layers of a
    model holding such a layer, name them in `names`.

    Returns
    -------
    nn.Module
        `model` (a new SparseLinear when `model` is itself a linear layer).

    Raises
    ------
    TypeError
        For an ``nn.Linear`` of another dtype than float32 or float64 (float16, bfloat16: convert
        it first), or a shared or hashed layer, naming it; before anything in `model` changes.
    ValueError
        For a layer with a parameter or buffer off the CPU (CUDA, meta), naming it and the device;
        or whose weight or bias is tied to a module not converted with it (an output layer tied
        to an ``nn.Embedding``), or to pruned layers of another structure, as converting would
        untie them; before anything in `model` changes.

    Examples
    --------
    >>> import torch, sparsenet.torch as snt
    >>> model = snt.sparsify(torch.nn.Sequential(torch.nn.Linear(10, 10), torch.nn.ReLU()), 0.5)
    >>> model[0]
    SparseLinear(in_features=10, out_features=10, bias=True, nnz=50, sparsity=0.50)
    >>> snt.sparsify(model, 0.8)[0]
    SparseLinear(in_features=10, out_features=10, bias=True, nnz=20, sparsity=0.80)
    """
    def convert(m):
        if isinstance(m, SparseLinear):
            weight = m.weight.detach()
            bias = m.bias.detach() if m.bias is not None else None
            m = nn.Linear(m.in_features, m.out_features, bias=bias is not None, dtype=weight.dtype)
            with torch.no_grad():
                m.weight.copy_(weight)
                if bias is not None:
                    m.bias.copy_(bias)
        return SparseLinear.from_dense(m, sparsity=sparsity)

    return _replace(model, convert, (nn.Linear, SparseLinear), names, {
        (SharedLinear, SharedSparseLinear): "sparsify prunes before sharing, not after; apply "
                                            "share after sparsify (share(sparsify(model)))",
        HashedLinear: "its weights are hashed into a codebook, nothing is stored per weight to "
                      "prune"})


def share(model, n_clusters=16, names=None):
    """Replace every ``nn.Linear`` of `model` by a :class:`SharedLinear` and every
    :class:`SparseLinear` by a :class:`SharedSparseLinear` (or only those named in `names`), the
    weights shared through :func:`sparsenet.kmeans_codebook`; in place. ``share(sparsify(model))``
    is Deep Compression's prune-then-share. As in :func:`sparsify`, tied layers stay tied, a
    frozen weight or bias stays frozen (in the codebook and bias) and a layer of another dtype
    than float32 or float64 (TypeError) or off the CPU (ValueError) is refused. Share after
    pruning: :func:`sparsify` refuses shared layers (``sparsify(share(model))`` raises TypeError).

    Layers whose weights already share a codebook (:class:`SharedLinear`,
    :class:`SharedSparseLinear`, :class:`HashedLinear`) are refused with TypeError, naming them,
    rather than left as they were while `n_clusters` asks for another codebook, or clustered again
    from their quantised values: share clusters the trained weights, once. To share the other
    layers of a model holding such a layer, name them in `names`.

    Examples
    --------
    >>> import torch, sparsenet.torch as snt
    >>> model = torch.nn.Sequential(torch.nn.Linear(10, 10), torch.nn.ReLU())
    >>> snt.share(snt.sparsify(model, 0.5), n_clusters=4)[0]
    SharedSparseLinear(in_features=10, out_features=10, bias=True, nnz=50, n_clusters=4)
    """
    def convert(m):
        if isinstance(m, SparseLinear):
            return SharedSparseLinear.from_sparse(m, n_clusters=n_clusters)
        return SharedLinear.from_dense(m, n_clusters=n_clusters)

    return _replace(model, convert, (nn.Linear, SparseLinear), names, {
        (SharedLinear, SharedSparseLinear): "it is shared already (share clusters the trained "
                                            "weights once, not a codebook's values again)",
        HashedLinear: "its weights share a codebook already, by hashing"})


def _narrow_bytes(n_values):
    """Bytes per value of the narrowest unsigned integer holding 0 .. n_values - 1."""
    return 1 if n_values <= 1 << 8 else 2 if n_values <= 1 << 16 else 4 if n_values <= 1 << 32 else 8


def stored_nbytes(model):
    """Bytes to store the parameters of `model` compactly: what Deep Compression counts.

    - dense parameters and buffers of other modules: their own bytes;
    - :class:`SparseLinear`: the values, one column index per value in the narrowest unsigned
      integer that holds ``in_features - 1``, and ``out_features + 1`` row pointers in the
      narrowest that holds nnz;
    - :class:`SharedLinear` / :class:`SharedSparseLinear`: the codebook and ``ceil(log2 K)`` bits per
      code (4 bits for 16 entries; codes packed), plus the sparse structure as above;
    - :class:`HashedLinear`: the codebook (and 8 bytes of seed);
    - not the layers' ``weight_shape`` (nn.Linear's shape is not counted either).

    Examples
    --------
    >>> import torch, sparsenet.torch as snt
    >>> snt.stored_nbytes(torch.nn.Linear(10, 10))   # 110 float32
    440
    """
    total = 0
    for module in model.modules():
        own = list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))
        if isinstance(module, _SparsenetLinear):
            own = [t for t in own if t is not module.weight_shape]
        if isinstance(module, (SparseLinear, SharedSparseLinear)):
            total += (module.nnz * _narrow_bytes(module.in_features)
                      + (module.out_features + 1) * _narrow_bytes(module.nnz + 1))
            own = [t for t in own if t is not module.indices and t is not module.indptr]
        if isinstance(module, (SharedLinear, SharedSparseLinear)):
            bits = max(1, math.ceil(math.log2(module.codebook.shape[0])))
            total += math.ceil(module.codes.numel() * bits / 8)
            own = [t for t in own if t is not module.codes]
        total += sum(t.numel() * t.element_size() for t in own)
    return total


__all__ = ["csr_matmul", "sddmm", "shared_matmul", "shared_csr_matmul", "hashed_matmul",
           "kwinners", "SparseLinear", "SharedLinear", "SharedSparseLinear", "HashedLinear",
           "KWinners", "sparsify", "share", "stored_nbytes"]
