"""Orthogonal Matching Pursuit: native against scikit-learn, the NumPy reference, and itself under
other thread counts, ISA levels and layouts; stop rules, warnings and every bad argument.

Only the comparisons with scikit-learn need it: each of them skips on its own when it is absent."""
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsenet
from sparsenet import reference


def sklearn_omp():
    """scikit-learn's (orthogonal_mp, orthogonal_mp_gram); skips the calling test without it."""
    module = pytest.importorskip("sklearn.linear_model")
    return module.orthogonal_mp, module.orthogonal_mp_gram


PREMATURE = "Orthogonal matching pursuit ended prematurely"


def dictionary(n_features, n_atoms, seed=0, dtype=np.float64):
    """Gaussian atoms of unit norm."""
    D = np.random.default_rng(seed).standard_normal((n_features, n_atoms))
    return (D / np.linalg.norm(D, axis=0)).astype(dtype)


def sparse_signals(D, n_signals, k, noise=0.01, seed=1):
    """Signals D @ C + noise with k-sparse C: (X, C)."""
    rng = np.random.default_rng(seed)
    n_atoms = D.shape[1]
    C = np.zeros((n_atoms, n_signals))
    for j in range(n_signals):
        support = rng.choice(n_atoms, k, replace=False)
        C[support, j] = rng.uniform(1, 2, k) * rng.choice([-1, 1], k)
    X = D.astype(np.float64) @ C + noise * rng.standard_normal((D.shape[0], n_signals))
    return X.astype(D.dtype), C


def assert_same_codes(ours, theirs, rtol):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours != 0, theirs != 0)  # identical supports
    scale = np.abs(theirs).max(axis=0, keepdims=True) + np.finfo(theirs.dtype).tiny
    assert np.abs(ours - theirs).max(initial=0) <= rtol * scale.max(initial=0)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale.max(initial=1))


# --- agreement with scikit-learn ------------------------------------------------------------------

@pytest.mark.parametrize("shape,k", [((64, 256), 8), ((32, 100), 5), ((20, 20), 20), ((128, 64), 12),
                                     ((8, 40), 1)])
@pytest.mark.parametrize("precompute", [True, False, "auto"])
def test_random_problems_match_sklearn(shape, k, precompute):
    orthogonal_mp, _ = sklearn_omp()
    D = dictionary(*shape)
    X = np.random.default_rng(2).standard_normal((shape[0], 60))
    expected = orthogonal_mp(D, X, n_nonzero_coefs=k, precompute=True)
    ours = sparsenet.omp(D, X, n_nonzero_coefs=k, precompute=precompute)
    assert ours.dtype == np.float64
    assert_same_codes(ours, expected, 1e-9)
    assert_same_codes(ours, orthogonal_mp(D, X, n_nonzero_coefs=k), 1e-9)


def test_sparse_ground_truth_matches_sklearn_and_gram():
    orthogonal_mp, orthogonal_mp_gram = sklearn_omp()
    D = dictionary(64, 256)
    X, _ = sparse_signals(D, 200, 6)
    expected = orthogonal_mp(D, X, n_nonzero_coefs=10, precompute=True)
    assert_same_codes(sparsenet.omp(D, X, n_nonzero_coefs=10), expected, 1e-9)
    G, DtX = D.T @ D, D.T @ X
    expected_gram = orthogonal_mp_gram(G, DtX, n_nonzero_coefs=10)
    assert_same_codes(sparsenet.omp_gram(G, DtX, n_nonzero_coefs=10), expected_gram, 1e-9)


@pytest.mark.parametrize("stop", [{"n_nonzero_coefs": 8}, {"tol": 0.1}])
def test_many_signals_at_the_benchmark_shape_match_sklearn(stop):
    orthogonal_mp, _ = sklearn_omp()
    D = dictionary(64, 256)
    X, _ = sparse_signals(D, 1000, 8, noise=0.02, seed=16)
    expected = orthogonal_mp(D, X, precompute=True, **stop)
    assert_same_codes(sparsenet.omp(D, X, **stop), expected, 1e-9)


def test_exact_recovery_of_sparse_signals():
    D = dictionary(64, 256)
    X, C = sparse_signals(D, 100, 5, noise=0.0)
    coef = sparsenet.omp(D, X, n_nonzero_coefs=5)
    np.testing.assert_array_equal(coef != 0, C != 0)
    np.testing.assert_allclose(coef, C, atol=1e-10)


