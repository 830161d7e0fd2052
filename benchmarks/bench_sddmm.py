"""SDDMM: sparsenet vs its NumPy baseline, SciPy/NumPy dense-then-mask and PyTorch (pytest-benchmark).

Workload: the gradient of a pruned layer's values, pattern 1536 x 384 at 10% density (float32,
int32 indices), A = dL/dY^T of shape (1536, 128) and B = X^T of shape (384, 128), one thread.

    python -m pytest benchmarks/bench_sddmm.py --benchmark-only --benchmark-group-by=group
"""
import numpy as np
import pytest
import scipy.sparse as sp

import sparsenet
from sparsenet import reference


@pytest.fixture(scope="module")
def workload():
    rng = np.random.default_rng(0)
    S = sp.random(1536, 384, density=0.10, format="csr", dtype=np.float32, random_state=1)
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    return {"S": S, "P": sparsenet.CSR.from_scipy(S),
            "A": rng.standard_normal((1536, 128), dtype=np.float32),
            "B": rng.standard_normal((384, 128), dtype=np.float32),
            "flat": rows * S.shape[1] + S.indices}


@pytest.fixture(autouse=True)
def one_thread():
    sparsenet.set_num_threads(1)
    yield
    sparsenet.set_num_threads(None)


@pytest.mark.benchmark(group="sddmm")
def test_sddmm_sparsenet(benchmark, workload):
    benchmark(sparsenet.sddmm, workload["P"], workload["A"], workload["B"])


@pytest.mark.benchmark(group="sddmm")
def test_sddmm_numpy(benchmark, workload):
    benchmark(reference.sddmm, workload["P"], workload["A"], workload["B"])


@pytest.mark.benchmark(group="sddmm")
def test_sddmm_dense_then_mask(benchmark, workload):
    A, B, flat = workload["A"], workload["B"], workload["flat"]
    benchmark(lambda: (A @ B.T).ravel()[flat])


@pytest.mark.benchmark(group="sddmm")
def test_sddmm_torch_sampled_addmm(benchmark, workload):
    torch = pytest.importorskip("torch")
    S = workload["S"]
    torch.set_num_threads(1)
    P = torch.sparse_csr_tensor(torch.from_numpy(S.indptr.astype(np.int64)),
                                torch.from_numpy(S.indices.astype(np.int64)),
                                torch.from_numpy(S.data), size=S.shape)
    A, Bt = torch.from_numpy(workload["A"]), torch.from_numpy(workload["B"].T.copy())
    benchmark(lambda: torch.sparse.sampled_addmm(P, A, Bt, beta=0.0))
