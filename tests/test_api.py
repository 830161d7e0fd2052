"""The API as a SciPy user meets it: CSR's constructor forms, .T and x @ A, no implicit dense
conversion; one name for codes; TypeError naming the argument; the reference an independent leaf."""
import ast
import importlib
import pathlib
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import sparsenet
from sparsenet import _policy, reference
from sparsenet.csr import SparseMatrix, Transposed

SRC = pathlib.Path(sparsenet.__file__).resolve().parent


def random_scipy(rng, n_rows=40, n_cols=30, density=0.2, dtype=np.float64):
    return sp.random(n_rows, n_cols, density=density, format="csr", dtype=dtype, random_state=rng)


def same_csr(A, S):
    """A sparsenet.CSR holding exactly the arrays of the scipy CSR matrix S."""
    assert isinstance(A, sparsenet.CSR) and A.shape == S.shape
    np.testing.assert_array_equal(A.indptr, S.indptr)
    np.testing.assert_array_equal(A.indices, S.indices)
    np.testing.assert_array_equal(A.data, S.data)


# --- the constructor: scipy's forms -----------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix, on purpose
def test_constructor_forms_give_what_scipy_gives():
    rng = np.random.default_rng(0)
    S = random_scipy(rng)
    same_csr(sparsenet.CSR((S.data, S.indices, S.indptr), shape=S.shape), S)
    same_csr(sparsenet.CSR((S.data, S.indices, S.indptr), S.shape), S)  # scipy's positional shape
    same_csr(sparsenet.CSR(S), S)
    same_csr(sparsenet.CSR(sp.csr_matrix(S)), S)
    for fmt in ("csc", "coo", "lil", "dok"):
        np.testing.assert_array_equal(sparsenet.CSR(S.asformat(fmt)).toarray(), S.toarray())
    dense = S.toarray()
    same_csr(sparsenet.CSR(dense), sp.csr_array(dense))
    same_csr(sparsenet.CSR(dense.tolist()), sp.csr_array(dense))
    same_csr(sparsenet.CSR(np.asmatrix(dense)), sp.csr_array(dense))
    # the old form, the arrays as separate arguments, still works
    same_csr(sparsenet.CSR(S.data, S.indices, S.indptr, S.shape), S)
    # copies by default, shares with copy=False
    assert not np.shares_memory(sparsenet.CSR(S).data, S.data)
    assert np.shares_memory(sparsenet.CSR(S, copy=False).data, S.data)


def test_constructor_infers_the_shape_as_scipy_does():
    data, indices, indptr = [1.0, 2.0, 3.0], [0, 4, 2], [0, 2, 2, 3]
    A = sparsenet.CSR((data, indices, indptr))
    assert A.shape == sp.csr_array((data, indices, indptr)).shape == (3, 5)
    empty = (np.zeros(0), np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int32))
    with pytest.raises(ValueError, match="inferred"):  # scipy: "unable to infer matrix dimensions"
        sparsenet.CSR(empty)
    assert sparsenet.CSR(empty, shape=(0, 4)).shape == (0, 4)


def test_coordinate_form_sums_duplicates_as_scipy_does():
    data, rows, cols = [1.0, 2.0, 5.0, 7.0], [0, 1, 0, 2], [1, 2, 1, 0]
    A = sparsenet.CSR((data, (rows, cols)), shape=(3, 4))
    np.testing.assert_array_equal(A.toarray(),
                                  sp.csr_array((data, (rows, cols)), shape=(3, 4)).toarray())
    assert A.toarray()[0, 1] == 6.0


def test_empty_matrix_from_a_shape():
    A = sparsenet.CSR((3, 4))
    assert A.shape == (3, 4) and A.nnz == 0 and A.ndim == 2
    np.testing.assert_array_equal(A @ np.ones(4), np.zeros(3))
    np.testing.assert_array_equal(A.toarray(), sp.csr_array((3, 4)).toarray())


