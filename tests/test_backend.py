"""Backend selection, thread count and ISA level."""
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import sparsenet
from sparsenet import _openmp_wait


def test_backend_switches_to_the_reference():
    A = sp.random(50, 40, density=0.2, format="csr", random_state=0)
    x = np.ones(40)
    native = sparsenet.spmv(A, x)
    sparsenet.set_backend("numpy")
    assert sparsenet.get_backend() == "numpy"
    np.testing.assert_allclose(sparsenet.spmv(A, x), native, rtol=1e-12)
    sparsenet.set_backend("native")
    with pytest.raises(ValueError, match="backend must be one of"):
        sparsenet.set_backend("torch")


def test_use_backend_restores_even_on_error():
    with pytest.raises(RuntimeError):
        with sparsenet.use_backend("numpy"):
            assert sparsenet.get_backend() == "numpy"
            raise RuntimeError
    assert sparsenet.get_backend() == "native"


def test_num_threads():
    sparsenet.set_num_threads(1)
    assert sparsenet.get_num_threads() == 1
    for bad in (0, -1, 2**40):
        with pytest.raises(ValueError, match="n must be in"):
            sparsenet.set_num_threads(bad)
    for bad in (1.5, 2.0, "2", True):
        with pytest.raises(TypeError, match="n must be a positive int"):
            sparsenet.set_num_threads(bad)
    sparsenet.set_num_threads(None)
    assert sparsenet.get_num_threads() >= 1


def test_omp_num_threads_is_respected():
    if not sparsenet.has_openmp():
        pytest.skip("built without OpenMP")
    code = "import sparsenet; print(sparsenet.get_num_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "3"


IDLE_CPU = """
import os, time, numpy as np, sparsenet
print("GOMP_SPINCOUNT" in os.environ)
with open("/proc/self/maps") as maps:
    print("libgomp" in maps.read())
x = np.random.default_rng(0).standard_normal(1 << 22).astype(np.float32)
out = np.empty_like(x)
sparsenet.set_num_threads(2)
burnt = []
for _ in range(9):
    sparsenet.binarize(x, 0.0, out=out)  # 4 Mi elements: two threads
    start = time.process_time()
    time.sleep(0.05)
    burnt.append(time.process_time() - start)
print(sorted(burnt)[4])
"""


def idle_cpu_after_a_call(**environment):
    """CPU seconds the process burns in the 50 ms after a 2-thread kernel (median of 9), in a fresh
    interpreter with `environment` added; skips where the idle threads' wait is not libgomp's."""
    if not sparsenet.has_openmp() or (os.cpu_count() or 1) < 2:
        pytest.skip("needs OpenMP and two cores")
    env = {k: v for k, v in os.environ.items() if k not in _openmp_wait._USER_SETTINGS}
    out = subprocess.run([sys.executable, "-c", IDLE_CPU], env=dict(env, **environment),
                         capture_output=True, text=True, check=True).stdout.split()
    if out[1] != "True":
        pytest.skip("the OpenMP runtime is not libgomp (sparsenet/_openmp_wait.py sets libgomp's)")
    # sparsenet's setting is gone from the environment once the runtime loaded; the user's stays
    assert out[0] == str("GOMP_SPINCOUNT" in environment)
    return float(out[2])


def test_idle_threads_sleep_soon_after_a_call():
    """libgomp's own default spins an idle thread for milliseconds (about 10 ms of a core here),
    the core another process's thread may need; sparsenet sets a spin of tens of microseconds."""
    assert idle_cpu_after_a_call() < 0.002


def test_the_users_wait_policy_wins():
    assert idle_cpu_after_a_call(GOMP_SPINCOUNT="100000000") > 0.02  # spins through the sleep
    assert idle_cpu_after_a_call(OMP_WAIT_POLICY="active") > 0.02


def test_isa_levels():
    best = sparsenet.get_isa()
    assert best in sparsenet.backend.ISA_LEVELS
    sparsenet.set_isa("baseline")
    assert sparsenet.get_isa() == "baseline"
    with pytest.raises(ValueError, match="isa must be one of"):
        sparsenet.set_isa("sse9")
    sparsenet.set_isa(None)
    assert sparsenet.get_isa() == best


