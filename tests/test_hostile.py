"""Hostile input (issue 10): forged pickles, misaligned arrays, OMP scratch bounded by the work.

Every case must end in a clean exception or a correct result, never in a kernel reading memory it
was not given.
"""
import pickle
import pickletools
import resource
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import sparsenet
from sparsenet import reference


# --- forged pickles ---


def _forge(cls, fields, how="newobj", build=True):
    """A pickle, written opcode by opcode, of a `cls` made without __init__ (NEWOBJ, or copyreg's
    reconstructor as protocols 0 and 1 write it), then given the slot values `fields` by BUILD, as
    pickle stores slot objects: what an edited or hand-written pickle does."""
    make = pickle.GLOBAL + f"{cls.__module__}\n{cls.__name__}\n".encode()
    if how == "newobj":
        make += pickle.EMPTY_TUPLE + pickle.NEWOBJ
    else:
        make = (pickle.GLOBAL + b"copyreg\n_reconstructor\n" + pickle.MARK + make
                + pickle.GLOBAL + b"builtins\nobject\n" + pickle.NONE + pickle.TUPLE
                + pickle.REDUCE)
    state = pickle.dumps((None, fields), protocol=2)[2:-1]  # no PROTO, no STOP
    data = (pickle.PROTO + b"\x02" + make + (state + pickle.BUILD if build else b"")
            + pickle.STOP)
    ops = [op.name for op, _, _ in pickletools.genops(data)]
    assert ("NEWOBJ" if how == "newobj" else "REDUCE") in ops and ("BUILD" in ops) == build
    return data


def _csr_fields(indices=(1,), n_cols=2):
    return {"data": np.ones(len(indices)), "indices": np.asarray(indices, dtype=np.int32),
            "indptr": np.array([0, len(indices)], dtype=np.int32), "shape": (1, n_cols),
            "has_canonical_format": True, "_blocks": None, "_blocks_t": None, "_optimized": None}


@pytest.mark.parametrize("how", ["newobj", "reconstructor"])
def test_forged_csr_pickle_is_checked(how):
    fields = _csr_fields(indices=[2**30])
    with pytest.raises(ValueError, match="out of range"):
        pickle.loads(_forge(sparsenet.CSR, fields, how))
    fields = {**_csr_fields(), "indices": [2**30], "data": [1.0], "indptr": [0, 1]}  # lists too
    with pytest.raises(ValueError, match="out of range"):
        pickle.loads(_forge(sparsenet.CSR, fields, how))
    # the same state with valid arrays: a checked matrix (older sparsenet pickles had this form)
    A = pickle.loads(_forge(sparsenet.CSR, _csr_fields(indices=[1]), how))
    np.testing.assert_array_equal(sparsenet.spmv(A, np.array([2.0, 3.0])), [3.0])
    assert not A.indices.flags.writeable


def test_forged_csr_state_cannot_smuggle_a_flag():
    # has_canonical_format is derived by the check, never taken from the state
    fields = {**_csr_fields(indices=[1, 0]), "has_canonical_format": True}
    A = pickle.loads(_forge(sparsenet.CSR, fields))
    assert A.has_canonical_format is False
    np.testing.assert_array_equal(sparsenet.spmv(A, np.array([2.0, 3.0])), [5.0])


def test_forged_optimised_csr_rebuilds_its_blocks():
    S = sp.random(40, 3000, density=0.05, format="csr", random_state=1)
    A = sparsenet.CSR.from_scipy(S).optimize(transpose=True)
    garbage = A._blocks  # valid blocks of another matrix are still not taken
    fields = {"data": S.data, "indices": S.indices, "indptr": S.indptr, "shape": S.shape,
              "has_canonical_format": True, "_optimized": (1, True),
              "_blocks": garbage, "_blocks_t": "not blocks"}
    P = pickle.loads(_forge(sparsenet.CSR, fields))
    assert P._blocks is not garbage and P._optimized == (1, True)
    x = np.random.default_rng(0).standard_normal(3000)
    np.testing.assert_allclose(sparsenet.spmv(P, x), S @ x)
    bad = {**fields, "indices": np.full_like(S.indices, 2**30)}
    with pytest.raises(ValueError, match="out of range"):
        pickle.loads(_forge(sparsenet.CSR, bad))
    with pytest.raises(TypeError, match="batch, transpose"):
        pickle.loads(_forge(sparsenet.CSR, {**fields, "_optimized": "fast"}))
    with pytest.raises(ValueError, match="batch"):
        pickle.loads(_forge(sparsenet.CSR, {**fields, "_optimized": (0, False)}))