def test_constructor_from_sparsenet_matrices_and_dtype():
    A = sparsenet.CSR(np.array([[0.0, 2.0], [3.0, 0.0]]))
    B = sparsenet.CSR(A)
    same_csr(B, A.to_scipy())
    np.testing.assert_array_equal(sparsenet.CSR(A.T).toarray(), A.toarray().T)
    shared = sparsenet.SharedCSR.from_dense(A.toarray(), np.array([2.0, 3.0]))
    np.testing.assert_array_equal(sparsenet.CSR(shared).toarray(), shared.toarray())
    f32 = sparsenet.CSR(A.toarray(), dtype=np.float32)
    assert f32.dtype == np.float32
    assert sparsenet.CSR(np.eye(2, dtype=np.int64)).dtype == np.float64


def test_constructor_errors_name_the_argument():
    with pytest.raises(TypeError, match="A must be a tuple of CSR arrays"):
        sparsenet.CSR(None)
    with pytest.raises(TypeError, match="tuple of 4 items"):
        sparsenet.CSR(([1.0], [0], [0, 1], 7))
    with pytest.raises(ValueError, match="does not match"):
        sparsenet.CSR(np.eye(2), shape=(3, 3))
    with pytest.raises(ValueError, match="A must be 2-D"):
        sparsenet.CSR(np.ones(3))
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        sparsenet.CSR(np.eye(2), dtype=np.int32)
    with pytest.raises(TypeError, match="copy must be a bool"):
        sparsenet.CSR(np.eye(2), copy="yes")
    with pytest.raises(TypeError, match="both indices and indptr"):
        sparsenet.CSR([1.0], [0])
    with pytest.raises(ValueError, match=r"A.indices\[0\]=5"):
        sparsenet.CSR(([1.0], [5], [0, 1]), shape=(1, 3))


# --- .T, .transpose(), .ndim, .todense() ---------------------------------------------------------------

