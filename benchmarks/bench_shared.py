"""Parameter sharing: sparsenet vs its NumPy baseline, dense BLAS and scikit-learn (pytest-benchmark).

Workload of the parameter-sharing issue: a K = 256 float32 codebook, uint8 codes of shape
(4096, 4096), x of 4096 float32, X of shape (4096, 128) float32; W = codebook[codes] materialised
only for the dense baselines. k-means: 4,000,000 float32 weights from N(0, 0.05), K = 256, linear
init, 30 iterations (scikit-learn, limited to one thread with threadpoolctl, takes about a minute:
one round; its MSE is in the extra_info column, as is sparsenet's). Each group holds one operation:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
        python -m pytest benchmarks/bench_shared.py --benchmark-only --benchmark-group-by=group
"""
import numpy as np
import pytest

import sparsenet
from sparsenet import reference

N, K_COLS, N_WEIGHTS = 4096, 128, 4_000_000


@pytest.fixture(scope="module")
def workload():
    rng = np.random.default_rng(0)
    codebook = rng.standard_normal(256).astype(np.float32)
    sw = sparsenet.SharedWeights(codebook, rng.integers(0, 256, (N, N), dtype=np.uint8))
    return {
        "sw": sw,
        "hw": sparsenet.HashedWeights((N, N), codebook, seed=1),
        "W": sw.decode(),
        "x": rng.standard_normal(N).astype(np.float32),
        "X": rng.standard_normal((N, K_COLS)).astype(np.float32),
        "G": rng.standard_normal((N, K_COLS)).astype(np.float32),
        "w": (rng.standard_normal(N_WEIGHTS) * 0.05).astype(np.float32),
    }


@pytest.fixture(autouse=True)
def one_thread():
    sparsenet.set_num_threads(1)
    yield
    sparsenet.set_num_threads(None)


def _slow(benchmark, fn, rounds=3):
    """Baselines that take a large fraction of a second (or a minute) get a few rounds."""
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1 if rounds > 1 else 0)


# ---- y = W x -------------------------------------------------------------------------------------
# sparsenet at each ISA level this machine has (issue 12 asks for the level below VBMI and AVX2)
LEVELS = sparsenet.backend.ISA_LEVELS
ISAS = LEVELS[: LEVELS.index(sparsenet.get_isa()) + 1]


@pytest.mark.benchmark(group="shared_matvec")
@pytest.mark.parametrize("isa", ISAS)
def test_matvec_sparsenet(benchmark, workload, isa):
    with sparsenet.use_isa(isa):
        benchmark(sparsenet.shared_matvec, workload["sw"], workload["x"])


@pytest.mark.benchmark(group="shared_matvec")
def test_matvec_numpy(benchmark, workload):
    _slow(benchmark, lambda: reference.shared_matvec(workload["sw"], workload["x"]))


@pytest.mark.benchmark(group="shared_matvec")
def test_matvec_dense(benchmark, workload):
    benchmark(lambda: workload["W"] @ workload["x"])


@pytest.mark.benchmark(group="shared_matvec transposed")
@pytest.mark.parametrize("isa", ISAS)
def test_matvec_t_sparsenet(benchmark, workload, isa):
    with sparsenet.use_isa(isa):
        benchmark(sparsenet.shared_matvec, workload["sw"], workload["x"], transpose=True)


@pytest.mark.benchmark(group="shared_matvec transposed")
def test_matvec_t_numpy(benchmark, workload):
    _slow(benchmark, lambda: reference.shared_matvec(workload["sw"], workload["x"], transpose=True))


@pytest.mark.benchmark(group="shared_matvec transposed")
def test_matvec_t_dense(benchmark, workload):
    benchmark(lambda: workload["W"].T @ workload["x"])


# ---- Y = W X -------------------------------------------------------------------------------------
@pytest.mark.benchmark(group="shared_matmul")
def test_matmul_sparsenet(benchmark, workload):
    benchmark(sparsenet.shared_matmul, workload["sw"], workload["X"])


@pytest.mark.benchmark(group="shared_matmul")
def test_matmul_numpy(benchmark, workload):
    _slow(benchmark, lambda: reference.shared_matmul(workload["sw"], workload["X"]))


@pytest.mark.benchmark(group="shared_matmul")
def test_matmul_dense(benchmark, workload):
    benchmark(lambda: workload["W"] @ workload["X"])


@pytest.mark.benchmark(group="shared_matmul transposed")
def test_matmul_t_sparsenet(benchmark, workload):
    benchmark(sparsenet.shared_matmul, workload["sw"], workload["X"], transpose=True)


@pytest.mark.benchmark(group="shared_matmul transposed")
def test_matmul_t_dense(benchmark, workload):
    benchmark(lambda: workload["W"].T @ workload["X"])


# ---- codebook gradient and hashed weights --------------------------------------------------------
@pytest.mark.benchmark(group="codebook_grad")
def test_grad_sparsenet(benchmark, workload):
    benchmark(sparsenet.codebook_grad, workload["sw"], workload["G"], workload["X"])


@pytest.mark.benchmark(group="codebook_grad")
def test_grad_numpy(benchmark, workload):
    _slow(benchmark, lambda: reference.codebook_grad(workload["sw"], workload["G"], workload["X"]))


@pytest.mark.benchmark(group="hashed_matvec")
def test_hashed_matvec_sparsenet(benchmark, workload):
    benchmark(sparsenet.hashed_matvec, workload["hw"], workload["x"])


@pytest.mark.benchmark(group="hashed_matvec")
def test_hashed_matvec_numpy(benchmark, workload):
    _slow(benchmark, lambda: reference.hashed_matvec(workload["hw"], workload["x"]))


@pytest.mark.benchmark(group="hashed_matmul")
def test_hashed_matmul_sparsenet(benchmark, workload):
    benchmark(sparsenet.hashed_matmul, workload["hw"], workload["X"])


@pytest.mark.benchmark(group="hashed_matmul")
def test_hashed_matmul_numpy(benchmark, workload):
    _slow(benchmark, lambda: reference.hashed_matmul(workload["hw"], workload["X"]))


# ---- k-means -------------------------------------------------------------------------------------
@pytest.mark.benchmark(group="kmeans_codebook")
def test_kmeans_sparsenet(benchmark, workload):
    sw = benchmark(sparsenet.kmeans_codebook, workload["w"], 256, max_iter=30, tol=0)
    benchmark.extra_info["mse"] = float(np.mean((sw.decode().astype(np.float64) - workload["w"]) ** 2))


@pytest.mark.benchmark(group="kmeans_codebook")
def test_kmeans_numpy(benchmark, workload):
    _slow(benchmark, lambda: reference.kmeans_codebook(workload["w"], 256, max_iter=30, tol=0))


@pytest.mark.benchmark(group="kmeans_codebook")
def test_kmeans_scikit_learn(benchmark, workload):
    cluster = pytest.importorskip("sklearn.cluster")
    w = workload["w"]
    init = np.linspace(float(w.min()), float(w.max()), 256).reshape(-1, 1).astype(np.float32)
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):  # one thread, like sparsenet here
        km = _slow(benchmark, lambda: cluster.KMeans(256, init=init, n_init=1, max_iter=30, tol=0)
                   .fit(w.reshape(-1, 1)), rounds=1)
    centers = km.cluster_centers_.ravel().astype(np.float64)
    benchmark.extra_info["mse"] = float(np.mean((w - centers[km.labels_]) ** 2))
