"""Sparse-coding benchmarks (float64): batch LASSO and K-SVD against scikit-learn and, when installed,
SPAMS (``spams-bin``).

Workloads of the sparse-coding issue:
- L1: ``lasso`` on D 64 x 256 (unit atoms), 20000 signals that are 8-sparse combinations plus
  noise, alpha = 0.25 (8.4 nonzeros per signal); peers ``sparse_encode(algorithm="lasso_cd")``
  and ``spams.lasso`` (LARS, mode 2). The objectives are compared in the same test.
- K1: ``ksvd`` of 20000 8x8 patches of china.jpg, 256 atoms, k = 8, 10 iterations; peers
  ``DictionaryLearning(n_components=256, transform_algorithm="omp", max_iter=10)`` (minutes),
  ``MiniBatchDictionaryLearning`` (10 epochs) and ``spams.trainDL`` (OMP mode, k = 8).
Each workload is one pytest-benchmark group; run single-threaded BLAS for a fair comparison:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \\
        python -m pytest benchmarks/bench_coding.py --benchmark-only

``python benchmarks/bench_coding.py`` prints the representation errors after training (the
quality target of the issue) and the objective ratio of the LASSO peers;
``python benchmarks/coding_targets.py`` prints every ratio of the issue's Targets table in one run
(one thread each, two threads against one, DictionaryLearning, the denoising PSNRs and times).
"""
import numpy as np
import pytest

import sparsenet
from sparsenet.bench import coding_problem, training_patches

N_SIGNALS = 20000
ALPHA = 0.25
SLOW = {"rounds": 1, "iterations": 1, "warmup_rounds": 0}


def lasso_objective(D, X, A, alpha):
    return float(0.5 * ((X - D @ A) ** 2).sum() + alpha * np.abs(A).sum())


@pytest.fixture(scope="module")
def lasso_problem():
    return coding_problem(N_SIGNALS)


@pytest.fixture(scope="module")
def patches():
    return training_patches(N_SIGNALS)


@pytest.mark.parametrize("threads", [1, 2])
def test_lasso_sparsenet(benchmark, lasso_problem, threads):
    D, X = lasso_problem
    benchmark.group = "lasso L1"
    sparsenet.set_num_threads(threads)
    try:
        A = benchmark(sparsenet.lasso, D, X, ALPHA)
    finally:
        sparsenet.set_num_threads(None)
    assert 4 <= np.count_nonzero(A, axis=0).mean() <= 16


def test_lasso_sklearn(benchmark, lasso_problem):
    decomposition = pytest.importorskip("sklearn.decomposition")
    D, X = lasso_problem
    benchmark.group = "lasso L1"
    A = benchmark.pedantic(decomposition.sparse_encode, (X.T, D.T),
                           {"algorithm": "lasso_cd", "alpha": ALPHA}, **SLOW).T
    ours = sparsenet.lasso(D, X, ALPHA)
    assert lasso_objective(D, X, ours, ALPHA) <= lasso_objective(D, X, A, ALPHA) * (1 + 1e-6)


def test_lasso_spams(benchmark, lasso_problem):
    spams = pytest.importorskip("spams")
    D, X = lasso_problem
    benchmark.group = "lasso L1"
    Df, Xf = np.asfortranarray(D), np.asfortranarray(X)
    A = benchmark(spams.lasso, Xf, D=Df, lambda1=ALPHA, mode=2, numThreads=1)
    assert A.shape == (D.shape[1], X.shape[1])


@pytest.mark.parametrize("threads", [1, 2])
def test_ksvd_sparsenet(benchmark, patches, threads):
    benchmark.group = "ksvd K1"
    sparsenet.set_num_threads(threads)
    try:
        D, _ = benchmark.pedantic(sparsenet.ksvd, (patches, 256),
                                  {"n_nonzero_coefs": 8, "max_iter": 10, "random_state": 0},
                                  rounds=3, iterations=1, warmup_rounds=1)
    finally:
        sparsenet.set_num_threads(None)
    assert D.shape == (64, 256)


