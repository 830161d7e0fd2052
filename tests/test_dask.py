"""sparsenet.dask against the in-memory functions, on the synchronous and threaded schedulers and
on a distributed LocalCluster of two worker processes."""
import logging
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import sparsenet

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
sd = pytest.importorskip("sparsenet.dask")

# Uneven chunks, an empty chunk and a chunk of one signal.
SIGNAL_CHUNKS = (1, 0, 300, 7, 395)
N_SIGNALS = sum(SIGNAL_CHUNKS)


@pytest.fixture(scope="module")
def cluster_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            yield client


@pytest.fixture(params=["sync", "threads", "distributed"])
def compute(request):
    """compute(collection): the result, on one scheduler."""
    if request.param == "distributed":
        client = request.getfixturevalue("cluster_client")
        # a timeout: a worker that dies (a sanitizer's abort, say) fails the test, not the run
        return lambda collection: client.compute(collection).result(timeout=300)
    return lambda collection: collection.compute(scheduler=request.param)


def _dictionary(rng, dtype, n_features=20, n_atoms=50):
    D = rng.standard_normal((n_features, n_atoms)).astype(dtype)
    return D / np.linalg.norm(D, axis=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stop", [{"n_nonzero_coefs": 5}, {"tol": 2.0}])
def test_omp_equals_in_memory(compute, dtype, stop):
    rng = np.random.default_rng(0)
    D = _dictionary(rng, dtype)
    X = rng.standard_normal((20, N_SIGNALS)).astype(dtype)
    X[:, 5] = 0  # a zero signal stops at once (the warning is raised where the block runs)
    Xd = da.from_array(X, chunks=(20, SIGNAL_CHUNKS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        dense = compute(sd.omp(D, Xd, **stop))
        csc = compute(sd.omp(D, Xd, return_format="csc", **stop))
        expected = sparsenet.omp(D, X, **stop)
    assert dense.dtype == dtype and dense.shape == (50, N_SIGNALS)
    np.testing.assert_array_equal(dense, expected)  # OMP's kernel is deterministic: bitwise
    assert isinstance(csc, sp.csc_array)
    np.testing.assert_array_equal(csc.toarray(), expected)


def test_omp_csc_blocks_have_meta():
    rng = np.random.default_rng(1)
    D = _dictionary(rng, np.float64)
    codes = sd.omp(D, da.from_array(rng.standard_normal((20, 100)), chunks=(20, 30)),
                   n_nonzero_coefs=3, return_format="csc")
    assert isinstance(codes._meta, sp.csc_array) and codes.dtype == np.float64
    assert codes.chunks == ((50,), (30, 30, 30, 10))
    block = codes.blocks[0, 1].compute(scheduler="sync")
    assert isinstance(block, sp.csc_array) and block.shape == (50, 30)
    np.testing.assert_array_equal(np.diff(block.indptr), 3)


def test_dictionary_as_a_dask_array_is_one_key(compute):
    rng = np.random.default_rng(2)
    D = _dictionary(rng, np.float64)
    X = rng.standard_normal((20, N_SIGNALS))
    lazy_D = da.from_array(D, chunks=(7, 13))  # chunked: gathered into one key, lazily
    codes = sd.omp(lazy_D, da.from_array(X, chunks=(20, SIGNAL_CHUNKS)), n_nonzero_coefs=4)
    np.testing.assert_array_equal(compute(codes), sparsenet.omp(D, X, n_nonzero_coefs=4))


def test_dictionary_is_sent_once():
    """One key holds the dictionary, whatever the number of blocks; no task embeds it."""
    rng = np.random.default_rng(3)
    D = _dictionary(rng, np.float64, n_atoms=400)
    codes = sd.omp(D, da.from_array(rng.standard_normal((20, 1000)), chunks=(20, 100)),
                   n_nonzero_coefs=2)
    graph = dict(codes.__dask_graph__())
    holding_D = [key for key, task in graph.items() if _holds(task, D)]
    assert len(holding_D) == 1
    assert len(graph) == 10 + 10 + 1  # the signals' blocks, the codes' blocks, the dictionary


def _holds(task, array):
    cloudpickle = pytest.importorskip("cloudpickle")  # what Dask sends tasks with

    return array.tobytes() in cloudpickle.dumps(task)


def test_omp_gram_and_norms_chunked_like_the_signals(compute):
    rng = np.random.default_rng(4)
    D = _dictionary(rng, np.float64)
    X = rng.standard_normal((20, N_SIGNALS))
    G, DtX, norms = D.T @ D, D.T @ X, (X ** 2).sum(axis=0)
    codes = sd.omp_gram(G, da.from_array(DtX, chunks=(50, SIGNAL_CHUNKS)), tol=1.5,
                        norms_squared=da.from_array(norms, chunks=100))  # rechunked to DtX's
    expected = sparsenet.omp_gram(G, DtX, tol=1.5, norms_squared=norms)
    np.testing.assert_array_equal(compute(codes), expected)
    lazy_G = da.from_array(G, chunks=(17, 23))  # a Gram matrix that is itself a Dask array
    codes = sd.omp_gram(lazy_G, da.from_array(DtX, chunks=(50, SIGNAL_CHUNKS)), tol=1.5,
                        norms_squared=norms)
    np.testing.assert_array_equal(compute(codes), expected)
    coef = sd.lasso_gram(lazy_G, da.from_array(DtX, chunks=(50, SIGNAL_CHUNKS)), 0.4,
                         norms_squared=norms)
    np.testing.assert_array_equal(compute(coef),
                                  sparsenet.lasso_gram(G, DtX, 0.4, norms_squared=norms))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lasso_equals_in_memory(compute, dtype):
    rng = np.random.default_rng(5)
    D = _dictionary(rng, dtype)
    X = rng.standard_normal((20, N_SIGNALS)).astype(dtype)
    codes = compute(sd.lasso(D, da.from_array(X, chunks=(20, SIGNAL_CHUNKS)), 0.4))
    # each signal's D^T x and descent are the in-memory call's, whatever the block: bitwise
    np.testing.assert_array_equal(codes, sparsenet.lasso(D, X, 0.4))
    G, DtX = D.T @ D, D.T @ X
    by_gram = sd.lasso_gram(G, da.from_array(DtX, chunks=(50, 111)), 0.4,
                            norms_squared=(X ** 2).sum(axis=0), init=np.zeros((50, N_SIGNALS)))
    # from the same G and D^T X, each signal's descent is the in-memory one: bitwise
    np.testing.assert_array_equal(compute(by_gram), sparsenet.lasso_gram(
        G, DtX, 0.4, norms_squared=(X ** 2).sum(axis=0), init=np.zeros((50, N_SIGNALS))))


@pytest.mark.parametrize("name", ["omp", "omp_gram", "lasso", "lasso_gram"])
def test_coding_warns_once_per_block_that_needs_it(name):
    """The documented behaviour (one warning per compute would need the blocks' counts gathered
    by a second pass): each block with early stops or unconverged signals warns once, counting its
    own signals; a block without any is silent. Blocks of 100, 100 and 50 signals; zero signals
    stop omp at once, and lasso solves them in a sweep, where max_iter=2 stops the others."""
    rng = np.random.default_rng(9)
    D = _dictionary(rng, np.float64)
    X = rng.standard_normal((20, 250))
    if name.startswith("omp"):
        X[:, :100] = X[:, 200:] = 0
        options: dict = {"n_nonzero_coefs": 5}
    else:
        X[:, 100:200] = 0
        options = {"alpha": 0.01, "max_iter": 2}
    matrix, signals = D, X
    if name.endswith("gram"):
        options["norms_squared"] = (X ** 2).sum(axis=0)
        matrix, signals = D.T @ D, D.T @ X
    codes = getattr(sd, name)(matrix, da.from_array(signals, chunks=(-1, (100, 100, 50))),
                              **options)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        codes.compute(scheduler="sync")
    messages = [str(w.message) for w in record]
    blocks = sorted(int(re.search(r" of (\d+) signals", m).group(1)) for m in messages)
    assert blocks == [50, 100], messages


@pytest.fixture(params=["sync", "threads", "distributed"])
def default_scheduler(request):
    """A context in which the default scheduler (what ``collection.compute()`` runs on) is one of
    the three: for functions that compute inside (ksvd gathers its codes at every iteration)."""
    if request.param == "distributed":
        client = request.getfixturevalue("cluster_client")
        return dask.config.set(scheduler=client.get)
    return dask.config.set(scheduler=request.param)


@pytest.mark.parametrize("scale", [1.0, 2.0 ** 600])  # 2**600: learned as X / 2**e (coding)
def test_ksvd_equals_in_memory(default_scheduler, scale):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((16, 700)) * scale
    Xd = da.from_array(X, chunks=(16, (250, 0, 450)))
    with default_scheduler:
        D, codes, errors = sd.ksvd(Xd, 24, 3, max_iter=3, random_state=0, return_errors=True,
                                   return_format="csc")
    D0, codes0, errors0 = sparsenet.ksvd(X, 24, 3, max_iter=3, random_state=0,
                                         return_errors=True, return_format="csc")
    np.testing.assert_array_equal(D, D0)
    np.testing.assert_array_equal(codes.toarray(), codes0.toarray())
    assert errors == errors0


def test_ksvd_coding_step_is_silent_on_many_threads():
    """K-SVD's coding step keeps early stops silent without touching the warning filters, which
    are the process's: with catch_warnings() around each block (as before), a thread that left it
    put back the filters while another was still coding, and the warning escaped under the
    threaded scheduler. Here every block stops early (zero signals), on 4 threads, 40 times each,
    with warnings turned into errors."""
    from concurrent.futures import ThreadPoolExecutor

    from sparsenet import coding

    D = _dictionary(np.random.default_rng(8), np.float64)
    X = np.zeros((20, 64))

    def code_blocks(_):
        for _ in range(40):
            assert coding._ksvd_codes(D, X, 3, None).nnz == 0

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(code_blocks, range(4)))  # re-raises a worker's exception
    with pytest.warns(RuntimeWarning, match="ended prematurely"):  # omp itself still warns
        sparsenet.omp(D, X, n_nonzero_coefs=3)


@pytest.mark.parametrize("name, args", [
    ("binarize", (0.3,)), ("hard_threshold", (0.5,)), ("soft_threshold", (0.25,)),
])
def test_elementwise_equal_in_memory(compute, name, args):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((33, 41)).astype(np.float32)
    x[3, 4] = np.nan
    lazy = da.from_array(x, chunks=((10, 0, 23), (1, 40)))
    np.testing.assert_array_equal(compute(getattr(sd, name)(lazy, *args)),
                                  getattr(sparsenet, name)(x, *args))
    csr = compute(getattr(sd, name)(lazy, *args, format="csr"))
    assert isinstance(csr, sp.csr_array)
    np.testing.assert_array_equal(csr.toarray(), getattr(sparsenet, name)(x, *args))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_topk_rows_whole(compute, axis):
    rng = np.random.default_rng(8)
    x = rng.integers(-3, 4, size=(30, 40)).astype(np.float64)  # ties: the lower index wins
    chunks = ((30,), (9, 0, 31)) if axis == 0 else ((9, 0, 21), (40,))
    got = compute(sd.topk(da.from_array(x, chunks=chunks), 5, axis=axis))
    np.testing.assert_array_equal(got, sparsenet.topk(x, 5, axis=axis))


def test_topk_refuses_a_split_row():
    x = da.zeros((10, 40), chunks=(10, 20))
    with pytest.raises(ValueError, match=r"x is chunked along axis 1 .*rechunk\(\{1: -1\}\)"):
        sd.topk(x, 3)
    with pytest.raises(ValueError, match="k must be"):
        sd.topk(da.zeros((10, 40), chunks=(5, 40)), -1)  # the in-memory function's check


def test_coding_refuses_a_split_signal():
    D = np.eye(8)
    with pytest.raises(ValueError, match=r"X is chunked along axis 0 .*a signal"):
        sd.omp(D, da.zeros((8, 100), chunks=(4, 50)), n_nonzero_coefs=2)
    with pytest.raises(ValueError, match="n_nonzero_coefs must be <= n_atoms"):
        sd.omp(D, da.zeros((8, 100), chunks=(8, 50)), n_nonzero_coefs=9)  # checked at once
    with pytest.raises(ValueError, match="shape mismatch"):
        sd.omp(D, da.zeros((7, 100)), n_nonzero_coefs=2)
    with pytest.raises(ValueError, match="X must be 2-D"):
        sd.omp(D, da.zeros(8), n_nonzero_coefs=2)
    with pytest.raises(ValueError, match="norms_squared must have one entry per signal"):
        sd.omp_gram(D, da.zeros((8, 10)), tol=1.0, norms_squared=np.ones(9))
    with pytest.raises(TypeError, match="X must be a Dask array"):
        sd.omp(D, None, n_nonzero_coefs=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.9, 0.97, 1.0])
def test_prune_globally_equals_in_memory(compute, dtype, sparsity):
    rng = np.random.default_rng(9)
    W = rng.integers(-20, 21, size=(37, 45)).astype(dtype)  # many ties at every cut
    W[2, 3], W[30, 1], W[4, 4] = np.nan, -np.inf, -0.0
    lazy = da.from_array(W, chunks=((10, 0, 27), (6, 39)))
    got = compute(sd.prune(lazy, sparsity=sparsity))
    expected = sparsenet.prune(W, sparsity=sparsity).to_scipy()
    assert isinstance(got, sp.csr_array) and got.dtype == dtype
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)


