"""sparsenet.sklearn: SparseCoder and KSVD pass scikit-learn's estimator checks, agree with
scikit-learn's SparseCoder, and work in Pipeline and GridSearchCV."""
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.decomposition import SparseCoder as SklearnSparseCoder  # noqa: E402
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import sparsenet  # noqa: E402
from sparsenet.sklearn import KSVD, SparseCoder  # noqa: E402

# The estimator checks feed data of several widths and a fixed dictionary must match each
# (scikit-learn sets its own SparseCoder's dictionary per check). For a SparseCoder, each check runs
# with the first width, of those scikit-learn's own tests use, whose data the dictionary fits; any
# other failure fails the test at once.
WIDTHS = (3, 2, 4, 5, 8, 10, 1)


def _is_width_mismatch(error):
    text = str(error)
    return "different numbers of features" in text or "features, but SparseCoder is expecting" in text


def _run_with_matching_dictionary(estimator, check):
    for width in WIDTHS:
        dictionary = np.random.default_rng(0).normal(size=(5, width))
        if "preserve_dtypes" in getattr(check, "func", check).__name__:
            dictionary = dictionary.astype(np.float32)
        try:
            check(estimator.set_params(dictionary=dictionary))
            return
        except (ValueError, AssertionError) as error:
            if not _is_width_mismatch(error) and not _is_width_mismatch(error.__cause__ or ""):
                raise
    raise AssertionError("no dictionary width fits the check's data")


@parametrize_with_checks([SparseCoder(np.random.default_rng(0).normal(size=(5, 3))),
                          SparseCoder(np.random.default_rng(0).normal(size=(5, 3)),
                                      transform_algorithm="lasso_cd"),
                          KSVD(n_components=4, max_iter=3, random_state=0)])
def test_sklearn_compatible(estimator, check):
    if isinstance(estimator, SparseCoder):
        _run_with_matching_dictionary(estimator, check)
    else:
        check(estimator)


@pytest.mark.parametrize("algorithm", ["omp", "lasso_cd", "threshold"])
@pytest.mark.parametrize("positive", [False, True])
def test_same_codes_as_sklearn_sparsecoder(algorithm, positive):
    if algorithm == "omp" and positive:
        pytest.skip("scikit-learn's omp has no positive codes")
    rng = np.random.default_rng(1)
    dictionary = rng.standard_normal((30, 16))
    dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    X = rng.standard_normal((40, 16))
    params = dict(transform_algorithm=algorithm, transform_alpha=0.2, transform_n_nonzero_coefs=3,
                  positive_code=positive, split_sign=True)
    ours = SparseCoder(dictionary, **params).fit_transform(X)
    theirs = SklearnSparseCoder(dictionary, **params).fit_transform(X)
    # lasso: 30 atoms in 16 dimensions, both stopped by a duality gap of 1e-8 ||x||^2
    np.testing.assert_allclose(ours, theirs, atol=1e-5 if algorithm == "lasso_cd" else 1e-9)
    coder = SparseCoder(dictionary, **params)
    np.testing.assert_allclose(coder.inverse_transform(ours),
                               SklearnSparseCoder(dictionary, **params).inverse_transform(theirs),
                               atol=1e-5)


def test_sklearn_default_omp_sparsity():
    rng = np.random.default_rng(2)
    dictionary = rng.standard_normal((30, 25))
    dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    X = rng.standard_normal((10, 25))
    np.testing.assert_allclose(SparseCoder(dictionary).transform(X),
                               SklearnSparseCoder(dictionary).transform(X), atol=1e-10)


def test_ksvd_attributes_and_transform():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 10))
    model = KSVD(n_components=15, n_nonzero_coefs=3, max_iter=5, random_state=0).fit(X)
    assert model.components_.shape == (15, 10)
    np.testing.assert_allclose(np.linalg.norm(model.components_, axis=1), 1, atol=1e-12)
    assert model.n_iter_ == 5 and model.error_.shape == (5,)
    code = model.transform(X)
    assert (np.count_nonzero(code, axis=1) <= 3).all()
    np.testing.assert_allclose(model.fit_transform(X), code)
    lasso_code = model.set_params(transform_algorithm="lasso_cd", transform_alpha=0.1).transform(X)
    assert lasso_code.shape == (300, 15)