def test_ksvd_sklearn_dictionary_learning(benchmark, patches):
    decomposition = pytest.importorskip("sklearn.decomposition")
    benchmark.group = "ksvd K1"
    model = decomposition.DictionaryLearning(n_components=256, transform_algorithm="omp",
                                             transform_n_nonzero_coefs=8, max_iter=10,
                                             random_state=0)
    benchmark.pedantic(model.fit, (np.ascontiguousarray(patches.T),), **SLOW)


def test_ksvd_sklearn_minibatch(benchmark, patches):
    decomposition = pytest.importorskip("sklearn.decomposition")
    benchmark.group = "ksvd K1"
    model = decomposition.MiniBatchDictionaryLearning(n_components=256, max_iter=10,
                                                      transform_algorithm="omp",
                                                      transform_n_nonzero_coefs=8, random_state=0)
    benchmark.pedantic(model.fit, (np.ascontiguousarray(patches.T),), **SLOW)


def test_ksvd_spams(benchmark, patches):
    spams = pytest.importorskip("spams")
    benchmark.group = "ksvd K1"
    Pf = np.asfortranarray(patches)
    benchmark.pedantic(spams.trainDL, (Pf,), {"K": 256, "lambda1": 8, "mode": 3,
                                              "iter": 10 * N_SIGNALS // 512, "batchsize": 512,
                                              "numThreads": 1, "verbose": False}, **SLOW)


def representation_errors(n_signals=N_SIGNALS, iterations=10):
    """||X - D codes||_F / ||X||_F with 8-atom OMP codes over each learned dictionary, and each
    learner's time."""
    import time

    X = training_patches(n_signals)
    norm = np.linalg.norm(X)

    def error(D):
        codes = sparsenet.omp(D, X, n_nonzero_coefs=8, return_format="csc")
        return np.linalg.norm(X - (codes.T @ D.T).T) / norm

    rows = []
    t0 = time.perf_counter()
    D, _ = sparsenet.ksvd(X, 256, n_nonzero_coefs=8, max_iter=iterations, random_state=0)
    rows.append(("sparsenet ksvd", time.perf_counter() - t0, error(D)))
    try:
        from sklearn.decomposition import MiniBatchDictionaryLearning

        t0 = time.perf_counter()
        model = MiniBatchDictionaryLearning(n_components=256, max_iter=iterations,
                                            random_state=0).fit(X.T)
        D = model.components_.T / np.linalg.norm(model.components_.T, axis=0)
        rows.append(("scikit-learn MiniBatchDL", time.perf_counter() - t0, error(D)))
    except ImportError:
        pass
    try:
        import spams

        t0 = time.perf_counter()
        D = spams.trainDL(np.asfortranarray(X), K=256, lambda1=8, mode=3,
                          iter=iterations * n_signals // 512, batchsize=512, verbose=False,
                          numThreads=sparsenet.get_num_threads())
        rows.append(("spams trainDL", time.perf_counter() - t0, error(D)))
    except ImportError:
        pass
    return rows


if __name__ == "__main__":
    D, X = coding_problem(N_SIGNALS)
    ours = lasso_objective(D, X, sparsenet.lasso(D, X, ALPHA), ALPHA)
    print(f"L1 lasso objective: sparsenet {ours:.10g}")
    try:
        from sklearn.decomposition import sparse_encode

        theirs = lasso_objective(D, X, sparse_encode(X.T, D.T, algorithm="lasso_cd",
                                                     alpha=ALPHA).T, ALPHA)
        print(f"  scikit-learn {theirs:.10g} (sparsenet / scikit-learn - 1 = {ours / theirs - 1:.2e})")
    except ImportError:
        pass
    for name, seconds, err in representation_errors():
        print(f"K1 {name:<26} {seconds:8.2f} s  relative error {err:.4f}")