def test_prune_blockwise_modes(compute):
    rng = np.random.default_rng(10)
    W = rng.standard_normal((40, 30))
    by_threshold = compute(sd.prune(da.from_array(W, chunks=(7, 11)), threshold=0.8))
    np.testing.assert_array_equal(by_threshold.toarray(),
                                  sparsenet.prune(W, threshold=0.8).toarray())
    per_row = compute(sd.prune(da.from_array(W, chunks=(7, 30)), sparsity=0.6, per_row=True))
    np.testing.assert_array_equal(per_row.toarray(),
                                  sparsenet.prune(W, sparsity=0.6, per_row=True).toarray())
    with pytest.raises(ValueError, match="W is chunked along axis 1"):
        sd.prune(da.from_array(W, chunks=(7, 11)), sparsity=0.6, per_row=True)
    with pytest.raises(ValueError, match="exactly one of sparsity and threshold"):
        sd.prune(da.from_array(W), sparsity=0.5, threshold=1.0)


@pytest.mark.parametrize("transpose", [False, True])
def test_spmm_equals_in_memory(compute, transpose):
    rng = np.random.default_rng(11)
    W = sp.random(64, 48, density=0.2, format="csr", random_state=0, dtype=np.float32)
    X = rng.standard_normal((64 if transpose else 48, N_SIGNALS)).astype(np.float32)
    got = compute(sd.spmm(W, da.from_array(X, chunks=(X.shape[0], SIGNAL_CHUNKS)),
                          transpose=transpose))
    # the kernels group a column's sums by the width of the batch: equal to rounding, not bitwise
    np.testing.assert_allclose(got, sparsenet.spmm(W, X, transpose=transpose), rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(ValueError, match="X is chunked along axis 0"):
        sd.spmm(W, da.from_array(X, chunks=(10, 100)), transpose=transpose)


def test_spmm_optimizes_once_and_keeps_an_optimized_matrix():
    W = sparsenet.CSR.from_scipy(sp.random(64, 48, density=0.2, format="csr", random_state=0))
    optimized = W.optimize(batch=8, transpose=True)
    product = sd.spmm(optimized, da.ones((64, 20), chunks=(64, 5)), transpose=True)
    (matrix,) = [task for task in dict(product.__dask_graph__()).values()
                 if isinstance(task, sparsenet.CSR) or _is_literal_csr(task)]
    assert _literal(matrix) is optimized


def _is_literal_csr(task):
    return isinstance(_literal(task), sparsenet.CSR)


def _literal(task):
    return getattr(task, "value", task)


def test_threads_per_task():
    """A task gets its process's budget divided by the tasks the process runs at once."""
    def seen(block):
        return np.full(block.shape, sd._in_task(sparsenet.get_num_threads))

    blocks = da.zeros(8, chunks=1)
    with sparsenet.use_num_threads(4):  # the budget, also inside the threaded scheduler's tasks
        assert set(blocks.map_blocks(seen).compute(scheduler="sync")) == {4}
        with dask.config.set(num_workers=2):
            assert set(blocks.map_blocks(seen).compute(scheduler="threads")) == {2}
        with dask.config.set(num_workers=8):
            assert set(blocks.map_blocks(seen).compute(scheduler="threads")) == {1}


def test_threadpoolctl_limits_the_budget():
    """threadpoolctl's limit (what scikit-learn and joblib set in their workers) is the budget."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def seen(block):
        return np.full(block.shape, sd._in_task(sparsenet.get_num_threads))

    blocks = da.zeros(4, chunks=1)
    sparsenet.set_num_threads(2)
    try:
        with dask.config.set(num_workers=1):
            assert set(blocks.map_blocks(seen).compute(scheduler="threads")) == {2}
            with threadpoolctl.threadpool_limits(1, user_api="sparsenet"):
                assert set(blocks.map_blocks(seen).compute(scheduler="threads")) == {1}
    finally:
        sparsenet.set_num_threads(None)


def test_threads_per_task_on_a_cluster(cluster_client):
    def seen(block):
        return np.full(block.shape, sd._in_task(sparsenet.get_num_threads))

    # Dask's nanny starts workers with OMP_NUM_THREADS=1: one sparsenet thread per task
    got = cluster_client.compute(da.zeros(4, chunks=1).map_blocks(seen)).result(timeout=300)
    assert set(got) == {1}


def test_threads_per_task_on_two_thread_workers():
    """A worker process with a budget of 4 sparsenet threads (its OMP_NUM_THREADS) running 2 tasks
    at once (nthreads=2) gives each task 2."""
    distributed = pytest.importorskip("distributed")

    def seen(block):
        return np.full(block.shape, sd._in_task(sparsenet.get_num_threads))

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  env={"OMP_NUM_THREADS": "4"}, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            got = client.compute(da.zeros(6, chunks=1).map_blocks(seen)).result(timeout=300)
    assert set(got) == {2}


def test_import_sparsenet_does_not_import_dask():
    import subprocess
    import sys

    code = "import sys, sparsenet; sys.exit(1 if 'dask' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
