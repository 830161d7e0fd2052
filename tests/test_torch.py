"""sparsenet.torch: autograd functions and layers against PyTorch's dense computation."""
import collections
import functools
import io
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
import sparsenet  # noqa: E402
import sparsenet.torch as snt  # noqa: E402
from torch import nn  # noqa: E402
from sparsenet._csr_blocks import ColumnBlocks, ColumnSplits  # noqa: E402


def f64(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=torch.float64, generator=g)


def pattern(n_rows, n_cols, density=0.3, seed=0, index=np.int32):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < density)
    A = sparsenet.CSR.from_dense(W)
    return sparsenet.CSR(A.data, A.indices.astype(index), A.indptr.astype(index), A.shape)


def assert_differentiable(fn, inputs):
    """gradcheck in reverse and forward mode, gradgradcheck (the backward pass differentiated
    again, in reverse mode and in forward mode), and torch.func's Jacobians by vmap over the
    backward (jacrev) and over the forward gradients (jacfwd) equal to autograd's, which loops.
    (gradcheck's check_batched_grad runs torch's legacy vmap, which calls no Function's vmap.)"""
    assert torch.autograd.gradcheck(fn, inputs, check_forward_ad=True)
    assert torch.autograd.gradgradcheck(fn, inputs, check_fwd_over_rev=True)
    plain = tuple(t.detach() for t in inputs)
    want = torch.autograd.functional.jacobian(fn, plain)
    for jacobian in (torch.func.jacrev, torch.func.jacfwd):
        got = jacobian(fn, argnums=tuple(range(len(inputs))))(*plain)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


# ---- functions: gradcheck in float64 -------------------------------------------------------------------

@pytest.mark.parametrize("k", [None, 5])
def test_csr_matmul_takes_misaligned_values(k):
    """Values over memory that is not aligned to their items (a tensor over a byte buffer) are
    copied for the kernels, as a CSR's are: the product of one vector raised BufferError (found by
    test_malformed's random recipes, now and then)."""
    P = pattern(7, 6, seed=4)
    buffer = np.zeros(P.nnz * 8 + 9, np.uint8)
    start = 1 + (-buffer.ctypes.data) % 8
    misaligned = buffer[start:start + P.nnz * 8].view(np.float64)
    misaligned[:] = np.linspace(-1, 1, P.nnz)
    assert not misaligned.flags.aligned
    X = f64(6, seed=5) if k is None else f64(6, k, seed=5)
    got = snt.csr_matmul(P, torch.from_numpy(misaligned), X)
    want = sparsenet.CSR(misaligned.copy(), P.indices, P.indptr, P.shape).toarray() @ X.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("k", [None, 1, 5])
@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_csr_matmul_gradcheck(k, index):
    P = pattern(7, 6, seed=1, index=index)
    values = f64(P.nnz, seed=2).requires_grad_()
    X = (f64(6, seed=3) if k is None else f64(6, k, seed=3)).requires_grad_()
    assert_differentiable(lambda v, x: snt.csr_matmul(P, v, x), (values, X))
    Y = snt.csr_matmul(P, values, X)
    W = torch.from_numpy(sparsenet.CSR(values.detach().numpy(), P.indices, P.indptr,
                                       P.shape).toarray())
    np.testing.assert_allclose(Y.detach(), (W @ X).detach(), rtol=1e-12)


def test_sddmm_gradcheck_and_value():
    P = pattern(5, 4, 0.5, seed=4)
    A, B = f64(5, 3, seed=5).requires_grad_(), f64(4, 3, seed=6).requires_grad_()
    assert_differentiable(lambda a, b: snt.sddmm(P, a, b), (A, B))
    dense = (A @ B.T).detach().numpy()
    rows = np.repeat(np.arange(5), np.diff(P.indptr))
    np.testing.assert_allclose(snt.sddmm(P, A, B).detach(), dense[rows, P.indices], rtol=1e-12)


def test_strided_values_and_gradients():
    """Values and incoming gradients that are strided views (expanded, flipped) work as their
    contiguous copies do: the native CSR built from them gets contiguous arrays (found by
    test_malformed's fuzzing: an expanded values tensor raised BufferError)."""
    P = pattern(5, 4, 0.5, seed=4)
    X = f64(4, 3, seed=12)
    for values in (f64(1, seed=13).expand(P.nnz), f64(P.nnz, seed=14).flip(0)):
        for x in (X, X[:, 0]):
            np.testing.assert_allclose(snt.csr_matmul(P, values, x),
                                       snt.csr_matmul(P, values.contiguous(), x), rtol=1e-12)
    A, B = f64(5, 3, seed=5).requires_grad_(), f64(4, 3, seed=6).requires_grad_()
    for grad in (torch.ones(1, dtype=torch.float64).expand(P.nnz), f64(P.nnz, seed=15).flip(0)):
        got = torch.autograd.grad(snt.sddmm(P, A, B), (A, B), grad)
        want = torch.autograd.grad(snt.sddmm(P, A, B), (A, B), grad.contiguous())
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12)


def test_shared_and_hashed_gradcheck():
    sw = sparsenet.kmeans_codebook(np.random.default_rng(0).standard_normal((6, 5)), 4)
    cb = f64(4, seed=7).requires_grad_()
    X = f64(5, 3, seed=8).requires_grad_()
    assert_differentiable(lambda c, x: snt.shared_matmul(sw, c, x), (cb, X))
    assert_differentiable(lambda c, x: snt.shared_matmul(sw, c, x), (cb, X[:, 0]))
    hw = sparsenet.HashedWeights((6, 5), np.zeros(4), seed=11)
    assert_differentiable(lambda c, x: snt.hashed_matmul(hw, c, x), (cb, X))
    A = sparsenet.SharedCSR.from_csr(pattern(6, 5, 0.5, seed=9), 4)
    assert_differentiable(lambda c, x: snt.shared_csr_matmul(A, c, x), (cb, X))
    W = A.codebook[A.codes]
    dense = torch.from_numpy(sparsenet.CSR(cb.detach().numpy()[A.codes], A.indices, A.indptr,
                                           A.shape).toarray())
    np.testing.assert_allclose(snt.shared_csr_matmul(A, cb, X).detach(), (dense @ X).detach(),
                               rtol=1e-12)
    assert W.shape == (A.nnz,)


def test_kwinners_gradcheck():
    x = f64(4, 9, seed=10).requires_grad_()
    assert_differentiable(lambda t: snt.kwinners(t, 3), (x,))
    assert_differentiable(lambda t: snt.kwinners(t, 2, largest_magnitude=True), (x,))
    y = snt.kwinners(x, 3)
    assert ((y != 0).sum(dim=-1) == 3).all()
    want = torch.where(x >= x.topk(3, dim=-1).values[..., -1:], x, torch.zeros_like(x))
    assert torch.equal(y.detach(), want.detach())


# ---- layers --------------------------------------------------------------------------------------------

def make_layers(dtype=torch.float64):
    torch.manual_seed(0)
    return [snt.SparseLinear(12, 7, sparsity=0.7, dtype=dtype),
            snt.SparseLinear(12, 7, bias=False, sparsity=0.5, dtype=dtype),
            snt.SharedLinear(12, 7, n_clusters=5, dtype=dtype),
            snt.SharedSparseLinear(12, 7, sparsity=0.6, n_clusters=4, dtype=dtype),
            snt.HashedLinear(12, 7, n_codes=6, seed=4, dtype=dtype)]


