"""Batch LASSO: sparsenet.lasso / lasso_gram against scikit-learn's sparse_encode(lasso_cd), the
NumPy reference and the optimality conditions."""
import warnings

import numpy as np
import pytest

import sparsenet
from sparsenet import reference


def objective(D, X, A, alpha):
    R = X - D @ A
    return 0.5 * (R * R).sum(axis=0) + alpha * np.abs(A).sum(axis=0)


def problem(n_features=20, n_atoms=40, n_signals=60, k=4, noise=0.05, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_features, n_atoms))
    D /= np.linalg.norm(D, axis=0)
    codes = np.zeros((n_atoms, n_signals))
    for j in range(n_signals):
        codes[rng.choice(n_atoms, k, replace=False), j] = rng.standard_normal(k)
    X = D @ codes + noise * rng.standard_normal((n_features, n_signals))
    return D.astype(dtype), X.astype(dtype)


def kkt_violation(D, X, A, alpha, positive=False):
    """Largest violation of the LASSO optimality conditions, relative to alpha."""
    C = D.T @ (X - D @ A)
    nonzero = A != 0
    on = np.where(nonzero, np.abs(C - alpha * np.sign(A)), 0)
    if positive:
        off = np.where(nonzero, 0, np.maximum(C - alpha, 0))
    else:
        off = np.where(nonzero, 0, np.maximum(np.abs(C) - alpha, 0))
    return max(on.max(), off.max()) / alpha


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.5])
def test_against_sklearn_objective(alpha, positive):
    decomposition = pytest.importorskip("sklearn.decomposition")
    D, X = problem()
    # alpha = 0.01 on 40 atoms in 20 dimensions converges slowly for both: a larger budget
    ours = sparsenet.lasso(D, X, alpha, positive=positive, max_iter=20000)
    theirs = decomposition.sparse_encode(X.T, D.T, algorithm="lasso_cd", alpha=alpha,
                                         positive=positive, max_iter=20000).T
    f_ours, f_theirs = objective(D, X, ours, alpha), objective(D, X, theirs, alpha)
    assert (f_ours <= f_theirs * (1 + 1e-6) + 1e-12).all()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert kkt_violation(D, X, ours, alpha, positive) < 1e-5
    if positive:
        assert (ours >= 0).all()