def test_transpose_is_a_view_and_T_T_is_the_matrix():
    rng = np.random.default_rng(1)
    A = sparsenet.CSR(random_scipy(rng))
    T = A.T
    assert isinstance(T, Transposed) and isinstance(T, SparseMatrix)
    assert T.shape == (30, 40) and T.ndim == 2 and T.nnz == A.nnz and T.dtype == A.dtype
    assert T.T is A and A.transpose().T is A
    assert T.data is A.data and T.indices is A.indices and T.format == "csc"
    np.testing.assert_array_equal(T.toarray(), A.toarray().T)
    np.testing.assert_array_equal(T.todense(), A.toarray().T)
    assert type(A.todense()) is np.ndarray
    np.testing.assert_array_equal(T.to_scipy().toarray(), A.toarray().T)
    copied = A.transpose(copy=True)
    assert not np.shares_memory(copied.T.data, A.data)
    np.testing.assert_array_equal(copied.toarray(), T.toarray())
    assert A.transpose(axes=(1, 0)).T is A
    with pytest.raises(ValueError, match="axes"):
        A.transpose(axes=(0, 1))
    assert "transposed view of <sparsenet.CSR 40x30" in repr(T)
    back = pickle.loads(pickle.dumps(T))
    np.testing.assert_array_equal(back.toarray(), T.toarray())


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_of_the_transpose_are_the_transposed_products(backend, dtype):
    sparsenet.set_backend(backend)
    rng = np.random.default_rng(2)
    S = random_scipy(rng, 50, 37, 0.3, dtype)
    A = sparsenet.CSR(S)
    y, x = rng.standard_normal(50).astype(dtype), rng.standard_normal(37).astype(dtype)
    Y, X = rng.standard_normal((50, 5)).astype(dtype), rng.standard_normal((37, 5)).astype(dtype)
    np.testing.assert_array_equal(A.T @ y, sparsenet.spmv(A, y, transpose=True))
    np.testing.assert_array_equal(sparsenet.spmv(A.T, y), sparsenet.spmv(A, y, transpose=True))
    np.testing.assert_array_equal(sparsenet.spmv(A.T, x, transpose=True), sparsenet.spmv(A, x))
    np.testing.assert_array_equal(sparsenet.spmm(A.T, Y), sparsenet.spmm(A, Y, transpose=True))
    np.testing.assert_array_equal(sparsenet.spmm(A.T, X, transpose=True), sparsenet.spmm(A, X))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(A.T @ Y, S.T @ Y, rtol=rtol, atol=rtol)
    # the same products through the reference, which reads the view as scipy reads a CSC matrix
    np.testing.assert_allclose(reference.spmv(A.T, y), S.T @ y, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(reference.spmm(A.T, X, transpose=True), S @ X, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_times_sparse_is_the_transposed_product(dtype):
    rng = np.random.default_rng(3)
    S = random_scipy(rng, 60, 45, 0.2, dtype)
    A = sparsenet.CSR(S)
    x = rng.standard_normal(60).astype(dtype)
    X = rng.standard_normal((7, 60)).astype(dtype)
    np.testing.assert_array_equal(x @ A, sparsenet.spmv(A, x, transpose=True))
    np.testing.assert_array_equal(X @ A, (A.T @ X.T).T)
    assert (X @ A).shape == (7, 45) and (X @ A).dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(X @ A, X @ S.toarray(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(x.tolist() @ A, x @ S.toarray(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(X @ A.T.T, X @ S.toarray(), rtol=rtol, atol=rtol)
    Z = rng.standard_normal((3, 45)).astype(dtype)
    np.testing.assert_allclose(Z @ A.T, Z @ S.toarray().T, rtol=rtol, atol=rtol)
    with pytest.raises(ValueError, match=r"x @ A needs x.shape\[-1\] == A.shape\[0\] = 60"):
        np.ones((7, 59)) @ A
    with pytest.raises(ValueError, match="x must be 1-D or 2-D"):
        np.ones((2, 2, 60)) @ A
    with pytest.raises(ValueError, match="x must be 1-D or 2-D"):
        A @ np.ones((2, 2, 45))


def test_products_of_an_optimized_transpose_use_its_transposed_blocks(monkeypatch):
    rng = np.random.default_rng(4)
    S = sp.random(300, 5000, density=0.1, format="csr", dtype=np.float32, random_state=rng)
    A = sparsenet.CSR(S).optimize(transpose=True)
    assert A._blocks_t is not None
    y = rng.standard_normal(300).astype(np.float32)
    want = sparsenet.spmv(A, y, transpose=True)
    calls = []
    native = sparsenet.csr._csr

    class Spy:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(native, name)

    monkeypatch.setattr(sparsenet.csr, "_csr", Spy())
    monkeypatch.setattr(sparsenet._csr_blocks, "_csr", Spy())  # the blocks call their kernel
    np.testing.assert_array_equal(A.T @ y, want)
    np.testing.assert_array_equal(y @ A, want)
    assert calls == ["blocked_matmul", "blocked_matmul"]
    np.testing.assert_allclose(want, S.T @ y, rtol=1e-4, atol=1e-4)


def test_scipy_csc_input_is_read_as_a_transposed_csr():
    rng = np.random.default_rng(5)
    S = random_scipy(rng, 20, 30)
    x = rng.standard_normal(20)
    np.testing.assert_allclose(sparsenet.spmv(S.T, x), S.T @ x, rtol=1e-12)
    np.testing.assert_allclose(sparsenet.spmm(S.T.tocsc(), x[:, None]), S.T @ x[:, None],
                               rtol=1e-12)
    with pytest.raises(TypeError, match="tocsr"):
        sparsenet.spmv(S.tocoo(), np.ones(30))


def test_shared_csr_has_the_same_scipy_manners():
    W = np.array([[0.0, 0.9, 0.0], [-1.1, 0.0, 1.05]])
    A = sparsenet.SharedCSR.from_dense(W, np.array([-1.0, 1.0]))
    D = A.toarray()
    assert A.ndim == 2 and A.T.shape == (3, 2) and A.T.T is A
    np.testing.assert_array_equal(A.T @ np.ones(2), D.T @ np.ones(2))
    np.testing.assert_array_equal(np.ones(2) @ A, np.ones(2) @ D)
    np.testing.assert_array_equal(A.T.toarray(), D.T)
    np.testing.assert_array_equal(A.todense(), D)
    with pytest.raises(TypeError, match="toarray"):
        np.asarray(A)


def test_no_implicit_dense_conversion():
    A = sparsenet.CSR(np.eye(3))
    for M in (A, A.T):
        with pytest.raises(TypeError, match=r"implicitly; use \.toarray\(\)"):
            np.asarray(M)
        with pytest.raises(TypeError):
            np.add(M, 1)
    with pytest.raises(TypeError, match="sparse @ sparse"):
        A @ A
    with pytest.raises(TypeError, match="sparse @ sparse"):
        A @ sp.eye(3, format="csr")
    with pytest.raises(TypeError, match="x must be a dense array"):
        sparsenet.spmv(A, A.T)


# --- wrong types: TypeError naming the argument --------------------------------------------------------

def test_wrong_types_raise_type_error_naming_the_argument():
    A = sparsenet.CSR(np.eye(3))
    sw = sparsenet.SharedWeights([0.0, 1.0], [[0, 1], [1, 0]])
    calls = [
        (lambda: sparsenet.spmv(A, None), "x must be an array of real numbers, got NoneType"),
        (lambda: sparsenet.spmm(A, None), "X must be an array of real numbers, got NoneType"),
        (lambda: sparsenet.spmv(A, "abc"), "x must be an array of real numbers, got str"),
        (lambda: sparsenet.spmv(A, [1, None, 2]), "x must be an array of real numbers"),
        (lambda: A @ None, "x must be an array of real numbers"),
        (lambda: sparsenet.spmv(A, np.ones(3), transpose="yes"), "transpose must be a bool"),
        (lambda: sparsenet.spmv(None, np.ones(3)), "A must be a sparsenet.CSR"),
        (lambda: sparsenet.shared_matvec(sw, None), "x must be an array of real numbers"),
        (lambda: sparsenet.shared_matvec(sw, np.ones(2), transpose=1), "transpose must be a bool"),
        (lambda: sparsenet.codebook_grad(sw, None, np.ones(2)), "grad_out must be an array"),
        (lambda: sparsenet.hard_threshold(None, 1.0), "x must be an array of real numbers"),
        (lambda: sparsenet.topk(None, 1), "x must be an array of real numbers"),
        (lambda: sparsenet.prune(None, sparsity=0.5), "W must be an array of real numbers"),
        (lambda: sparsenet.omp(None, np.ones(3)), "D must be an array of real numbers"),
        (lambda: sparsenet.omp(np.eye(3), None), "X must be an array of real numbers"),
        (lambda: sparsenet.kmeans_codebook(None, 2), "W must be an array of real numbers"),
        (lambda: sparsenet.CSR.from_dense(None), "W must be an array of real numbers"),
    ]
    for call, match in calls:
        with pytest.raises(TypeError, match=match):
            call()


# --- codes: one name ---------------------------------------------------------------------------------

def test_shared_weights_call_their_codes_codes():
    sw = sparsenet.SharedWeights(np.array([-1.0, 0.5], dtype=np.float32), [[0, 1], [1, 1]])
    assert sw.codes.dtype == np.uint8 and sw.codes.tolist() == [[0, 1], [1, 1]]
    assert set(sw.to_arrays()) == {"codebook", "codes"}
    with pytest.warns(DeprecationWarning, match="codes"):
        old = sw.indices
    assert old is sw.codes or np.array_equal(old, sw.codes)
    with pytest.warns(DeprecationWarning, match="codes"):
        legacy = sparsenet.SharedWeights(sw.codebook, indices=sw.codes)  # old .npz files
    np.testing.assert_array_equal(legacy.codes, sw.codes)
    with pytest.raises(TypeError, match="not both"):
        sparsenet.SharedWeights(sw.codebook, sw.codes, indices=sw.codes)
    with pytest.raises(TypeError, match="needs codes"):
        sparsenet.SharedWeights(sw.codebook)
    with pytest.raises(ValueError, match=r"codes\[0, 0\]=5"):
        sparsenet.SharedWeights(sw.codebook, [[5, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sparsenet.shared_matvec(sw, np.ones(2, dtype=np.float32))  # no deprecated name inside
        sparsenet.codebook_grad(sw, np.ones(2), np.ones(2))
        sparsenet.decode(sw)
        reference.decode(sw)
        pickle.loads(pickle.dumps(sw))


def test_reprs_call_codebook_entries_values():
    sw = sparsenet.SharedWeights(np.array([-1.0, 0.5], dtype=np.float32), [[0, 1], [1, 1]])
    assert repr(sw) == ("<sparsenet.SharedWeights (2, 2), uint8 codes into a codebook of 2 float32 "
                        "values, 1.33x smaller>")
    hw = sparsenet.HashedWeights((3, 4), [0.5, 2.0], seed=7)
    assert "a codebook of 2 float64 values" in repr(hw) and "codes" not in repr(hw)
    A = sparsenet.SharedCSR.from_dense(np.eye(2), np.array([1.0]))
    assert repr(A) == ("<sparsenet.SharedCSR 2x2, 2 stored uint8 codes into a codebook of 1 "
                       "float64 values>")


# --- the reference, a leaf -----------------------------------------------------------------------------

def _imports(path):
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module + "".join(f":{a.name}" for a in node.names
                                            if node.module == "sparsenet"))
    return names


def test_reference_imports_only_numpy_scipy_and_the_policy():
    imported = _imports(SRC / "reference.py")
    allowed = {"numpy", "scipy.sparse", "typing", "heapq", "warnings", "sparsenet:_policy",
               "sparsenet._policy"}
    assert imported <= allowed, imported - allowed
    assert _imports(SRC / "_policy.py") <= {"__future__", "warnings", "typing", "numpy",
                                            "numpy.typing"}


def test_native_api_uses_no_private_helper_of_the_reference_and_no_registry():
    for name in ("csr.py", "shared.py", "threshold.py", "omp.py"):
        text = (SRC / name).read_text()
        assert "reference._" not in text, name
        assert "register_product" not in text, name


def test_reference_returns_arrays_and_scipy_objects():
    rng = np.random.default_rng(6)
    W = rng.standard_normal((6, 9))
    for result in (reference.prune(W, sparsity=0.5), reference.hard_threshold(W, 1.0, format="csr"),
                   reference.topk(W, 2, format="csr"), reference.binarize(W, 0.0, format="csr")):
        assert isinstance(result, sp.csr_array) and result.has_canonical_format
        assert result.indices.dtype == np.int32
    learned = reference.kmeans_codebook(W, 4)
    codebook, codes = learned
    assert isinstance(codebook, np.ndarray) and codes.shape == W.shape and codes.dtype == np.uint8
    assert learned.codebook is codebook and learned.codes is codes
    native = sparsenet.kmeans_codebook(W, 4)
    np.testing.assert_array_equal(native.codebook, codebook)
    np.testing.assert_array_equal(native.codes, codes)


def test_the_numpy_backend_returns_the_native_types():
    W = np.random.default_rng(7).standard_normal((6, 9))
    with sparsenet.use_backend("numpy"):
        assert isinstance(sparsenet.prune(W, sparsity=0.5), sparsenet.CSR)
        assert isinstance(sparsenet.prune(W, threshold=0.5), sparsenet.CSR)
        assert isinstance(sparsenet.hard_threshold(W, 1.0, format="csr"), sparsenet.CSR)
        assert isinstance(sparsenet.topk(W, 2, format="csr"), sparsenet.CSR)
        assert isinstance(sparsenet.kmeans_codebook(W, 3), sparsenet.SharedWeights)


def test_shared_policy_is_written_once():
    assert importlib.import_module("sparsenet.omp").PREMATURE == _policy.OMP_PREMATURE
    D = np.eye(4)
    for fn in (sparsenet.omp, reference.omp):
        with pytest.warns(RuntimeWarning) as record:
            fn(D, np.zeros(4), n_nonzero_coefs=1)
        assert str(record[0].message).startswith(_policy.OMP_PREMATURE)
        assert record[0].filename == __file__
    assert _policy.n_kept(0.9, 10) == 1 and _policy.n_kept(0.0, 7) == 7
    assert _policy.csr_index_dtype(10, 2**31) == np.int64
    assert _policy.code_dtype(257) == np.uint16


def test_package_is_typed():
    assert (SRC / "py.typed").exists()
    for fn in (sparsenet.spmv, sparsenet.spmm, sparsenet.prune, sparsenet.omp,
               sparsenet.shared_matmul, sparsenet.kmeans_codebook, sparsenet.CSR.__init__,
               sparsenet.CSR.optimize, sparsenet.CSR.T.fget, sparsenet.decode):
        assert "return" in fn.__annotations__, fn.__qualname__
