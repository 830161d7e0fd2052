"""CSR products: native == NumPy reference == SciPy, on random and adversarial matrices."""
import gc

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsenet
from sparsenet import reference
from sparsenet._validate import aligned_empty

# every test twice on an AVX-512 machine: x read by loads and by gathers (sn_hw_gathers)
pytestmark = pytest.mark.usefixtures("hw_gathers")

# Error allowed relative to sum_p |a_p x_p| (what rounding scales with), not to the result itself.
EPS = {np.float32: 2e-5, np.float64: 1e-12}


def random_csr(rng, n_rows, n_cols, density=0.2, dtype=np.float64, index=np.int32, *,
               duplicates=False, unsorted=False):
    """A scipy csr_array with optional duplicate and unsorted column indices in its rows."""
    A = sp.random(n_rows, n_cols, density=density, format="csr", dtype=dtype, random_state=rng)
    data, indices, indptr = A.data, A.indices.astype(index), A.indptr.astype(index)
    if duplicates and A.nnz:
        counts = np.diff(indptr)
        rows = np.repeat(np.arange(n_rows), counts)
        rows = np.concatenate([rows, rows[: A.nnz // 3]])
        cols = np.concatenate([indices, indices[: A.nnz // 3]])
        vals = np.concatenate([data, data[: A.nnz // 3]])
        order = np.argsort(rows, kind="stable")
        data, indices = vals[order], cols[order].astype(index)
        indptr = np.zeros(n_rows + 1, dtype=index)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    if unsorted:
        for i in range(n_rows):
            s, e = indptr[i], indptr[i + 1]
            perm = rng.permutation(e - s)
            indices[s:e], data[s:e] = indices[s:e][perm], data[s:e][perm]
    return sp.csr_array((data, indices, indptr), shape=(n_rows, n_cols))


def expected(A, X, transpose, absolute=False):
    """float64 SciPy result (duplicates summed, like sparsenet); with absolute=True, |A| @ |X|."""
    M = (A.to_scipy() if isinstance(A, sparsenet.CSR) else A).astype(np.float64)
    X = np.asarray(X, dtype=np.float64)
    if absolute:
        M, X = abs(M), np.abs(X)
    return (M.T if transpose else M) @ X


def assert_close(got, A, X, transpose):
    want = expected(A, X, transpose)
    bound = EPS[got.dtype.type] * (expected(A, X, transpose, absolute=True) + 1)
    assert got.shape == want.shape
    assert np.all((np.abs(got - want) <= bound) | (np.isnan(got) & np.isnan(want))), \
        np.max(np.abs(got - want) - bound)


def check_product(A, X, transpose, **kwargs):
    dtype = np.result_type(A.dtype, X.dtype)
    fn = sparsenet.spmv if X.ndim == 1 else sparsenet.spmm
    ref = reference.spmv if X.ndim == 1 else reference.spmm
    got = fn(A, X, transpose=transpose, **kwargs)
    assert got.dtype == dtype
    assert_close(got, A, X, transpose)
    assert_close(ref(A, X, transpose=transpose), A, X, transpose)
    return got


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("k", [None, 1, 3, 8, 17, 64, 133])
def test_matches_scipy(isa, dtype, index, transpose, k):
    rng = np.random.default_rng(hash((isa, index, transpose, k)) % 2**32)
    A = random_csr(rng, 57, 43, 0.3, dtype, index)
    n_in = A.shape[0] if transpose else A.shape[1]
    X = rng.standard_normal(n_in if k is None else (n_in, k)).astype(dtype)
    check_product(A, X, transpose)


@st.composite
def problems(draw):
    n_rows = draw(st.integers(0, 30))
    n_cols = draw(st.integers(0, 30))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    index = draw(st.sampled_from([np.int32, np.int64]))
    duplicates, unsorted = draw(st.booleans()), draw(st.booleans())
    transpose = draw(st.booleans())
    k = draw(st.sampled_from([None, 0, 1, 2, 5, 16, 33]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    A = random_csr(rng, n_rows, n_cols, density, dtype, index, duplicates=duplicates,
                   unsorted=unsorted)
    n_in = n_rows if transpose else n_cols
    X = rng.standard_normal(n_in if k is None else (n_in, k)).astype(dtype)
    return A, X, transpose


@settings(max_examples=300, deadline=None)
@given(problems())
def test_random_problems(problem):
    A, X, transpose = problem
    got = check_product(A, X, transpose)
    np.testing.assert_array_equal(got, check_product(sparsenet.CSR.from_scipy(A), X, transpose))


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0), (1, 1), (1, 1000), (1000, 1)])
def test_degenerate_shapes(shape, transpose):
    rng = np.random.default_rng(0)
    A = random_csr(rng, *shape, density=0.5)
    n_in = shape[0] if transpose else shape[1]
    check_product(A, rng.standard_normal(n_in), transpose)
    check_product(A, rng.standard_normal((n_in, 3)), transpose)


def test_empty_rows_single_nonzero_and_explicit_zeros():
    A = sp.csr_array((np.array([0.0, 5.0]), np.array([1, 2]), np.array([0, 0, 0, 2, 2])),
                     shape=(4, 3))
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(sparsenet.spmv(A, x), [0, 0, 15, 0])
    np.testing.assert_array_equal(sparsenet.spmv(A, np.ones(4), transpose=True), [0, 0, 5])


def test_dense_rows_among_empty_ones_use_all_threads_correctly():
    """A few dense rows and many empty ones: the nnz-balanced split must still cover every row."""
    rng = np.random.default_rng(1)
    n = 3000
    dense_rows = np.zeros((n, n))
    dense_rows[[0, 1500, 2999]] = rng.standard_normal((3, n))
    A = sp.csr_array(dense_rows)
    sparsenet.set_num_threads(2)
    for transpose in (False, True):
        check_product(A, rng.standard_normal(n), transpose)
        # 512 columns: enough work for two threads (csrc/csr_tuning.h, SN_CSR_GRAIN)
        check_product(A, rng.standard_normal((n, 512)), transpose)


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("k", [None, 1, 5, 64])
def test_thread_count_does_not_change_results(transpose, k):
    rng = np.random.default_rng(2)
    # enough work for three threads at k = 1 (csrc/csr_tuning.h, SN_CSR_GRAIN), and chunks
    A = random_csr(rng, 3000, 2500, 0.15, np.float32)
    n_in = A.shape[0] if transpose else A.shape[1]
    X = rng.standard_normal(n_in if k is None else (n_in, k)).astype(np.float32)
    fn = sparsenet.spmv if k is None else sparsenet.spmm
    results = []
    for threads in (1, 2, 3):
        sparsenet.set_num_threads(threads)
        results.append(fn(A, X, transpose=transpose))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_portable_path_agrees_with_dispatched():
    rng = np.random.default_rng(3)
    A = random_csr(rng, 300, 200, 0.1, np.float32)
    X = rng.standard_normal((200, 37)).astype(np.float32)
    best = sparsenet.spmm(A, X)
    sparsenet.set_isa("baseline")
    np.testing.assert_allclose(sparsenet.spmm(A, X), best, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("transpose", [False, True])
def test_duplicates_are_summed_and_unsorted_indices_work(transpose):
    rng = np.random.default_rng(4)
    A = random_csr(rng, 40, 30, 0.3, duplicates=True, unsorted=True)
    C = sparsenet.CSR.from_scipy(A)
    assert not C.has_canonical_format
    n_in = 40 if transpose else 30
    check_product(A, rng.standard_normal(n_in), transpose)
    check_product(A, rng.standard_normal((n_in, 6)), transpose)
    assert sparsenet.CSR.from_scipy(random_csr(rng, 40, 30)).has_canonical_format


def test_layouts_of_X():
    rng = np.random.default_rng(5)
    A = random_csr(rng, 30, 40, 0.3)
    X = rng.standard_normal((80, 12))
    for view in (np.asfortranarray(X[:40]), X[::2], X[:40, ::3], X[40:, 2:9].T.copy().T):
        check_product(A, view, False)
    check_product(A, X[::2, 0], False)  # strided vector


def test_mixed_dtypes_follow_numpy_promotion():
    rng = np.random.default_rng(6)
    A32 = random_csr(rng, 10, 8, 0.5, np.float32)
    x64 = rng.standard_normal(8)
    assert sparsenet.spmv(A32, x64).dtype == np.float64
    assert sparsenet.spmv(A32, x64.astype(np.float32)).dtype == np.float32
    assert sparsenet.spmv(A32, np.arange(8)).dtype == np.float64  # integers compute in float64
    Aint = sp.csr_array(np.array([[1, 0], [2, 3]], dtype=np.int64))
    np.testing.assert_array_equal(sparsenet.spmv(Aint, np.array([1, 1])), [1.0, 5.0])


def test_nan_and_inf_propagate_like_scipy():
    A = sp.csr_array(np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]]))
    x = np.array([np.nan, 1.0])
    np.testing.assert_array_equal(sparsenet.spmv(A, x), A @ x)  # NaN only where stored
    np.testing.assert_array_equal(sparsenet.spmv(A, np.array([1.0, np.inf, 0.0]), transpose=True),
                                  A.T @ np.array([1.0, np.inf, 0.0]))
    B = sp.csr_array((np.array([np.nan, 1.0]), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2))
    np.testing.assert_array_equal(np.isnan(sparsenet.spmv(B, np.zeros(2))), [True, False])


@pytest.mark.parametrize("transpose", [False, True])
def test_out_is_written_and_returned(transpose):
    rng = np.random.default_rng(7)
    A = random_csr(rng, 20, 15, 0.3, np.float32)
    n_in, n_out = (20, 15) if transpose else (15, 20)
    x = rng.standard_normal(n_in).astype(np.float32)
    out = np.full(n_out, np.nan, dtype=np.float32)
    assert sparsenet.spmv(A, x, transpose=transpose, out=out) is out
    assert_close(out, A, x, transpose)
    X = rng.standard_normal((n_in, 9)).astype(np.float32)
    OUT = np.full((n_out, 9), np.nan, dtype=np.float32)
    for _ in range(2):  # reuse
        assert sparsenet.spmm(A, X, transpose=transpose, out=OUT) is OUT
        assert_close(OUT, A, X, transpose)
    with sparsenet.use_backend("numpy"):
        OUT[:] = np.nan
        assert sparsenet.spmm(A, X, transpose=transpose, out=OUT) is OUT
        assert_close(OUT, A, X, transpose)


def test_inputs_are_not_modified_and_read_only_inputs_work():
    rng = np.random.default_rng(8)
    A = random_csr(rng, 20, 15, 0.3)
    X = rng.standard_normal((15, 4))
    copies = [a.copy() for a in (A.data, A.indices, A.indptr, X)]
    for a in (A.data, A.indices, A.indptr, X):
        a.flags.writeable = False
    check_product(A, X, False)
    for a, c in zip((A.data, A.indices, A.indptr, X), copies):
        np.testing.assert_array_equal(a, c)


def test_csr_container():
    rng = np.random.default_rng(9)
    A = random_csr(rng, 12, 9, 0.4, np.float32)
    C = sparsenet.CSR.from_scipy(A)
    assert C.shape == (12, 9) and C.nnz == A.nnz and C.dtype == np.float32
    assert not C.data.flags.writeable and not C.indices.flags.writeable
    A.data[:] = 0  # the container copied: later changes to the source do not reach it
    assert np.any(C.data != 0)
    for kind, cls in (("array", sp.csr_array), ("matrix", sp.csr_matrix)):
        S = C.to_scipy(kind)
        assert isinstance(S, cls)
        np.testing.assert_array_equal(S.toarray(), C.toarray())
    W = rng.standard_normal((6, 5)) * (rng.random((6, 5)) < 0.4)
    D = sparsenet.CSR.from_dense(W)
    np.testing.assert_array_equal(D.toarray(), W)
    assert D.nnz == np.count_nonzero(W)
    np.testing.assert_allclose(D @ np.ones(5), W @ np.ones(5))
    np.testing.assert_allclose(D @ np.ones((5, 2)), W @ np.ones((5, 2)))
    assert "6x5" in repr(D)
    M = sparsenet.CSR.from_scipy(sp.coo_array(W))  # other formats are converted
    np.testing.assert_array_equal(M.toarray(), W)
    np.testing.assert_allclose(sparsenet.spmv(sp.csr_matrix(W), np.ones(5)), W @ np.ones(5))


# ---- bad input: a clear exception naming the argument, never a crash ---------------------------

def _csr(data, indices, indptr, shape):
    return sp.csr_array((np.asarray(data, dtype=float), np.asarray(indices), np.asarray(indptr)),
                        shape=shape)


def _raw(data, indices, indptr, shape):
    """A scipy csr_array whose arrays are replaced after construction (scipy would refuse them)."""
    A = sp.csr_array((3, 3))
    A.data, A.indices, A.indptr = np.asarray(data), np.asarray(indices), np.asarray(indptr)
    A._shape = shape
    return A


BAD_MATRICES = [
    (lambda: _raw([1.0], [3], [0, 1, 1, 1], (3, 3)), ValueError, r"A\.indices\[0\]=3"),
    (lambda: _raw([1.0], [-1], [0, 1, 1, 1], (3, 3)), ValueError, r"A\.indices\[0\]=-1"),
    (lambda: _raw([1.0, 1.0], [0, 2**40], [0, 1, 2, 2], (3, 3)), ValueError, "out of range"),
    (lambda: _raw([1.0, 2.0], [0, 1], [0, 2, 1, 2], (3, 3)), ValueError, "non-decreasing"),
    (lambda: _raw([1.0, 2.0], [0, 1], [1, 2, 2, 2], (3, 3)), ValueError, r"indptr\[0\]"),
    (lambda: _raw([1.0, 2.0], [0, 1], [0, 1, 2, 3], (3, 3)), ValueError, r"indptr\[-1\]"),
    (lambda: _raw([1.0, 2.0], [0, 1], [0, 1, 2], (3, 3)), ValueError, "n_rows \\+ 1"),
    (lambda: _raw([1.0], [0, 1], [0, 1, 2, 2], (3, 3)), ValueError, "same length"),
    (lambda: _raw([1.0, 2.0], np.array([0.0, 1.0]), [0, 1, 2, 2], (3, 3)), TypeError, "indices"),
    (lambda: _raw(np.array([1 + 1j, 2]), [0, 1], [0, 1, 2, 2], (3, 3)), TypeError, "A.data"),
    (lambda: _raw([1.0, 2.0], [0, 1], [0, -1, 2, 2], (3, 3)), ValueError, "non-decreasing"),
    (lambda: _raw([1.0, 2.0], np.array([0, 1], dtype=np.uint64), np.array([0, 1, 2, 2]), (3, 3)),
     None, None),  # mixed index dtypes are fine
    (lambda: sp.coo_array(np.eye(3)), TypeError, "tocsr"),
    (lambda: np.eye(3), TypeError, "sparsenet.CSR or a scipy.sparse CSR"),
]


@pytest.mark.parametrize("make, exc, match", BAD_MATRICES)
@pytest.mark.parametrize("backend", ["native", "numpy"])
def test_bad_matrices_raise(make, exc, match, backend):
    sparsenet.set_backend(backend)
    A = make()
    for call in (lambda: sparsenet.spmv(A, np.ones(3)),
                 lambda: sparsenet.spmm(A, np.ones((3, 2)), transpose=True)):
        if exc is None:
            call()
        else:
            with pytest.raises(exc, match=match):
                call()


def test_bad_vectors_and_out_raise():
    A = _csr([1.0, 2.0], [0, 1], [0, 1, 2, 2], (3, 2))
    with pytest.raises(ValueError, match=r"x.shape\[0\] must be 2"):
        sparsenet.spmv(A, np.ones(3))
    with pytest.raises(ValueError, match=r"x.shape\[0\] must be 3"):
        sparsenet.spmv(A, np.ones(2), transpose=True)
    with pytest.raises(ValueError, match="x must be 1-D"):
        sparsenet.spmv(A, np.ones((2, 1)))
    with pytest.raises(ValueError, match="X must be 2-D"):
        sparsenet.spmm(A, np.ones(2))
    with pytest.raises(TypeError, match="x must have a real numeric dtype"):
        sparsenet.spmv(A, np.ones(2, dtype=complex))
    with pytest.raises(TypeError, match="x must be a dense array"):
        sparsenet.spmv(A, sp.csr_array(np.ones((2, 1))))
    x = np.ones(2)
    bad_outs = [
        (np.empty(2), ValueError, r"shape \(3,\)"),
        (np.empty(3, dtype=np.float32), TypeError, "dtype float64"),
        (np.empty(6)[::2], ValueError, "C-contiguous"),
        ([0.0, 0.0, 0.0], TypeError, "numpy.ndarray"),
    ]
    for out, exc, match in bad_outs:
        with pytest.raises(exc, match=match):
            sparsenet.spmv(A, x, out=out)
    ro = np.empty(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        sparsenet.spmv(A, x, out=ro)
    buf = np.ones(3)
    with pytest.raises(ValueError, match="share memory"):
        sparsenet.spmv(A, buf[:2], out=buf)
    with pytest.raises(ValueError, match="F-order|C-contiguous"):
        sparsenet.spmm(A, np.ones((2, 2)), out=np.empty((3, 2), order="F"))


def test_csr_constructor_errors():
    with pytest.raises(TypeError, match="shape"):
        sparsenet.CSR([1.0], [0], [0, 1], shape=None)
    with pytest.raises(ValueError, match=r"A.shape\[0\] must be in \[0, "):
        sparsenet.CSR([], [], [0], shape=(-1, 2))
    with pytest.raises(ValueError, match="1-D"):
        sparsenet.CSR([1.0], [[0]], [0, 1], shape=(1, 1))
    with pytest.raises(TypeError, match="scipy.sparse"):
        sparsenet.CSR.from_scipy(np.eye(2))
    with pytest.raises(ValueError, match="kind"):
        sparsenet.CSR.from_dense(np.eye(2)).to_scipy("coo")
    with pytest.raises(ValueError, match="W must be 2-D"):
        sparsenet.CSR.from_dense(np.ones(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("n_cols, k", [(3000, 64), (3000, 40), (70000, 3)])
def test_column_tiled_products(dtype, transpose, n_cols, k):
    """Sorted rows with a dense operand larger than the L2 block take the column-tiled kernels
    (panels x column blocks); rows that are empty or live in one block must come out right too."""
    rng = np.random.default_rng(n_cols + k)
    A = random_csr(rng, 400, n_cols, 0.05, dtype)
    lil = A.tolil()
    lil[5, :] = 0
    lil[7, :] = 0
    lil[7, n_cols - 3:] = 1.5
    A = sp.csr_array(lil)
    A.sort_indices()
    n_in = A.shape[0] if transpose else A.shape[1]
    X = rng.standard_normal((n_in, k)).astype(dtype)
    got = check_product(A, X, transpose)
    for threads in (1, 3):
        sparsenet.set_num_threads(threads)
        np.testing.assert_array_equal(sparsenet.spmm(A, X, transpose=transpose), got)


def _shifted(X, offset):
    """A copy of X whose data starts `offset` bytes after a cache line."""
    buffer = np.empty(X.nbytes + 128, np.uint8)
    start = -buffer.ctypes.data % 64 + offset
    Y = buffer[start:start + X.nbytes].view(X.dtype).reshape(X.shape)
    Y[...] = X
    return Y


def test_matrix_operands_are_realigned_only_when_it_pays():
    """A misaligned matrix operand is copied to a cache line only when its rows all start equally
    far from one and a product reads each of them often; otherwise the kernel takes it as it is."""
    from sparsenet._validate import ALIGN_MIN_BYTES, ALIGNMENT, REALIGN_MIN_READS, as_matrix_operand

    big = ALIGN_MIN_BYTES // 4  # float32 entries of an array large enough to be realigned
    for shape in [(0, 3), (5, 7), (big // 64, 64)]:
        a = aligned_empty(shape, np.float32)
        assert a.shape == shape and a.flags.c_contiguous
        assert a.nbytes < ALIGN_MIN_BYTES or a.ctypes.data % ALIGNMENT == 0
    X = _shifted(np.ones((big // 64, 64), np.float32), 16)
    assert as_matrix_operand(X, np.float32, REALIGN_MIN_READS).ctypes.data % ALIGNMENT == 0
    assert as_matrix_operand(X, np.float32, REALIGN_MIN_READS - 1) is X
    odd_rows = _shifted(np.ones((big // 60 + 30, 60), np.float32), 16)  # rows not whole lines
    assert odd_rows.nbytes >= ALIGN_MIN_BYTES
    assert as_matrix_operand(odd_rows, np.float32, 10 * REALIGN_MIN_READS) is odd_rows
    np.testing.assert_array_equal(as_matrix_operand(X, np.float64, 1), X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["csr", "optimized", "optimized-transpose", "scipy",
                                    "scipy-int64"])
def test_every_misalignment_of_a_wide_operand(isa, dtype, layout):
    # Wide rows of X that start a few values before a vector boundary: the kernels take those
    # columns first (csr_segments.h, peel_columns), then whole aligned vectors, and the columns
    # left at the end in narrower vectors; column blocks add their sums into the output, and take
    # these widths in panels of columns (the first with the columns before the boundary, the last
    # with those under a vector: csr_blocked_kernels.h, column_panel); a scipy matrix's rows go
    # through the checked kernel's copies of their indices.
    rng = np.random.default_rng(11)
    itemsize = np.dtype(dtype).itemsize
    S = random_csr(rng, 40, 300, density=0.3, dtype=dtype,
                   index=np.int64 if layout == "scipy-int64" else np.int32)
    A = {"csr": lambda: sparsenet.CSR(S), "optimized": lambda: sparsenet.CSR(S).optimize(batch=64),
         "optimized-transpose": lambda: sparsenet.CSR(S).optimize(batch=64, transpose=True),
         "scipy": lambda: S, "scipy-int64": lambda: S}[layout]()
    transpose = layout == "optimized-transpose"
    if layout == "optimized":
        assert A._blocks is not None and A._blocks.seg_ptr.shape[0] > 1  # blocks to add up
    if transpose:
        assert A._blocks_t is not None
    n_in = S.shape[0] if transpose else S.shape[1]
    for k in (2048 // itemsize, 2048 // itemsize + 7, 64 // itemsize):
        X = rng.standard_normal((n_in, k)).astype(dtype)
        want = sparsenet.spmm(A, X, transpose=transpose)
        assert_close(want, S, X, transpose)
        for offset in range(itemsize, 64, itemsize):
            got = sparsenet.spmm(A, _shifted(X, offset), transpose=transpose)
            assert_close(got, S, X, transpose)
            out = _shifted(np.full_like(want, np.nan), (offset * 3) % 64)
            assert sparsenet.spmm(A, _shifted(X, offset), transpose=transpose, out=out) is out
            np.testing.assert_array_equal(out, got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["csr", "optimized", "scipy"])
def test_every_width_of_X(isa, dtype, layout):
    # Every number of columns up to 17 AVX-512 vectors and a tail: a row of X goes in tiles of up
    # to 12 vectors, one tile of what is left, then the columns under a vector on their own
    # (csr_segments.h, gather_segment); column blocks add their sums into the output. out= starts
    # as NaN, so a column that no tile writes shows.
    rng = np.random.default_rng(12)
    S = random_csr(rng, 30, 200, density=0.15, dtype=dtype)
    A = {"csr": lambda: sparsenet.CSR(S), "optimized": lambda: sparsenet.CSR(S).optimize(batch=64),
         "scipy": lambda: S}[layout]()
    if layout == "optimized":
        assert A._blocks is not None and A._blocks.seg_ptr.shape[0] > 1  # blocks to add up
    for k in range(2, 17 * 16 + 16):
        X = rng.standard_normal((S.shape[1], k)).astype(dtype)
        out = np.full((S.shape[0], k), np.nan, dtype=dtype)
        assert sparsenet.spmm(A, X, out=out) is out
        assert_close(out, S, X, False)


def test_concurrent_calls_from_python_threads():
    """Kernels release the GIL and share no state: calls from several threads give the serial answers."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    A = sparsenet.CSR.from_scipy(random_csr(rng, 500, 400, 0.1, np.float32))
    inputs = [rng.standard_normal((400, 8)).astype(np.float32) for _ in range(8)]
    serial = [sparsenet.spmm(A, X) for X in inputs]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda X: sparsenet.spmm(A, X), inputs))
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)


def test_checked_containers_cannot_be_changed_after_their_check():
    """The kernels trust a CSR's arrays: they cannot be swapped, nor written through."""
    A = sparsenet.CSR.from_dense(np.eye(3))
    for name, value in (("indices", np.array([0, 1, 2**31 - 1], dtype=np.int32)),
                        ("shape", (3, 1)), ("data", np.ones(3))):
        with pytest.raises(AttributeError, match="read-only"):
            setattr(A, name, value)
    with pytest.raises(AttributeError):
        del A.indptr
    for array in (A.data, A.indices, A.indptr):
        with pytest.raises(ValueError):
            array[0] = 7
        with pytest.raises(ValueError):
            array.flags.writeable = True
    np.testing.assert_array_equal(sparsenet.spmv(A, np.ones(3), transpose=True), np.ones(3))


def test_bad_shapes_and_unsigned_indices_name_the_argument():
    with pytest.raises(TypeError, match=r"A.shape\[1\] must be an int"):
        sparsenet.CSR([], [], [0], shape=(0, 2.5))
    with pytest.raises(ValueError, match=r"A.shape\[1\] must be"):
        sparsenet.CSR([], [], [0], shape=(0, 2**70))
    with pytest.raises(ValueError, match="above 2\\*\\*63"):
        sparsenet.CSR([1.0], np.array([2**64 - 1], dtype=np.uint64), np.array([0, 1]), shape=(1, 2))


def _vector_layouts(x):
    """x as spmv may get it: C-contiguous, a strided view, 1 byte off alignment, read-only."""
    strided = np.empty(2 * x.shape[0], x.dtype)[::2]
    strided[...] = x
    buffer = np.zeros(x.nbytes + x.itemsize + 1, dtype=np.uint8)
    start = 1 + (-buffer.ctypes.data) % x.itemsize
    shifted = buffer[start:start + x.nbytes].view(x.dtype)
    shifted[...] = x
    frozen = x.copy()
    frozen.flags.writeable = False
    return {"contiguous": x, "strided": strided, "misaligned": shifted, "read-only": frozen}


@pytest.mark.parametrize("kind", ["csr", "csr-int64", "optimized", "optimized-transpose",
                                  "scipy-array", "scipy-matrix", "scipy-int64"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transpose", [False, True])
def test_one_vector_fast_path_equals_the_general_path(kind, dtype, transpose):
    # spmv without out= takes a shorter path (csr._plain_vector_product) when it can; with out= it
    # takes the general one. Both run the same kernel, so the results agree bit for bit, for every
    # layout of x (the fast path hands the ones it cannot read in place back to the general path).
    rng = np.random.default_rng(7)
    S = random_csr(rng, 90, 70, density=0.15, dtype=dtype,
                   index=np.int64 if kind.endswith("int64") else np.int32)
    A = {"csr": lambda: sparsenet.CSR(S), "csr-int64": lambda: sparsenet.CSR(S),
         "optimized": lambda: sparsenet.CSR(S).optimize(),
         "optimized-transpose": lambda: sparsenet.CSR(S).optimize(batch=1, transpose=True),
         "scipy-array": lambda: S, "scipy-int64": lambda: S,
         "scipy-matrix": lambda: sp.csr_matrix(S)}[kind]()
    x = rng.standard_normal(S.shape[0] if transpose else S.shape[1]).astype(dtype)
    general = np.empty(S.shape[1] if transpose else S.shape[0], dtype)
    sparsenet.spmv(A, x, transpose=transpose, out=general)
    np.testing.assert_allclose(general, expected(S, x, transpose), rtol=1e-4 * (dtype == np.float32)
                               + 1e-12, atol=1e-5)
    for layout, v in _vector_layouts(x).items():
        fast = sparsenet.csr._plain_vector_product(A, v, transpose)
        assert (fast is None) == (layout in ("strided", "misaligned")), layout
        y = sparsenet.spmv(A, v, transpose=transpose)
        assert y.dtype == dtype and y.shape == general.shape
        np.testing.assert_array_equal(y, general, err_msg=layout)


@pytest.mark.parametrize("n_cols", [1, 16, 17, 32, 33, 64, 65, 100, 128, 129])
@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_vectors_of_at_most_128_floats_held_in_registers(isa, n_cols, index):
    # float32 x of <= 128 entries sits in AVX-512 registers, read by permutes (csr_kernels.h,
    # dot_rows_x_registers): rows from empty to every column (several vectors of entries, a
    # partial last one), each table size and its edges. Checked (scipy) and trusted (CSR,
    # optimize()d) products give the same bits at every thread count; both agree with float64
    # SciPy; an inf or NaN in x reaches exactly the rows that store its column.
    rng = np.random.default_rng(n_cols)
    lengths = np.concatenate([[0, n_cols, 1, min(16, n_cols), min(17, n_cols)],
                              rng.integers(0, n_cols + 1, 300)])
    cols = [np.sort(rng.choice(n_cols, size=n, replace=False)) for n in lengths]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(index)
    S = sp.csr_array((rng.standard_normal(int(indptr[-1])).astype(np.float32),
                      np.concatenate(cols).astype(index), indptr), shape=(len(lengths), n_cols))
    x = rng.standard_normal(n_cols).astype(np.float32)
    want = S.astype(np.float64) @ x.astype(np.float64)
    checked = sparsenet.spmv(S, x)
    scale = abs(S).astype(np.float64) @ np.abs(x).astype(np.float64)
    assert np.all(np.abs(checked - want) <= EPS[np.float32] * scale + 1e-30)
    for threads in (1, 2, 3):
        sparsenet.set_num_threads(threads)
        for A in (sparsenet.CSR(S), sparsenet.CSR(S).optimize(batch=1)):
            np.testing.assert_array_equal(sparsenet.spmv(A, x), checked)
    sparsenet.set_num_threads(None)
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    for column in {0, n_cols - 1}:  # lanes past a row's end look up column 0
        x_inf = x.copy()
        x_inf[column] = np.inf
        y, storing = sparsenet.spmv(S, x_inf), np.zeros(S.shape[0], bool)
        storing[rows[S.indices == column]] = True
        np.testing.assert_array_equal(~np.isfinite(y), storing)
        np.testing.assert_array_equal(sparsenet.spmv(sparsenet.CSR(S), x_inf), y)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0), (6, 4)])
@pytest.mark.parametrize("transpose", [False, True])
def test_one_vector_products_of_empty_matrices(shape, transpose):
    # the native one-vector product (csr.CSR._vector_product) on no rows, no columns, no entries
    A = sparsenet.CSR(np.zeros(shape, np.float32))
    x = np.ones(shape[0] if transpose else shape[1], np.float32)
    y = sparsenet.spmv(A, x, transpose=transpose)
    np.testing.assert_array_equal(y, np.zeros(shape[1] if transpose else shape[0], np.float32))
    assert A._vector is not None and y.dtype == np.float32


def test_one_vector_product_is_built_once_and_outlives_the_user_arrays():
    S = random_csr(np.random.default_rng(9), 40, 30, dtype=np.float64)
    A = sparsenet.CSR(S, copy=False)
    assert A._vector is None
    x = np.arange(30.0)
    first = sparsenet.spmv(A, x)
    built = A._vector
    assert built is not None
    del S  # the product holds the arrays it reads
    gc.collect()
    np.testing.assert_array_equal(sparsenet.spmv(A, x), first)
    assert A._vector is built
    assert A.optimize()._vector is None  # a new matrix builds its own
    with pytest.raises(AttributeError):
        A._vector = None  # a cache of checked state: read-only like the rest


def test_cached_one_vector_product_serves_only_what_it_can():
    # once built, spmv calls the cached product (VectorProduct.multiply) before anything else: it
    # reads x through NumPy's C API and must hand back every x it cannot read in place, the
    # directions with column blocks, and threads that run the NumPy reference
    rng = np.random.default_rng(11)
    S = random_csr(rng, 300, 500, density=0.2, dtype=np.float32)
    A = sparsenet.CSR(S).optimize(batch=1, transpose=True)
    x, u = rng.standard_normal(500).astype(np.float32), rng.standard_normal(300).astype(np.float32)
    forward, backward = sparsenet.spmv(A, x), sparsenet.spmv(A, u, transpose=True)
    product = A._vector
    assert product is not None
    assert product.multiply(x, False, sparsenet.backend.native_options()) is not None
    assert (product.multiply(u, True, sparsenet.backend.native_options()) is None) \
        == (A._blocks_t is not None)
    for v in [x.astype(">f4"), x.astype(np.float64), np.ma.masked_array(x), x[:-1], x[None, :],
              *[v for name, v in _vector_layouts(x).items() if name in ("strided", "misaligned")]]:
        assert product.multiply(v, False, sparsenet.backend.native_options()) is None
        if v.shape == x.shape:  # the general path computes it; the others are its errors
            np.testing.assert_allclose(sparsenet.spmv(A, v), forward, rtol=1e-5, atol=1e-5)
        else:
            with pytest.raises(ValueError, match="x"):
                sparsenet.spmv(A, v)
    np.testing.assert_array_equal(sparsenet.spmv(A, x), forward)
    np.testing.assert_array_equal(sparsenet.spmv(A, u, transpose=True), backward)
    assert sparsenet.backend.native_call_options() == sparsenet.backend.native_options()
    with sparsenet.use_backend("numpy"):
        assert sparsenet.backend.native_call_options() is None
        np.testing.assert_allclose(sparsenet.spmv(A, x), forward, rtol=1e-5, atol=1e-5)
    sparsenet.set_backend("numpy")
    try:
        assert sparsenet.backend.native_call_options() is None
    finally:
        sparsenet.set_backend("native")


def test_cached_one_vector_product_takes_large_results_from_the_buffer_cache():
    n_rows = (sparsenet._buffers.MIN_BYTES // 4) + 1  # one float32 more than a plain np.empty
    S = sp.csr_array((np.ones(n_rows, np.float32), np.zeros(n_rows, np.int32),
                      np.arange(n_rows + 1, dtype=np.int32)), shape=(n_rows, 2))
    A = sparsenet.CSR(S)
    x = np.array([3.0, 5.0], np.float32)
    sparsenet.set_buffer_cache(0)  # empty it (conftest restores the default after the test)
    sparsenet.set_buffer_cache(None)
    for _ in range(2):  # the first call builds the product, the second calls it first
        held = sparsenet._buffers.cached_blocks()
        small = sparsenet.spmv(A, np.ones(n_rows, np.float32), transpose=True)
        del small
        gc.collect()
        assert sparsenet._buffers.cached_blocks() == held  # np.empty: nothing comes back
        y = sparsenet.spmv(A, x)
        np.testing.assert_array_equal(y, np.full(n_rows, 3.0, np.float32))
        del y
        gc.collect()
        assert sparsenet._buffers.cached_blocks() == 1  # a block of the cache came back


def test_one_vector_fast_path_declines_what_it_does_not_cover():
    S = random_csr(np.random.default_rng(8), 20, 30, dtype=np.float32)
    x = np.ones(30, np.float32)
    mixed = S.copy()
    mixed.indices = mixed.indices.astype(np.int64)  # set afterwards: the constructor would unify them
    declined = [
        (S, x.astype(np.float64)),  # dtypes differ: NumPy's promotion, in the general path
        (S, x.astype(np.int64)),
        (S, [1.0] * 30),  # not an ndarray
        (S.tocsc(), np.ones(20, np.float32)),  # CSC: the transpose's view
        (sparsenet.CSR(S).T, np.ones(20, np.float32)),
        (S, np.ones(31, np.float32)),  # the general path's shape error
        (mixed, x),  # index dtypes differ: the general path widens them
    ]
    C = sparsenet.CSR(S)
    declined += [(C, v) for A, v in declined[:3] + declined[5:6]]
    declined += [(C, np.ma.masked_array(x)), (C, np.ones((30, 1), np.float32)),
                 (C, x.astype(">f4"))]  # a subclass, a matrix, the other byte order
    for A, v in declined:
        assert sparsenet.csr._plain_vector_product(A, v, False) is None
    for A in (S, C):
        assert sparsenet.csr._plain_vector_product(A, x, np.bool_(False)) is None
        with sparsenet.use_backend("numpy"):
            assert sparsenet.csr._plain_vector_product(A, x, False) is None
    unsealed = sparsenet.CSR.__new__(sparsenet.CSR)  # never checked: never handed to a kernel
    for name in ("data", "indices", "indptr", "shape", "_blocks", "_blocks_t", "_vector"):
        setattr(unsealed, name, getattr(C, name))
    assert sparsenet.csr._plain_vector_product(unsealed, x, False) is None
    if hasattr(sp, "csr_array") and sp.csr_array(np.ones(3)).ndim == 1:  # SciPy's 1-D arrays
        assert sparsenet.csr._plain_vector_product(sp.csr_array(np.ones(3)), x[:3], False) is None
        with pytest.raises(TypeError, match=r"A.shape must be a pair of ints"):
            sparsenet.spmv(sp.csr_array(np.ones(3)), x[:3])
    bad = sp.csr_array((S.data, S.indices.copy(), S.indptr), shape=S.shape)
    bad.indices[3] = 30  # out of range: the fused check finds it, the general path names it
    assert sparsenet.csr._plain_vector_product(bad, x, False) is None
    with pytest.raises(ValueError, match="indices"):
        sparsenet.spmv(bad, x)