@pytest.mark.parametrize("cls, fields, error", [
    (sparsenet.SharedWeights, {"codebook": np.array([1.0, 2.0]),
                               "indices": np.array([[0, 300]], dtype=np.uint16)}, ValueError),
    (sparsenet.SharedWeights, {"codebook": np.array([1.0, 2.0])}, TypeError),  # codes missing
    (sparsenet.SharedCSR, {"codes": np.array([5], dtype=np.uint8), "indices": np.array([0]),
                           "indptr": np.array([0, 1]), "shape": (1, 2),
                           "codebook": np.array([1.0])}, ValueError),
    (sparsenet.SharedCSR, {"codes": np.array([0], dtype=np.uint8), "indices": np.array([2**30]),
                           "indptr": np.array([0, 1]), "shape": (1, 2),
                           "codebook": np.array([1.0])}, ValueError),
    (sparsenet.HashedWeights, {"shape": (2, 3), "codebook": np.array([]), "seed": 0}, ValueError),
    (sparsenet.HashedWeights, {"shape": (-5, 3), "codebook": np.array([1.0]), "seed": 0},
     ValueError),
    (sparsenet.HashedWeights, {"shape": (2, 3), "codebook": np.array([1.0]), "seed": 2**40},
     ValueError),
])
def test_forged_pickles_of_the_other_containers_are_checked(cls, fields, error):
    with pytest.raises(error):
        pickle.loads(_forge(cls, fields))


def test_forged_pickles_of_the_other_containers_load_when_valid():
    sw = pickle.loads(_forge(sparsenet.SharedWeights, {"codebook": np.array([1.0, 2.0]),
                                                       "indices": np.array([[0, 1]])}))
    np.testing.assert_array_equal(sparsenet.shared_matvec(sw, np.ones(2)), [3.0])
    hw = pickle.loads(_forge(sparsenet.HashedWeights, {"shape": (2, 3), "seed": 7,
                                                       "codebook": np.array([0.5, 2.0])}))
    np.testing.assert_array_equal(hw.decode(), sparsenet.HashedWeights((2, 3), [0.5, 2.0], 7).decode())
    A = pickle.loads(_forge(sparsenet.SharedCSR, {"codes": [1], "indices": [1], "indptr": [0, 1],
                                                  "shape": (1, 2), "codebook": [1.0, 4.0]}))
    np.testing.assert_array_equal(sparsenet.spmv(A, np.ones(2)), [4.0])


def _empty_objects():
    return [(cls, cls.__new__(cls)) for cls in (sparsenet.CSR, sparsenet.SharedCSR,
                                                sparsenet.SharedWeights, sparsenet.HashedWeights)]


def test_objects_made_without_a_checking_constructor_are_refused():
    # NEWOBJ with no BUILD gives an object with no fields; attributes set by hand on one are not
    # checked either: every entry point that hands arrays to a kernel refuses both
    A = pickle.loads(_forge(sparsenet.CSR, {}, build=False))
    with pytest.raises(ValueError, match="no checking constructor"):
        sparsenet.spmv(A, np.ones(2))
    A = sparsenet.CSR.__new__(sparsenet.CSR)
    for name, value in _csr_fields(indices=[2**30]).items():
        setattr(A, name, value)
    for call in (lambda: sparsenet.spmv(A, np.ones(2)), lambda: sparsenet.spmm(A, np.ones((2, 1))),
                 lambda: A.optimize(), lambda: sparsenet.SharedCSR.from_csr(A, [1.0])):
        with pytest.raises(ValueError, match="no checking constructor"):
            call()
    with pytest.raises(AttributeError):
        A._checked = True
    sw = sparsenet.SharedWeights.__new__(sparsenet.SharedWeights)
    sw.codebook, sw.codes = np.ones(1), np.full((1, 1), 40000, dtype=np.uint16)
    hw = sparsenet.HashedWeights.__new__(sparsenet.HashedWeights)
    hw.shape, hw.codebook, hw.seed = (2, 2), np.ones(0), 0
    for call in (lambda: sparsenet.shared_matvec(sw, np.ones(1)), lambda: sparsenet.decode(sw),
                 lambda: sparsenet.codebook_grad(sw, np.ones(1), np.ones(1)),
                 lambda: sparsenet.hashed_matvec(hw, np.ones(2)), lambda: sparsenet.decode(hw),
                 lambda: sparsenet.codebook_grad(hw, np.ones(2), np.ones(2))):
        with pytest.raises(ValueError, match="no checking constructor"):
            call()


