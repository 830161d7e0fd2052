"""Thresholding: sparsenet vs its NumPy baseline and the peers (pytest-benchmark), one thread.

Workload of the thresholding issue: Z = standard normal float32 of shape (4096, 4096) (64 MiB).
Each group holds one operation, so the table compares the implementations side by side:

    python -m pytest benchmarks/bench_threshold.py --benchmark-only --benchmark-group-by=group

Targets: binarize / hard / soft into a preallocated out= within 1.25x of np.copyto(out, Z); new
hard / soft arrays, topk(Z, 32), hard_threshold(Z, 2.0, format="csr") (vs SciPy) and
prune(Z, sparsity=0.9) at least 5x faster than their baselines.
"""
import numpy as np
import pytest
import scipy.sparse as sp

import sparsenet
from sparsenet import reference

N = 4096


@pytest.fixture(scope="module")
def Z():
    return np.random.default_rng(0).standard_normal((N, N), dtype=np.float32)


@pytest.fixture(scope="module")
def out():
    return np.empty((N, N), dtype=np.float32)


@pytest.fixture(autouse=True)
def one_thread():
    sparsenet.set_num_threads(1)
    yield
    sparsenet.set_num_threads(None)


def _slow(benchmark, fn):
    """Baselines taking a large fraction of a second: a few rounds are enough."""
    return benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)


def _argpartition_topk(Z, k):
    """The plain np.argpartition k-winners-take-all (ties broken arbitrarily)."""
    idx = np.argpartition(np.abs(Z), Z.shape[1] - k, axis=-1)[:, Z.shape[1] - k:]
    y = np.zeros_like(Z)
    np.put_along_axis(y, idx, np.take_along_axis(Z, idx, axis=-1), axis=-1)
    return y


# ---- elementwise into a preallocated out= (memory speed) -----------------------------------------
@pytest.mark.benchmark(group="into out=")
def test_copyto(benchmark, Z, out):
    benchmark(np.copyto, out, Z)


@pytest.mark.benchmark(group="into out=")
def test_binarize_out(benchmark, Z, out):
    benchmark(sparsenet.binarize, Z, 0.5, out=out)


@pytest.mark.benchmark(group="into out=")
def test_hard_threshold_out(benchmark, Z, out):
    benchmark(sparsenet.hard_threshold, Z, 0.5, out=out)


@pytest.mark.benchmark(group="into out=")
def test_soft_threshold_out(benchmark, Z, out):
    benchmark(sparsenet.soft_threshold, Z, 0.5, out=out)


# ---- binarize, new array ---------------------------------------------------------------------------
@pytest.mark.benchmark(group="binarize")
def test_binarize_sparsenet(benchmark, Z):
    benchmark(sparsenet.binarize, Z, 0.5)


@pytest.mark.benchmark(group="binarize")
def test_binarize_sparsenet_bool(benchmark, Z):
    benchmark(sparsenet.binarize, Z, 0.5, dtype=bool)


@pytest.mark.benchmark(group="binarize")
def test_binarize_numpy(benchmark, Z):
    benchmark(reference.binarize, Z, 0.5)


@pytest.mark.benchmark(group="binarize")
def test_binarize_sklearn(benchmark, Z):
    """scikit-learn's binarize computes x > theta (strict), on a copy."""
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    benchmark(preprocessing.binarize, Z, threshold=0.5)


# ---- hard / soft, new array ------------------------------------------------------------------------
@pytest.mark.benchmark(group="hard_threshold")
def test_hard_threshold_sparsenet(benchmark, Z):
    benchmark(sparsenet.hard_threshold, Z, 0.5)


@pytest.mark.benchmark(group="hard_threshold")
def test_hard_threshold_numpy(benchmark, Z):
    benchmark(reference.hard_threshold, Z, 0.5)


@pytest.mark.benchmark(group="soft_threshold")
def test_soft_threshold_sparsenet(benchmark, Z):
    benchmark(sparsenet.soft_threshold, Z, 0.5)


@pytest.mark.benchmark(group="soft_threshold")
def test_soft_threshold_numpy(benchmark, Z):
    benchmark(reference.soft_threshold, Z, 0.5)


# ---- top-k per row --------------------------------------------------------------------------------
@pytest.mark.benchmark(group="topk k=32")
def test_topk_sparsenet(benchmark, Z):
    benchmark(sparsenet.topk, Z, 32)


@pytest.mark.benchmark(group="topk k=32")
def test_topk_numpy(benchmark, Z):
    _slow(benchmark, lambda: reference.topk(Z, 32))


@pytest.mark.benchmark(group="topk k=32")
def test_topk_argpartition(benchmark, Z):
    _slow(benchmark, lambda: _argpartition_topk(Z, 32))


@pytest.mark.benchmark(group="topk k=32 csr")
def test_topk_csr_sparsenet(benchmark, Z):
    benchmark(sparsenet.topk, Z, 32, format="csr")


@pytest.mark.benchmark(group="topk k=32 csr")
def test_topk_csr_scipy(benchmark, Z):
    _slow(benchmark, lambda: sp.csr_matrix(_argpartition_topk(Z, 32)))


# ---- dense -> CSR -----------------------------------------------------------------------------------
@pytest.mark.benchmark(group="hard_threshold csr")
def test_hard_csr_sparsenet(benchmark, Z):
    benchmark(sparsenet.hard_threshold, Z, 2.0, format="csr")


@pytest.mark.benchmark(group="hard_threshold csr")
def test_hard_csr_numpy(benchmark, Z):
    _slow(benchmark, lambda: reference.hard_threshold(Z, 2.0, format="csr"))


@pytest.mark.benchmark(group="hard_threshold csr")
def test_hard_csr_scipy(benchmark, Z):
    _slow(benchmark, lambda: sp.csr_matrix(np.where(np.abs(Z) >= 2.0, Z, 0)))


@pytest.mark.benchmark(group="prune sparsity=0.9")
def test_prune_sparsenet(benchmark, Z):
    benchmark(sparsenet.prune, Z, sparsity=0.9)


@pytest.mark.benchmark(group="prune sparsity=0.9")
def test_prune_numpy(benchmark, Z):
    _slow(benchmark, lambda: reference.prune(Z, sparsity=0.9))


@pytest.mark.benchmark(group="prune sparsity=0.9 per row")
def test_prune_per_row_sparsenet(benchmark, Z):
    benchmark(sparsenet.prune, Z, sparsity=0.9, per_row=True)


@pytest.mark.benchmark(group="prune sparsity=0.9 per row")
def test_prune_per_row_numpy(benchmark, Z):
    _slow(benchmark, lambda: reference.prune(Z, sparsity=0.9, per_row=True))