def test_ksvd_transform_codes_to_tol_as_fit_does():
    """With both n_nonzero_coefs and tol, fit codes to tol (it overrides); transform did 2 atoms."""
    X = np.random.default_rng(4).standard_normal((300, 16))
    model = KSVD(32, n_nonzero_coefs=2, tol=2.0, max_iter=3, random_state=0).fit(X)
    code = model.transform(X)
    residual = ((X - code @ model.components_) ** 2).sum(axis=1)
    assert residual.max() <= 2.0 * (1 + 1e-9) and np.count_nonzero(code, axis=1).max() > 2


def test_refusals_as_sklearn():
    rng = np.random.default_rng(5)
    D = rng.standard_normal((8, 5))
    X = rng.standard_normal((20, 5))
    with pytest.raises(ValueError, match="Positive constraint not supported for 'omp'"):
        SparseCoder(D, positive_code=True).transform(X)
    with pytest.raises(ValueError, match="Positive constraint not supported for 'omp'"):
        SklearnSparseCoder(D, positive_code=True).transform(X)  # the same words
    for bad in (np.nan, np.inf):
        D_bad = D.copy()
        D_bad[2, 3] = bad
        with pytest.raises(ValueError, match="dictionary must be finite"):
            SparseCoder(D_bad, transform_algorithm="threshold").transform(X)


