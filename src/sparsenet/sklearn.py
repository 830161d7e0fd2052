"""scikit-learn estimators over sparsenet's sparse coding: ``SparseCoder`` (a drop-in for
``sklearn.decomposition.SparseCoder`` with the omp, lasso_cd and threshold algorithms) and ``KSVD``
(K-SVD dictionary learning, which scikit-learn does not have).

scikit-learn is imported by this module only (``import sparsenet`` never imports it). Both
estimators follow scikit-learn's layout: samples in rows, atoms in the rows of ``components_`` /
``dictionary``; both pass ``sklearn.utils.estimator_checks`` and work in ``Pipeline`` and
``GridSearchCV``.
"""
import sys
from numbers import Integral, Real
from typing import Any, Dict

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning
from sklearn.utils.validation import check_array, check_is_fitted

import sparsenet
from sparsenet import _policy
from sparsenet._policy import float_dtype
from sparsenet.coding import _lasso_quiet
from sparsenet.omp import _omp_quiet

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator, X, reset=True, **kwargs):
        return estimator._validate_data(X, reset=reset, **kwargs)

ALGORITHMS = ("omp", "lasso_cd", "lasso", "threshold")

# The packages whose frames lie between an estimator's warning and the user's call: sparsenet,
# scikit-learn (set_output wraps transform and fit_transform; TransformerMixin.fit_transform calls
# transform) and joblib (GridSearchCV fits through it), skipped as Python 3.12's
# skip_file_prefixes would.
_LIBRARIES = frozenset({"sparsenet", "sklearn", "joblib"})


def _caller_stacklevel():
    """The stacklevel that makes a warning issued by the function calling this one name the first
    frame outside those packages: the line that called the estimator's method, or the
    GridSearchCV / Pipeline holding it (a fixed stacklevel points inside scikit-learn's
    wrappers)."""
    frame, stacklevel = sys._getframe(1), 1
    while frame.f_back is not None and \
            frame.f_globals.get("__name__", "").partition(".")[0] in _LIBRARIES:
        frame, stacklevel = frame.f_back, stacklevel + 1
    return stacklevel