@pytest.mark.parametrize("tol", [0.5, 5.0, 30.0])
def test_tol_stops_where_sklearn_stops(tol):
    orthogonal_mp, orthogonal_mp_gram = sklearn_omp()
    D = dictionary(32, 128)
    X = np.random.default_rng(3).standard_normal((32, 80))
    expected = orthogonal_mp(D, X, tol=tol, precompute=True)
    ours = sparsenet.omp(D, X, tol=tol, n_nonzero_coefs=3)  # tol overrides n_nonzero_coefs
    assert_same_codes(ours, expected, 1e-9)
    residual = ((X - D @ ours) ** 2).sum(axis=0)
    assert (residual <= tol * (1 + 1e-9)).all()
    norms = (X ** 2).sum(axis=0)
    gram = sparsenet.omp_gram(D.T @ D, D.T @ X, tol=tol, norms_squared=norms)
    assert_same_codes(gram, orthogonal_mp_gram(D.T @ D, D.T @ X, tol=tol, norms_squared=norms), 1e-9)


def test_full_support_reaches_least_squares_without_warning():
    D = dictionary(30, 12)  # more features than atoms: the full support is independent
    x = np.random.default_rng(4).standard_normal(30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coef = sparsenet.omp(D, x, n_nonzero_coefs=12)
    lstsq = np.linalg.lstsq(D, x, rcond=None)[0]
    np.testing.assert_allclose(coef, lstsq, rtol=1e-9, atol=1e-12)


def test_full_support_matches_sklearn():
    orthogonal_mp, _ = sklearn_omp()
    D = dictionary(30, 12)
    x = np.random.default_rng(4).standard_normal(30)
    np.testing.assert_allclose(sparsenet.omp(D, x, n_nonzero_coefs=12),
                               orthogonal_mp(D, x, n_nonzero_coefs=12), rtol=1e-9, atol=1e-12)


def test_float32_matches_sklearn_float32():
    orthogonal_mp, orthogonal_mp_gram = sklearn_omp()
    D = dictionary(64, 256, dtype=np.float32)
    X, _ = sparse_signals(D, 150, 6)
    ours = sparsenet.omp(D, X, n_nonzero_coefs=6)
    assert ours.dtype == np.float32
    expected = orthogonal_mp(D, X, n_nonzero_coefs=6, precompute=True)
    assert expected.dtype == np.float32
    np.testing.assert_array_equal(ours != 0, expected != 0)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)
    G, DtX = D.T @ D, D.T @ X
    gram = sparsenet.omp_gram(G, DtX, n_nonzero_coefs=6)
    assert gram.dtype == np.float32
    np.testing.assert_allclose(gram, orthogonal_mp_gram(G, DtX, n_nonzero_coefs=6), rtol=1e-4,
                               atol=1e-4)


def test_float32_tol():
    orthogonal_mp, _ = sklearn_omp()
    D = dictionary(32, 96, dtype=np.float32)
    X, _ = sparse_signals(D, 50, 4, noise=0.05)
    ours = sparsenet.omp(D, X, tol=0.2)
    expected = orthogonal_mp(D, X, tol=0.2, precompute=True)
    np.testing.assert_array_equal(ours != 0, expected != 0)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


# --- the NumPy reference --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_matches_reference(dtype):
    D = dictionary(24, 64, dtype=dtype)
    X, _ = sparse_signals(D, 30, 4, noise=0.02)
    tol = 1e-4 if dtype == np.float32 else 1e-9
    for kwargs in ({"n_nonzero_coefs": 6}, {"tol": 0.05}):
        ours = sparsenet.omp(D, X, **kwargs)
        ref = reference.omp(D, X, **kwargs)
        assert ref.dtype == ours.dtype == dtype
        np.testing.assert_array_equal(ours != 0, ref != 0)
        np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol)
        G, DtX = D.T @ D, D.T @ X
        norms = (X.astype(np.float64) ** 2).sum(axis=0).astype(dtype)
        ours = sparsenet.omp_gram(G, DtX, norms_squared=norms, **kwargs)
        ref = reference.omp_gram(G, DtX, norms_squared=norms, **kwargs)
        np.testing.assert_array_equal(ours != 0, ref != 0)
        np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol)


