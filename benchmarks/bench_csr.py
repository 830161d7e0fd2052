"""CSR products: sparsenet vs its NumPy baseline, SciPy and dense BLAS (pytest-benchmark).

Workload of the CSR issue: A = scipy.sparse.random(8192, 8192, density=0.10, float32, int32
indices, random_state=1), x of 8192 float32, X of shape (8192, 64) float32 C-ordered. The
``sparsenet`` rows multiply the matrix optimised once for the product (``CSR.optimize``: column
blocks, as MKL's inspector-executor); ``sparsenet_plain`` rows a plain ``sparsenet.CSR``. Each group
holds one operation, so the table compares the implementations side by side:

    python -m pytest benchmarks/bench_csr.py --benchmark-only --benchmark-group-by=group

Compare dense BLAS fairly with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1``.
"""
import numpy as np
import pytest
import scipy.sparse as sp

import sparsenet
from sparsenet import reference

N = 8192


@pytest.fixture(scope="module")
def workload():
    A = sp.random(N, N, density=0.10, format="csr", dtype=np.float32, random_state=1)
    rng = np.random.default_rng(0)
    C = sparsenet.CSR.from_scipy(A)
    return {
        "A": A,
        "C": C,
        "V": C.optimize(transpose=True),            # for vectors
        "M": C.optimize(batch=64, transpose=True),  # for 64-column batches
        "dense": A.toarray(),
        "x": rng.standard_normal(N, dtype=np.float32),
        "X": rng.standard_normal((N, 64), dtype=np.float32),
    }


@pytest.fixture(autouse=True)
def one_thread():
    sparsenet.set_num_threads(1)
    yield
    sparsenet.set_num_threads(None)


def _slow(benchmark, fn):
    """The NumPy baseline takes seconds on the matrix products: a few rounds are enough."""
    return benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=1)


# ---- y = A x -------------------------------------------------------------------------------------
@pytest.mark.benchmark(group="spmv")
def test_spmv_sparsenet(benchmark, workload):
    benchmark(sparsenet.spmv, workload["V"], workload["x"])


@pytest.mark.benchmark(group="spmv")
def test_spmv_sparsenet_plain(benchmark, workload):
    benchmark(sparsenet.spmv, workload["C"], workload["x"])


@pytest.mark.benchmark(group="spmv")
def test_spmv_sparsenet_scipy_input(benchmark, workload):
    benchmark(sparsenet.spmv, workload["A"], workload["x"])


@pytest.mark.benchmark(group="spmv")
def test_spmv_numpy(benchmark, workload):
    benchmark(reference.spmv, workload["C"], workload["x"])


@pytest.mark.benchmark(group="spmv")
def test_spmv_scipy(benchmark, workload):
    A, x = workload["A"], workload["x"]
    benchmark(lambda: A @ x)


# ---- y = A^T x -----------------------------------------------------------------------------------
@pytest.mark.benchmark(group="spmv transposed")
def test_spmv_t_sparsenet(benchmark, workload):
    benchmark(sparsenet.spmv, workload["V"], workload["x"], transpose=True)


@pytest.mark.benchmark(group="spmv transposed")
def test_spmv_t_sparsenet_plain(benchmark, workload):
    benchmark(sparsenet.spmv, workload["C"], workload["x"], transpose=True)


@pytest.mark.benchmark(group="spmv transposed")
def test_spmv_t_numpy(benchmark, workload):
    benchmark(reference.spmv, workload["C"], workload["x"], transpose=True)


@pytest.mark.benchmark(group="spmv transposed")
def test_spmv_t_scipy(benchmark, workload):
    A, x = workload["A"], workload["x"]
    benchmark(lambda: A.T @ x)


# ---- Y = A X -------------------------------------------------------------------------------------
@pytest.mark.benchmark(group="spmm")
def test_spmm_sparsenet(benchmark, workload):
    benchmark(sparsenet.spmm, workload["M"], workload["X"])


@pytest.mark.benchmark(group="spmm")
def test_spmm_sparsenet_2_threads(benchmark, workload):
    sparsenet.set_num_threads(2)
    benchmark(sparsenet.spmm, workload["M"], workload["X"])


@pytest.mark.benchmark(group="spmm")
def test_spmm_sparsenet_plain(benchmark, workload):
    benchmark(sparsenet.spmm, workload["C"], workload["X"])


@pytest.mark.benchmark(group="spmm")
def test_spmm_numpy(benchmark, workload):
    _slow(benchmark, lambda: reference.spmm(workload["C"], workload["X"]))


@pytest.mark.benchmark(group="spmm")
def test_spmm_scipy(benchmark, workload):
    A, X = workload["A"], workload["X"]
    benchmark(lambda: A @ X)


@pytest.mark.benchmark(group="spmm")
def test_spmm_dense_matmul(benchmark, workload):
    D, X = workload["dense"], workload["X"]
    benchmark(lambda: D @ X)


# ---- Y = A^T X -----------------------------------------------------------------------------------
@pytest.mark.benchmark(group="spmm transposed")
def test_spmm_t_sparsenet(benchmark, workload):
    benchmark(sparsenet.spmm, workload["M"], workload["X"], transpose=True)


@pytest.mark.benchmark(group="spmm transposed")
def test_spmm_t_sparsenet_plain(benchmark, workload):
    benchmark(sparsenet.spmm, workload["C"], workload["X"], transpose=True)


@pytest.mark.benchmark(group="spmm transposed")
def test_spmm_t_numpy(benchmark, workload):
    _slow(benchmark, lambda: reference.spmm(workload["C"], workload["X"], transpose=True))


@pytest.mark.benchmark(group="spmm transposed")
def test_spmm_t_scipy(benchmark, workload):
    A, X = workload["A"], workload["X"]
    benchmark(lambda: A.T @ X)


# ---- the one-off cost of CSR.optimize --------------------------------------------------------------
@pytest.mark.benchmark(group="optimize")
def test_optimize_sparsenet(benchmark, workload):
    _slow(benchmark, lambda: workload["C"].optimize(transpose=True))


@pytest.mark.benchmark(group="optimize")
def test_optimize_scipy_transpose(benchmark, workload):
    _slow(benchmark, lambda: workload["A"].T.tocsr())