def _sparse_encode(X, dictionary, algorithm, n_nonzero_coefs, alpha, max_iter, positive,
                   tol=None):
    """scikit-learn's sparse_encode(X, dictionary, ...) for the algorithms sparsenet computes:
    X (n_samples, n_features), dictionary (n_components, n_features) -> (n_samples, n_components),
    in scikit-learn's dtype (see SparseCoder)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"transform_algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    dictionary = np.asarray(dictionary)
    # X's dtype, as scikit-learn's omp (its Gram matrix cast to X's); threshold: its
    # dictionary @ X.T, the promotion of the two
    if algorithm == "threshold":
        dtype = np.promote_types(dtype, float_dtype(dictionary))
    D = dictionary.astype(dtype, copy=False).T  # atoms in columns
    n_features, n_components = D.shape
    if algorithm == "omp":
        if positive:  # scikit-learn's error: OMP has no non-negative variant
            raise ValueError("Positive constraint not supported for 'omp' coding method.")
        if tol is None and n_nonzero_coefs is None:  # scikit-learn's default
            n_nonzero_coefs = min(max(n_features / 10, 1), n_components)
        n_nonzero_coefs = None if n_nonzero_coefs is None else int(n_nonzero_coefs)
        # counted, then sparsenet.omp's warning at the user's line (omp itself would name this
        # one): scikit-learn's category and words, so its users' filters apply
        code, n_premature, n_signals = _omp_quiet(D, X.T, n_nonzero_coefs, tol, "auto", "dense",
                                                  True)
        _policy.warn_omp_premature(n_premature, n_signals, stacklevel=_caller_stacklevel())
    elif algorithm in ("lasso_cd", "lasso"):
        alpha = 1.0 if alpha is None else alpha
        # counted, then one warning of scikit-learn's category (its users filter that one), at
        # the user's line; not catch_warnings around lasso (the filters are the process's, and
        # estimators run on threads in GridSearchCV and Dask)
        code, unconverged = _lasso_quiet(D, X.T, alpha, positive, max_iter, None, None)
        _policy.warn_lasso_unconverged(*unconverged, stacklevel=_caller_stacklevel(),
                                       category=_SklearnConvergenceWarning)
    else:
        if not np.isfinite(D).all():  # omp and lasso check it in their own way
            raise ValueError("dictionary must be finite (it contains NaN or infinity)")
        alpha = 1.0 if alpha is None else alpha
        code = sparsenet.soft_threshold(np.ascontiguousarray(D.T @ X.T), alpha)
        if positive:
            np.clip(code, 0, None, out=code)
    return np.ascontiguousarray(code.T)


def _split_sign(code):
    """``[max(code, 0), -min(code, 0)]`` side by side, in float64 whatever the code's dtype:
    scikit-learn 1.9 allocates it without a dtype (reported upstream, scikit-learn#34768)."""
    n_samples, n_components = code.shape
    split = np.empty((n_samples, 2 * n_components), dtype=np.float64)
    split[:, :n_components] = np.maximum(code, 0)
    split[:, n_components:] = -np.minimum(code, 0)
    return split


class _SparseCoding(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """transform / inverse_transform shared by SparseCoder and KSVD (scikit-learn's
    _BaseSparseCoding, on sparsenet's kernels)."""

    def _transform(self, X, dictionary, tol=None):
        X = _validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        code = _sparse_encode(X, dictionary, self.transform_algorithm,
                              self.transform_n_nonzero_coefs, self.transform_alpha,
                              self.transform_max_iter, self.positive_code, tol)
        return _split_sign(code) if self.split_sign else code

    def _code_columns(self, n_components):
        """The columns of transform's output: twice the atoms with split_sign. (scikit-learn 1.9
        gives n_components, so its get_feature_names_out and set_output(transform="pandas") fail
        with split_sign: scikit-learn#34768.)"""
        return n_components * (2 if self.split_sign else 1)

    def _inverse_transform(self, code, dictionary):
        code = check_array(code)
        expected = self._code_columns(dictionary.shape[0])
        if code.shape[1] != expected:
            raise ValueError(f"the code must have {expected} columns (n_components"
                             f"{' * 2 with split_sign' if self.split_sign else ''}), got "
                             f"{code.shape[1]}")
        if self.split_sign:
            half = dictionary.shape[0]
            code = code[:, :half] - code[:, half:]
        return code @ dictionary

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class SparseCoder(_SparseCoding, BaseEstimator):
    """Sparse codes of the rows of X over a fixed dictionary: scikit-learn's
    ``sklearn.decomposition.SparseCoder`` with its parameters and answers, computed by sparsenet.

    Parameters
    ----------
    dictionary : ndarray of shape (n_components, n_features)
        The atoms, one per row (unit norm assumed by omp, as in scikit-learn).
    transform_algorithm : {"omp", "lasso_cd", "lasso", "threshold"}, default "omp"
        "omp": :func:`sparsenet.omp`; "lasso_cd" (or "lasso"): :func:`sparsenet.lasso`, which
        minimises ``0.5 * ||x - code @ dictionary||^2 + alpha * ||code||_1`` with scikit-learn's
        alpha; "threshold": soft thresholding of ``X @ dictionary.T`` by alpha. (scikit-learn's
        lars and lasso_lars are not offered.)
    transform_n_nonzero_coefs : int, optional
        Atoms per sample for omp; default ``max(n_features // 10, 1)`` (at most n_components), as
        scikit-learn.
    transform_alpha : float, optional
        The L1 weight (lasso) or the threshold (threshold); default 1.0. As in scikit-learn's
        code, omp ignores it.
    split_sign : bool, default False
        Return ``[max(code, 0), -min(code, 0)]`` side by side, in float64 (see Notes).
    n_jobs : None
        Accepted for compatibility; sparsenet uses its own threads (``sparsenet.set_num_threads``),
        so whatever n_jobs, a call warns at most once, in the calling thread.
    positive_code : bool, default False
        Non-negative codes (lasso and threshold; with omp, transform raises ValueError, as
        scikit-learn's does).
    transform_max_iter : int, default 1000
        Sweeps for lasso.

    Warns
    -----
    RuntimeWarning
        omp: when the pursuit of some samples stopped early (linear dependence, a zero sample),
        with scikit-learn's words followed by the count of such samples. Once per call at the line
        that called the method, where scikit-learn's ``orthogonal_mp_gram`` warns once per sample
        at a line of scikit-learn.
    sklearn.exceptions.ConvergenceWarning
        lasso: when `transform_max_iter` stopped some samples (:func:`sparsenet.lasso`'s text),
        once per call at the line that called the method.

    Notes
    -----
    The codes' dtype is scikit-learn's: X's (float32 or float64) for omp and lasso, the promotion
    of X's and the dictionary's for threshold (whose codes come from ``X @ dictionary.T``). With
    X and the dictionary of different dtypes scikit-learn's lasso_cd raises ValueError ("Buffer
    dtype mismatch", scikit-learn 1.9); sparsenet codes in X's dtype, as for omp. With
    split_sign the codes are float64 whatever X's dtype, as scikit-learn 1.9's (it fills a float64
    array), although the estimators' tags say they preserve float32, as scikit-learn's do; and
    ``get_feature_names_out`` names all ``2 * n_components`` columns, where scikit-learn 1.9 names
    n_components (scikit-learn#34768).

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenet.sklearn import SparseCoder
    >>> coder = SparseCoder(np.eye(3), transform_algorithm="lasso_cd", transform_alpha=0.5)
    >>> coder.transform(np.array([[2., 0., -1.]]))
    array([[ 1.5,  0. , -0.5]])
    """

    _parameter_constraints: Dict[str, Any] = {}

    def __init__(self, dictionary, *, transform_algorithm="omp", transform_n_nonzero_coefs=None,
                 transform_alpha=None, split_sign=False, n_jobs=None, positive_code=False,
                 transform_max_iter=1000):
        self.dictionary = dictionary
        self.transform_algorithm = transform_algorithm
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_alpha = transform_alpha
        self.split_sign = split_sign
        self.n_jobs = n_jobs
        self.positive_code = positive_code
        self.transform_max_iter = transform_max_iter

    def fit(self, X, y=None):
        """Only checks X against the dictionary (scikit-learn's SparseCoder.fit); returns self."""
        X = _validate_data(self, X)
        dictionary = np.asarray(self.dictionary)
        if X.shape[1] != dictionary.shape[1]:
            raise ValueError(f"Dictionary and X have different numbers of features: dictionary.shape "
                             f"{dictionary.shape}, X.shape {X.shape}")
        self.n_components_ = dictionary.shape[0]
        return self

    def transform(self, X, y=None):
        """Codes of the rows of X, shape (n_samples, n_components) (twice that with split_sign)."""
        dictionary = np.asarray(self.dictionary)
        X = _validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        if X.shape[1] != dictionary.shape[1]:
            raise ValueError(f"Dictionary and X have different numbers of features: dictionary.shape "
                             f"{dictionary.shape}, X.shape {X.shape}")
        return self._transform(X, dictionary)

    def inverse_transform(self, X):
        """``X @ dictionary``: the signals the codes represent."""
        return self._inverse_transform(X, np.asarray(self.dictionary))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    @property
    def _n_features_out(self):
        return self._code_columns(np.asarray(self.dictionary).shape[0])


class KSVD(_SparseCoding, BaseEstimator):
    """K-SVD dictionary learning (:func:`sparsenet.ksvd`) as a scikit-learn transformer.

    ``fit`` learns ``components_`` (n_components atoms of unit norm, in rows) in which each sample
    is a combination of `n_nonzero_coefs` atoms (or is within `tol`); ``transform`` codes samples as
    :class:`SparseCoder` does.

    Parameters
    ----------
    n_components : int, optional
        Atoms to learn; default n_features.
    n_nonzero_coefs : int, optional
        Atoms per sample while learning; default ``max(1, n_components // 10)``.
    tol : float, optional
        Squared residual norm per sample while learning (overrides n_nonzero_coefs).
    max_iter : int, default 10
        K-SVD iterations.
    init : {"data", "random"} or array_like of shape (n_components, n_features), default "data"
        Initial atoms: random samples, Gaussian, or these, one per row as in ``components_``
        (scikit-learn's layout; :func:`sparsenet.ksvd` takes them transposed), normalised.
    random_state : int, RandomState or Generator, optional
        Seed of the initial atoms.
    transform_algorithm, transform_n_nonzero_coefs, transform_alpha, split_sign, positive_code,
    transform_max_iter
        As in :class:`SparseCoder`. With omp and neither transform_n_nonzero_coefs nor
        transform_tol, transform codes as fit did: to tol when given, else to n_nonzero_coefs
        (the sparsity the atoms were learned for).
    transform_tol : float, optional
        Squared residual norm per sample for omp in transform (overrides the count).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    n_iter_ : int
    error_ : ndarray of shape (``n_iter_``,)
        ``||X - code @ components_||_F`` after each iteration.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenet.sklearn import KSVD
    >>> X = np.random.default_rng(0).standard_normal((200, 8))
    >>> model = KSVD(n_components=12, n_nonzero_coefs=2, random_state=0).fit(X)
    >>> model.components_.shape, model.transform(X).shape
    ((12, 8), (200, 12))
    """

    _parameter_constraints: Dict[str, Any] = {}

    def __init__(self, n_components=None, *, n_nonzero_coefs=None, tol=None, max_iter=10,
                 init="data", random_state=None, transform_algorithm="omp",
                 transform_n_nonzero_coefs=None, transform_alpha=None, transform_tol=None,
                 split_sign=False, positive_code=False, transform_max_iter=1000):
        self.n_components = n_components
        self.n_nonzero_coefs = n_nonzero_coefs
        self.tol = tol
        self.max_iter = max_iter
        self.init = init
        self.random_state = random_state
        self.transform_algorithm = transform_algorithm
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_alpha = transform_alpha
        self.transform_tol = transform_tol
        self.split_sign = split_sign
        self.positive_code = positive_code
        self.transform_max_iter = transform_max_iter

    def _learn(self, X):
        X = _validate_data(self, X, dtype=[np.float64, np.float32])
        n_components = X.shape[1] if self.n_components is None else self.n_components
        if isinstance(n_components, bool) or not isinstance(n_components, Integral) \
                or n_components < 1:
            raise ValueError(f"n_components must be a positive int or None, got {n_components!r}")
        if self.tol is not None and (not isinstance(self.tol, Real) or self.tol < 0):
            raise ValueError(f"tol must be a number >= 0 or None, got {self.tol!r}")
        init = self.init
        if not isinstance(init, str):  # atoms in rows here, in columns for sparsenet.ksvd
            init = np.asarray(init)
            expected = (int(n_components), X.shape[1])
            if init.shape != expected:
                raise ValueError(f"init must have shape {expected} (n_components, n_features: "
                                 f"atoms in rows, as in components_), got {init.shape}")
            init = init.T
        D, codes, errors = sparsenet.ksvd(
            X.T, int(n_components), self.n_nonzero_coefs, self.tol, max_iter=self.max_iter,
            init=init, random_state=self.random_state, return_format="csc", return_errors=True)
        self.components_ = np.ascontiguousarray(D.T)
        self.n_components_ = int(n_components)
        self.n_iter_ = len(errors)
        self.error_ = np.asarray(errors)
        return X

    def fit(self, X, y=None):
        """Learns the dictionary from the rows of X; returns self."""
        self._learn(X)
        return self

    def _transform_options(self):
        if self.transform_algorithm == "omp" and self.transform_n_nonzero_coefs is None \
                and self.transform_tol is None:  # code as fit did: tol overrides n_nonzero_coefs
            if self.tol is not None:
                return None, self.tol
            default = self.n_nonzero_coefs
            return (max(1, self.n_components_ // 10) if default is None else default), None
        return self.transform_n_nonzero_coefs, self.transform_tol

    def transform(self, X):
        """Codes of the rows of X over ``components_``, shape (n_samples, n_components)."""
        check_is_fitted(self)
        n_nonzero_coefs, tol = self._transform_options()
        X = _validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        code = _sparse_encode(X, self.components_, self.transform_algorithm, n_nonzero_coefs,
                              self.transform_alpha, self.transform_max_iter, self.positive_code,
                              tol)
        return _split_sign(code) if self.split_sign else code

    def inverse_transform(self, X):
        """``X @ components_``."""
        check_is_fitted(self)
        return self._inverse_transform(X, self.components_)

    @property
    def _n_features_out(self):
        return self._code_columns(self.components_.shape[0])