def test_numpy_backend_routes_to_reference():
    D = dictionary(16, 40)
    X = np.random.default_rng(5).standard_normal((16, 7))
    native = sparsenet.omp(D, X, n_nonzero_coefs=3)
    with sparsenet.use_backend("numpy"):
        numpy = sparsenet.omp(D, X, n_nonzero_coefs=3)
        gram = sparsenet.omp_gram(D.T @ D, D.T @ X, n_nonzero_coefs=3)
        csc = sparsenet.omp(D, X, n_nonzero_coefs=3, return_format="csc")
    np.testing.assert_allclose(numpy, native, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gram, native, rtol=1e-9, atol=1e-12)
    assert isinstance(csc, sp.csc_array)
    np.testing.assert_allclose(csc.toarray(), native, rtol=1e-9, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(n_features=st.integers(1, 12), n_atoms=st.integers(1, 20), n_signals=st.integers(0, 5),
       seed=st.integers(0, 2**16), k=st.integers(1, 20), dtype=st.sampled_from([np.float32, np.float64]))
def test_property_native_equals_reference(n_features, n_atoms, n_signals, seed, k, dtype):
    k = min(k, n_atoms)
    D = dictionary(n_features, n_atoms, seed=seed, dtype=dtype)
    X = np.random.default_rng(seed + 1).standard_normal((n_features, n_signals)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ours = sparsenet.omp(D, X, n_nonzero_coefs=k)
        ref = reference.omp(D, X, n_nonzero_coefs=k)
    assert ours.shape == ref.shape == (n_atoms, n_signals) and ours.dtype == dtype
    # Near-dependent supports may end one atom apart; the fits must agree, up to the error of the
    # normal equations (cond^2 eps: the kernel, like scikit-learn, solves with a Cholesky factor of
    # the Gram matrix, the reference with lstsq).
    eps = np.finfo(dtype).eps
    for j in range(n_signals):
        support = np.flatnonzero(ours[:, j])
        cond = np.linalg.cond(D[:, support].astype(np.float64)) if support.size else 1.0
        tol = max(1e-3 if dtype == np.float32 else 1e-7, 10 * cond ** 2 * eps)
        scale = max(1.0, float(np.linalg.norm(X[:, j])))
        np.testing.assert_allclose(D @ ours[:, j], D @ ref[:, j], rtol=tol, atol=tol * scale)


# --- scikit-learn's edge cases --------------------------------------------------------------------

def test_identical_atoms_warn_once():
    D = dictionary(32, 50)
    D[:, 1] = D[:, 0]
    gamma = np.zeros(50)
    gamma[0] = gamma[1] = 1.0
    X = np.column_stack([D @ gamma] * 5)
    with pytest.warns(RuntimeWarning, match=PREMATURE) as record:
        sparsenet.omp(D, X, n_nonzero_coefs=2)
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1
    with pytest.warns(RuntimeWarning, match=PREMATURE):
        sparsenet.omp_gram(D.T @ D, D.T @ X, n_nonzero_coefs=2)


def test_linear_dependence_stops_with_a_warning():
    D = dictionary(8, 20)
    x = np.random.default_rng(6).standard_normal(8)
    with pytest.warns(RuntimeWarning, match=PREMATURE):
        coef = sparsenet.omp(D, x, tol=0.0)
    assert 1 <= np.count_nonzero(coef) <= 8
    np.testing.assert_allclose(D @ coef, x, atol=1e-8)


def test_swapped_atoms_keep_the_right_support():
    D = dictionary(64, 100)
    gamma = np.zeros(100)
    gamma[21], gamma[0] = 1.0, 0.5
    y = D @ gamma
    np.testing.assert_array_equal(np.flatnonzero(sparsenet.omp(D, y, n_nonzero_coefs=2)), [0, 21])
    np.testing.assert_array_equal(
        np.flatnonzero(sparsenet.omp_gram(D.T @ D, D.T @ y, n_nonzero_coefs=2)), [0, 21])


def test_zero_signal_gives_zero_codes_and_warns():
    D = dictionary(16, 30)
    X = np.zeros((16, 3))
    with pytest.warns(RuntimeWarning, match=PREMATURE):
        coef = sparsenet.omp(D, X, n_nonzero_coefs=2)
    assert coef.shape == (30, 3) and not coef.any()
    with pytest.warns(RuntimeWarning, match=PREMATURE):
        assert not sparsenet.omp_gram(D.T @ D, np.zeros(30), n_nonzero_coefs=1).any()


def test_zero_atom_is_never_chosen():
    D = dictionary(16, 30)
    D[:, 7] = 0
    X = np.random.default_rng(7).standard_normal((16, 20))
    coef = sparsenet.omp(D, X, n_nonzero_coefs=5)
    assert not coef[7].any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_same_codes(coef, reference.omp(D, X, n_nonzero_coefs=5), 1e-9)


def test_zero_atom_matches_sklearn():
    orthogonal_mp, _ = sklearn_omp()
    D = dictionary(16, 30)
    D[:, 7] = 0
    X = np.random.default_rng(7).standard_normal((16, 20))
    assert_same_codes(sparsenet.omp(D, X, n_nonzero_coefs=5),
                      orthogonal_mp(D, X, n_nonzero_coefs=5, precompute=True), 1e-9)


def test_readonly_inputs_and_inputs_not_modified():
    D = dictionary(32, 64)
    X = np.random.default_rng(8).standard_normal((32, 10))
    G, DtX = D.T @ D, D.T @ X
    copies = [a.copy() for a in (D, X, G, DtX)]
    for a in (D, X, G, DtX):
        a.flags.writeable = False
    coef = sparsenet.omp(D, X, n_nonzero_coefs=4, copy=False)
    coef_gram = sparsenet.omp_gram(G, DtX, n_nonzero_coefs=4, copy=False)
    np.testing.assert_allclose(coef, coef_gram, rtol=1e-9, atol=1e-12)
    for a, c in zip((D, X, G, DtX), copies):
        np.testing.assert_array_equal(a, c)


def test_default_n_nonzero_coefs():
    D = dictionary(32, 64)
    x = np.random.default_rng(9).standard_normal(32)
    assert np.count_nonzero(sparsenet.omp(D, x)) == 6  # int(0.1 * 64)
    assert np.count_nonzero(sparsenet.omp(dictionary(8, 5), x[:8])) == 1  # at least one
    assert np.count_nonzero(sparsenet.omp_gram(D.T @ D, D.T @ x)) == 6
    with pytest.raises(ValueError, match="n_nonzero_coefs"):  # scikit-learn: int(0.1 * 5) = 0
        sparsenet.omp_gram(np.eye(5), np.ones(5))


# --- layouts, shapes, formats, threads, ISA ---------------------------------------------------------

def test_layouts_and_views_agree():
    D = dictionary(32, 80)
    X = np.random.default_rng(10).standard_normal((32, 40))
    expected = sparsenet.omp(D, X, n_nonzero_coefs=5)
    for variant in (np.asfortranarray(X), np.asfortranarray(D)):
        Dv, Xv = (variant, X) if variant.shape == D.shape else (D, variant)
        np.testing.assert_array_equal(sparsenet.omp(Dv, Xv, n_nonzero_coefs=5), expected)
    wide = np.random.default_rng(10).standard_normal((32, 80))
    wide[:, ::2] = X
    np.testing.assert_array_equal(sparsenet.omp(D, wide[:, ::2], n_nonzero_coefs=5), expected)
    DtX = D.T @ X
    for dtx in (DtX, np.asfortranarray(DtX), np.repeat(DtX, 2, axis=1)[:, ::2]):
        np.testing.assert_allclose(sparsenet.omp_gram(D.T @ D, dtx, n_nonzero_coefs=5), expected,
                                   rtol=1e-9, atol=1e-12)


def test_shapes():
    D = dictionary(16, 30)
    x = np.random.default_rng(11).standard_normal(16)
    assert sparsenet.omp(D, x, n_nonzero_coefs=2).shape == (30,)
    assert sparsenet.omp(D, x[:, None], n_nonzero_coefs=2).shape == (30, 1)
    empty = sparsenet.omp(D, np.zeros((16, 0)), n_nonzero_coefs=2)
    assert empty.shape == (30, 0)
    assert sparsenet.omp(D, np.zeros((16, 0)), n_nonzero_coefs=2, return_format="csc").shape == (30, 0)
    one_atom = sparsenet.omp(np.ones((1, 1)), np.array([3.0]), n_nonzero_coefs=1)
    np.testing.assert_array_equal(one_atom, [3.0])
    ints = sparsenet.omp(np.eye(3, dtype=np.int64), np.array([0, 5, 0]), n_nonzero_coefs=1)
    assert ints.dtype == np.float64 and ints[1] == 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csc_output(dtype):
    D = dictionary(32, 64, dtype=dtype)
    X = np.random.default_rng(12).standard_normal((32, 25)).astype(dtype)
    dense = sparsenet.omp(D, X, n_nonzero_coefs=5)
    csc = sparsenet.omp(D, X, n_nonzero_coefs=5, return_format="csc")
    assert isinstance(csc, sp.csc_array) and csc.dtype == dtype and csc.shape == (64, 25)
    assert csc.has_sorted_indices and csc.nnz == 5 * 25
    np.testing.assert_array_equal(csc.toarray(), dense)
    one = sparsenet.omp(D, X[:, 0], n_nonzero_coefs=5, return_format="csc")
    assert one.shape == (64, 1)
    gram = sparsenet.omp_gram(D.T @ D, D.T @ X, tol=1.0, norms_squared=(X ** 2).sum(axis=0),
                              return_format="csc")
    np.testing.assert_array_equal(gram.toarray(), sparsenet.omp_gram(
        D.T @ D, D.T @ X, tol=1.0, norms_squared=(X ** 2).sum(axis=0)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thread_count_and_isa_do_not_change_results(dtype):
    D = dictionary(40, 200, dtype=dtype)
    X = np.random.default_rng(13).standard_normal((40, 700)).astype(dtype)
    sparsenet.set_num_threads(1)
    one = sparsenet.omp(D, X, n_nonzero_coefs=7)
    one_tol = sparsenet.omp(D, X, tol=5.0)
    sparsenet.set_num_threads(2)
    np.testing.assert_array_equal(sparsenet.omp(D, X, n_nonzero_coefs=7), one)
    np.testing.assert_array_equal(sparsenet.omp(D, X, tol=5.0), one_tol)
    sparsenet.set_isa("baseline")
    portable = sparsenet.omp(D, X, n_nonzero_coefs=7)
    np.testing.assert_array_equal(portable != 0, one != 0)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(portable, one, rtol=tol, atol=tol)


def test_precompute_choices_agree():
    D = dictionary(24, 300)
    x = np.random.default_rng(14).standard_normal(24)
    gram = sparsenet.omp(D, x, n_nonzero_coefs=6, precompute=True)
    rows = sparsenet.omp(D, x, n_nonzero_coefs=6, precompute=False)
    np.testing.assert_array_equal(gram != 0, rows != 0)
    np.testing.assert_allclose(gram, rows, rtol=1e-9, atol=1e-12)



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_features,n_atoms", [(1, 1), (3, 5), (7, 33), (16, 300), (256, 64),
                                                (40, 1000), (0, 9)])
def test_gram_kernel(isa, dtype, n_features, n_atoms):
    """The packed Gram tile (csrc/omp_kernels.h): D^T D, exactly symmetric, zero past n_atoms,
    the same on 1 and 2 threads, over sizes that leave partial row blocks, panels and groups."""
    from sparsenet import _omp, backend

    D = np.random.default_rng(n_atoms).standard_normal((n_features, n_atoms)).astype(dtype)
    row_length = _omp.row_length(n_atoms)
    D_padded = np.zeros((n_features, row_length), dtype)
    D_padded[:, :n_atoms] = D
    grams = []
    for threads in (1, 2):
        G = np.full((n_atoms, row_length), np.nan, dtype)  # every entry must be written
        _omp.gram(backend.native_options()[0], threads, D_padded, n_atoms, G)
        grams.append(G)
    np.testing.assert_array_equal(grams[0], grams[1])
    G = grams[0]
    np.testing.assert_array_equal(G[:, n_atoms:], 0)
    np.testing.assert_array_equal(G[:, :n_atoms], G[:, :n_atoms].T)
    expected = D.T.astype(np.float64) @ D.astype(np.float64)
    tol = (1e-5 if dtype == np.float32 else 1e-13) * max(n_features, 1)
    np.testing.assert_allclose(G[:, :n_atoms], expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_a_signal_coded_alone_or_in_a_batch_is_the_same_numbers(isa, dtype, order):
    """D^T X is computed in register tiles of 6, 4, 2 and 1 signals (csrc/dtx_panels.h); each entry
    is one chain over the features whatever the tile, so a signal's code does not depend on how
    many signals share its call (batches of 1 to 13 leave every remainder; 140 crosses a block)."""
    D = dictionary(20, 70, dtype=dtype)
    X, _ = sparse_signals(D, 140, 4, noise=0.1)
    X = np.asarray(X, dtype=dtype, order=order)
    alone = np.column_stack([sparsenet.omp(D, X[:, j], n_nonzero_coefs=6) for j in range(140)])
    for n in list(range(1, 14)) + [140]:
        batch = sparsenet.omp(D, np.asarray(X[:, :n], order=order), n_nonzero_coefs=6)
        np.testing.assert_array_equal(batch, alone[:, :n])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gram_and_rows_from_the_dictionary_are_the_same_numbers(isa, dtype):
    """The Gram tile and the rows computed from D (precompute=False) sum each entry in the same
    order, so the two paths give bit-identical codes (a few signals of a dictionary whose rows of
    G fall into full tiles, diagonal tiles and mirrored halves)."""
    D = dictionary(48, 333, dtype=dtype)
    X, _ = sparse_signals(D, 6, 9, noise=0.1)
    for kwargs in ({"n_nonzero_coefs": 20}, {"tol": 0.01}):
        gram = sparsenet.omp(D, X, precompute=True, **kwargs)
        rows = sparsenet.omp(D, X, precompute=False, **kwargs)
        np.testing.assert_array_equal(gram, rows)


def test_auto_precompute_rule():
    """precompute="auto": the Gram matrix once the signals would compute a quarter of its rows
    (benchmarks/omp_small_batch.py --crossover), never above 1 GiB."""
    from sparsenet.omp import precompute_gram

    assert not precompute_gram(1024, 256, 7, 32, None, np.float64)
    assert precompute_gram(1024, 256, 8, 32, None, np.float64)  # 4 * 8 * 32 >= 1024
    assert precompute_gram(1024, 256, 50, 32, None, np.float32)  # O2 at 50 signals
    assert not precompute_gram(256, 64, 7, 8, None, np.float64)
    assert precompute_gram(256, 64, 8, 8, None, np.float64)
    assert not precompute_gram(20000, 64, 10**6, 8, None, np.float64)  # 3.2 GB of Gram matrix

# --- bad input ------------------------------------------------------------------------------------

def test_bad_arguments():
    D = dictionary(8, 10)
    x = np.ones(8)
    with pytest.raises(ValueError, match="n_nonzero_coefs must be <= n_atoms = 10"):
        sparsenet.omp(D, x, n_nonzero_coefs=11)
    with pytest.raises(ValueError, match="n_nonzero_coefs must be <= n_atoms"):
        sparsenet.omp_gram(D.T @ D, D.T @ x, n_nonzero_coefs=11)
    sparsenet.omp(D, x, n_nonzero_coefs=11, tol=1.0)  # tol overrides it, as in scikit-learn
    with pytest.raises(ValueError, match="n_nonzero_coefs"):
        sparsenet.omp(D, x, n_nonzero_coefs=0)
    with pytest.raises(TypeError, match="n_nonzero_coefs"):
        sparsenet.omp(D, x, n_nonzero_coefs=2.5)
    with pytest.raises(ValueError, match="tol"):
        sparsenet.omp(D, x, tol=-1.0)
    with pytest.raises(ValueError, match="tol"):
        sparsenet.omp(D, x, tol=float("nan"))
    with pytest.raises(TypeError, match="tol"):
        sparsenet.omp(D, x, tol="small")
    with pytest.raises(ValueError, match="precompute"):
        sparsenet.omp(D, x, precompute="yes")
    with pytest.raises(ValueError, match="return_format"):
        sparsenet.omp(D, x, return_format="csr")
    with pytest.raises(TypeError, match="copy"):
        sparsenet.omp(D, x, copy="no")
    with pytest.raises(ValueError, match="X.shape"):
        sparsenet.omp(D, np.ones(7))
    with pytest.raises(ValueError, match="D must be 2-D"):
        sparsenet.omp(np.ones(8), x)
    with pytest.raises(ValueError, match="X must be"):
        sparsenet.omp(D, np.ones((8, 2, 2)))
    with pytest.raises(ValueError, match="at least one"):
        sparsenet.omp(np.ones((8, 0)), x, tol=1.0)
    with pytest.raises(TypeError, match="D"):
        sparsenet.omp(D.astype(complex), x)
    with pytest.raises(TypeError, match="dense"):
        sparsenet.omp(sp.csr_array(D), x)
    with pytest.raises(ValueError, match="G must be a non-empty square"):
        sparsenet.omp_gram(np.ones((3, 4)), np.ones(3))
    with pytest.raises(ValueError, match="DtX.shape"):
        sparsenet.omp_gram(np.eye(10), np.ones(9))
    with pytest.raises(ValueError, match="norms_squared"):
        sparsenet.omp_gram(np.eye(10), np.ones(10), tol=1.0)
    with pytest.raises(ValueError, match="norms_squared"):
        sparsenet.omp_gram(np.eye(10), np.ones((10, 3)), tol=1.0, norms_squared=np.ones(2))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_raises(bad):
    D = dictionary(8, 10)
    x = np.ones(8)
    x_bad = x.copy()
    x_bad[3] = bad
    D_bad = D.copy()
    D_bad[2, 2] = bad
    with pytest.raises(ValueError, match="X must not contain NaN"):
        sparsenet.omp(D, x_bad)
    with pytest.raises(ValueError, match="D must not contain NaN"):
        sparsenet.omp(D_bad, x)
    with pytest.raises(ValueError, match="DtX must not contain NaN"):
        sparsenet.omp_gram(D.T @ D, np.full(10, bad))
    with pytest.raises(ValueError, match="norms_squared"):
        sparsenet.omp_gram(D.T @ D, D.T @ x, tol=1.0, norms_squared=bad)


def test_huge_finite_values_are_not_rejected():
    D = np.eye(4)
    x = np.array([1e308, 1e308, -1e308, -1e308])  # their sum is not finite, the values are
    coef = sparsenet.omp(D, x, n_nonzero_coefs=1)
    np.testing.assert_array_equal(coef, [1e308, 0, 0, 0])


def test_gram_rows_from_the_dictionary_with_tol_and_float32():
    for dtype, rtol in ((np.float64, 1e-9), (np.float32, 1e-4)):
        D = dictionary(16, 300, dtype=dtype)
        X, _ = sparse_signals(D, 3, 3, noise=0.05)
        for kwargs in ({"tol": 0.05}, {"n_nonzero_coefs": 4}):
            rows = sparsenet.omp(D, X, precompute=False, **kwargs)
            gram = sparsenet.omp(D, X, precompute=True, **kwargs)
            assert rows.dtype == dtype
            np.testing.assert_array_equal(rows != 0, gram != 0)
            np.testing.assert_allclose(rows, gram, rtol=rtol, atol=rtol)


def test_csc_with_signals_of_different_lengths():
    D = dictionary(16, 40)
    X = np.random.default_rng(15).standard_normal((16, 6))
    X[:, 2] = 0  # stops at once
    X[:, 4] = D[:, 3]  # one atom explains it
    with pytest.warns(RuntimeWarning, match=PREMATURE):
        dense = sparsenet.omp(D, X, tol=1e-6)
    with pytest.warns(RuntimeWarning, match=PREMATURE):
        csc = sparsenet.omp(D, X, tol=1e-6, return_format="csc")
    np.testing.assert_array_equal(csc.toarray(), dense)
    counts = np.diff(csc.indptr)
    assert counts[2] == 0 and counts[4] == 1 and csc.has_sorted_indices


@pytest.mark.parametrize("backend", ["native", "numpy"])
def test_warning_points_at_the_caller(backend):
    """On both backends, for omp and omp_gram (on the numpy backend omp_gram's warning named a
    line of sparsenet/omp.py: the reference warned where omp_gram called it)."""
    D = dictionary(8, 10)
    with sparsenet.use_backend(backend):
        for call in (lambda: sparsenet.omp(D, np.zeros(8), n_nonzero_coefs=1),
                     lambda: sparsenet.omp_gram(D.T @ D, np.zeros(10), n_nonzero_coefs=1)):
            with pytest.warns(RuntimeWarning, match=PREMATURE) as record:
                call()
            assert [w.filename for w in record] == [__file__]


# --- a degenerate Cholesky pivot: one rule on both backends (sparsenet._policy) --------------------

def _rank_deficient_case():
    """The atheris finding: 8 unit atoms in 5 features (G = D^T D of rank 5), correlations rounded
    to integers and the signals' true squared norms, so that `tol` is never met and the pursuit
    runs into the atom past the rank, whose pivot is rounding noise: about 2e-14 for signals 0 and
    2, and +-1e-9 for signal 1, whose 5th atom (pivot 2.7e-6) leaves G[S, S] ill-conditioned."""
    D = np.random.default_rng(1).standard_normal((5, 8))
    D /= np.linalg.norm(D, axis=0)
    X = np.random.default_rng(2).standard_normal((5, 3))
    return D.T @ D, np.trunc(D.T @ X), (X ** 2).sum(0)


def _support_sizes(coef):
    return np.count_nonzero(np.asarray(coef), axis=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rank_deficient_gram_stops_at_the_rank_on_both_backends(dtype):
    G, DtX, norms = (a.astype(dtype) for a in _rank_deficient_case())
    with pytest.warns(RuntimeWarning, match=PREMATURE):
        native = sparsenet.omp_gram(G, DtX, tol=0.1, norms_squared=norms)
    with pytest.warns(RuntimeWarning, match=PREMATURE):
        ours_reference = reference.omp_gram(G, DtX, tol=0.1, norms_squared=norms)
    # never more atoms than the rank; the same atoms on both backends
    assert _support_sizes(native).max() <= 5
    np.testing.assert_array_equal(native != 0, ours_reference != 0)
    # the coefficients solve G[S, S] gamma = DtX[S] on the common support, each to its own rounding
    # (signal 1's G[S, S] has a condition number near 1e7: the two solvers differ by ~cond * eps)
    for j in range(DtX.shape[1]):
        support = np.flatnonzero(native[:, j])
        G_SS = G[np.ix_(support, support)].astype(np.float64)
        rtol = 64 * np.finfo(dtype).eps * np.linalg.cond(G_SS)
        np.testing.assert_allclose(native[support, j], ours_reference[support, j], rtol=rtol)


def test_rank_deficient_gram_native_stops_where_sklearn_takes_noise():
    """scikit-learn stops at pivot <= eps (absolute); on signals 0 and 2 its noise pivot (~2e-14)
    passes, it takes a 6th atom of a rank-5 Gram matrix and its coefficients blow up (~1e15).
    sparsenet stops there (pivot <= sqrt(eps) * G[lam, lam]); where scikit-learn also stops at
    the rank (signal 1), the two agree."""
    _, orthogonal_mp_gram = sklearn_omp()
    G, DtX, norms = _rank_deficient_case()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ours = sparsenet.omp_gram(G, DtX, tol=0.1, norms_squared=norms)
        theirs = orthogonal_mp_gram(G, DtX, tol=0.1, norms_squared=norms)
    assert _support_sizes(ours).tolist() == [5, 5, 5]
    assert np.abs(ours[:, [0, 2]]).max() < 1e3
    if _support_sizes(theirs).tolist() == [6, 5, 6]:  # the behaviour described above (sklearn 1.9)
        assert np.abs(theirs[:, [0, 2]]).max() > 1e10
    np.testing.assert_array_equal(ours[:, 1] != 0, theirs[:, 1] != 0)
    np.testing.assert_allclose(ours[:, 1], theirs[:, 1], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(8))
def test_near_dependent_atoms_take_the_same_support_on_both_backends(dtype, seed):
    """An atom a small distance from another's span (sin^2 of the angle 1e-3 .. 1e-12) and a pursuit
    run to the rank: both backends decide each pivot by the same relative rule (away from its
    threshold sqrt(eps) by a factor >= 30 here, so rounding cannot put them on opposite sides)."""
    rng = np.random.default_rng(seed)
    n_features, n_atoms = 6, 12
    D = rng.standard_normal((n_features, n_atoms))
    sin2 = 10.0 ** -rng.choice([3, 12] if dtype == np.float64 else [1.5, 6])
    D[:, 1] = D[:, 0] + np.sqrt(sin2) * rng.standard_normal(n_features)
    D /= np.linalg.norm(D, axis=0)
    D = D.astype(dtype)
    X = rng.standard_normal((n_features, 4)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        native = sparsenet.omp(D, X, tol=0.0)
        ours_reference = reference.omp(D, X, tol=0.0)
        native_gram = sparsenet.omp_gram(D.T @ D, D.T @ X, tol=0.0,
                                         norms_squared=(X.astype(np.float64) ** 2).sum(0))
    assert _support_sizes(native).max() <= n_features
    np.testing.assert_array_equal(native != 0, ours_reference != 0)
    np.testing.assert_array_equal(native != 0, native_gram != 0)


# --- return_format="csc": memory in proportion to the atoms chosen --------------------------------

@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("stop", [{"tol": 0.05}, {"n_nonzero_coefs": 3}])
def test_csc_in_chunks_equals_dense(monkeypatch, layout, stop):
    """The CSC path runs the kernel on chunks of signals read in place (offset views of X or DtX in
    either layout); with chunks of 1 to 7 signals the result is the dense one, bit for bit."""
    import importlib

    omp_module = importlib.import_module("sparsenet.omp")  # the module, not the function
    D = dictionary(16, 40, seed=3)
    X = np.asarray(sparse_signals(D, 23, 3, seed=4)[0], order=layout)
    DtX = np.asarray(D.T @ X, order=layout)
    norms = (X ** 2).sum(0)
    gram_stop = dict(stop, norms_squared=norms) if "tol" in stop else stop
    dense = sparsenet.omp(D, X, **stop)
    dense_gram = sparsenet.omp_gram(D.T @ D, DtX, **gram_stop)
    for slots in (1, 16, 40, 7 * 40, 10**6):
        monkeypatch.setattr(omp_module, "_CSC_SLOTS", slots)
        coef = sparsenet.omp(D, X, return_format="csc", **stop)
        coef_gram = sparsenet.omp_gram(D.T @ D, DtX, return_format="csc", **gram_stop)
        assert isinstance(coef, sp.csc_array) and coef.shape == (40, 23)
        np.testing.assert_array_equal(coef.toarray(), dense)
        np.testing.assert_array_equal(coef_gram.toarray(), dense_gram)
        assert coef.nnz == np.count_nonzero(dense)


def test_csc_with_tol_memory_grows_with_the_atoms_chosen():
    """omp_gram with tol and return_format="csc", 1024 float32 atoms, 20,000 signals of 3 atoms
    each: the kernel's output slots were n_signals x max_atoms = n_signals x n_atoms (160 MiB of
    values and atom indices) before the chosen 60,000 were kept; chunks of signals bound them.
    Run in a fresh process so that the peak resident size measures this call alone."""
    script = textwrap.dedent("""
        import resource, numpy as np, sparsenet
        n_atoms, n_signals = 1024, 20000
        rng = np.random.default_rng(0)
        G = np.eye(n_atoms, dtype=np.float32)
        DtX = np.zeros((n_atoms, n_signals), np.float32)
        for j in range(3):
            DtX[rng.integers(0, n_atoms, n_signals), np.arange(n_signals)] = 1 + j
        norms = np.einsum("ij,ij->j", DtX, DtX)  # no temporary as large as DtX: it sets the peak
        small = sparsenet.omp_gram(G, DtX[:, :64], tol=1e-3, norms_squared=norms[:64],
                                   return_format="csc")  # the same code paths, warmed up
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        coef = sparsenet.omp_gram(G, DtX, tol=1e-3, norms_squared=norms, return_format="csc")
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        assert coef.nnz == np.count_nonzero(DtX), (coef.nnz, np.count_nonzero(DtX))
        assert np.array_equal(coef[:, :5000].toarray(), DtX[:, :5000])
        print(grown)
    """)
    grown_mib = float(subprocess.run([sys.executable, "-c", script], capture_output=True,
                                     text=True, check=True).stdout.split()[0])
    assert grown_mib <= 48, f"peak resident memory grew by {grown_mib:.0f} MiB"