@pytest.mark.parametrize("i", range(5))
def test_layer_gradcheck_over_input_and_parameters(i):
    layer = make_layers()[i]
    names = [name for name, _ in layer.named_parameters()]
    x = f64(3, 2, 12, seed=i).requires_grad_()

    def run(x, *params):
        return torch.func.functional_call(layer, dict(zip(names, params)), (x,))

    inputs = (x, *[p.detach().clone().requires_grad_() for p in layer.parameters()])
    assert_differentiable(run, inputs)


@pytest.mark.parametrize("i", range(5))
def test_layers_carry_forward_mode_tangents_without_grad(i):
    """A dual input (torch.autograd.forward_ad) to a frozen layer under no_grad: autograd's reverse
    mode records nothing there, and the shortcut that skips it returned the output without its
    tangent (None: a zero tangent, silently). The tangent is the layer's weight times the input's
    tangent, as nn.Linear's."""
    import torch.autograd.forward_ad as fwAD

    layer = make_layers()[i].requires_grad_(False)
    x, v = f64(3, 12, seed=20 + i), f64(3, 12, seed=30 + i)
    with torch.no_grad(), fwAD.dual_level():
        tangent = fwAD.unpack_dual(layer(fwAD.make_dual(x, v))).tangent
    assert tangent is not None
    np.testing.assert_allclose(tangent, v @ layer.weight.detach().T, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("i", range(5))
def test_compiled_models_run_the_layers_eagerly(i):
    """torch.compile traced into the layers (NumPy views of tensors, native calls) and failed
    with an AssertionError from dynamo; the layers and functions now run eagerly, as graph breaks,
    and a compiled model computes what the eager one does, backward included."""
    torch._dynamo.reset()
    layer = make_layers()[i]
    model = nn.Sequential(nn.Linear(12, 12, dtype=torch.float64), layer, nn.ReLU(),
                          snt.KWinners(3))
    x = f64(4, 12, seed=i)
    want = model(x)
    want.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    got = torch.compile(model, backend="aot_eager")(x)
    torch.testing.assert_close(got, want)
    got.sum().backward()
    for p, g in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, g)
    P = pattern(7, 6, seed=1)
    compiled = torch.compile(lambda v, t: snt.csr_matmul(P, v, t).sum(), backend="aot_eager")
    values, X = f64(P.nnz, seed=2), f64(6, 3, seed=3)
    torch.testing.assert_close(compiled(values, X), snt.csr_matmul(P, values, X).sum())


def dense_of(layer):
    W = layer.weight.detach()
    b = layer.bias.detach() if layer.bias is not None else torch.zeros(W.shape[0], dtype=W.dtype)
    return W, b


@pytest.mark.parametrize("i", range(5))
def test_torch_func_transforms_of_the_layers(i):
    """torch.func's transforms (grad, jvp, vmap, jacrev, jacfwd, hessian) give what they give on
    the layer's dense weight; they failed in Tensor.numpy() (no storage in a transform's tensors),
    then were refused."""
    from torch.func import grad, hessian, jacfwd, jacrev, jvp, vmap

    layer = make_layers()[i]
    W, b = dense_of(layer)
    x, v = f64(3, 12, seed=40 + i), f64(3, 12, seed=50 + i)
    close = functools.partial(torch.testing.assert_close, rtol=1e-12, atol=1e-12)
    close(grad(lambda t: layer(t).pow(2).sum())(x), 2 * (x @ W.T + b) @ W)
    out, tangent = jvp(layer, (x,), (v,))
    close(out, x @ W.T + b)
    close(tangent, v @ W.T)
    close(vmap(layer)(x), x @ W.T + b)
    close(vmap(layer, in_dims=1, out_dims=1)(x.T.contiguous()), (x @ W.T + b).T)
    close(vmap(vmap(layer))(x.reshape(3, 1, 12)), (x @ W.T + b).reshape(3, 1, -1))
    close(jacrev(layer)(x[0]), W)
    close(jacfwd(layer)(x), torch.einsum("ab,ij->aibj", torch.eye(3, dtype=W.dtype), W))
    close(hessian(lambda t: layer(t).pow(2).sum())(x[0]), 2 * W.T @ W)