def test_alpha_is_sklearn_lasso_alpha_times_n_features():
    linear_model = pytest.importorskip("sklearn.linear_model")
    D, X = problem(n_signals=1)
    alpha = 0.2
    model = linear_model.Lasso(alpha=alpha / D.shape[0], fit_intercept=False, tol=1e-12,
                               max_iter=100000).fit(D, X[:, 0])
    np.testing.assert_allclose(sparsenet.lasso(D, X[:, 0], alpha), model.coef_, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("positive", [False, True])
def test_against_reference(dtype, positive):
    D, X = problem(dtype=dtype, seed=1)
    alpha = 0.1
    ours = sparsenet.lasso(D, X, alpha, positive=positive)
    ref = reference.lasso(D, X, alpha, positive=positive, tol=1e-10 if dtype == np.float64 else 1e-6)
    assert ours.dtype == dtype and ours.shape == (D.shape[1], X.shape[1])
    assert ours.flags.f_contiguous
    atol = 1e-6 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(ours, ref, atol=atol)
    with sparsenet.use_backend("numpy"):
        np.testing.assert_allclose(sparsenet.lasso(D, X, alpha, positive=positive), ref, atol=atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_isa_level_against_reference(dtype, isa):
    """Supports of 21 to 43 atoms: several of the sweeps' vectors (2 to 16 lanes) at each level."""
    D, X = problem(n_features=48, n_atoms=96, k=20, dtype=dtype, seed=1)
    alpha = 0.1
    ref = reference.lasso(D, X, alpha, tol=1e-10 if dtype == np.float64 else 1e-6)
    ours = sparsenet.lasso(D, X, alpha)
    assert np.count_nonzero(ours, axis=0).max() > 32
    np.testing.assert_allclose(ours, ref, atol=1e-6 if dtype == np.float64 else 2e-3)


def test_gram_matches_lasso_in_every_layout():
    D, X = problem(seed=2)
    alpha = 0.05
    expected = sparsenet.lasso(D, X, alpha)
    G, DtX = D.T @ D, D.T @ X
    norms = (X * X).sum(axis=0)
    for B in (DtX, np.asfortranarray(DtX), DtX[:, ::1].copy(order="C"), np.asfortranarray(DtX)[:, :]):
        np.testing.assert_allclose(sparsenet.lasso_gram(G, B, alpha, norms_squared=norms), expected,
                                   atol=1e-9)
    # without norms: the coefficient-change and optimality rules alone
    np.testing.assert_allclose(sparsenet.lasso_gram(G, DtX, alpha), expected, atol=1e-6)
    np.testing.assert_allclose(sparsenet.lasso_gram(G, DtX[:, 3], alpha), expected[:, 3], atol=1e-6)


def test_supports_beyond_the_exact_solve():
    """Supports of more than 128 atoms (csrc/coding.c LASSO_NEWTON_MAX): the sweeps read G_AA from
    the rows of G, and no exact solve is tried."""
    decomposition = pytest.importorskip("sklearn.decomposition")
    D, X = problem(n_features=400, n_atoms=300, n_signals=6, k=180, noise=0.01, seed=12)
    alpha = 0.002
    ours = sparsenet.lasso(D, X, alpha, max_iter=5000)
    assert (np.count_nonzero(ours, axis=0) > 128).all()
    theirs = decomposition.sparse_encode(X.T, D.T, algorithm="lasso_cd", alpha=alpha,
                                         max_iter=5000).T
    assert (objective(D, X, ours, alpha) <= objective(D, X, theirs, alpha) * (1 + 1e-6)).all()
    assert kkt_violation(D, X, ours, alpha) < 1e-4


@pytest.mark.parametrize("max_iter", [1, 2, 3, 1000])
def test_signals_do_not_depend_on_their_neighbours(max_iter):
    """A signal stopped by the budget leaves nothing behind in its thread's scratch: coded alone or
    beside others, every signal gets the same coefficients."""
    D, X = problem(n_signals=40, seed=13)
    G, DtX, norms = D.T @ D, D.T @ X, (X * X).sum(axis=0)  # the same inputs for both
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sparsenet.ConvergenceWarning)
        batch = sparsenet.lasso_gram(G, DtX, 0.02, norms_squared=norms, max_iter=max_iter)
        for j in (0, 17, 39):
            alone = sparsenet.lasso_gram(G, DtX[:, j], 0.02, norms_squared=norms[j:j + 1],
                                         max_iter=max_iter)
            np.testing.assert_array_equal(alone, batch[:, j])


def test_one_signal_and_strided_input():
    D, X = problem(seed=3)
    full = sparsenet.lasso(D, X, 0.1)
    np.testing.assert_allclose(sparsenet.lasso(D, X[:, 5], 0.1), full[:, 5], atol=1e-12)
    np.testing.assert_allclose(sparsenet.lasso(D, X[:, ::2], 0.1), full[:, ::2], atol=1e-12)


def test_alpha_zero_is_least_squares():
    D, X = problem(n_features=30, n_atoms=10, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no duality gap at alpha = 0: the change rule decides
        ours = sparsenet.lasso(D, X, 0.0)
    np.testing.assert_allclose(ours, np.linalg.lstsq(D, X, rcond=None)[0], atol=1e-6)


def test_huge_alpha_gives_zero_and_zero_signal():
    D, X = problem(seed=5)
    alpha = np.abs(D.T @ X).max() * 1.01
    assert not sparsenet.lasso(D, X, alpha).any()
    X[:, 0] = 0
    assert not sparsenet.lasso(D, X, 0.1)[:, 0].any()


def test_zero_atom_gets_zero_coefficients():
    D, X = problem(seed=6)
    D[:, 3] = 0
    A = sparsenet.lasso(D, X, 0.05)
    assert not A[3].any()
    assert kkt_violation(D, X, A, 0.05) < 1e-5


def test_identical_atoms_converge():
    D, X = problem(seed=7)
    D[:, 1] = D[:, 0]
    A = sparsenet.lasso(D, X, 0.05)
    assert kkt_violation(D, X, A, 0.05) < 1e-5


def test_thread_count_does_not_change_results():
    D, X = problem(n_signals=500, seed=8)
    results = []
    for threads in (1, 2, 3):
        sparsenet.set_num_threads(threads)
        results.append(sparsenet.lasso(D, X, 0.05))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_max_iter_warns():
    D, X = problem(seed=9)
    with pytest.warns(sparsenet.ConvergenceWarning, match="did not converge"):
        sparsenet.lasso(D, X, 0.01, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sparsenet.lasso(D, X, 0.1)


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("gram", [False, True])
def test_signals_already_optimal_at_zero_converge_in_one_sweep(backend, gram):
    """A zero signal, and one whose correlations all lie within alpha, are optimal at 0: with a
    budget of one sweep they are not reported unconverged (scikit-learn does not warn either)."""
    D, X = problem(seed=3)
    X[:, 0] = 0
    X[:, 1] *= 1e-3  # |D^T x| well under alpha
    X = X[:, :2]
    with sparsenet.use_backend(backend), warnings.catch_warnings():
        warnings.simplefilter("error")
        if gram:
            A = sparsenet.lasso_gram(D.T @ D, D.T @ X, 0.5, norms_squared=(X * X).sum(axis=0),
                                     max_iter=1)
        else:
            A = sparsenet.lasso(D, X, 0.5, max_iter=1)
    np.testing.assert_array_equal(A, 0)


@pytest.mark.parametrize("backend", ["native", "numpy"])
def test_convergence_warning_points_at_the_callers_line(backend):
    """One warning per call, naming the line that called lasso / lasso_gram (here, this file), not
    sparsenet's code; the same words from both backends."""
    D, X = problem(seed=9)
    G, DtX, norms = D.T @ D, D.T @ X, (X * X).sum(axis=0)
    with sparsenet.use_backend(backend):
        for call in (lambda: sparsenet.lasso(D, X, 0.01, max_iter=1),
                     lambda: sparsenet.lasso_gram(G, DtX, 0.01, norms_squared=norms, max_iter=1)):
            with pytest.warns(sparsenet.ConvergenceWarning) as record:
                call()
            assert [w.filename for w in record] == [__file__]
            assert str(record[0].message).startswith(
                "lasso: 60 of 60 signals did not converge in max_iter=1 sweeps (duality gap above "
                "tol=1e-08 times ||x||^2)")


def test_warm_start_reaches_the_same_answer():
    D, X = problem(seed=10)
    cold = sparsenet.lasso(D, X, 0.1)
    warm = sparsenet.lasso(D, X, 0.1, init=sparsenet.lasso(D, X, 0.2))
    np.testing.assert_allclose(warm, cold, atol=1e-6)
    assert kkt_violation(D, X, warm, 0.1) < 1e-5


def test_inputs_not_modified_and_readonly():
    D, X = problem(seed=11)
    D.flags.writeable = False
    X.flags.writeable = False
    D0, X0 = D.copy(), X.copy()
    sparsenet.lasso(D, X, 0.1)
    np.testing.assert_array_equal(D, D0)
    np.testing.assert_array_equal(X, X0)


def test_bad_arguments():
    D, X = problem()
    with pytest.raises(ValueError, match="alpha"):
        sparsenet.lasso(D, X, -1.0)
    with pytest.raises(TypeError, match="alpha"):
        sparsenet.lasso(D, X, "1")
    with pytest.raises(ValueError, match="max_iter"):
        sparsenet.lasso(D, X, 0.1, max_iter=0)
    with pytest.raises(ValueError, match="tol"):
        sparsenet.lasso(D, X, 0.1, tol=float("nan"))
    with pytest.raises(TypeError, match="positive"):
        sparsenet.lasso(D, X, 0.1, positive=1)
    with pytest.raises(ValueError, match="shape mismatch"):
        sparsenet.lasso(D, X[:-1], 0.1)
    with pytest.raises(ValueError, match="init"):
        sparsenet.lasso(D, X, 0.1, init=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        sparsenet.lasso(D, np.full_like(X, np.nan), 0.1)
    with pytest.raises(ValueError, match="norms_squared"):
        sparsenet.lasso_gram(D.T @ D, D.T @ X, 0.1, norms_squared=np.ones(2))
    with pytest.raises(ValueError, match="square"):
        sparsenet.lasso_gram(D, D.T @ X, 0.1)
    with pytest.raises(TypeError, match="X"):
        sparsenet.lasso(D, X.astype(complex), 0.1)


def _misaligned(a):
    """A copy of `a` (same layout) whose data starts one byte past an aligned address, as an array
    a Dask worker deserialises from a byte buffer can."""
    raw = np.empty(a.nbytes + 1, dtype=np.uint8)
    view = np.frombuffer(raw.data, dtype=a.dtype, count=a.size, offset=1)
    view = view.reshape(a.shape, order="F" if a.flags.f_contiguous and not a.flags.c_contiguous
                        else "C")
    view[...] = a
    return view


@pytest.mark.parametrize("order", ["C", "F"])
def test_lasso_gram_reads_misaligned_inputs_as_aligned(order):
    rng = np.random.default_rng(3)
    D = rng.standard_normal((16, 24))
    D /= np.linalg.norm(D, axis=0)
    X = rng.standard_normal((16, 30))
    G, DtX, norms = D.T @ D, np.asarray(D.T @ X, order=order), (X ** 2).sum(axis=0)
    expected = sparsenet.lasso_gram(G, DtX, 0.2, norms_squared=norms)
    odd = [_misaligned(a) for a in (G, DtX, norms)]
    assert not any(a.flags.aligned for a in odd)
    np.testing.assert_array_equal(sparsenet.lasso_gram(odd[0], odd[1], 0.2, norms_squared=odd[2]),
                                  expected)
    assert np.array_equal(sparsenet.ksvd(_misaligned(np.asfortranarray(X)), 8, 2, max_iter=2,
                                         random_state=0)[0],
                          sparsenet.ksvd(X, 8, 2, max_iter=2, random_state=0)[0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lasso_reads_signals_in_every_layout(dtype):
    """The kernel computes D^T x block by block from X read in place (C or F order, a view at an
    odd offset): the same arithmetic whatever the layout, so the same bits; 70 signals leave a
    partial block (32 signals) and a partial register tile (4 signals)."""
    D, X = problem(n_features=13, n_atoms=45, n_signals=70, seed=5, dtype=dtype)
    expected = sparsenet.lasso(D, X, 0.05)
    for signals in (np.asfortranarray(X), _misaligned(X), _misaligned(np.asfortranarray(X)),
                    np.repeat(X, 2, axis=1)[:, ::2]):
        np.testing.assert_array_equal(sparsenet.lasso(D, signals, 0.05), expected)
    G, DtX = D.T @ D, D.T @ X
    norms = (X * X).sum(axis=0)
    np.testing.assert_allclose(sparsenet.lasso_gram(G, DtX, 0.05, norms_squared=norms), expected,
                               atol=1e-9 if dtype == np.float64 else 1e-4)
