"""Shared fixtures: every test starts from the default backend, thread count, ISA level and output
buffer cache cap; `isa` runs a test once per ISA level this machine has."""
import pytest

import sparsenet

# Every level of sparsenet.backend.ISA_LEVELS up to the best this CPU runs.
ISAS = list(sparsenet.backend.ISA_LEVELS[: sparsenet._runtime.isa_supported() + 1])


@pytest.fixture(autouse=True)
def _default_state():
    yield
    sparsenet.set_backend("native")
    sparsenet.set_num_threads(None)
    sparsenet.set_isa(None)
    sparsenet.set_buffer_cache(None)


@pytest.fixture(params=ISAS)
def isa(request):
    """The test runs once per ISA level this machine has, with that level set (reset after)."""
    sparsenet.set_isa(request.param)
    return request.param


@pytest.fixture
def isas():
    """The ISA levels this machine has, for a test that compares them within one run."""
    return list(ISAS)
