"""Batch-OMP benchmarks: sparsenet against the NumPy reference, scikit-learn's orthogonal_mp
(precompute=True) and, when installed, SPAMS (``spams-bin``: ``spams.omp``), in float64.

Workloads of the OMP issue: O1, D 64 x 256 (unit-norm Gaussian atoms), X 64 x 20000, k = 8; O2,
D 256 x 1024, X 256 x 2000, k = 32; O2-50, the same with 50 signals (issue 12's small batch).
Each workload is one pytest-benchmark group, so the table compares the implementations. Run
single-threaded BLAS for a fair comparison:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \\
        python -m pytest benchmarks/bench_omp.py --benchmark-only

The NumPy reference and scikit-learn take seconds per call: they run one round.
"""
import numpy as np
import pytest

import sparsenet
from sparsenet import reference

WORKLOADS = {"O1": (64, 256, 20000, 8), "O2": (256, 1024, 2000, 32),
             "O2-50": (256, 1024, 50, 32)}  # the small batch: see omp_small_batch.py
SLOW = {"rounds": 1, "iterations": 1, "warmup_rounds": 0}


def problem(name):
    n_features, n_atoms, n_signals, k = WORKLOADS[name]
    rng = np.random.default_rng(0)
    D = rng.standard_normal((n_features, n_atoms))
    D /= np.linalg.norm(D, axis=0)
    X = rng.standard_normal((n_features, n_signals))
    return D, X, k


@pytest.fixture(params=sorted(WORKLOADS))
def workload(request):
    return request.param, problem(request.param)


@pytest.mark.parametrize("threads", [1, 2])
def test_sparsenet(benchmark, workload, threads):
    name, (D, X, k) = workload
    benchmark.group = f"omp {name}"
    sparsenet.set_num_threads(threads)
    try:
        coef = benchmark(sparsenet.omp, D, X, n_nonzero_coefs=k)
    finally:
        sparsenet.set_num_threads(None)
    assert (np.count_nonzero(coef, axis=0) == k).all()


def test_sparsenet_csc(benchmark, workload):
    """The same codes as a csc_array: SPAMS's output format."""
    name, (D, X, k) = workload
    benchmark.group = f"omp {name}"
    sparsenet.set_num_threads(1)
    try:
        coef = benchmark(sparsenet.omp, D, X, n_nonzero_coefs=k, return_format="csc")
    finally:
        sparsenet.set_num_threads(None)
    assert coef.nnz == k * X.shape[1]


def test_numpy_reference(benchmark, workload):
    name, (D, X, k) = workload
    benchmark.group = f"omp {name}"
    coef = benchmark.pedantic(reference.omp, (D, X), {"n_nonzero_coefs": k}, **SLOW)
    assert coef.shape == (D.shape[1], X.shape[1])


def test_sklearn(benchmark, workload):
    linear_model = pytest.importorskip("sklearn.linear_model")
    name, (D, X, k) = workload
    benchmark.group = f"omp {name}"
    coef = benchmark.pedantic(linear_model.orthogonal_mp, (D, X),
                              {"n_nonzero_coefs": k, "precompute": True}, **SLOW)
    assert coef.shape == (D.shape[1], X.shape[1])


def test_spams(benchmark, workload):
    spams = pytest.importorskip("spams")
    name, (D, X, k) = workload
    benchmark.group = f"omp {name}"
    Df, Xf = np.asfortranarray(D), np.asfortranarray(X)
    coef = benchmark(spams.omp, Xf, Df, L=k, numThreads=1)
    assert coef.shape == (D.shape[1], X.shape[1])