@pytest.mark.parametrize("transposed_input", [False, True])
def test_small_layers_at_every_token_count(transposed_input):
    """A layer's plain product (a structure whose columns fit one block: no column blocks) at 1 to
    17 tokens, the widths where X's rows are padded to whole cache lines and where they are not:
    output and gradients of the input and values those of the dense weight."""
    torch.manual_seed(3)
    layer = snt.SparseLinear(24, 40, sparsity=0.8, dtype=torch.float64)
    W, b = dense_of(layer)
    rows = np.repeat(np.arange(40), np.diff(layer.indptr.numpy()))
    for n in (1, 2, 3, 5, 8, 9, 16, 17):
        x = f64(24, n, seed=n).T if transposed_input else f64(n, 24, seed=n)
        x.requires_grad_()
        layer.zero_grad()
        y = layer(x)
        torch.testing.assert_close(y, x.detach() @ W.T + b, rtol=1e-12, atol=1e-12)
        g = f64(n, 40, seed=100 + n)
        y.backward(g)
        torch.testing.assert_close(x.grad, g @ W, rtol=1e-12, atol=1e-12)
        want = (g.T @ x.detach())[rows, layer.indices.long()]
        torch.testing.assert_close(layer.values.grad, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("tracer", ["linearize", "jit.trace", "make_fx"])
@pytest.mark.parametrize("i", range(6))
def test_tracers_are_refused_by_name(tracer, i):
    """A tracer records tensor operations, not what NumPy and the kernels compute: the traced
    graph held one call's result as a constant, so torch.func.linearize's function and
    torch.jit.trace(check_trace=False)'s module gave it for any input (a wrong answer, silently).
    Each now raises, naming the tracers; eager calls after it still work."""
    from torch.fx.experimental.proxy_tensor import make_fx

    model = (make_layers() + [snt.KWinners(3)])[i]
    x = f64(3, 12, seed=70 + i)
    run = {"linearize": lambda: torch.func.linearize(model, x),
           "jit.trace": lambda: torch.jit.trace(model, x, check_trace=False),
           "make_fx": lambda: make_fx(model)(x)}[tracer]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace's deprecation
        with pytest.raises(RuntimeError, match="tracer .*torch.jit.trace.*make_fx.*linearize"):
            run()
    if i < 5:
        W, b = dense_of(model)
        torch.testing.assert_close(model(x), x @ W.T + b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("i", range(5))
def test_per_sample_gradients_of_the_parameters(i):
    """vmap(grad(functional_call)), per-sample gradients as Opacus computes them, equal one
    autograd backward pass per sample; and vmap over stacked parameters (an ensemble) equals the
    members one by one."""
    from torch.func import functional_call, grad, vmap

    layer = make_layers()[i]
    params = {name: p.detach() for name, p in layer.named_parameters()}
    x = f64(4, 12, seed=60 + i)

    def loss(p, sample):
        return functional_call(layer, p, (sample,)).pow(2).sum()

    got = vmap(grad(loss), in_dims=(None, 0))(params, x)
    for n, sample in enumerate(x):
        mine = {name: p.clone().requires_grad_() for name, p in params.items()}
        want = torch.autograd.grad(loss(mine, sample), list(mine.values()))
        for name, w in zip(mine, want):
            torch.testing.assert_close(got[name][n], w, rtol=1e-12, atol=1e-12)
    members = [{name: p + 0.1 * m for name, p in params.items()} for m in range(3)]
    stacked = {name: torch.stack([member[name] for member in members]) for name in params}
    ensemble = vmap(lambda p: functional_call(layer, p, (x,)))(stacked)
    for m, member in enumerate(members):
        torch.testing.assert_close(ensemble[m], functional_call(layer, member, (x,)),
                                   rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_vmap_rules_equal_a_loop(data):
    """Property: vmap of each product over any axis of X, of the values / codebook, or both, with
    X per sample 1-D or 2-D and any sizes (0 included), equals the products one sample at a time
    (to rounding: a batch of X alone is one kernel call on its columns side by side, and a product
    of more columns may sum in another order, as a matrix product against a vector one)."""
    draw = data.draw
    n_rows, n_cols = draw(st.integers(0, 9)), draw(st.integers(0, 9))
    batch, k = draw(st.integers(1, 4)), draw(st.sampled_from([None, 1, 3]))
    P = pattern(n_rows, n_cols, density=draw(st.floats(0, 1)), seed=draw(st.integers(0, 99)))
    which = draw(st.sampled_from(["csr", "shared", "hashed", "shared_csr"]))
    if which == "csr":
        first = f64(P.nnz, seed=1)
        fn = functools.partial(snt.csr_matmul, P)
    else:
        weights = {"shared": lambda: sparsenet.SharedWeights(np.zeros(3), np.arange(
                       n_rows * n_cols).reshape(n_rows, n_cols) % 3),
                   "hashed": lambda: sparsenet.HashedWeights((n_rows, n_cols), np.zeros(3), seed=5),
                   "shared_csr": lambda: sparsenet.SharedCSR(
                       np.arange(P.nnz) % 3, P.indices, P.indptr, P.shape, np.zeros(3))}[which]()
        first = f64(3, seed=1)
        fn = functools.partial({"shared": snt.shared_matmul, "hashed": snt.hashed_matmul,
                                "shared_csr": snt.shared_csr_matmul}[which], weights)
    sample_shape = (n_cols,) if k is None else (n_cols, k)
    x_axis = draw(st.integers(0, len(sample_shape)))
    X = f64(*sample_shape[:x_axis], batch, *sample_shape[x_axis:], seed=2)
    batch_first = draw(st.booleans())
    firsts = torch.stack([first * (m + 1) for m in range(batch)]) if batch_first else first
    got = torch.func.vmap(fn, in_dims=(0 if batch_first else None, x_axis))(firsts, X)
    want = torch.stack([fn(firsts[m] if batch_first else first, X.select(x_axis, m))
                        for m in range(batch)])
    torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-13)


def test_torch_func_transforms_of_the_functions():
    """The functions under vmap with the batch at any axis, of one operand or both, and grad of
    each argument, against their dense computation."""
    from torch.func import grad, vmap

    P = pattern(7, 6, seed=1)
    D = torch.from_numpy(P.toarray())
    values = torch.from_numpy(P.data.copy())
    X = f64(6, 5, 4, seed=2)  # a batch of 4 at axis 2
    torch.testing.assert_close(vmap(lambda x: snt.csr_matmul(P, values, x), in_dims=2)(X),
                               torch.einsum("ij,jkb->bik", D, X))
    torch.testing.assert_close(vmap(lambda x: snt.csr_matmul(P, values, x), in_dims=1)(X[:, 0]),
                               (D @ X[:, 0]).T)
    batch_values = torch.stack([values, 2 * values])
    torch.testing.assert_close(vmap(lambda v: snt.csr_matmul(P, v, X[..., 0]))(batch_values),
                               torch.stack([D @ X[..., 0], 2 * D @ X[..., 0]]))
    A, B = f64(4, 7, 3, seed=3), f64(6, 3, seed=4)
    rows = np.repeat(np.arange(7), np.diff(P.indptr))
    torch.testing.assert_close(vmap(lambda a: snt.sddmm(P, a, B))(A),
                               (A @ B.T)[:, rows, P.indices.copy()])
    torch.testing.assert_close(grad(lambda b: snt.sddmm(P, A[0], b).sum())(B),
                               (torch.from_numpy(P.toarray() != 0).double().T @ A[0]))
    x = f64(3, 4, 9, seed=5)
    torch.testing.assert_close(vmap(lambda t: snt.kwinners(t, 2), in_dims=1)(x),
                               snt.kwinners(x.transpose(0, 1), 2))


@pytest.mark.parametrize("i", range(5))
def test_structure_has_the_layer_dtype(i):
    """structure() (the checked sparsenet object) holds values or a codebook of the layer's dtype,
    whatever the values it holds stand for."""
    for dtype, np_dtype in ((torch.float32, np.float32), (torch.float64, np.float64)):
        structure = make_layers(dtype)[i].structure()
        held = getattr(structure, "pattern", structure)  # SparseLinear: its _Layout's CSR
        assert (held.codebook if hasattr(held, "codebook") else held.data).dtype == np_dtype


@pytest.mark.parametrize("i", range(5))
def test_input_gradient_has_the_input_layout(i):
    """A row-major input gets a row-major gradient (PyTorch's layout for a gradient: a leaf keeps it
    without AccumulateGrad's copy, a dense layer before gets what it gave), of the dense layer's
    values; a column-major input (another sparsenet layer's output) keeps a column-major one."""
    layer = make_layers()[i]
    dense = nn.Linear(12, 7, bias=False, dtype=torch.float64)
    with torch.no_grad():
        dense.weight.copy_(layer.weight)
    for x in (f64(400, 12, seed=i), f64(12, 400, seed=i).T):  # 4800 elements: the tiled copy
        x = x.detach().requires_grad_()
        grad = torch.autograd.grad(layer(x).square().sum(), x)[0]
        assert grad.stride() == x.stride()
        x_dense = x.detach().clone().requires_grad_()
        want = torch.autograd.grad((dense(x_dense) + (layer.bias if layer.bias is not None else 0))
                                   .square().sum(), x_dense)[0]
        torch.testing.assert_close(grad, want)


@pytest.mark.parametrize("i", range(5))
def test_layer_float32_equals_dense_masked_linear(i):
    layer = make_layers(torch.float32)[i]
    dense = nn.Linear(12, 7, bias=layer.bias is not None)
    with torch.no_grad():
        dense.weight.copy_(layer.weight)
        if layer.bias is not None:
            dense.bias.copy_(layer.bias)
    x = torch.randn(5, 12)
    y = layer(x)
    assert y.dtype == torch.float32 and y.shape == (5, 7)
    torch.testing.assert_close(y, dense(x), rtol=1e-5, atol=1e-6)
    # gradients of the input and of the trainable values equal the dense ones at stored positions
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    layer(x1).square().sum().backward()
    dense(x2).square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-4, atol=1e-5)
    if isinstance(layer, snt.SparseLinear):
        rows = np.repeat(np.arange(7), np.diff(layer.indptr.numpy()))
        torch.testing.assert_close(layer.values.grad,
                                   dense.weight.grad[rows, layer.indices.long()],
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_sparse_layer_tokens_outside_autograd_follow_the_values(bias):
    """Outside autograd a SparseLinear multiplies one token by a vector product it keeps, which
    reads the values' memory in place: an optimizer's in-place step, a copy_ under no_grad and a
    Parameter replaced (or loaded with another nnz) must all be seen, a pickled layer must not
    carry it. (A token alone and the same token in a batch are different kernels, as GEMV and
    GEMM: equal within rounding, as nn.Linear's.)"""
    torch.manual_seed(0)
    layer = snt.SparseLinear(40, 30, bias=bias, sparsity=0.8)
    x = torch.randn(5, 40)

    def dense(t):
        return t @ layer.weight.detach().T + (layer.bias.detach() if bias else 0)

    with torch.no_grad():
        for i in range(5):
            torch.testing.assert_close(layer(x[i]), layer(x)[i])
            torch.testing.assert_close(layer(x[i:i + 1]), dense(x[i:i + 1]))
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    layer(x).sum().backward()
    optimizer.step()  # in place
    with torch.no_grad():
        torch.testing.assert_close(layer(x[0]), dense(x[0]))
        layer.values.copy_(torch.randn(layer.nnz))
        torch.testing.assert_close(layer(x[0]), dense(x[0]))
    layer.values = nn.Parameter(torch.randn(layer.nnz))  # another tensor, another address
    with torch.no_grad():
        torch.testing.assert_close(layer(x[0]), dense(x[0]))
        buffer = io.BytesIO()
        torch.save(layer, buffer)  # the kept vector product (not picklable) stays behind
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=False)
        torch.testing.assert_close(loaded(x[0]), layer(x[0]), rtol=0, atol=0)
        other = snt.SparseLinear(40, 30, bias=bias, sparsity=0.5)
        layer.load_state_dict(other.state_dict())  # another nnz: another structure
        torch.testing.assert_close(layer(x[0]), other(x[0]), rtol=0, atol=0)
        torch.testing.assert_close(layer(x[0]), dense(x[0]))
        strided = torch.randn(2 * layer.nnz)[::2]  # values not contiguous: the general path
        layer.values = nn.Parameter(strided, requires_grad=False)
        torch.testing.assert_close(layer(x[0]), dense(x[0]))


@pytest.mark.parametrize("i", range(5))
def test_state_dict_and_torch_save_round_trip(i):
    layer = make_layers()[i]
    x = f64(4, 12, seed=1)
    want = layer(x)
    buffer = io.BytesIO()
    torch.save(layer, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    torch.testing.assert_close(loaded(x), want)
    fresh = make_layers()[i]
    # a layer of another structure takes the state dict's
    torch.manual_seed(123)
    other = {0: lambda: snt.SparseLinear(12, 7, sparsity=0.2, dtype=torch.float64),
             1: lambda: snt.SparseLinear(12, 7, bias=False, sparsity=0.9, dtype=torch.float64),
             2: lambda: snt.SharedLinear(12, 7, n_clusters=3, dtype=torch.float64),
             3: lambda: snt.SharedSparseLinear(12, 7, sparsity=0.1, n_clusters=2,
                                               dtype=torch.float64),
             4: lambda: snt.HashedLinear(12, 7, n_codes=2, seed=0, dtype=torch.float64)}[i]()
    parameters = list(other.parameters())  # what an optimizer built before the load holds
    frozen = {id(p) for p in parameters[:1]}
    parameters[0].requires_grad_(False)
    other.load_state_dict(layer.state_dict())
    torch.testing.assert_close(other(x), want)
    # resized in place: the same Parameter objects, requires_grad as they were
    assert [id(p) for p in other.parameters()] == [id(p) for p in parameters]
    assert [p.requires_grad for p in other.parameters()] == [id(p) not in frozen
                                                             for p in parameters]
    buffer = io.BytesIO()
    torch.save(layer.state_dict(), buffer)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer))
    torch.testing.assert_close(fresh(x), want)


