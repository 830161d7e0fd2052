"""Shared fixtures: every test starts from the default backend, thread count, ISA level, output
buffer cache cap, gather setting and planned L2 size; `isa` runs a test once per ISA level this
machine has, `hw_gathers` once per way the AVX-512 kernels read a table by index."""
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

import sparsenet
from sparsenet import _csr, _shared


def set_hw_gathers(on):
    """The gather setting of every module that has one (_gathers.pxi); None: the CPU's default."""
    for module in (_csr, _shared):
        module.set_hw_gathers(on)


# Every level of sparsenet.backend.ISA_LEVELS up to the best this CPU runs, or SPARSENET_ISA allows
# (.ci/run runs the suite again at avx2 on AVX-512 machines)
ISAS = list(sparsenet.backend.ISA_LEVELS[: sparsenet.backend._best_isa + 1])


@pytest.fixture(autouse=True)
def _default_state():
    yield
    sparsenet.set_backend("native")
    sparsenet.set_num_threads(None)
    sparsenet.set_isa(None)
    sparsenet.set_buffer_cache(None)
    set_hw_gathers(None)
    _csr.set_l2_bytes(None)


@pytest.fixture(params=ISAS)
def isa(request):
    """The test runs once per ISA level this machine has, with that level set (reset after)."""
    sparsenet.set_isa(request.param)
    return request.param


@pytest.fixture
def isas():
    """The ISA levels this machine has, for a test that compares them within one run."""
    return list(ISAS)


@pytest.fixture(params=[False, True] if "avx512" in ISAS else [False],
                ids=lambda on: "gathers" if on else "loads")
def hw_gathers(request):
    """The test runs with the AVX-512 kernels reading a table by index (the CSR vector products' x,
    a codebook) by loads, and on a machine with AVX-512 again by gather instructions (sn_hw_gathers,
    sparsenet.h; reset after)."""
    set_hw_gathers(request.param)
    return request.param


@pytest.fixture
def silent_on_threads():
    """run(call): `call()` 20 times on each of 4 threads with warnings as errors (a warning fails
    the test), then the process's warning filters must be as they were. For code that keeps an
    expected warning silent: a warnings.catch_warnings() around it is not thread-safe (the filters
    are the process's; one thread leaving it puts them back while another is inside)."""
    def run(call):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            filters = list(warnings.filters)
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda _: [call() for _ in range(20)], range(4)))  # re-raises
            assert warnings.filters == filters
    return run
