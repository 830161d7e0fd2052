"""sparsenet under fork, threadpoolctl, per-thread contexts and thread limits.

Every child is waited for with a timeout, so a hang fails the test instead of hanging CI.
"""
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import sparsenet
from sparsenet import _runtime, backend


def _openmp_runtime():
    """Which OpenMP runtime the build loaded: "libgomp" (GCC, and the wheels), "libomp" (clang).
    Asked of a fresh interpreter that imports only sparsenet: scikit-learn and torch bundle a
    libgomp of their own, so once a test module imported them this process holds one whatever
    sparsenet was built with (a clang build then ran these tests and failed them)."""
    code = ("import sparsenet; maps = open('/proc/self/maps').read(); "
            "print('libgomp' if 'libgomp' in maps else 'libomp' if 'libomp' in maps else 'none')")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120).stdout.strip()


# The release of the team before a fork and the thread-start probe are written for GNU OpenMP
# (what the wheels bundle). LLVM's libomp, in a clang build, restarts its team after a fork and
# reports failed thread creation its own way; those paths are not handled yet (a known gap).
needs_libgomp = pytest.mark.skipif(_openmp_runtime() != "libgomp",
                                   reason="written for GNU OpenMP; LLVM libomp not yet handled")

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python >= 3.12 warns on every fork of a multi-threaded process; forking one is the point here.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

CHILD_TIMEOUT = 30  # seconds; a healthy child takes well under one


def _os_threads():
    return len(os.listdir("/proc/self/task"))


def _warm_up_two_threads():
    """Run 2-thread kernels large enough that OpenMP starts its team; return the OS threads
    added (0 when the build has no OpenMP, or when this thread's team was running already)."""
    before = _os_threads()
    sparsenet.set_num_threads(2)
    A = sp.random(2000, 2000, density=0.05, format="csr", random_state=0)
    sparsenet.spmm(A, np.ones((2000, 8)))  # above the grains (csrc/csr_tuning.h, threshold.c)
    sparsenet.soft_threshold(np.random.default_rng(0).standard_normal((1500, 1500)), 0.5)
    return _os_threads() - before


def _in_new_thread(fn):
    """fn() run on a new Python thread, which starts an OpenMP team of its own (each thread that
    starts parallel regions has its own), so a test can see that team appear."""
    result = []
    thread = threading.Thread(target=lambda: result.append(fn()))
    thread.start()
    thread.join(timeout=4 * CHILD_TIMEOUT)
    assert result, "the test thread failed or hung"
    return result[0]


