"""Shared fixtures: every test starts from the default backend, thread count, ISA level and output
buffer cache cap."""
import pytest

import sparsenet


@pytest.fixture(autouse=True)
def _default_state():
    yield
    sparsenet.set_backend("native")
    sparsenet.set_num_threads(None)
    sparsenet.set_isa(None)
    sparsenet.set_buffer_cache(None)
