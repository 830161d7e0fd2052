"""sparsenet.torch against PyTorch on CPU (pytest-benchmark), and the issue's ratios (script).

Workload (issue 13): the FFN matrices of a MiniLM-size transformer, six blocks of 384 -> 1536 -> 384
(twelve matrices, ReLU between), weights pruned to 90% by magnitude, 128 tokens, float32, one
thread for both libraries. Every implementation runs the whole stack on the same (masked)
weights:

- ``sparsenet``: SparseLinear layers (``sparsenet_shared``: SharedLinear, 16 values, unpruned);
- ``dense``: nn.Linear with the pruned weights (zeros kept dense);
- ``torch_csr``: the same weights as ``weight.to_sparse_csr()``, ``W @ x.T`` per matrix.

The ``sddmm`` group samples the gradient of every matrix's stored values (``dL/dY^T`` times ``X``
at the pattern), against ``torch.sparse.sampled_addmm`` and the dense product then masking.

    python -m pytest benchmarks/bench_torch.py --benchmark-only --benchmark-group-by=group
    python benchmarks/bench_torch.py            # the ratios of the issue's table, in one run
"""
import statistics
import time
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import sparsenet  # noqa: E402
import sparsenet.torch as snt  # noqa: E402

D_MODEL, D_FF, BLOCKS, TOKENS, SPARSITY = 384, 1536, 6, 128, 0.9


def build(seed=0):
    """The dense, sparse, shared and torch-CSR stacks on the same weights, and the input."""
    torch.manual_seed(seed)
    dense = nn.Sequential(*[layer for _ in range(BLOCKS) for layer in
                            (nn.Linear(D_MODEL, D_FF), nn.ReLU(), nn.Linear(D_FF, D_MODEL))])
    sparse = snt.sparsify(_copy(dense), sparsity=SPARSITY)
    with torch.no_grad():  # the dense stack gets the pruned weights (zeros stored densely)
        for d, s in zip(dense, sparse):
            if isinstance(d, nn.Linear):
                d.weight.copy_(s.weight)
    shared = snt.share(_copy(dense), n_clusters=16)
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        csr = [(m.weight.detach().to_sparse_csr(), m.bias.detach())
               for m in dense if isinstance(m, nn.Linear)]
    x = torch.randn(TOKENS, D_MODEL)
    return {"dense": dense, "sparse": sparse, "shared": shared, "csr": csr, "x": x}


def _copy(model):
    import copy
    return copy.deepcopy(model)


def torch_csr_forward(csr, x):
    for i, (W, b) in enumerate(csr):
        x = (W @ x.T).T + b
        if i % 2 == 0:
            x = torch.relu(x)
    return x


def forward(model, x):
    with torch.no_grad():
        return model(x)


def forward_backward(model, x):
    x = x.detach().requires_grad_()
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()
    return x.grad


def sddmm_problems(w):
    """(pattern, dL/dY^T, X^T) of every matrix of the sparse stack, from one forward pass."""
    problems, x = [], w["x"]
    torch.manual_seed(1)
    for m in w["sparse"]:
        if isinstance(m, snt.SparseLinear):
            G = torch.randn(TOKENS, m.out_features)
            problems.append((m.structure(), G.T.contiguous(), x.T.contiguous()))
        x = m(x).detach()
    return problems


def torch_sampled(problems):
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for P, GT, XT in problems:
            S = torch.sparse_csr_tensor(torch.from_numpy(P.indptr.astype(np.int64)),
                                        torch.from_numpy(P.indices.astype(np.int64)),
                                        torch.ones(P.nnz), size=P.shape)
            out.append((S, GT, XT.T.contiguous()))
    return out


def dense_then_mask(problems):
    masks = []
    for P, _, _ in problems:
        rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
        masks.append(torch.from_numpy(rows * P.shape[1] + P.indices.astype(np.int64)))
    return [(GT, XT, mask) for (_, GT, XT), mask in zip(problems, masks)]


@pytest.fixture(scope="module")
def workload():
    return build()


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    sparsenet.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
    sparsenet.set_num_threads(None)


@pytest.mark.benchmark(group="forward")
def test_forward_sparsenet(benchmark, workload):
    benchmark(forward, workload["sparse"], workload["x"])