def every_kernel_family(seed=0):
    """One call into each native entry family (csr_check, spmv/spmm and the blocked product,
    threshold, shared, OMP), each compared with the NumPy reference. Returns a list of failures."""
    rng = np.random.default_rng(seed)
    failures = []

    def dense(result):
        return result.toarray() if hasattr(result, "toarray") else np.asarray(result)

    def same(name, native, reference, rtol=1e-10):
        native, reference = dense(native), dense(reference)
        if native.shape != reference.shape or not np.allclose(native, reference, rtol=rtol,
                                                              atol=1e-10):
            failures.append(name)

    A = sp.random(400, 300, density=0.1, format="csr", random_state=seed)
    x, X = rng.standard_normal(300), rng.standard_normal((300, 8))
    Z = rng.standard_normal((64, 200))
    sw = sparsenet.SharedWeights(rng.standard_normal(16), rng.integers(0, 16, (50, 40)).astype(np.uint8))
    hw = sparsenet.HashedWeights((50, 40), rng.standard_normal(32), 7)
    D = rng.standard_normal((20, 40))
    D /= np.linalg.norm(D, axis=0)
    S = rng.standard_normal((20, 30))
    calls = {
        "csr_check": lambda: sparsenet.CSR.from_scipy(A),
        "spmv": lambda: sparsenet.spmv(A, x),
        "spmm": lambda: sparsenet.spmm(A, X),
        "spmm_t": lambda: sparsenet.spmm(A, rng.standard_normal((400, 8)), transpose=True),
        "spmm_blocked": lambda: sparsenet.spmm(sparsenet.CSR.from_scipy(A).optimize(batch=8), X),
        "soft_threshold": lambda: sparsenet.soft_threshold(Z, 0.5),
        "binarize_csr": lambda: sparsenet.binarize(Z, 0.1, format="csr"),
        "topk": lambda: sparsenet.topk(Z, 5),
        "prune": lambda: sparsenet.prune(Z, sparsity=0.8),
        "decode": lambda: sparsenet.decode(sw),
        "shared_matmul": lambda: sparsenet.shared_matmul(sw, rng.standard_normal((40, 3))),
        "hashed_matvec": lambda: sparsenet.hashed_matvec(hw, rng.standard_normal(40)),
        "codebook_grad": lambda: sparsenet.codebook_grad(sw, rng.standard_normal((50, 3)),
                                                         rng.standard_normal((40, 3))),
        "shared_csr": lambda: sparsenet.spmm(
            sparsenet.SharedCSR.from_csr(A, np.linspace(-1, 1, 16)), X),
        "kmeans_codebook": lambda: sparsenet.kmeans_codebook(Z, 8).codebook,
        "omp": lambda: sparsenet.omp(D, S, n_nonzero_coefs=4),
        "omp_gram": lambda: sparsenet.omp_gram(D.T @ D, D.T @ S, n_nonzero_coefs=4),
    }
    for name, call in calls.items():
        state = rng.bit_generator.state
        native = call()
        rng.bit_generator.state = state  # the reference sees the same random operands
        with sparsenet.use_backend("numpy"):
            reference = call()
        if name == "csr_check":
            continue  # the point is that the check ran; the product is compared below
        same(name, native, reference, rtol=1e-5 if name == "kmeans_codebook" else 1e-10)
    return failures


def _fork_and_wait(child_body):
    """Fork; the child runs `child_body()` -> exit code; the parent waits at most CHILD_TIMEOUT."""
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            code = child_body()
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    deadline = CHILD_TIMEOUT
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail(f"forked child hung for {deadline} s")


@needs_libgomp
def test_os_fork_child_runs_every_kernel_and_gets_threads_back():
    _in_new_thread(_fork_after_two_threads_and_check_child)
    assert every_kernel_family() == []


def _fork_after_two_threads_and_check_child():
    started = _warm_up_two_threads()
    if sparsenet.has_openmp():
        assert started >= 1, "the warm-up did not start an OpenMP team; the test would prove nothing"

    def child():
        if sparsenet.get_num_threads() != 1 or every_kernel_family():
            return 2
        sparsenet.set_num_threads(2)  # threads back: the parent released its team before the fork
        before = _os_threads()
        if every_kernel_family(seed=1) or sparsenet.get_num_threads() != 2:
            return 3
        _warm_up_two_threads()
        if sparsenet.has_openmp() and _os_threads() <= before:
            return 4  # the child really started a team of its own
        return 0

    assert _fork_and_wait(child) == 0
    assert sparsenet.get_num_threads() == 2  # the parent keeps its own count
    assert every_kernel_family() == []  # and starts its team again
    return True


@needs_libgomp
def test_single_thread_fallback_when_the_team_is_not_released():
    """The fallback for OpenMP runtimes that cannot release a team: the child inherits a pool whose
    workers do not exist, and a 1-thread region (num_threads(1)) in every family must not touch
    it."""
    _runtime.set_release_at_fork(False)
    try:
        assert _in_new_thread(_fork_with_the_team_left_to_the_child)
    finally:
        _runtime.set_release_at_fork(True)


def _fork_with_the_team_left_to_the_child():
    started = _warm_up_two_threads()
    if sparsenet.has_openmp():
        assert started >= 1

    def child():
        if _runtime.fork_team_released() or sparsenet.get_num_threads() != 1:
            return 2
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sparsenet.set_num_threads(2)
        if not any("could not release" in str(w.message) for w in caught):
            return 3
        if sparsenet.get_num_threads() != 1:
            return 4
        with sparsenet.use_num_threads(2):  # capped too
            return 5 if every_kernel_family() else 0

    return _fork_and_wait(child) == 0