def test_pipeline_and_grid_search():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((120, 8))
    y = X @ rng.standard_normal(8) + 0.1 * rng.standard_normal(120)
    pipe = make_pipeline(KSVD(n_components=12, max_iter=2, random_state=0), Ridge(alpha=1e-3))
    search = GridSearchCV(pipe, {"ksvd__n_nonzero_coefs": [1, 4],
                                 "ksvd__transform_algorithm": ["omp", "lasso_cd"]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["ksvd__n_nonzero_coefs"] in (1, 4)
    coder_pipe = make_pipeline(SparseCoder(rng.standard_normal((10, 8)),
                                           transform_algorithm="lasso_cd"), Ridge())
    GridSearchCV(coder_pipe, {"sparsecoder__transform_alpha": [0.01, 0.1]}, cv=3).fit(X, y)


def _lasso_problem(seed=6):
    rng = np.random.default_rng(seed)
    dictionary = rng.standard_normal((30, 16))
    dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    return dictionary, rng.standard_normal((40, 16))


@pytest.mark.filterwarnings("error")
def test_lasso_transform_on_threads_warns_only_where_it_does_not_converge():
    """The lasso path re-issued sparsenet's warning through a catch_warnings(record=True) around
    each call: the warning filters and the recorder are the process's, so on threads (GridSearchCV,
    Dask) one call recorded another's warning, or restored filters another had changed. Coders that
    converge and coders stopped by max_iter=1 run on 4 threads with warnings as errors: exactly the
    stopped calls raise, and the filters are as they were."""
    from concurrent.futures import ThreadPoolExecutor

    dictionary, X = _lasso_problem()
    converging = SparseCoder(dictionary, transform_algorithm="lasso_cd", transform_alpha=0.2)
    stopped = SparseCoder(dictionary, transform_algorithm="lasso_cd", transform_alpha=0.01,
                          transform_max_iter=1)
    filters = list(warnings.filters)

    def raised(coder):
        count = 0
        for _ in range(30):
            try:
                coder.transform(X)
            except SklearnConvergenceWarning:
                count += 1
        return count

    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(raised, [converging, stopped] * 2))
    assert counts == [0, 30] * 2
    assert warnings.filters == filters


def test_convergence_warning_points_at_the_callers_line():
    """The ConvergenceWarning of the estimators' lasso names the line that called the method (here,
    this file), through scikit-learn's wrappers of transform and fit_transform and through
    GridSearchCV's joblib calls, not sparsenet, scikit-learn or joblib."""
    dictionary, X = _lasso_problem()
    params = dict(transform_algorithm="lasso_cd", transform_alpha=0.01, transform_max_iter=1)
    coder = SparseCoder(dictionary, **params)
    model = KSVD(n_components=20, max_iter=1, random_state=0, **params)
    search = GridSearchCV(make_pipeline(coder, Ridge()), {"ridge__alpha": [0.1, 1.0]}, cv=2)
    for call in (lambda: coder.transform(X), lambda: coder.fit_transform(X),
                 lambda: model.fit_transform(X), lambda: model.transform(X),
                 lambda: search.fit(X, X[:, 0])):
        with pytest.warns(SklearnConvergenceWarning) as record:
            call()
        assert {w.filename for w in record} == {__file__}


def test_ksvd_init_takes_components_layout():
    """init as scikit-learn's estimators take initial atoms: (n_components, n_features)."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((100, 8))
    init = rng.standard_normal((12, 8))
    model = KSVD(n_components=12, n_nonzero_coefs=2, max_iter=2, init=init).fit(X)
    D, _ = sparsenet.ksvd(X.T, 12, 2, max_iter=2, init=init.T)
    np.testing.assert_allclose(model.components_, D.T, atol=1e-12)
    with pytest.raises(ValueError, match=r"init must have shape \(12, 8\) \(n_components, "
                                         r"n_features: atoms in rows.*got \(8, 12\)"):
        KSVD(n_components=12, init=init.T).fit(X)
    with pytest.raises(ValueError, match=r"init must have shape \(8, 8\)"):
        KSVD(init=init).fit(X)  # n_components defaults to n_features, as in scikit-learn


@pytest.mark.parametrize("algorithm", ["omp", "lasso_cd", "threshold"])
@pytest.mark.parametrize("x_dtype, dictionary_dtype", [(np.float32, np.float64),
                                                       (np.float64, np.float32)])
def test_mixed_dtypes_as_sklearn(algorithm, x_dtype, dictionary_dtype):
    """scikit-learn 1.9 codes omp in X's dtype (its Gram matrix is cast to X's) and threshold in
    the promotion of both (``dictionary @ X.T``); its lasso_cd raises "Buffer dtype mismatch" on
    mixed dtypes, where sparsenet codes in X's dtype as omp does."""
    dictionary, X = _lasso_problem()
    coder = SparseCoder(dictionary.astype(dictionary_dtype), transform_algorithm=algorithm,
                        transform_alpha=0.1)
    ours = coder.transform(X.astype(x_dtype))
    if algorithm == "lasso_cd":
        assert ours.dtype == x_dtype
        return
    theirs = SklearnSparseCoder(dictionary.astype(dictionary_dtype), transform_algorithm=algorithm,
                                transform_alpha=0.1).transform(X.astype(x_dtype))
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    model = KSVD(n_components=30, max_iter=1, random_state=0, transform_algorithm=algorithm,
                 transform_alpha=0.1).fit(X.astype(dictionary_dtype))
    assert model.transform(X.astype(x_dtype)).dtype == \
        SparseCoder(model.components_, transform_algorithm=algorithm,
                    transform_alpha=0.1).transform(X.astype(x_dtype)).dtype


def _premature_problem():
    """A dictionary with a repeated atom and samples on those atoms, plus a zero sample: omp stops
    early (linear dependence, a squared correlation below eps) on some samples."""
    rng = np.random.default_rng(8)
    atoms = rng.standard_normal((3, 10))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    dictionary = np.vstack([atoms, atoms])
    X = rng.standard_normal((40, 3)) @ atoms
    X[5] = 0
    return dictionary, X