@pytest.mark.benchmark(group="forward")
def test_forward_dense(benchmark, workload):
    benchmark(forward, workload["dense"], workload["x"])


@pytest.mark.benchmark(group="forward")
def test_forward_torch_csr(benchmark, workload):
    benchmark(lambda: torch_csr_forward(workload["csr"], workload["x"]))


@pytest.mark.benchmark(group="forward")
def test_forward_sparsenet_shared(benchmark, workload):
    benchmark(forward, workload["shared"], workload["x"])


@pytest.mark.benchmark(group="forward + backward")
def test_training_step_sparsenet(benchmark, workload):
    benchmark(forward_backward, workload["sparse"], workload["x"])


@pytest.mark.benchmark(group="forward + backward")
def test_training_step_dense(benchmark, workload):
    benchmark(forward_backward, workload["dense"], workload["x"])


@pytest.mark.benchmark(group="sddmm")
def test_sddmm_sparsenet(benchmark, workload):
    problems = sddmm_problems(workload)
    benchmark(lambda: [sparsenet.sddmm(P, G.numpy(), X.numpy()) for P, G, X in problems])


@pytest.mark.benchmark(group="sddmm")
def test_sddmm_torch_sampled_addmm(benchmark, workload):
    problems = torch_sampled(sddmm_problems(workload))
    benchmark(lambda: [torch.sparse.sampled_addmm(S, G, X, beta=0.0) for S, G, X in problems])


@pytest.mark.benchmark(group="sddmm")
def test_sddmm_dense_then_mask(benchmark, workload):
    problems = dense_then_mask(sddmm_problems(workload))
    benchmark(lambda: [(G @ X.T).view(-1)[mask] for G, X, mask in problems])


def median_time(fn, repeat=15, min_time=0.5):
    fn()
    times, start = [], time.perf_counter()
    while len(times) < repeat or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ratios():
    """The issue's ratios, measured in one run on one thread; prints and returns them."""
    torch.set_num_threads(1)
    sparsenet.set_num_threads(1)
    w = build()
    problems = sddmm_problems(w)
    sampled, masked = torch_sampled(problems), dense_then_mask(problems)
    t = {
        "forward sparsenet": lambda: forward(w["sparse"], w["x"]),
        "forward nn.Linear": lambda: forward(w["dense"], w["x"]),
        "forward torch CSR": lambda: torch_csr_forward(w["csr"], w["x"]),
        "forward SharedLinear K=16": lambda: forward(w["shared"], w["x"]),
        "fwd+bwd sparsenet": lambda: forward_backward(w["sparse"], w["x"]),
        "fwd+bwd nn.Linear": lambda: forward_backward(w["dense"], w["x"]),
        "sddmm sparsenet": lambda: [sparsenet.sddmm(P, G.numpy(), X.numpy())
                                    for P, G, X in problems],
        "sddmm torch sampled_addmm": lambda: [torch.sparse.sampled_addmm(S, G, X, beta=0.0)
                                              for S, G, X in sampled],
        "sddmm dense then mask": lambda: [(G @ X.T).view(-1)[mask] for G, X, mask in masked],
    }
    t = {name: median_time(fn) for name, fn in t.items()}
    for name, seconds in t.items():
        print(f"{name:<28} {seconds * 1e3:9.3f} ms")
    table = [
        ("forward, SparseLinear vs nn.Linear", "forward nn.Linear", "forward sparsenet", 4),
        ("forward, vs PyTorch CSR", "forward torch CSR", "forward sparsenet", 3),
        ("forward + backward vs nn.Linear", "fwd+bwd nn.Linear", "fwd+bwd sparsenet", 3),
        ("sddmm vs sampled_addmm", "sddmm torch sampled_addmm", "sddmm sparsenet", 3),
        ("sddmm vs dense then mask", "sddmm dense then mask", "sddmm sparsenet", 3),
        ("SharedLinear K=16 vs nn.Linear", "forward nn.Linear", "forward SharedLinear K=16", 1),
    ]
    print()
    result = {}
    for label, baseline, candidate, target in table:
        result[label] = t[baseline] / t[candidate]
        print(f"{label:<38} {result[label]:6.2f}x   (target >= {target}x)")
    return result


if __name__ == "__main__":
    ratios()
