"""K-SVD: sparsenet.ksvd against the NumPy reference and the properties of the algorithm."""
import numpy as np
import pytest
import scipy.sparse as sp

import sparsenet
from sparsenet import reference


def signals(n_features=12, n_atoms=20, n_signals=300, k=3, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_features, n_atoms))
    D /= np.linalg.norm(D, axis=0)
    codes = np.zeros((n_atoms, n_signals))
    for j in range(n_signals):
        codes[rng.choice(n_atoms, k, replace=False), j] = rng.standard_normal(k)
    return D @ codes + noise * rng.standard_normal((n_features, n_signals))


def test_error_decreases_and_atoms_unit_norm():
    X = signals()
    D, codes, errors = sparsenet.ksvd(X, 20, n_nonzero_coefs=3, max_iter=8, random_state=0,
                                      return_errors=True)
    assert D.shape == (12, 20) and codes.shape == (20, 300)
    np.testing.assert_allclose(np.linalg.norm(D, axis=0), 1, atol=1e-12)
    assert (np.count_nonzero(codes, axis=0) <= 3).all()
    assert all(b <= a * (1 + 1e-9) for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 0.8 * errors[0]
    np.testing.assert_allclose(np.linalg.norm(X - D @ codes), errors[-1], rtol=1e-10)


@pytest.mark.parametrize("n_features", [2, 3, 15, 16, 17, 33, 64, 65])
def test_against_reference_at_every_level_and_width(isa, n_features):
    """The atom update sums its dot products and norms in vectors (csrc/ksvd_kernels.h): widths
    below, at and past each level's vectors, with and without a tail."""
    X = signals(n_features=n_features, n_atoms=24, n_signals=200, seed=n_features)
    D, codes, errors = sparsenet.ksvd(X, 24, n_nonzero_coefs=2, max_iter=3, random_state=1,
                                      return_errors=True)
    D_ref, codes_ref, errors_ref = reference.ksvd(X, 24, 2, None, max_iter=3, random_state=1)
    np.testing.assert_allclose(D, D_ref, atol=1e-8)
    np.testing.assert_allclose(codes, codes_ref, atol=1e-8)
    # (2 features, 2 atoms a signal: errors at rounding level, compared against ||X||)
    np.testing.assert_allclose(errors, errors_ref, rtol=1e-8, atol=1e-12 * np.linalg.norm(X))


@pytest.mark.parametrize("tol", [None, 0.05])
def test_against_reference(tol):
    X = signals(seed=1)
    D, codes, errors = sparsenet.ksvd(X, 20, n_nonzero_coefs=3, tol=tol, max_iter=4,
                                      random_state=3, return_errors=True)
    D_ref, codes_ref, errors_ref = reference.ksvd(X, 20, 3, tol, max_iter=4, random_state=3)
    np.testing.assert_allclose(D, D_ref, atol=1e-8)
    np.testing.assert_allclose(codes, codes_ref, atol=1e-8)
    np.testing.assert_allclose(errors, errors_ref, rtol=1e-8)
    with sparsenet.use_backend("numpy"):
        D_np, _ = sparsenet.ksvd(X, 20, n_nonzero_coefs=3, tol=tol, max_iter=4, random_state=3)
    np.testing.assert_allclose(D_np, D_ref, atol=1e-12)


def test_codes_to_tol_may_end_above_tol_as_documented():
    """ksvd's Notes: with tol, the codes' values are updated with the atoms after OMP chose them,
    so some signals end above tol; omp over the atoms learned codes every signal to within it."""
    X = signals(seed=2)
    D, codes = sparsenet.ksvd(X, 20, tol=0.05, max_iter=3, random_state=0)
    assert (((X - D @ codes) ** 2).sum(axis=0) > 0.05).any()
    recoded = sparsenet.omp(D, X, tol=0.05)
    assert (((X - D @ recoded) ** 2).sum(axis=0) <= 0.05 * (1 + 1e-9)).all()


def test_unused_atoms_are_replaced_by_the_worst_signals():
    X = signals(n_atoms=6, seed=2)
    X[10:] = 0  # the signals live in the first 10 of 12 dimensions
    init = np.random.default_rng(0).standard_normal((12, 10))
    init[10:, :7] = 0
    init[:10, 7:] = 0  # atoms 7-9 see only the last two dimensions: no signal can use them
    D, codes, errors = sparsenet.ksvd(X, 10, n_nonzero_coefs=2, max_iter=1, init=init,
                                      return_errors=True)
    D_ref, codes_ref, _ = reference.ksvd(X, 10, 2, None, max_iter=1, init=init)
    np.testing.assert_allclose(D, D_ref, atol=1e-10)
    np.testing.assert_allclose(codes, codes_ref, atol=1e-10)
    # the replaced atoms are normalised signals, the worst represented ones, all distinct
    energies = ((X - reference.ksvd_init(X, 10, init) @ codes_ref) ** 2).sum(0)
    unit = X / np.linalg.norm(X, axis=0)
    chosen = [int(np.argmax(np.abs(D[:, j] @ unit))) for j in range(7, 10)]
    for j, i in zip(range(7, 10), chosen):
        assert np.isclose(abs(D[:, j] @ unit[:, i]), 1)
    assert len(set(chosen)) == 3
    assert not codes[7:].any()
    assert np.linalg.norm(D[10:, 7:]) == 0
    assert energies is not None

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_an_unused_atom_stays_when_every_signal_is_represented(dtype):
    """More atoms than signals, each signal its own atom: the residuals are rounding noise, whose
    largest is no "worst-represented" signal (the backends used to pick different ones: found by
    tests/test_malformed.py). The unused atom keeps its initial value, on both backends."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((5, 12)).astype(dtype)
    init = np.hstack([X, rng.standard_normal((5, 1)).astype(dtype)])
    D0 = reference.ksvd_init(X, 13, init)
    for backend in ("native", "numpy"):
        with sparsenet.use_backend(backend):
            D, codes, errors = sparsenet.ksvd(X, 13, n_nonzero_coefs=2, max_iter=2, init=init,
                                              return_errors=True)
        assert not codes[12].any()
        np.testing.assert_array_equal(D[:, 12], D0[:, 12])
        assert errors[-1] <= 1e-5 * np.linalg.norm(X)



def test_deterministic_for_a_seed_and_thread_count():
    X = signals(n_signals=600, seed=3)
    results = []
    for threads in (1, 2, 3):
        sparsenet.set_num_threads(threads)
        results.append(sparsenet.ksvd(X, 20, n_nonzero_coefs=3, max_iter=3, random_state=7))
    for D, codes in results[1:]:
        np.testing.assert_array_equal(D, results[0][0])
        np.testing.assert_array_equal(codes, results[0][1])
    other, _ = sparsenet.ksvd(X, 20, n_nonzero_coefs=3, max_iter=3, random_state=8)
    assert not np.array_equal(other, results[0][0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threads_share_the_atom_updates_deterministically(dtype):
    """Enough signals that the update kernel starts its threads (csrc/ksvd_kernels.h: partial sums
    over chunks of 64 signals, each thread adding them up in chunk order), with zero signals so that
    some atoms go unused and are replaced. Two threads need an average atom used by 256 signals of
    64 features (SN_KSVD_ATOM_GRAIN): 40 atoms, 3 nonzeros, 5000 signals (a seventh zero)."""
    X = signals(n_features=64, n_atoms=24, n_signals=5000, seed=5).astype(dtype)
    X[:, ::7] = 0
    results = []
    try:
        for threads in (1, 2, 3):
            sparsenet.set_num_threads(threads)
            results.append(sparsenet.ksvd(X, 40, n_nonzero_coefs=3, max_iter=3, random_state=0,
                                          return_errors=True))
    finally:
        sparsenet.set_num_threads(None)
    for D, codes, errors in results[1:]:
        np.testing.assert_array_equal(D, results[0][0])
        np.testing.assert_array_equal(codes, results[0][1])
        assert errors == results[0][2]
    D_ref, codes_ref, _ = reference.ksvd(X, 40, 3, None, max_iter=3, random_state=0)
    tol = 1e-6 if dtype == np.float64 else 1e-2
    np.testing.assert_allclose(results[0][0], D_ref, atol=tol)


def test_float32_and_csc():
    X = signals(seed=4).astype(np.float32)
    D, codes = sparsenet.ksvd(X, 20, n_nonzero_coefs=3, max_iter=3, random_state=0,
                              return_format="csc")
    assert D.dtype == np.float32 and codes.dtype == np.float32
    assert sp.issparse(codes) and codes.format == "csc"
    D64, codes64 = sparsenet.ksvd(X.astype(np.float64), 20, n_nonzero_coefs=3, max_iter=3,
                                  random_state=0)
    np.testing.assert_allclose(D, D64, atol=1e-3)


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("dtype, exponent", [(np.float32, 100), (np.float64, 500),
                                            (np.float32, -20), (np.float64, -40)])
@pytest.mark.parametrize("tol, return_format", [(None, "dense"), (0.05, "csc")])
def test_huge_and_tiny_signals_learn_as_their_scaled_copy(backend, dtype, exponent, tol,
                                                          return_format):
    # float32 signals from about 1e19 used to overflow the atom update (NaN atoms, or nothing
    # learned, silently); beyond 2**(maxexp / 2 - 24) X is now learned divided by a power of two.
    # Tiny signals (float32 1e-5, float64 1e-9) stopped every pursuit at its first absolute test
    # (empty codes, nothing learned, silently); below 2**-8 X is learned multiplied by one.
    X = signals(seed=5)
    Y = (X / 2.0 ** np.ceil(np.log2(np.abs(X).max()))).astype(dtype)  # largest |Y| in [0.5, 1)
    scale = 2.0 ** exponent
    huge = Y * dtype(scale)
    assert np.isfinite(huge).all()
    with sparsenet.use_backend(backend):
        D, codes, errors = sparsenet.ksvd(huge, 20, 3, None if tol is None else tol * scale ** 2,
                                          max_iter=4, random_state=0, return_errors=True,
                                          return_format=return_format)
        D0, codes0, errors0 = sparsenet.ksvd(Y, 20, 3, tol, max_iter=4, random_state=0,
                                             return_errors=True, return_format=return_format)
    assert D.dtype == dtype and codes.dtype == dtype and np.isfinite(D).all()
    np.testing.assert_array_equal(D, D0)
    if return_format == "csc":
        codes, codes0 = codes.toarray(), codes0.toarray()
    np.testing.assert_array_equal(codes, codes0 * dtype(scale))
    assert errors == [e * scale for e in errors0]
    assert tol is not None or errors[-1] < errors[0]  # it learns (with tol, not always monotone)


def test_more_atoms_than_signals_and_zero_signals():
    X = signals(n_signals=8, seed=5)
    X[:, 0] = 0
    D, codes = sparsenet.ksvd(X, 20, n_nonzero_coefs=2, max_iter=2, random_state=0)
    np.testing.assert_allclose(np.linalg.norm(D, axis=0), 1, atol=1e-12)
    assert not codes[:, 0].any()


def test_reference_coding_step_is_silent_on_threads(silent_on_threads):
    """The reference's K-SVD (the numpy backend's) keeps the early stops of zero signals silent as
    sparsenet.ksvd does, by omp's count, not by a catch_warnings() that is not thread-safe."""
    X = signals(n_signals=40, seed=7)
    X[:, :10] = 0
    silent_on_threads(lambda: reference.ksvd(X, 20, 2, None, max_iter=1, random_state=0))