def test_isa_level_is_read_once(monkeypatch):
    best = sparsenet.get_isa()

    def no_more_cpuid():
        raise AssertionError("the ISA level is cached; no kernel call should query the CPU again")

    monkeypatch.setattr(sparsenet.backend._runtime, "isa_supported", no_more_cpuid)
    assert sparsenet.get_isa() == best
    sparsenet.set_isa("baseline")
    assert sparsenet.backend.native_options()[0] == 0
    with pytest.raises(ValueError, match="this CPU cannot run|isa must be one of"):
        sparsenet.set_isa(sparsenet.backend.ISA_LEVELS[-1] + "x")


def test_the_environment_caps_the_isa_level():
    """SPARSENET_ISA caps the best level (as MKL_ENABLE_INSTRUCTIONS does); a level above the CPU's
    leaves it; an unknown name is an error naming the variable."""
    from sparsenet.backend import ISA_LEVELS, _best_level

    for supported in range(len(ISA_LEVELS)):
        assert _best_level(supported, None) == _best_level(supported, "") == supported
        for cap, name in enumerate(ISA_LEVELS):
            assert _best_level(supported, name) == min(supported, cap)
    with pytest.raises(ValueError, match="SPARSENET_ISA must be one of"):
        _best_level(1, "AVX2")


@pytest.mark.skipif(sparsenet.backend._cpu_isa < 1, reason="the CPU has no level above baseline")
def test_a_process_started_with_sparsenet_isa_runs_that_level():
    code = """if True:
        import numpy as np, pytest, sparsenet
        assert sparsenet.get_isa() == "baseline" and sparsenet.backend.native_options()[0] == 0
        with pytest.raises(ValueError, match="isa='avx2' is above SPARSENET_ISA='baseline'"):
            sparsenet.set_isa("avx2")
        sparsenet.set_isa(None)
        assert sparsenet.get_isa() == "baseline"
    """
    env = {**os.environ, "SPARSENET_ISA": "baseline"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    env["SPARSENET_ISA"] = "sse2"
    done = subprocess.run([sys.executable, "-c", "import sparsenet"], env=env, capture_output=True,
                          text=True)
    assert done.returncode != 0 and "SPARSENET_ISA must be one of" in done.stderr


def test_native_options_follow_the_settings():
    from sparsenet import backend

    sparsenet.set_num_threads(1)
    sparsenet.set_isa("baseline")
    assert backend.native_options() == (0, 1)
    with sparsenet.use_isa(sparsenet.backend.ISA_LEVELS[backend._best_isa]):
        assert backend.native_options() == (backend._best_isa, 1)
    sparsenet.set_isa(None)
    sparsenet.set_num_threads(None)
    assert backend.native_options() == (backend._best_isa, sparsenet.get_num_threads())


def test_use_backend_checks_its_argument_before_the_block():
    with pytest.raises(ValueError, match="backend must be one of"):
        sparsenet.use_backend("torch")
    assert sparsenet.get_backend() == "native"


@pytest.fixture
def refusing_os(monkeypatch):
    """The OS lets only 3 threads (the caller and 2 workers) start."""
    from sparsenet import backend

    monkeypatch.setattr(backend._runtime, "probe_threads", lambda n: min(n, 3))
    monkeypatch.setattr(backend, "_verified_threads", 1)
    monkeypatch.setattr(backend, "_thread_cap", backend.MAX_THREADS)


def test_set_num_threads_raises_when_the_os_refuses(refusing_os):
    sparsenet.set_num_threads(3)
    assert sparsenet.get_num_threads() == 3
    with pytest.raises(RuntimeError, match="the OS started only 3"):
        sparsenet.set_num_threads(4)
    with pytest.raises(RuntimeError, match="the OS started only 3"):
        sparsenet.use_num_threads(8)
    assert sparsenet.get_num_threads() == 3


def test_default_thread_count_falls_back_with_a_warning(refusing_os, monkeypatch):
    from sparsenet import backend

    if not sparsenet.has_openmp():
        pytest.skip("built without OpenMP")

    monkeypatch.setattr(backend, "_default_thread_count", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    with pytest.warns(RuntimeWarning, match="started only 3 of the 8"):
        assert backend.native_options()[1] == 3
    assert sparsenet.get_num_threads() == 3