KINDS = {  # every kind of layer, made as (in_features, out_features)
    "sparse": lambda i, o: snt.SparseLinear(i, o, sparsity=0.5),
    "shared": lambda i, o: snt.SharedLinear(i, o),
    "shared_sparse": lambda i, o: snt.SharedSparseLinear(i, o, sparsity=0.5),
    "hashed": lambda i, o: snt.HashedLinear(i, o, 3),
}


def state_of(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_state(model, state):
    assert model.state_dict().keys() == state.keys()
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize("make", KINDS.values(), ids=KINDS.keys())
@pytest.mark.parametrize("other", [(6, 4), (7, 5), (5, 5), (5, 6)])
def test_state_dict_of_another_shape_is_refused(make, other):
    # as nn.Linear(6, 5) refuses nn.Linear(6, 4)'s weight: SharedLinear(6, 5) took (6, 4)'s codes
    # and then gave 4 outputs, SparseLinear(7, 4) a (6, 4) layer's structure, HashedLinear any
    torch.manual_seed(0)
    model = nn.Sequential(make(6, 5))
    before = state_of(model)
    state = nn.Sequential(make(*other)).state_dict()
    with pytest.raises(RuntimeError, match=r"size mismatch for 0\.weight_shape"):
        model.load_state_dict(state)
    assert_same_state(model, before)  # nothing of a refused state dict is loaded
    with pytest.raises(RuntimeError, match=r"size mismatch for 0\.weight_shape"):
        model.load_state_dict(state, strict=False)  # as nn.Module: a mismatch is no missing key
    assert model(torch.randn(3, 6)).shape == (3, 5)


def old_style(state):
    """`state` as saved before weight_shape was stored: without it, of version 1."""
    old = collections.OrderedDict((k, v) for k, v in state.items()
                                  if not k.endswith("weight_shape"))
    old._metadata = {prefix: {**metadata, "version": 1}
                     for prefix, metadata in state._metadata.items()}
    return old


@pytest.mark.parametrize("make", KINDS.values(), ids=KINDS.keys())
def test_state_dict_saved_before_weight_shape_still_loads(make):
    torch.manual_seed(0)
    model, saved = nn.Sequential(make(6, 5)), nn.Sequential(make(6, 5))
    x = torch.randn(3, 6)
    buffer = io.BytesIO()
    torch.save(old_style(saved.state_dict()), buffer)
    buffer.seek(0)
    model.load_state_dict(torch.load(buffer))
    torch.testing.assert_close(model(x), saved(x))
    # a state dict of version 2 lacking the key is missing it, as any other key
    state = saved.state_dict()
    del state["0.weight_shape"]
    with pytest.raises(RuntimeError, match=r"Missing key\(s\).*0\.weight_shape"):
        model.load_state_dict(state)


@pytest.mark.parametrize("kind", ["sparse", "shared", "shared_sparse"])
def test_old_state_dict_whose_structure_does_not_fit_is_refused(kind):
    # without weight_shape, the structure itself is checked as the first forward would check it
    make = {"sparse": lambda i, o: snt.SparseLinear(i, o, sparsity=0.0),
            "shared": lambda i, o: snt.SharedLinear(i, o),
            "shared_sparse": lambda i, o: snt.SharedSparseLinear(i, o, sparsity=0.0)}[kind]
    torch.manual_seed(0)
    model = nn.Sequential(make(6, 5))
    before = state_of(model)
    wider = old_style(nn.Sequential(make(7, 5)).state_dict())  # column 6 is out of range
    fewer = old_style(nn.Sequential(make(6, 4)).state_dict())  # indptr or codes too short
    for state, key in ((wider, "indices" if "sparse" in kind else "codes"),
                       (fewer, "indptr" if "sparse" in kind else "codes")):
        with pytest.raises(RuntimeError, match=rf"invalid structure for .*0\.{key}"):
            model.load_state_dict(state)
        assert_same_state(model, before)
    if kind == "shared":  # codes out of the codebook's range
        state = old_style(model.state_dict())
        state["0.codebook"] = state["0.codebook"][:1].clone()
        with pytest.raises(RuntimeError, match="out of range for a codebook of 1"):
            model.load_state_dict(state)
        assert_same_state(model, before)


def test_sparse_linear_state_dict_values_must_match_the_structure():
    model = nn.Sequential(snt.SparseLinear(6, 5, sparsity=0.5))
    state = model.state_dict()
    state["0.values"] = torch.cat([state["0.values"], torch.zeros(1)])
    with pytest.raises(RuntimeError, match=r"values must have shape \(\d+,\), got"):
        model.load_state_dict(state)


def test_structure_buffer_changed_in_place_is_checked_again():
    layer = make_layers()[0]
    x = f64(2, 12)
    layer(x)
    with torch.no_grad():
        layer.indices[0] = 99  # out of range: must be caught, never read
    with pytest.raises(ValueError, match="out of range"):
        layer(x)
    shared = make_layers()[2]
    with torch.no_grad():
        shared.codes[0, 0] = 200
    with pytest.raises(ValueError, match="out of range"):
        shared(x)


@pytest.mark.parametrize("kind", ["shared", "shared_sparse", "hashed"])
@pytest.mark.parametrize("forward_first", [False, True])
@pytest.mark.parametrize("how", ["parameter", "data"])
@pytest.mark.parametrize("n", [8, 32])
def test_a_codebook_of_another_length_is_taken_or_refused(kind, forward_first, how, n):
    # the structure cached by a forward kept the old codebook's length: a codebook of 32 entries,
    # every code still in range, was refused ("must have shape (16,)") after a forward and taken
    # before it; HashedLinear.structure() raised AttributeError
    torch.manual_seed(0)
    layer = KINDS[kind](12, 7) if kind != "hashed" else snt.HashedLinear(12, 7, 16)
    x = torch.randn(3, 12)
    if forward_first:
        layer(x)
    if how == "parameter":
        layer.codebook = nn.Parameter(torch.randn(n))
    else:
        layer.codebook.data = torch.randn(n)
    if kind == "hashed" or int(layer.codes.max()) < n:  # hashed: the codes follow the length
        torch.testing.assert_close(layer(x), x @ layer.weight.T + layer.bias)
        assert layer.structure().codebook.shape == (n,)
    else:
        with pytest.raises(ValueError, match=rf"codes\[.*\]=15 is out of range for a codebook "
                                             rf"of {n} entries"):
            layer(x)


def test_hashed_state_dict_of_a_bad_seed_or_codebook_is_refused():
    # HashedLinear had no structure to check: such a state dict loaded, and the forward failed
    model = nn.Sequential(snt.HashedLinear(6, 5, 4))
    before = state_of(model)
    for key, value, error in (("0.seed", torch.tensor(2**40), "seed must be in"),
                              ("0.seed", torch.tensor(1.5), "seed must be an int"),
                              ("0.codebook", torch.zeros(0), "codebook must have 1 to")):
        state = model.state_dict()
        state[key] = value
        with pytest.raises(RuntimeError, match=rf"invalid structure for 0\.codebook, 0\.seed "
                                               rf"from checkpoint: {error}"):
            model.load_state_dict(state)
        assert_same_state(model, before)


@pytest.mark.parametrize("forward_first", [False, True])
def test_sparse_values_of_another_length_are_refused_by_name(forward_first):
    # before a forward the error named the CSR's arrays: "A.data and A.indices must have ..."
    torch.manual_seed(0)
    layer = snt.SparseLinear(12, 7, sparsity=0.5)
    x = torch.randn(3, 12)
    if forward_first:
        layer(x)
    for n in (layer.nnz - 1, layer.nnz + 1):
        layer.values = nn.Parameter(torch.randn(n))
        with pytest.raises(ValueError, match=rf"^values must have shape \({layer.nnz},\), "
                                             rf"got \({n},\)"):
            layer(x)
    layer.values = nn.Parameter(torch.randn(layer.nnz))
    torch.testing.assert_close(layer(x), x @ layer.weight.T + layer.bias)


def test_fine_tuning_keeps_the_structure():
    layer = make_layers(torch.float32)[0]
    pruned = layer.weight.detach() == 0
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        layer(torch.randn(8, 12)).square().mean().backward()
        opt.step()
    assert (layer.weight.detach()[pruned] == 0).all()


def test_chained_layers_and_batch_shapes():
    torch.manual_seed(1)
    model = nn.Sequential(snt.SparseLinear(10, 20), nn.ReLU(), snt.SparseLinear(20, 3))
    x = torch.randn(2, 4, 10)
    y = model(x)
    assert y.shape == (2, 4, 3)
    dense = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
    with torch.no_grad():
        for d, s in ((dense[0], model[0]), (dense[2], model[2])):
            d.weight.copy_(s.weight)
            d.bias.copy_(s.bias)
    torch.testing.assert_close(y, dense(x), rtol=1e-5, atol=1e-6)
    assert model(torch.randn(0, 10)).shape == (0, 3)


@pytest.mark.parametrize("kind", ["shared", "hashed", "shared_sparse"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_codebook_layers_add_the_bias_in_the_product_with_the_same_bits(kind, dtype):
    # Outside autograd a codebook layer calls its structure's product directly, a SharedLinear /
    # HashedLinear's adding the bias as its last step (no pass of its own over the output); with
    # autograd recording, the general path adds the bias after. The bits are the same, with a bias
    # and without: several blocks of 384 terms, rows and tokens off the panels'
    torch.manual_seed(5)
    dense = nn.Linear(1000, 50).to(dtype)
    layer = {"shared": lambda: snt.SharedLinear.from_dense(dense, n_clusters=16),
             "hashed": lambda: snt.HashedLinear(1000, 50, n_codes=16, seed=3).to(dtype),
             "shared_sparse": lambda: snt.share(nn.Sequential(snt.SparseLinear.from_dense(
                 dense, sparsity=0.8)), n_clusters=16)[0]}[kind]()
    for tokens, bias in ((1, True), (7, True), (40, True), (1, False), (40, False)):
        x = torch.randn(tokens, 1000, dtype=dtype)
        kept, layer.bias = layer.bias, layer.bias if bias else None
        with torch.no_grad():
            fused = layer(x)
        recorded = layer(x.clone().requires_grad_())
        layer.bias = kept
        assert recorded.requires_grad
        assert torch.equal(fused, recorded.detach())
    with torch.no_grad():  # a bias of another dtype is added after the product, as before
        bias, other = layer.bias, layer.bias.detach().to(torch.float16)
        layer.bias = None
        want = layer(x).add_(other)
        layer.bias = nn.Parameter(other, requires_grad=False)
        assert torch.equal(layer(x), want)
        layer.bias = bias


def test_kwinners_layer():
    layer = snt.KWinners(2)
    assert repr(layer) == "KWinners(k=2)"
    x = torch.tensor([[1., -5., 3., 2.]], requires_grad=True)
    y = layer(x)
    assert torch.equal(y.detach(), torch.tensor([[0., 0., 3., 2.]]))
    y.sum().backward()
    assert torch.equal(x.grad, torch.tensor([[0., 0., 1., 1.]]))


# ---- conversion ----------------------------------------------------------------------------------------

def mlp():
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Sequential(nn.Linear(32, 8)))


def test_sparsify_then_share_gives_shared_sparse_layers():
    model = mlp()
    x = torch.randn(6, 16)
    pruned_weights = [m.weight.detach().clone() for m in model.modules() if isinstance(m, nn.Linear)]
    sparse = snt.sparsify(model, sparsity=0.75)
    assert [type(m).__name__ for m in sparse.modules() if "Linear" in type(m).__name__] == \
        ["SparseLinear", "SparseLinear"]
    # outputs equal the dense model with the pruned weights zeroed, to float32 tolerance
    reference = mlp()
    with torch.no_grad():
        for d, s, w in zip([reference[0], reference[2][0]], [sparse[0], sparse[2][0]],
                           pruned_weights):
            kept = torch.from_numpy(sparsenet.prune(w.numpy(), sparsity=0.75).toarray())
            d.weight.copy_(kept)
            assert (s.weight.detach() == kept).all()
    torch.testing.assert_close(sparse(x), reference(x), rtol=1e-5, atol=1e-6)
    shared = snt.share(sparse, n_clusters=4)
    kinds = [type(m).__name__ for m in shared.modules() if "Linear" in type(m).__name__]
    assert kinds == ["SharedSparseLinear", "SharedSparseLinear"]
    with torch.no_grad():
        reference[0].weight.copy_(shared[0].weight)
        reference[2][0].weight.copy_(shared[2][0].weight)
    torch.testing.assert_close(shared(x), reference(x), rtol=1e-5, atol=1e-6)


def test_share_dense_and_names():
    model = snt.share(mlp(), n_clusters=8, names=["0"])
    assert isinstance(model[0], snt.SharedLinear) and isinstance(model[2][0], nn.Linear)
    model = snt.sparsify(mlp(), 0.5, names=["2.0"])
    assert isinstance(model[0], nn.Linear) and isinstance(model[2][0], snt.SparseLinear)
    with pytest.raises(ValueError, match="not layers"):
        snt.sparsify(mlp(), 0.5, names=["nope"])
    single = snt.sparsify(nn.Linear(4, 4), 0.5)
    assert isinstance(single, snt.SparseLinear)


@pytest.mark.parametrize("convert", [snt.sparsify, snt.share], ids=["sparsify", "share"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_linear_is_refused_before_anything_changes(convert, dtype):
    # float16 gave float64 values with a float16 bias; bfloat16 failed in NumPy's conversion
    model = mlp()
    model[2][0].to(dtype)
    before = state_of(model)
    with pytest.raises(TypeError, match=rf"'2\.0'.*{dtype}"):
        convert(model)
    assert [type(m) for m in model.modules()] == [type(m) for m in mlp().modules()]
    assert_same_state(model, before)
    with pytest.raises(TypeError, match=str(dtype)):
        convert(nn.Linear(3, 3).to(dtype))


CONVERSIONS = {"sparsify": lambda model, **kw: snt.sparsify(model, 0.5, **kw),
               "share": lambda model, **kw: snt.share(model, 4, **kw)}


def cuda_tensor(*shape):
    """A tensor on device cuda:0 without CUDA: a fake one (its data never read), for the checks."""
    fake = pytest.importorskip("torch._subclasses.fake_tensor")
    with fake.FakeTensorMode():
        return torch.empty(*shape, device="cuda")


@pytest.mark.parametrize("convert", CONVERSIONS.values(), ids=CONVERSIONS.keys())
@pytest.mark.parametrize("device", ["meta", "cuda"])
def test_layer_off_the_cpu_is_refused_before_anything_changes(convert, device):
    # failed in Tensor.numpy(): "can't convert meta device type tensor to numpy" (cuda:0 alike)
    model = mlp()
    if device == "meta":
        model[2][0].to("meta")
    else:
        model[2][0].weight = nn.Parameter(cuda_tensor(8, 32))
    first = state_of(model[0])
    with pytest.raises(ValueError, match=rf"layer '2\.0' is on device {device}.*CPU"):
        convert(model)
    assert [type(m) for m in model.modules()] == [type(m) for m in mlp().modules()]
    assert_same_state(model[0], first)
    with pytest.raises(ValueError, match="the model is on device meta"):
        convert(nn.Linear(4, 3, device="meta"))
    with pytest.raises(ValueError, match="the model is on device meta"):  # a sparsenet layer too
        convert(snt.SparseLinear(4, 3).to("meta"))


@pytest.mark.parametrize("convert", CONVERSIONS.values(), ids=CONVERSIONS.keys())
@pytest.mark.parametrize("names", [None, ["0"], ["2"], ["3.0"]])
def test_a_layer_at_several_places_stays_one_layer(convert, names):
    # weight tying: the same nn.Linear twice in a parent and once in a child became independent
    # layers (or stayed an nn.Linear at the places after the first)
    torch.manual_seed(0)
    tied = nn.Linear(8, 8)
    model = convert(nn.Sequential(tied, nn.ReLU(), tied, nn.Sequential(tied)), names=names)
    layer = model[0]
    assert not isinstance(layer, nn.Linear) and model[2] is layer and model[3][0] is layer
    assert len(list(model.parameters())) == 2
    if convert is CONVERSIONS["sparsify"]:  # and a tied SparseLinear becomes one shared layer
        model = snt.share(model, n_clusters=4)
        assert isinstance(model[0], snt.SharedSparseLinear)
        assert model[2] is model[0] and model[3][0] is model[0]


TIED_CONVERSIONS = {**CONVERSIONS,
                    "sparsify_twice": lambda model: snt.sparsify(snt.sparsify(model, 0.5), 0.75),
                    "both": lambda model: snt.share(snt.sparsify(model, 0.5), 4)}


def tied_weights(tie_biases=False):
    """Two Linear modules sharing one weight Parameter (a tie, as an encoder's and a decoder's)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 8)))
    model[2][0].weight = model[0].weight
    if tie_biases:
        model[2][0].bias = model[0].bias
    return model


def assert_tied(a, b, biases_tied=False):
    """`a` and `b` compute with one weight (the same Parameters and structure), their own biases."""
    assert a is not b and type(a) is type(b)
    for name in a._resizable_parameters:
        assert getattr(a, name) is getattr(b, name), name
    for name in a._structure_buffers:
        assert torch.equal(a._buffers[name], b._buffers[name]), name
    assert (a.bias is b.bias) == biases_tied
    assert torch.equal(a.weight, b.weight)


def train_step(model):
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    opt.zero_grad()
    model(torch.randn(5, 8)).square().sum().backward()
    opt.step()


@pytest.mark.parametrize("convert", TIED_CONVERSIONS.values(), ids=TIED_CONVERSIONS.keys())
@pytest.mark.parametrize("tie_biases", [False, True])
def test_tied_weight_parameters_stay_tied(convert, tie_biases):
    # two modules sharing a weight Parameter became two independent layers: a step untied them
    model = convert(tied_weights(tie_biases))
    a, b = model[0], model[2][0]
    assert_tied(a, b, tie_biases)
    weight = a.weight.detach().clone()
    train_step(model)
    assert_tied(a, b, tie_biases)
    assert not torch.equal(a.weight, weight)  # trained, and both still compute with it
    x = torch.randn(3, 8)
    torch.testing.assert_close(b(x), x @ a.weight.T + b.bias)
    if not tie_biases:
        assert not torch.equal(a.bias, b.bias)


@pytest.mark.parametrize("names", [["0"], ["2.0"]])
def test_naming_one_of_tied_layers_converts_both(names):
    model = snt.sparsify(tied_weights(), 0.5, names=names)
    assert_tied(model[0], model[2][0])


def test_tied_weights_survive_a_state_dict_round_trip():
    model = snt.share(snt.sparsify(tied_weights(), 0.5), 4)
    train_step(model)
    x = torch.randn(3, 8)
    want = model(x)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = snt.share(snt.sparsify(tied_weights(), 0.75), 2)  # another structure, tied too
    fresh.load_state_dict(torch.load(buffer))
    torch.testing.assert_close(fresh(x), want)
    a, b = fresh[0], fresh[2][0]
    assert_tied(a, b)
    for name in a._structure_buffers:  # one structure still: a later load cannot part them
        assert a._buffers[name] is b._buffers[name], name
    train_step(fresh)
    assert_tied(a, b)


def test_a_tie_the_converters_cannot_keep_is_refused():
    # an output layer tied to an embedding: converting the layer alone would untie them
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(8, 4), nn.Linear(4, 8))
    model[1].weight = model[0].weight
    before = state_of(model)
    for convert in CONVERSIONS.values():
        with pytest.raises(ValueError, match=r"layer '1' shares its weight .*layer '0' "
                                             r"\(Embedding\.weight\).*untie"):
            convert(model)
        assert isinstance(model[1], nn.Linear) and model[1].weight is model[0].weight
        assert_same_state(model, before)
    # values tied between pruned layers of different structures: not one weight to keep
    model = nn.Sequential(*(snt.SparseLinear(8, 8, sparsity=0.5) for _ in range(2)))
    model[1].values = model[0].values
    with pytest.raises(ValueError, match=r"layer '1' shares its values with layer '0' but not "
                                         r"its structure"):
        snt.share(model, 4)
    assert isinstance(model[0], snt.SparseLinear)


@pytest.mark.parametrize("convert", CONVERSIONS.values(), ids=CONVERSIONS.keys())
def test_frozen_weights_and_biases_stay_frozen(convert):
    # the new layers' values, codebooks and biases were all trainable
    def check(model):
        for layer, weight, bias in ((model[0], False, True), (model[2][0], True, False)):
            assert {"bias" if name == "bias" else "weight": p.requires_grad
                    for name, p in layer.named_parameters()} == {"weight": weight, "bias": bias}

    model = mlp()
    model[0].weight.requires_grad_(False)
    model[2][0].bias.requires_grad_(False)
    check(convert(model))
    if convert is CONVERSIONS["sparsify"]:  # from SparseLinears (in place): pruned further, shared
        check(snt.sparsify(model, 0.75))
        check(snt.share(model, 4))


def test_sparsify_after_share_is_refused():
    # sparsify(share(model)) left the shared layers as they were, silently
    model = snt.share(mlp(), n_clusters=4, names=["2.0"])
    before = state_of(model)
    with pytest.raises(TypeError, match=r"'2\.0' is a SharedLinear.*share after sparsify"):
        snt.sparsify(model, 0.5)
    assert isinstance(model[0], nn.Linear)
    assert_same_state(model, before)
    assert isinstance(snt.sparsify(model, 0.5, names=["0"])[0], snt.SparseLinear)
    with pytest.raises(TypeError, match="is a SharedSparseLinear"):
        snt.sparsify(snt.share(snt.sparsify(mlp(), 0.5), 4), 0.8)


@pytest.mark.parametrize("convert", CONVERSIONS.values(), ids=CONVERSIONS.keys())
@pytest.mark.parametrize("kind", ["shared", "shared_sparse", "hashed"])
def test_codebook_layers_are_refused_by_both_converters(convert, kind):
    # share left shared and hashed layers as they were, and sparsify a hashed one, silently
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Sequential(KINDS[kind](6, 6)))
    name = type(model[2][0]).__name__
    before = state_of(model)
    for names in (None, ["2.0"], ["0", "2.0"]):
        with pytest.raises(TypeError, match=rf"layer '2\.0' is a {name}: .*names"):
            convert(model, names=names)
        assert isinstance(model[0], nn.Linear)
        assert_same_state(model, before)
    with pytest.raises(TypeError, match=rf"^the model is a {name}: (?!.*names)"):  # none to name
        convert(model[2][0])
    assert not isinstance(convert(model, names=["0"])[0], nn.Linear)  # the way out it names


def test_no_deprecated_api_is_used():
    # SharedLinear read SharedWeights.indices, a DeprecationWarning at every construction
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        torch.manual_seed(0)
        for make in KINDS.values():
            make(6, 5)(torch.randn(2, 6))
        snt.share(mlp(), n_clusters=4)
        snt.share(snt.sparsify(mlp(), 0.5), n_clusters=4)


def test_stored_nbytes():
    model = mlp()
    dense = snt.stored_nbytes(model)
    assert dense == 4 * sum(p.numel() for p in model.parameters())
    compressed = snt.share(snt.sparsify(model, 0.9), n_clusters=16)
    nnz = sum(m.nnz for m in compressed.modules() if isinstance(m, snt.SharedSparseLinear))
    assert nnz == round(0.1 * 16 * 32) + round(0.1 * 32 * 8)
    assert snt.stored_nbytes(compressed) < dense / 5
    # a hashed layer: its codebook, bias and seed (not its weight_shape, as nn.Linear's shape)
    assert snt.stored_nbytes(snt.HashedLinear(16, 8, n_codes=10)) == 4 * 10 + 4 * 8 + 8


# ---- threads -------------------------------------------------------------------------------------------

def test_threads_follow_torch(monkeypatch):
    layer = make_layers(torch.float32)[0]
    seen, capping = [], []  # each kernel call's thread count
    real, real_capped = sparsenet.backend.native_options, snt._native_options

    def spy():
        if not capping:
            seen.append(real()[1])
        return real()

    def capped_spy():  # the layers' hot path caps native_options' count at torch's itself
        capping.append(True)
        try:
            options = real_capped()
        finally:
            capping.pop()
        seen.append(options[1])
        return options

    monkeypatch.setattr(sparsenet.backend, "native_options", spy)
    monkeypatch.setattr(snt, "_native_options", capped_spy)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        x = torch.randn(3, 12, requires_grad=True)
        layer(x).sum().backward()
        assert len(seen) >= 4 and set(seen) == {1}  # check, product, sddmm, transposed product
    finally:
        torch.set_num_threads(previous)
    eye = sparsenet.CSR.from_dense(np.eye(3))  # built before: from_dense may call kernels too
    expected = sparsenet.get_num_threads()  # (which asks native_options too)
    seen.clear()
    sparsenet.spmm(eye, np.ones((3, 2)))
    assert seen == [expected]


@pytest.mark.parametrize("make", KINDS.values(), ids=KINDS.keys())
@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (2, 2), (1, 1)])
def test_layers_of_any_size_train_as_nn_linear(make, shape):
    # nn.Linear takes any size; the shared layers used to fail on k-means of too few weights
    # ("W must not be empty", "n_clusters must be <= ..."), and the codebook gradient on 0 inputs
    torch.manual_seed(0)
    layer = make(*shape)
    x = torch.randn(5, shape[0], dtype=torch.float32, requires_grad=True)
    y = layer(x)
    assert y.shape == (5, shape[1])
    torch.testing.assert_close(y, x @ layer.weight.T + layer.bias)
    y.square().sum().backward()
    assert x.grad.shape == x.shape
    trained = [p for p in layer.parameters() if p is not layer.bias]
    assert trained and all(p.grad is not None and torch.isfinite(p.grad).all() for p in trained)
    if hasattr(layer, "codebook") and not isinstance(layer, snt.HashedLinear):
        n_weights = layer.nnz if hasattr(layer, "nnz") else shape[0] * shape[1]
        assert layer.codebook.shape == (min(16, max(n_weights, 1)),)


def test_shared_layer_checks_n_clusters():
    with pytest.raises(ValueError, match="n_clusters"):
        snt.SharedLinear(3, 3, n_clusters=0)
    with pytest.raises(TypeError, match="n_clusters"):
        snt.SharedSparseLinear(3, 3, n_clusters="16")


# ---- errors --------------------------------------------------------------------------------------------

def test_errors():
    layer = make_layers(torch.float32)[0]
    with pytest.raises(TypeError, match="dtype torch.float32"):
        layer(torch.randn(2, 12, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 12\)"):
        layer(torch.randn(2, 11))
    with pytest.raises(ValueError, match="CPU tensor"):
        layer(torch.empty(2, 12, device="meta"))
    with pytest.raises(TypeError, match="torch.Tensor"):
        layer(np.ones((2, 12), dtype=np.float32))
    with pytest.raises(TypeError, match="strided"):
        layer(torch.randn(2, 12).to_sparse())
    P = pattern(3, 4)
    with pytest.raises(ValueError, match="values must have shape"):
        snt.csr_matmul(P, torch.ones(P.nnz + 1, dtype=torch.float64), torch.ones(4))
    with pytest.raises(TypeError, match="float32 or float64"):
        snt.csr_matmul(P, torch.ones(P.nnz, dtype=torch.int64), torch.ones(4))
    with pytest.raises(ValueError, match="X must have shape"):
        snt.csr_matmul(P, torch.ones(P.nnz, dtype=torch.float64),
                       torch.ones(5, dtype=torch.float64))
    with pytest.raises(TypeError, match="pattern must be"):
        snt.csr_matmul(np.eye(3), torch.ones(3), torch.ones(3))
    with pytest.raises(ValueError, match="device must be the CPU"):
        snt.SparseLinear(3, 3, device="meta")
    with pytest.raises(TypeError, match="dtype must be"):
        snt.SharedLinear(3, 3, dtype=torch.float16)
    with pytest.raises(TypeError, match="weights must be a sparsenet.SharedWeights"):
        snt.shared_matmul(P, torch.ones(2), torch.ones(4))
    with pytest.raises(ValueError, match="k must be"):
        snt.KWinners(-1)


def test_sparse_linear_through_column_blocks_matches_dense():
    # wide enough for CSR.optimize's column blocks of A (forward) and A^T (input gradient)
    torch.manual_seed(3)
    layer = snt.SparseLinear(2048, 64, sparsity=0.5, dtype=torch.float64)
    dense = nn.Linear(2048, 64, dtype=torch.float64)
    with torch.no_grad():
        dense.weight.copy_(layer.weight)
        dense.bias.copy_(layer.bias)
    x1 = f64(16, 2048, seed=4).requires_grad_()
    x2 = x1.detach().clone().requires_grad_()
    y = layer(x1)
    layout = layer._layout()
    assert isinstance(layout._blocked(16, 8, False), ColumnSplits)  # A: cut in place
    assert isinstance(layout._blocked(16, 8, True)[0], ColumnBlocks)  # A^T: values gathered
    torch.testing.assert_close(y, dense(x2), rtol=1e-12, atol=1e-12)
    for step in range(3):  # values change between steps: the cached layout must follow them
        layer.zero_grad(), dense.zero_grad()
        layer(x1).square().sum().backward()
        dense(x2).square().sum().backward()
        torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-10)
        rows = np.repeat(np.arange(64), np.diff(layer.indptr.numpy()))
        torch.testing.assert_close(layer.values.grad, dense.weight.grad[rows, layer.indices.long()],
                                   rtol=1e-10, atol=1e-10)
        with torch.no_grad():
            if step == 1:
                layer.values.data.mul_(0.5)  # .data: no version bump, nothing may be cached
            else:
                layer.values.mul_(0.5)
            dense.weight.copy_(layer.weight)
        x1.grad = x2.grad = None


def test_sparse_linear_with_unsorted_rows_through_column_blocks():
    # a structure from a state dict need not have sorted rows: the forward then gathers the
    # values into column blocks instead of cutting the rows in place
    rng = np.random.default_rng(5)
    rows, cols = 48, 1024
    W = rng.standard_normal((rows, cols)) * (rng.random((rows, cols)) < 0.5)
    A = sparsenet.CSR.from_dense(W)
    order = np.concatenate([s + rng.permutation(e - s)
                            for s, e in zip(A.indptr[:-1], A.indptr[1:])])
    layer = snt.SparseLinear(cols, rows, sparsity=0.5, bias=False, dtype=torch.float64)
    state = {"values": torch.from_numpy(A.data[order].copy()),
             "indices": torch.from_numpy(A.indices[order].copy()),
             "indptr": torch.from_numpy(A.indptr.copy())}
    layer.load_state_dict(state)
    x = f64(16, cols, seed=6)
    layout = layer._layout()
    assert not layout.pattern.has_canonical_format
    assert isinstance(layout._blocked(16, 8, False)[0], ColumnBlocks)
    torch.testing.assert_close(layer(x), x @ torch.from_numpy(W).T, rtol=1e-12, atol=1e-12)


def test_import_sparsenet_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys, sparsenet; sparsenet.sddmm; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
