"""Backend selection, thread count and ISA level."""
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import sparsenet


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


def test_isa_levels():
    best = sparsenet.get_isa()
    assert best in sparsenet.backend.ISA_LEVELS
    sparsenet.set_isa("baseline")
    assert sparsenet.get_isa() == "baseline"
    with pytest.raises(ValueError, match="isa must be one of"):
        sparsenet.set_isa("sse9")
    sparsenet.set_isa(None)
    assert sparsenet.get_isa() == best