def test_setstate_cannot_rewrite_a_built_object():
    A = sparsenet.CSR.from_dense(np.eye(2))
    with pytest.raises(TypeError, match="already built"):
        A.__setstate__((None, _csr_fields(indices=[1])))


def test_ordinary_pickles_and_copies_still_round_trip():
    import copy

    for obj in (sparsenet.CSR.from_dense(np.eye(3)), sparsenet.SharedWeights([1.0, 2.0], [[0, 1]]),
                sparsenet.HashedWeights((2, 2), [1.0], 3),
                sparsenet.SharedCSR.from_dense(np.eye(2), [1.0])):
        for clone in (pickle.loads(pickle.dumps(obj)), copy.copy(obj), copy.deepcopy(obj)):
            assert clone._checked is True and type(clone) is type(obj)
            np.testing.assert_array_equal(clone.toarray() if hasattr(clone, "toarray")
                                          else clone.decode(),
                                          obj.toarray() if hasattr(obj, "toarray") else obj.decode())


# --- misaligned arrays ---


def misaligned(a):
    """A copy of `a` (C order) whose data pointer is 1 byte past an aligned address."""
    a = np.ascontiguousarray(a)
    buffer = np.zeros(a.nbytes + a.itemsize + 1, dtype=np.uint8)
    start = 1 + (-buffer.ctypes.data) % a.itemsize
    m = buffer[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    m[...] = a
    assert m.flags.c_contiguous and (a.itemsize == 1 or not m.flags.aligned)
    return m


@pytest.fixture(params=["native", "numpy"])
def backend(request):
    with sparsenet.use_backend(request.param):
        yield request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_misaligned_csr_products(backend, dtype, index):
    rng = np.random.default_rng(0)
    S = sp.random(30, 50, density=0.2, format="csr", dtype=dtype, random_state=2)
    S.indices, S.indptr = S.indices.astype(index), S.indptr.astype(index)
    M = sp.csr_array((misaligned(S.data), misaligned(S.indices), misaligned(S.indptr)),
                     shape=S.shape)
    x, X = rng.standard_normal(50).astype(dtype), rng.standard_normal((50, 3)).astype(dtype)
    xt = rng.standard_normal(30).astype(dtype)
    for A in (M, sparsenet.CSR(M.data, M.indices, M.indptr, M.shape, copy=False)):
        np.testing.assert_allclose(sparsenet.spmv(A, misaligned(x)), S @ x, rtol=1e-5)
        np.testing.assert_allclose(sparsenet.spmm(A, misaligned(X)), S @ X, rtol=1e-5)
        np.testing.assert_allclose(sparsenet.spmv(A, misaligned(xt), transpose=True), S.T @ xt,
                                   rtol=1e-5)
        with pytest.raises(ValueError, match="aligned"):
            sparsenet.spmv(A, x, out=misaligned(np.empty(30, dtype)))
        with pytest.raises(ValueError, match="aligned"):
            sparsenet.spmm(A, X, out=misaligned(np.empty((30, 3), dtype)))
    C = sparsenet.CSR(M.data, M.indices, M.indptr, M.shape, copy=False)
    assert C.data.flags.aligned and C.indices.flags.aligned and C.indptr.flags.aligned


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_misaligned_thresholding(backend, dtype):
    x = np.random.default_rng(1).standard_normal((6, 40)).astype(dtype)
    m = misaligned(x)
    for f, arg in ((sparsenet.binarize, 0.1), (sparsenet.hard_threshold, 0.5),
                   (sparsenet.soft_threshold, 0.5)):
        np.testing.assert_array_equal(f(m, arg), f(x, arg))
        np.testing.assert_array_equal(f(m, arg, format="csr").toarray(), f(x, arg).astype(dtype))
        with pytest.raises(ValueError, match="aligned"):
            f(x, arg, out=misaligned(np.empty_like(x)))
    np.testing.assert_array_equal(sparsenet.topk(m, 3), sparsenet.topk(x, 3))
    np.testing.assert_array_equal(sparsenet.prune(m, sparsity=0.5).toarray(),
                                  sparsenet.prune(x, sparsity=0.5).toarray())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_misaligned_shared_and_hashed(backend, dtype):
    rng = np.random.default_rng(2)
    codebook = rng.standard_normal(300).astype(dtype)
    codes = rng.integers(0, 300, (20, 30)).astype(np.uint16)
    sw = sparsenet.SharedWeights(misaligned(codebook), misaligned(codes), copy=False)
    assert sw.codebook.flags.aligned and sw.indices.flags.aligned
    W = codebook[codes]
    x, X = rng.standard_normal(30).astype(dtype), rng.standard_normal((30, 4)).astype(dtype)
    tol = dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sparsenet.shared_matvec(sw, misaligned(x)), W @ x, **tol)
    np.testing.assert_allclose(sparsenet.shared_matmul(sw, misaligned(X)), W @ X, **tol)
    np.testing.assert_array_equal(sparsenet.decode(sw), W)
    with pytest.raises(ValueError, match="aligned"):
        sparsenet.shared_matvec(sw, x, out=misaligned(np.empty(20, dtype)))
    hw = sparsenet.HashedWeights((20, 30), misaligned(codebook), seed=3)
    H = hw.decode()
    np.testing.assert_allclose(sparsenet.hashed_matvec(hw, misaligned(x)), H @ x, **tol)
    np.testing.assert_allclose(sparsenet.hashed_matmul(hw, misaligned(X)), H @ X, **tol)
    with pytest.raises(ValueError, match="aligned"):
        sparsenet.hashed_matmul(hw, X, out=misaligned(np.empty((20, 4), dtype)))
    G = rng.standard_normal((20, 4)).astype(dtype)
    np.testing.assert_allclose(sparsenet.codebook_grad(sw, misaligned(G), misaligned(X)),
                               reference.codebook_grad(sw, G, X), **tol)
    A = sparsenet.SharedCSR(misaligned(np.array([1, 0], np.uint16)),
                            misaligned(np.array([0, 2], np.int64)),
                            misaligned(np.array([0, 1, 2], np.int64)), (2, 3),
                            misaligned(np.array([0.5, 2.0], dtype)), copy=False)
    np.testing.assert_array_equal(sparsenet.spmv(A, misaligned(np.ones(3, dtype))), [2.0, 0.5])
    sw2 = sparsenet.kmeans_codebook(misaligned(W), 4)
    np.testing.assert_array_equal(sw2.codebook, sparsenet.kmeans_codebook(W, 4).codebook)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_misaligned_omp(backend, dtype):
    rng = np.random.default_rng(3)
    D = rng.standard_normal((20, 40))
    D = (D / np.linalg.norm(D, axis=0)).astype(dtype)
    X = rng.standard_normal((20, 5)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for Xm in (misaligned(X), misaligned(np.asfortranarray(X).T).T):
            np.testing.assert_array_equal(sparsenet.omp(misaligned(D), Xm, n_nonzero_coefs=3),
                                          sparsenet.omp(D, X, n_nonzero_coefs=3))
        G, DtX = D.T @ D, D.T @ X
        norms = (X.astype(np.float64) ** 2).sum(0).astype(dtype)
        np.testing.assert_array_equal(
            sparsenet.omp_gram(misaligned(G), misaligned(DtX), tol=0.1,
                               norms_squared=misaligned(norms)),
            sparsenet.omp_gram(G, DtX, tol=0.1, norms_squared=norms))


# --- OMP scratch ---


def test_omp_gram_with_tol_scratch_grows_with_the_atoms_used():
    """omp_gram with tol, 4096 float64 atoms, 2 threads: each thread's scratch was sized for
    n_atoms atoms (about 256 MiB, zeroed, so resident); it now grows with the atoms chosen. Run in
    a fresh process so that the peak resident size measures this call alone."""
    script = textwrap.dedent("""
        import resource, warnings, numpy as np, sparsenet
        sparsenet.set_num_threads(2)
        rng = np.random.default_rng(0)
        D = rng.standard_normal((64, 4096)); D /= np.linalg.norm(D, axis=0)
        G = D.T @ D; X = rng.standard_normal((64, 64)); DtX = D.T @ X
        sparsenet.omp_gram(G, DtX, n_nonzero_coefs=1)  # the same arrays, a one-atom scratch
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        warnings.simplefilter("ignore")
        coef = sparsenet.omp_gram(G, DtX, tol=1e-6, norms_squared=(X ** 2).sum(0))
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        ref = sparsenet.reference.omp_gram(G, DtX, tol=1e-6, norms_squared=(X ** 2).sum(0))
        assert np.allclose(coef, ref, atol=1e-8), abs(coef - ref).max()
        print(grown, int((coef != 0).sum(0).max()))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split()
    grown_mib, atoms = float(out[0]), int(out[1])
    assert atoms > 16  # past the first size of the per-atom scratch (rank 64 bounds it)
    assert grown_mib <= 2 * 64, f"peak resident memory grew by {grown_mib:.0f} MiB"


def test_omp_scratch_grows_past_its_first_size():
    """Signals that need many atoms (more than the first 16 of the per-atom scratch, and several
    doublings) give the reference's answer, with tol and with n_nonzero_coefs."""
    rng = np.random.default_rng(4)
    D = rng.standard_normal((120, 150))
    D /= np.linalg.norm(D, axis=0)
    X = rng.standard_normal((120, 7))
    norms = (X ** 2).sum(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for kwargs in (dict(tol=1e-9), dict(n_nonzero_coefs=100)):
            got = sparsenet.omp(D, X, **kwargs)
            assert (got != 0).sum(0).max() > 64
            np.testing.assert_allclose(got, reference.omp(D, X, **kwargs), atol=1e-7)
            got = sparsenet.omp_gram(D.T @ D, D.T @ X, norms_squared=norms, **kwargs)
            np.testing.assert_allclose(got, reference.omp_gram(D.T @ D, D.T @ X,
                                                               norms_squared=norms, **kwargs),
                                       atol=1e-7)
            csc = sparsenet.omp(D, X, return_format="csc", **kwargs)
            np.testing.assert_allclose(csc.toarray(), got, atol=1e-7)


# --- the NumPy reference agrees with native (item 10) ---


@pytest.mark.parametrize("f, arg", [(sparsenet.soft_threshold, 1.0), (sparsenet.binarize, 1.0),
                                    (sparsenet.hard_threshold, 1.0)])
@pytest.mark.parametrize("x", [np.array(1.5), np.float64(-2.5), 0.5, np.array(0.5, np.float32)])
def test_zero_d_inputs_give_zero_d_arrays_on_both_backends(f, arg, x):
    results = {}
    for backend in ("native", "numpy"):
        with sparsenet.use_backend(backend):
            results[backend] = f(x, arg)
    a, b = results["native"], results["numpy"]
    assert type(a) is type(b) is np.ndarray and a.shape == b.shape == () and a.dtype == b.dtype
    assert a == b


@pytest.mark.parametrize("f", [sparsenet.binarize, sparsenet.hard_threshold,
                               sparsenet.soft_threshold])
def test_csr_format_with_out_is_refused_by_both_backends(backend, f):
    with pytest.raises(ValueError, match="only for format='dense'"):
        f(np.ones((2, 2)), 0.5, format="csr", out=np.empty((2, 2)))
    with pytest.raises(ValueError, match="only for format='dense'"):
        getattr(reference, f.__name__)(np.ones((2, 2)), 0.5, format="csr", out=np.empty((2, 2)))


def test_reference_transposed_product_with_no_columns_allocates_nothing_per_column():
    """k = 0 on a matrix of 2**31 + 5 columns: the reference transposed A (O(n_cols) memory,
    16 GiB) before noticing there was nothing to compute; the result itself is empty."""
    n_cols = 2**31 + 5
    A = sparsenet.CSR([1.0], np.array([n_cols - 1], dtype=np.int64), np.array([0, 1], np.int64),
                      (1, n_cols))
    limit = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (limit[0] if limit[0] != resource.RLIM_INFINITY
                                            else 8 << 30, limit[1]))  # a 16 GiB array now fails
    try:
        for backend in ("native", "numpy"):
            with sparsenet.use_backend(backend):
                Y = sparsenet.spmm(A, np.empty((1, 0)), transpose=True)
            assert Y.shape == (n_cols, 0)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, limit)