def _pool_task(seed):
    return sparsenet.get_num_threads(), every_kernel_family(seed)


def test_multiprocessing_fork_pool():
    _warm_up_two_threads()
    context = multiprocessing.get_context("fork")
    with context.Pool(2) as pool:
        results = pool.map_async(_pool_task, range(4)).get(timeout=CHILD_TIMEOUT)
    assert results == [(1, [])] * 4


def test_joblib_multiprocessing_backend():
    joblib = pytest.importorskip("joblib")
    _warm_up_two_threads()
    forked = multiprocessing.get_start_method() == "fork"  # the Linux default before Python 3.14
    results = joblib.Parallel(n_jobs=2, backend="multiprocessing", timeout=CHILD_TIMEOUT)(
        joblib.delayed(_pool_task)(seed) for seed in range(4))
    assert results == [(1 if forked else sparsenet.get_num_threads(), [])] * 4


@needs_libgomp
def test_a_parent_that_never_ran_threads_passes_its_count_on():
    """A forkserver, or any process that forks before its first multi-threaded kernel, has no team
    to lose: its children keep its thread count."""
    code = textwrap.dedent("""
        import os, sparsenet
        sparsenet.set_num_threads(3)
        pid = os.fork()
        if pid == 0:
            os._exit(0 if sparsenet.get_num_threads() == 3 else 1)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    if not sparsenet.has_openmp():
        pytest.skip("built without OpenMP")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "0", out.stderr


def test_threadpoolctl_lists_and_limits_sparsenet():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    sparsenet.set_num_threads(2)
    mine = [info for info in threadpoolctl.threadpool_info() if info["internal_api"] == "sparsenet"]
    assert len(mine) == 1
    assert mine[0]["user_api"] == "sparsenet"
    assert os.path.basename(mine[0]["filepath"]).startswith("_runtime")
    assert mine[0]["num_threads"] == 2 and mine[0]["version"] == sparsenet.__version__
    with threadpoolctl.threadpool_limits(1):
        assert sparsenet.get_num_threads() == 1
        assert backend.native_options()[1] == 1
        assert every_kernel_family() == []
    assert sparsenet.get_num_threads() == (2 if sparsenet.has_openmp() else 1)
    with threadpoolctl.threadpool_limits({"sparsenet": 1}):
        assert sparsenet.get_num_threads() == 1
    with threadpoolctl.threadpool_limits(1, user_api="blas"):  # not ours
        assert sparsenet.get_num_threads() == (2 if sparsenet.has_openmp() else 1)


def test_threadpoolctl_sees_sparsenet_whatever_the_import_order():
    pytest.importorskip("threadpoolctl")
    code = textwrap.dedent("""
        import {first}, {second}
        from threadpoolctl import threadpool_info, threadpool_limits
        import sparsenet
        assert [i["num_threads"] for i in threadpool_info() if i["internal_api"] == "sparsenet"] \\
            == [sparsenet.get_num_threads()], threadpool_info()
        with threadpool_limits(1):
            assert sparsenet.get_num_threads() == 1
        print("ok")
    """)
    for first, second in (("threadpoolctl", "sparsenet"), ("sparsenet", "threadpoolctl")):
        out = subprocess.run([sys.executable, "-c", code.format(first=first, second=second)],
                             env=dict(os.environ, OMP_NUM_THREADS="3"), capture_output=True,
                             text=True, timeout=120)
        assert out.stdout.strip() == "ok", out.stderr


def test_contexts_are_seen_by_their_thread_only():
    sparsenet.set_num_threads(2)
    best = sparsenet.get_isa()
    barrier = threading.Barrier(2, timeout=30)
    seen = {}

    def inside():
        with sparsenet.use_backend("numpy"), sparsenet.use_isa("baseline"), \
                sparsenet.use_num_threads(1):
            barrier.wait()  # both threads now run at the same time
            seen["inside"] = (sparsenet.get_backend(), sparsenet.get_isa(),
                              sparsenet.get_num_threads(), backend.use_numpy(),
                              backend.native_options())
            barrier.wait()
        seen["after"] = (sparsenet.get_backend(), sparsenet.get_isa(), sparsenet.get_num_threads())

    def outside():
        barrier.wait()
        seen["outside"] = (sparsenet.get_backend(), sparsenet.get_isa(),
                           sparsenet.get_num_threads(), backend.use_numpy())
        barrier.wait()

    threads = [threading.Thread(target=inside), threading.Thread(target=outside)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    two = 2 if sparsenet.has_openmp() else 1
    assert seen["inside"] == ("numpy", "baseline", 1, True, (0, 1))
    assert seen["outside"] == ("native", best, two, False)
    assert seen["after"] == ("native", best, two)


def test_contexts_nest_and_the_process_default_shows_through():
    sparsenet.set_num_threads(2)
    with sparsenet.use_num_threads(1):
        with sparsenet.use_backend("numpy"):
            assert (sparsenet.get_num_threads(), sparsenet.get_backend()) == (1, "numpy")
        sparsenet.set_backend("numpy")  # a process-wide default, seen where no context overrides
        assert sparsenet.get_backend() == "numpy"
        sparsenet.set_backend("native")
        assert sparsenet.get_num_threads() == 1
    assert sparsenet.get_num_threads() == (2 if sparsenet.has_openmp() else 1)


def test_context_arguments_are_checked():
    with pytest.raises(ValueError, match="backend must be one of"):
        sparsenet.use_backend("torch")
    with pytest.raises(ValueError, match="isa must be one of"):
        sparsenet.use_isa("sse9")
    for bad in (0, -1, 2**40):
        with pytest.raises(ValueError, match="n must be in"):
            sparsenet.use_num_threads(bad)
    for bad in (1.5, "2", True, None):
        with pytest.raises(TypeError, match="n must be a positive int"):
            sparsenet.use_num_threads(bad)


def test_thread_probe():
    assert _runtime.probe_threads(1) == 1
    assert _runtime.probe_threads(4) == 4


LIMITED = textwrap.dedent("""
    import resource, warnings
    import numpy as np, scipy.sparse as sp
    import sparsenet
    A = sp.random(3000, 3000, density=0.05, format="csr", random_state=0)
    X = np.ones((3000, 64))  # work enough for 64 threads: without the guard libgomp exits here
    expected = A @ X
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize"))
    # room for the kernels' own memory, not for 64 threads of 64 MiB stacks
    resource.setrlimit(resource.RLIMIT_AS, (vm + (384 << 20), resource.RLIM_INFINITY))
    {body}
    print("ok")
""")


@needs_libgomp
def test_thread_creation_failure_is_a_fallback_or_an_exception_never_an_exit():
    """Under an address-space limit with 64 MiB OpenMP stacks, 64 threads cannot start: libgomp
    would print "Thread creation failed" and end the process in the first spmm."""
    if not sparsenet.has_openmp():
        pytest.skip("built without OpenMP")
    body = textwrap.dedent("""
        with warnings.catch_warnings(record=True) as caught:  # OMP_NUM_THREADS=64: the default
            warnings.simplefilter("always")
            y = sparsenet.spmm(A, X)
        assert np.allclose(y, expected)
        assert any("started only" in str(w.message) for w in caught), caught
        fallback = sparsenet.get_num_threads()
        assert 1 <= fallback < 64
        try:
            sparsenet.set_num_threads(64)
        except RuntimeError as e:
            assert "cannot start" in str(e), e
        else:
            raise AssertionError("set_num_threads(64) passed under the limit")
        try:
            with sparsenet.use_num_threads(64):
                pass
        except RuntimeError:
            pass
        else:
            raise AssertionError("use_num_threads(64) passed under the limit")
        assert sparsenet.get_num_threads() == fallback
        assert np.allclose(sparsenet.spmm(A, X), expected)
    """)
    env = dict(os.environ, OMP_STACKSIZE="64M", OMP_NUM_THREADS="64")
    out = subprocess.run([sys.executable, "-c", LIMITED.format(body=body)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