def test_omp_premature_stop_warns_as_sklearn_at_the_callers_line():
    """scikit-learn's omp path warns a RuntimeWarning (its orthogonal_mp_gram's, once per signal,
    at a line inside scikit-learn) when a pursuit stops early; the estimators were silent. Now one
    RuntimeWarning per call, starting with scikit-learn's words, at the line that called the
    method; transform still codes the other samples in full."""
    dictionary, X = _premature_problem()
    params = dict(transform_algorithm="omp", transform_n_nonzero_coefs=4)
    with pytest.warns(RuntimeWarning) as theirs:
        SklearnSparseCoder(dictionary, **params).transform(X)
    sklearn_words = str(theirs[0].message)
    coder = SparseCoder(dictionary, **params)
    model = KSVD(n_components=6, n_nonzero_coefs=2, max_iter=1, random_state=0, **params).fit(X)
    model.components_ = dictionary  # so that transform meets the repeated atom
    for call in (lambda: coder.transform(X), lambda: coder.fit_transform(X),
                 lambda: model.transform(X)):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            call()
        assert [(w.category, w.filename) for w in record] == [(RuntimeWarning, __file__)]
        assert str(record[0].message).startswith(sklearn_words)


@pytest.mark.parametrize("algorithm", ["omp", "lasso_cd"])
def test_one_warning_in_the_calling_thread_with_n_jobs(algorithm):
    """n_jobs=2 (accepted, as scikit-learn's; sparsenet codes on its own native threads, set here
    to 2): one warning per call, for all the samples, at the line that called transform, not one
    per worker nor at a worker's frame."""
    dictionary, X = _premature_problem() if algorithm == "omp" else _lasso_problem()
    X = np.tile(X, (50, 1))  # enough samples for both native threads
    coder = SparseCoder(dictionary, transform_algorithm=algorithm, transform_n_nonzero_coefs=4,
                        transform_alpha=0.01, transform_max_iter=1, n_jobs=2)
    with sparsenet.use_num_threads(2), warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        coder.transform(X)
    assert [w.filename for w in record] == [__file__]
    assert f"of {X.shape[0]} signals" in str(record[0].message)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # its lasso_cd
@pytest.mark.parametrize("algorithm", ["omp", "lasso_cd", "threshold"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_sign_dtype_as_sklearn(algorithm, dtype):
    """scikit-learn 1.9's split_sign allocates its result without a dtype: float64 codes even from
    float32 samples, whose codes are float32 without split_sign. sparsenet kept float32."""
    dictionary, X = _lasso_problem()
    params = dict(transform_algorithm=algorithm, transform_alpha=0.1, split_sign=True)
    dictionary, X = dictionary.astype(dtype), X.astype(dtype)
    theirs = SklearnSparseCoder(dictionary, **params).transform(X)
    ours = SparseCoder(dictionary, **params).transform(X)
    assert ours.dtype == theirs.dtype == np.float64
    code = SparseCoder(dictionary, **dict(params, split_sign=False)).transform(X)
    assert code.dtype == dtype
    np.testing.assert_array_equal(ours, np.hstack([np.maximum(code, 0), -np.minimum(code, 0)]))
    model = KSVD(n_components=30, max_iter=1, random_state=0, **params).fit(X)
    assert model.transform(X).dtype == np.float64


@pytest.mark.parametrize("split_sign", [False, True])
def test_feature_names_count_the_output_columns(split_sign):
    """get_feature_names_out names every column transform returns (2 * n_components with
    split_sign, where scikit-learn 1.9 names n_components: scikit-learn#34768), so that
    set_output(transform="pandas") can name them."""
    dictionary, X = _lasso_problem()
    models = [SparseCoder(dictionary, transform_algorithm="threshold", split_sign=split_sign),
              KSVD(n_components=30, max_iter=1, random_state=0, split_sign=split_sign).fit(X)]
    for model in models:
        names = model.get_feature_names_out()
        assert len(names) == model.transform(X).shape[1] == 30 * (2 if split_sign else 1)