def test_init_random_and_array():
    X = signals(seed=6)
    D, _ = sparsenet.ksvd(X, 20, n_nonzero_coefs=3, max_iter=1, init="random", random_state=0)
    assert np.isfinite(D).all()
    with pytest.raises(ValueError, match="zero atom"):
        sparsenet.ksvd(X, 20, init=np.zeros((12, 20)))
    with pytest.raises(ValueError, match="shape"):
        sparsenet.ksvd(X, 20, init=np.ones((12, 5)))
    with pytest.raises(ValueError, match="init"):
        sparsenet.ksvd(X, 20, init="dct")


def test_bad_arguments():
    X = signals()
    with pytest.raises(ValueError, match="n_atoms"):
        sparsenet.ksvd(X, 0)
    with pytest.raises(ValueError, match="n_nonzero_coefs"):
        sparsenet.ksvd(X, 5, n_nonzero_coefs=6)
    with pytest.raises(ValueError, match="max_iter"):
        sparsenet.ksvd(X, 5, max_iter=0)
    with pytest.raises(ValueError, match="tol"):
        sparsenet.ksvd(X, 5, tol=-1.0)
    with pytest.raises(ValueError, match="2-D"):
        sparsenet.ksvd(X[0], 5)
    with pytest.raises(ValueError, match="return_format"):
        sparsenet.ksvd(X, 5, return_format="coo")
