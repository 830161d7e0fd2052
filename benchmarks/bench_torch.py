"""sparsenet.torch against PyTorch on CPU (pytest-benchmark), and the issue's ratios (script).

Workload (issue 13): the FFN matrices of a MiniLM-size transformer, six blocks of 384 -> 1536 -> 384
(twelve matrices, ReLU between), weights pruned to 90% by magnitude, 128 tokens, float32, one
thread for both libraries. Every implementation runs the whole stack on the same (masked)
weights:

- ``sparsenet``: SparseLinear layers (``sparsenet_shared``: SharedLinear, 16 values, unpruned);
- ``dense``: nn.Linear with the pruned weights (zeros kept dense);
- ``torch_csr``: the same weights as ``weight.to_sparse_csr()``, ``W @ x.T`` per matrix.

The ``forward, one token`` group runs the same stacks on one token (decoding a token at a time).
The ``sddmm`` group samples the gradient of every matrix's stored values (``dL/dY^T`` times ``X``
at the pattern), against ``torch.sparse.sampled_addmm`` and the dense product then masking.

    python -m pytest benchmarks/bench_torch.py --benchmark-only --benchmark-group-by=group
    python benchmarks/bench_torch.py            # the ratios of the issue's table, in one run
                                                # (implementations timed in turn, 15 rounds)
"""
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import sparsenet  # noqa: E402
from sparsenet.bench import (interleaved_times, sddmm_peer_runs, sddmm_problems,  # noqa: E402
                             torch_csr_forward, torch_forward as forward,
                             torch_training_step as forward_backward, torch_workload)


def build():
    """The workload (sparsenet.bench.torch_workload, also the bench command's torch family)."""
    return torch_workload(torch)


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


@pytest.mark.benchmark(group="forward, one token")
def test_one_token_sparsenet(benchmark, workload):
    benchmark(forward, workload["sparse"], workload["x"][:1])


@pytest.mark.benchmark(group="forward, one token")
def test_one_token_dense(benchmark, workload):
    benchmark(forward, workload["dense"], workload["x"][:1])


@pytest.mark.benchmark(group="forward, one token")
def test_one_token_torch_csr(benchmark, workload):
    benchmark(lambda: torch_csr_forward(workload["csr"], workload["x"][:1]))


@pytest.mark.benchmark(group="forward + backward")
def test_training_step_sparsenet(benchmark, workload):
    benchmark(forward_backward, workload["sparse"], workload["x"])


@pytest.mark.benchmark(group="forward + backward")
def test_training_step_dense(benchmark, workload):
    benchmark(forward_backward, workload["dense"], workload["x"])


@pytest.mark.benchmark(group="sddmm")
def test_sddmm_sparsenet(benchmark, workload):
    problems = sddmm_problems(torch, workload)
    benchmark(lambda: [sparsenet.sddmm(P, G.numpy(), X.numpy()) for P, G, X in problems])


@pytest.mark.benchmark(group="sddmm")
def test_sddmm_torch_sampled_addmm(benchmark, workload):
    benchmark(sddmm_peer_runs(torch, sddmm_problems(torch, workload))["pytorch sampled_addmm"])


@pytest.mark.benchmark(group="sddmm")
def test_sddmm_dense_then_mask(benchmark, workload):
    benchmark(sddmm_peer_runs(torch, sddmm_problems(torch, workload))["dense then mask (pytorch)"])


def ratios():
    """The issue's ratios, measured in one run on one thread; prints and returns them."""
    torch.set_num_threads(1)
    sparsenet.set_num_threads(1)
    w = build()
    problems = sddmm_problems(torch, w)
    peers = sddmm_peer_runs(torch, problems)
    t = {
        "forward sparsenet": lambda: forward(w["sparse"], w["x"]),
        "forward nn.Linear": lambda: forward(w["dense"], w["x"]),
        "forward torch CSR": lambda: torch_csr_forward(w["csr"], w["x"]),
        "forward SharedLinear K=16": lambda: forward(w["shared"], w["x"]),
        "fwd+bwd sparsenet": lambda: forward_backward(w["sparse"], w["x"]),
        "fwd+bwd nn.Linear": lambda: forward_backward(w["dense"], w["x"]),
        "sddmm sparsenet": lambda: [sparsenet.sddmm(P, G.numpy(), X.numpy())
                                    for P, G, X in problems],
        "sddmm torch sampled_addmm": peers["pytorch sampled_addmm"],
        "sddmm dense then mask": peers["dense then mask (pytorch)"],
    }
    t = interleaved_times(t, rounds=15, min_block=0.1)
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
