"""Parameter sharing: native == NumPy reference (== scikit-learn's KMeans, == dense products), on
random and adversarial inputs; every bad input raises the right exception."""
import io
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsenet
from sparsenet import reference

# every test twice on an AVX-512 machine: codebooks read by loads and by gathers (sn_hw_gathers)
pytestmark = pytest.mark.usefixtures("hw_gathers")

TOL = {np.float32: dict(rtol=2e-5, atol=2e-4), np.float64: dict(rtol=1e-12, atol=1e-11)}
CODES = [np.uint8, np.uint16]


def random_shared(rng, shape, n_codes, dtype=np.float32, code=np.uint8):
    cb = rng.standard_normal(n_codes).astype(dtype)
    return sparsenet.SharedWeights(cb, rng.integers(0, n_codes, shape).astype(code))


def random_hashed(rng, shape, n_codes, dtype=np.float32, seed=12345):
    return sparsenet.HashedWeights(shape, rng.standard_normal(n_codes).astype(dtype), seed)


def dense_product(w, X, transpose):
    W = reference.decode(w).astype(np.float64)
    return (W.T if transpose else W) @ np.asarray(X, dtype=np.float64)


# ---------------------------------------------------------------- SharedWeights
def test_shared_weights_attributes_and_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    sw = random_shared(rng, (30, 20), 16)
    assert sw.shape == (30, 20) and sw.dtype == np.float32 and sw.n_codes == 16
    assert sw.nbytes == 16 * 4 + 600
    assert sw.compression_ratio == pytest.approx(600 * 4 / (16 * 4 + 600))
    np.testing.assert_array_equal(sw.decode(), sw.codebook[sw.codes])
    assert not sw.codebook.flags.writeable and not sw.codes.flags.writeable
    path = tmp_path / "sw.npz"
    np.savez(path, **sw.to_arrays())
    with np.load(path, allow_pickle=False) as f:
        back = sparsenet.SharedWeights(**f)
    np.testing.assert_array_equal(back.codebook, sw.codebook)
    np.testing.assert_array_equal(back.codes, sw.codes)
    assert back.codes.dtype == np.uint8 and back.codebook.dtype == np.float32
    assert "SharedWeights" in repr(sw)


def test_shared_weights_copies_and_converts_codes():
    codes = np.array([[0, 2], [1, 1]], dtype=np.int64)
    sw = sparsenet.SharedWeights([1, 2, 3], codes)
    codes[0, 0] = 2
    assert sw.codes[0, 0] == 0
    assert sw.codes.dtype == np.uint8 and sw.codebook.dtype == np.float64
    big = sparsenet.SharedWeights(np.zeros(300), np.array([299, 0]))
    assert big.codes.dtype == np.uint16


@pytest.mark.parametrize("codebook, codes, exc, match", [
    ([1.0, 2.0], [[0, 2]], ValueError, r"codes\[0, 1\]=2 is out of range for a codebook of 2"),
    ([1.0, 2.0], [[0, -1]], ValueError, "out of range"),
    ([1.0, 2.0], [[0.0, 1.0]], TypeError, "integer dtype"),
    ([], [[0]], ValueError, "1 to 65536 entries"),
    (np.zeros(65537), [[0]], ValueError, "1 to 65536 entries"),
    ([[1.0, 2.0]], [[0]], ValueError, "codebook must be 1-D"),
    (["a", "b"], [[0]], TypeError, "codebook must be an array of real numbers, got list"),
    ([1 + 1j], [[0]], TypeError, "real numeric"),
])
def test_shared_weights_bad_input(codebook, codes, exc, match):
    with pytest.raises(exc, match=match):
        sparsenet.SharedWeights(codebook, codes)


# ---------------------------------------------------------------- products
SHAPES = [(1, 1), (7, 5), (64, 64), (33, 200), (130, 67), (3, 1000)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("n_codes", [1, 5, 256])
def test_shared_products_match_reference(isa, dtype, code, n_codes):
    rng = np.random.default_rng(n_codes)
    for shape in SHAPES:
        sw = random_shared(rng, shape, n_codes, dtype, code)
        for transpose in (False, True):
            n_in = shape[0] if transpose else shape[1]
            x = rng.standard_normal(n_in).astype(dtype)
            X = rng.standard_normal((n_in, 9)).astype(dtype)
            y = sparsenet.shared_matvec(sw, x, transpose=transpose)
            Y = sparsenet.shared_matmul(sw, X, transpose=transpose)
            assert y.dtype == dtype and Y.dtype == dtype and Y.flags.c_contiguous
            np.testing.assert_allclose(y, dense_product(sw, x, transpose), **TOL[dtype])
            np.testing.assert_allclose(Y, dense_product(sw, X, transpose), **TOL[dtype])
            np.testing.assert_allclose(reference.shared_matmul(sw, X, transpose=transpose),
                                       dense_product(sw, X, transpose), **TOL[dtype])


@pytest.mark.parametrize("n_codes", [1, 2, 8, 9, 15, 16, 17])
def test_small_codebooks_decode_and_multiply(isa, n_codes):
    # float32 with at most 16 entries is looked up in two registers at AVX2 (shared_kernels.h,
    # lookup16) by decode and both products: every code, every tail length, the padding of a
    # smaller codebook never read
    rng = np.random.default_rng(n_codes)
    codebook = rng.standard_normal(n_codes).astype(np.float32)
    for n_cols in (1, 7, 8, 9, 23, 384):
        codes = rng.integers(0, n_codes, size=(5, n_cols), dtype=np.uint8)
        codes[0, : min(n_cols, n_codes)] = np.arange(min(n_cols, n_codes))
        sw = sparsenet.SharedWeights(codebook, codes)
        np.testing.assert_array_equal(sparsenet.decode(sw), codebook[codes])
        X = rng.standard_normal((n_cols, 9)).astype(np.float32)
        np.testing.assert_allclose(sparsenet.shared_matmul(sw, X), codebook[codes] @ X,
                                   **TOL[np.float32])
        x, xt = X[:, 0].copy(), rng.standard_normal(5).astype(np.float32)
        np.testing.assert_allclose(sparsenet.shared_matvec(sw, x), codebook[codes] @ x,
                                   **TOL[np.float32])
        np.testing.assert_allclose(sparsenet.shared_matvec(sw, xt, transpose=True),
                                   codebook[codes].T @ xt, **TOL[np.float32])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["u8", "u16", "hashed"])
def test_matrix_products_panels_and_their_edges(isa, dtype, kind):
    # W X and W^T X are a blocked product of their own (matmul_panels, shared_kernels.h): panels
    # of 6 rows of Y in strips of 48, blocks of 384 terms, passes over 128 of X's columns in blocks
    # of two vectors (8 to 32 columns by level and dtype). Sizes on and around each, both
    # directions, against float64
    rng = np.random.default_rng(21)
    for n_rows, n_cols, k in [(1, 1, 2), (5, 383, 7), (6, 384, 8), (7, 385, 16), (12, 769, 17),
                              (13, 1000, 33), (31, 40, 64), (6, 5, 65), (2, 800, 100),
                              (385, 47, 9), (800, 97, 33), (1000, 6, 3), (9, 70, 129),
                              (50, 400, 300)]:
        if kind == "hashed":
            w, mm = random_hashed(rng, (n_rows, n_cols), 37, dtype), sparsenet.hashed_matmul
        else:
            w = random_shared(rng, (n_rows, n_cols), 300 if kind == "u16" else 16, dtype,
                              np.uint16 if kind == "u16" else np.uint8)
            mm = sparsenet.shared_matmul
        W = w.decode().astype(np.float64)
        for transpose in (False, True):
            X = rng.standard_normal((n_rows if transpose else n_cols, k)).astype(dtype)
            want = (W.T if transpose else W) @ X.astype(np.float64)
            got = mm(w, X, transpose=transpose)
            assert got.dtype == dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, **TOL[dtype])
            out = np.full(want.shape, np.nan, dtype)
            np.testing.assert_array_equal(mm(w, X, transpose=transpose, out=out), got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_add_a_bias_as_their_last_step(isa, dtype):
    # the private bias of the native products (sparsenet.torch's codebook layers): the same bits as
    # the product plus the bias after, on every path (panels over several blocks of terms, k = 1,
    # an empty inner dimension), both directions
    rng = np.random.default_rng(22)
    for kind in ("u8", "hashed"):
        for n_rows, n_cols, k in [(13, 1000, 33), (50, 7, 1), (800, 97, 17), (5, 0, 3)]:
            w = (random_hashed(rng, (n_rows, n_cols), 37, dtype) if kind == "hashed"
                 else random_shared(rng, (n_rows, n_cols), 16, dtype))
            for transpose in (False, True):
                n_in, n_out = (n_rows, n_cols) if transpose else (n_cols, n_rows)
                X = rng.standard_normal((n_in, k)).astype(dtype)
                bias = rng.standard_normal(n_out).astype(dtype)
                got = w._matmul(X, transpose, None, np.dtype(dtype), bias=bias)
                want = w._matmul(X, transpose, None, np.dtype(dtype)) + bias[:, None]
                np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
@pytest.mark.parametrize("transpose", [False, True])
def test_shared_products_empty(shape, transpose):
    sw = sparsenet.SharedWeights(np.ones(3, dtype=np.float32), np.zeros(shape, dtype=np.uint8))
    n_in, n_out = (shape[0], shape[1]) if transpose else (shape[1], shape[0])
    y = sparsenet.shared_matvec(sw, np.ones(n_in, dtype=np.float32), transpose=transpose)
    Y = sparsenet.shared_matmul(sw, np.ones((n_in, 4), dtype=np.float32), transpose=transpose)
    assert y.shape == (n_out,) and Y.shape == (n_out, 4)
    assert not y.any() and not Y.any()
    Z = sparsenet.shared_matmul(sw, np.ones((n_in, 0), dtype=np.float32), transpose=transpose)
    assert Z.shape == (n_out, 0)


def test_shared_products_layouts_and_promotion():
    rng = np.random.default_rng(1)
    sw = random_shared(rng, (40, 70), 256)
    X = np.asfortranarray(rng.standard_normal((70, 6)).astype(np.float32))
    np.testing.assert_allclose(sparsenet.shared_matmul(sw, X), dense_product(sw, X, False),
                               **TOL[np.float32])
    Xv = rng.standard_normal((140, 12)).astype(np.float32)[::2, ::2]
    np.testing.assert_allclose(sparsenet.shared_matmul(sw, Xv), dense_product(sw, Xv, False),
                               **TOL[np.float32])
    x = rng.standard_normal(70)
    x.flags.writeable = False
    y = sparsenet.shared_matvec(sw, x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, dense_product(sw, x, False), rtol=1e-6, atol=1e-6)
    assert sparsenet.shared_matvec(sw, np.ones(70, dtype=np.int32)).dtype == np.float64
    np.testing.assert_allclose(sw @ x, y)
    np.testing.assert_allclose(sw @ X, sparsenet.shared_matmul(sw, X))


@pytest.mark.parametrize("n_cols", [31, 32, 97, 256])
def test_matvec_reads_every_codebook_bit_pattern(isa, n_cols):
    # the register tables rebuild each float from its bytes (VBMI) or 16-bit halves (avx512), and
    # lay lanes out in their own order: a one-hot x must give one column of W bit for bit, for
    # codebooks of every sign, exponent and low mantissa bits, subnormals included
    rng = np.random.default_rng(n_cols)
    bits = rng.integers(0, 2**32, 256, dtype=np.uint64).astype(np.uint32)
    bits[:8] = [0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800001, 0x00800000, 0, 1 << 31]
    codebook = bits.view(np.float32).copy()
    codebook[~np.isfinite(codebook)] = 1.5  # a NaN or inf would spread to the whole row
    codes = rng.integers(0, 256, (40, n_cols), dtype=np.uint8)
    codes[0, :min(n_cols, 256)] = np.arange(min(n_cols, 256))
    sw = sparsenet.SharedWeights(codebook, codes)
    W = codebook[codes]
    for j in sorted({0, 1, 15, 16, 17, n_cols // 2, n_cols - 1}):
        x = np.zeros(n_cols, np.float32)
        x[j] = 1
        np.testing.assert_array_equal(sparsenet.shared_matvec(sw, x), W[:, j], err_msg=f"column {j}")
    for i in (0, 1, 20, 39):  # the transposed product: one row of W, in either place of a pair
        x = np.zeros(40, np.float32)
        x[i] = 1
        np.testing.assert_array_equal(sparsenet.shared_matvec(sw, x, transpose=True), W[i],
                                      err_msg=f"row {i}")


def test_shared_products_out_and_nan():
    rng = np.random.default_rng(2)
    sw = random_shared(rng, (20, 100), 256)
    x = rng.standard_normal(100).astype(np.float32)
    out = np.empty(20, dtype=np.float32)
    assert sparsenet.shared_matvec(sw, x, out=out) is out
    np.testing.assert_allclose(out, dense_product(sw, x, False), **TOL[np.float32])
    x[3] = np.nan
    assert np.isnan(sparsenet.shared_matvec(sw, x)).all()
    assert np.isnan(sparsenet.shared_matvec(sw, np.ones(20, np.float32), transpose=True)).sum() == 0
    cb = sw.codebook.copy()
    cb[0] = np.inf
    sw_inf = sparsenet.SharedWeights(cb, np.ones((2, 70), dtype=np.uint8))  # code 0 never used
    assert np.isfinite(sparsenet.shared_matvec(sw_inf, np.ones(70, np.float32))).all()
    assert np.isfinite(sparsenet.decode(sw_inf)).all()


@pytest.mark.parametrize("kind", ["shared", "hashed"])
def test_results_do_not_depend_on_thread_count(kind):
    rng = np.random.default_rng(3)
    # two threads' work for every product (csrc/shared.c, SN_SHARED_GRAIN: 2^20 coded weights)
    shape = (1500, 1401)
    w = random_shared(rng, shape, 256) if kind == "shared" else random_hashed(rng, shape, 100)
    mv = sparsenet.shared_matvec if kind == "shared" else sparsenet.hashed_matvec
    mm = sparsenet.shared_matmul if kind == "shared" else sparsenet.hashed_matmul
    x, xt = (rng.standard_normal(n).astype(np.float32) for n in (shape[1], shape[0]))
    X, G = (rng.standard_normal((n, 5)).astype(np.float32) for n in (shape[1], shape[0]))
    # a small matrix, two threads' work: each thread takes strips of 48 rows of Y (matmul_panels,
    # shared_kernels.h); the gradient's one tile is two blocks of rows
    small = (random_shared if kind == "shared" else random_hashed)(rng, (600, 500), 16)
    Xs, Gs = (rng.standard_normal((n, 8)).astype(np.float32) for n in (500, 600))
    np.testing.assert_allclose(mm(small, Xs), dense_product(small, Xs, False), **TOL[np.float32])
    np.testing.assert_allclose(mm(small, Gs, transpose=True), dense_product(small, Gs, True),
                               **TOL[np.float32])
    results = []
    for threads in (1, 2):
        sparsenet.set_num_threads(threads)
        results.append([mm(small, Xs), mm(small, Gs, transpose=True), mv(w, x),
                        mv(w, xt, transpose=True), mm(w, X), mm(w, G, transpose=True),
                        sparsenet.codebook_grad(w, G, X), sparsenet.codebook_grad(w, G[:, 0], X[:, 0]),
                        sparsenet.decode(w)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad, exc, match", [
    (lambda sw: sparsenet.shared_matvec(sw, np.ones(4)), ValueError, r"x.shape\[0\] must be 5"),
    (lambda sw: sparsenet.shared_matvec(sw, np.ones(5), transpose=True), ValueError, "sw.T is 5x3"),
    (lambda sw: sparsenet.shared_matvec(sw, np.ones((5, 2))), ValueError, "x must be 1-D"),
    (lambda sw: sparsenet.shared_matmul(sw, np.ones(5)), ValueError, "X must be 2-D"),
    (lambda sw: sparsenet.shared_matmul(sw, np.ones((5, 2), dtype=complex)), TypeError, "real numeric"),
    (lambda sw: sparsenet.shared_matvec(np.ones((3, 5)), np.ones(5)), TypeError, "SharedWeights"),
    (lambda sw: sparsenet.shared_matvec(sparsenet.SharedWeights([1.0], np.zeros((2, 2, 2), np.uint8)),
                                        np.ones(2)), ValueError, "2-D"),
    (lambda sw: sparsenet.shared_matvec(sw, np.ones(5), out=np.empty(3, np.float32)), TypeError, "dtype"),
    (lambda sw: sparsenet.shared_matvec(sw, np.ones(5), out=np.empty(4)), ValueError, "shape"),
    (lambda sw: sparsenet.hashed_matvec(sw, np.ones(5)), TypeError, "HashedWeights"),
])
def test_product_bad_input(bad, exc, match):
    sw = sparsenet.SharedWeights(np.ones(2), np.zeros((3, 5), dtype=np.uint8))
    with pytest.raises(exc, match=match):
        bad(sw)


@settings(max_examples=40, deadline=None)
@given(n_rows=st.integers(0, 40), n_cols=st.integers(0, 150), n_codes=st.integers(1, 300),
       k=st.integers(1, 5), transpose=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_products_property(n_rows, n_cols, n_codes, k, transpose, seed):
    rng = np.random.default_rng(seed % 1000)
    sw = random_shared(rng, (n_rows, n_cols), n_codes, np.float64, np.uint16 if n_codes > 256 else np.uint8)
    hw = random_hashed(rng, (n_rows, n_cols), n_codes, np.float64, seed)
    n_in = n_rows if transpose else n_cols
    X = rng.standard_normal((n_in, k))
    for w, mm, mv in ((sw, sparsenet.shared_matmul, sparsenet.shared_matvec),
                      (hw, sparsenet.hashed_matmul, sparsenet.hashed_matvec)):
        want = dense_product(w, X, transpose)
        np.testing.assert_allclose(mm(w, X, transpose=transpose), want, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(mv(w, X[:, 0], transpose=transpose), want[:, 0], rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- codebook gradient
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["u8", "u16", "hashed"])
@pytest.mark.parametrize("k", [1, 2, 17])
def test_codebook_grad_matches_reference(dtype, kind, k):
    rng = np.random.default_rng(k)
    shape = (123, 77)
    if kind == "hashed":
        w = random_hashed(rng, shape, 37, dtype)
    else:
        w = random_shared(rng, shape, 300 if kind == "u16" else 200, dtype,
                          np.uint16 if kind == "u16" else np.uint8)
    G = rng.standard_normal((shape[0], k)).astype(dtype)
    X = rng.standard_normal((shape[1], k)).astype(dtype)
    got = sparsenet.codebook_grad(w, G, X)
    assert got.dtype == dtype and got.shape == (w.n_codes,)
    # the definition: d/dcodebook of sum(G * (W X)) by the chain rule through the codes
    dW = G.astype(np.float64) @ X.astype(np.float64).T
    if kind == "hashed":
        codes, signs = reference.hashed_codes(shape, w.n_codes, w.seed)
        want = np.bincount(codes.ravel(), (dW * signs).ravel(), minlength=w.n_codes)
    else:
        want = np.bincount(w.codes.ravel().astype(np.int64), dW.ravel(), minlength=w.n_codes)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(got, want, **tol)
    np.testing.assert_allclose(reference.codebook_grad(w, G, X), want, **tol)
    if k == 1:
        np.testing.assert_allclose(sparsenet.codebook_grad(w, G[:, 0], X[:, 0]), want, **tol)


def test_blas_runs_one_thread_inside_products_it_would_thread():
    """The shared products limit BLAS to one thread (threadpoolctl) only when they call xGEMM on
    products large enough for BLAS to thread; the limit costs more than a small product."""
    import contextlib

    threadpoolctl = pytest.importorskip("threadpoolctl")
    from sparsenet import _blas

    assert isinstance(_blas.one_thread(4096, 4096, 1), contextlib.nullcontext)  # no xGEMM
    assert isinstance(_blas.one_thread(64, 64, 64), contextlib.nullcontext)  # 2**18: one thread
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        with _blas.one_thread(64, 64, 65):
            assert {lib["num_threads"] for lib in threadpoolctl.threadpool_info()
                    if lib["user_api"] == "blas"} <= {1}


def test_first_product_of_a_process_limits_scipys_blas():
    """The limit covers the BLAS the kernels call even when the process's first product is one
    that sets it (before anything has loaded SciPy's BLAS)."""
    pytest.importorskip("threadpoolctl")
    code = """if True:
        import sys, numpy as np, sparsenet, threadpoolctl
        from sparsenet import _blas
        assert "scipy.linalg.cython_blas" not in sys.modules
        sw = sparsenet.SharedWeights(np.ones(4), np.zeros((64, 64), np.uint8))
        # the gradient multiplies with xGEMM (the products do not); 64 * 64 * 65 > ONE_THREAD_ANYWAY
        sparsenet.codebook_grad(sw, np.ones((64, 65)), np.ones((64, 65)))
        limited = {lib.filepath for lib in _blas._blas_libraries().lib_controllers}
        loaded = {lib["filepath"] for lib in threadpoolctl.threadpool_info()
                  if lib["user_api"] == "blas"}
        assert loaded <= limited, loaded - limited
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_codebook_grad_is_the_gradient():
    """Finite differences of L = sum(G * (W X)) with respect to one codebook entry."""
    rng = np.random.default_rng(5)
    sw = random_shared(rng, (20, 30), 8, np.float64)
    G, X = rng.standard_normal((20, 3)), rng.standard_normal((30, 3))
    grad = sparsenet.codebook_grad(sw, G, X)
    for c in range(8):
        cb = sw.codebook.copy()
        cb[c] += 1.0
        bumped = sparsenet.SharedWeights(cb, sw.codes)
        change = np.sum(G * sparsenet.shared_matmul(bumped, X)) - np.sum(G * sparsenet.shared_matmul(sw, X))
        assert change == pytest.approx(grad[c], rel=1e-9, abs=1e-9)


def test_codebook_grad_bad_input():
    sw = sparsenet.SharedWeights(np.ones(2), np.zeros((3, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="grad_out must have 3 rows"):
        sparsenet.codebook_grad(sw, np.ones((4, 2)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="both be 1-D or both 2-D"):
        sparsenet.codebook_grad(sw, np.ones(3), np.ones((5, 1)))
    with pytest.raises(ValueError, match="shape mismatch"):
        sparsenet.codebook_grad(sw, np.ones((3, 2)), np.ones((5, 3)))
    with pytest.raises(TypeError, match="SharedWeights or HashedWeights"):
        sparsenet.codebook_grad(np.ones((3, 5)), np.ones(3), np.ones(5))
    with pytest.raises(TypeError, match="real numeric"):
        sparsenet.codebook_grad(sw, np.ones(3, dtype=complex), np.ones(5))


# ---------------------------------------------------------------- hashed weights
def _scalar_hash(i, j, seed, n_codes):
    """The documented hash, one weight at a time in plain Python integers."""
    def fmix32(h):
        h ^= h >> 16
        h = (h * 0x85EBCA6B) & 0xFFFFFFFF
        h ^= h >> 13
        h = (h * 0xC2B2AE35) & 0xFFFFFFFF
        return h ^ (h >> 16)

    r = fmix32(((i * 0x9E3779B1) & 0xFFFFFFFF) ^ seed)
    h = fmix32((r + j * 0x85EBCA77) & 0xFFFFFFFF)
    return (h >> 1) % n_codes, -1 if h & 1 else 1


@pytest.mark.parametrize("seed", [0, 1, 2**32 - 1])
@pytest.mark.parametrize("n_codes", [1, 2, 3, 7, 64, 1000, 4097, 65535, 65536])
def test_hash_is_documented_and_reproduced(seed, n_codes, isas):
    """The codes are (h >> 1) % n_codes exactly: the AVX2 level divides 8 hashes at a time by a
    multiply (exact for every 31-bit value and divisor >= 2), powers of two by a mask."""
    codes, signs = reference.hashed_codes((9, 11), n_codes, seed)
    for i, j in [(0, 0), (0, 10), (8, 3), (5, 7)]:
        assert (codes[i, j], signs[i, j]) == _scalar_hash(i, j, seed, n_codes)
    rng = np.random.default_rng(0)
    for isa in isas:
        sparsenet.set_isa(isa)
        for dtype in (np.float32, np.float64):
            hw = random_hashed(rng, (37, 129), n_codes, dtype, seed)
            np.testing.assert_array_equal(sparsenet.decode(hw), reference.decode(hw))


def test_hashed_weights_attributes_and_products():
    rng = np.random.default_rng(6)
    hw = random_hashed(rng, (50, 80), 10, np.float32, seed=99)
    assert hw.nbytes == 40 and hw.compression_ratio == pytest.approx(50 * 80 * 4 / 40)
    W = hw.decode()
    assert set(np.unique(np.abs(W))) <= set(np.abs(hw.codebook))
    assert (W < 0).mean() == pytest.approx(0.5, abs=0.05)  # the signs are balanced
    codes, _ = reference.hashed_codes(hw.shape, 10, 99)
    assert np.bincount(codes.ravel(), minlength=10).min() > 300  # codes are spread over the codebook
    for transpose in (False, True):
        n_in = 50 if transpose else 80
        X = rng.standard_normal((n_in, 4)).astype(np.float32)
        np.testing.assert_allclose(sparsenet.hashed_matmul(hw, X, transpose=transpose),
                                   dense_product(hw, X, transpose), **TOL[np.float32])
        np.testing.assert_allclose(sparsenet.hashed_matvec(hw, X[:, 1], transpose=transpose),
                                   dense_product(hw, X[:, 1], transpose), **TOL[np.float32])
    assert "HashedWeights" in repr(hw)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(shape=(2, 2), codebook=[1.0], seed=-1), ValueError, "seed must be"),
    (dict(shape=(2, 2), codebook=[1.0], seed=2**32), ValueError, "seed must be"),
    (dict(shape=(2, 2), codebook=[1.0], seed=True), TypeError, "seed must be an int"),
    (dict(shape=(2, -1), codebook=[1.0], seed=0), ValueError, "shape must be a pair of non-negative"),
    (dict(shape=(2, 2, 2), codebook=[1.0], seed=0), ValueError, "shape must be a pair"),
    (dict(shape=5, codebook=[1.0], seed=0), TypeError, "shape must be a pair of ints, got 5"),
    (dict(shape=(2, 2), codebook=[], seed=0), ValueError, "1 to 65536"),
])
def test_hashed_weights_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sparsenet.HashedWeights(**kwargs)


# ---------------------------------------------------------------- k-means
def _sklearn_kmeans(w, init, max_iter):
    sklearn = pytest.importorskip("sklearn.cluster")
    km = sklearn.KMeans(n_clusters=init.size, init=init.reshape(-1, 1), n_init=1, max_iter=max_iter,
                        tol=0.0, algorithm="lloyd")
    km.fit(w.reshape(-1, 1))
    return np.sort(km.cluster_centers_.ravel()), km.inertia_


@pytest.mark.parametrize("n_clusters", [2, 16, 64])
@pytest.mark.parametrize("init", ["linear", "density", "random"])
def test_kmeans_matches_scikit_learn(n_clusters, init):
    rng = np.random.default_rng(n_clusters)
    w = rng.standard_normal(5000) * 0.05
    start = reference.kmeans_init(w, n_clusters, init, random_state=3)
    want, inertia = _sklearn_kmeans(w, start, 30)
    sw = sparsenet.kmeans_codebook(w, n_clusters, init=init, max_iter=30, tol=0, random_state=3)
    np.testing.assert_allclose(sw.codebook, want, rtol=1e-6, atol=1e-12)
    assert np.sum((sw.decode() - w) ** 2) <= inertia * (1 + 1e-9)


def test_kmeans_256_codes_with_empty_clusters_vs_scikit_learn():
    """Linear init on Gaussian weights leaves 35 tail clusters empty at first; both relocate them to
    the farthest points. From there the trajectory depends on rounding (scikit-learn's own float32
    and float64 runs end 1.3% apart on these data), so the quality is compared with a margin; the
    agreement to 1e-6 is tested above, where no cluster empties."""
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((200, 150)) * 0.05).astype(np.float32)
    start = np.linspace(w.min(), w.max(), 256)
    _, inertia = _sklearn_kmeans(w.ravel(), start, 30)
    results = []
    for dtype in (np.float32, np.float64):
        sw = sparsenet.kmeans_codebook(w.astype(dtype), 256, max_iter=30, tol=0)
        assert sw.codebook.dtype == dtype and sw.codes.dtype == np.uint8 and sw.shape == w.shape
        mse = np.mean((sw.decode().astype(np.float64) - w) ** 2)
        assert mse <= inertia / w.size * 1.02
        results.append(sw)
    # float32 weights are clustered in double: the same codebook as for their float64 copy
    np.testing.assert_allclose(results[0].codebook, results[1].codebook, rtol=1e-6)
    np.testing.assert_array_equal(results[0].codes, results[1].codes)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("init", ["linear", "density", "random"])
@pytest.mark.parametrize("index_dtype", [None, np.uint16])
def test_kmeans_matches_reference(dtype, init, index_dtype):
    rng = np.random.default_rng(8)
    W = (rng.standard_normal((60, 50)) * 0.05).astype(dtype)
    got = sparsenet.kmeans_codebook(W, 40, init=init, random_state=1, index_dtype=index_dtype)
    want = reference.kmeans_codebook(W, 40, init=init, random_state=1, index_dtype=index_dtype)
    np.testing.assert_array_equal(got.codebook, want.codebook)
    np.testing.assert_array_equal(got.codes, want.codes)
    assert got.codes.dtype == (index_dtype or np.uint8) and got.codebook.dtype == dtype
    assert np.all(np.diff(got.codebook) >= 0)
    # each weight sits with its nearest centroid
    dist = np.abs(W[..., None].astype(np.float64) - got.codebook.astype(np.float64))
    np.testing.assert_allclose(dist.min(axis=-1), np.abs(W - got.decode()), atol=1e-7)


def test_kmeans_empty_clusters_are_filled_deterministically(isas):
    # Many duplicates: linear init leaves clusters empty; each then takes a farthest point.
    w = np.array([0.0] * 50 + [1.0] * 50 + [10.0, 10.5, 11.0, 30.0])
    for isa in isas:
        sparsenet.set_isa(isa)
        for threads in (1, 2):
            sparsenet.set_num_threads(threads)
            got = sparsenet.kmeans_codebook(w, 8, tol=0)
            want = reference.kmeans_codebook(w, 8, tol=0)
            np.testing.assert_array_equal(got.codebook, want.codebook)
            np.testing.assert_array_equal(got.codes, want.codes)
    assert {0.0, 1.0, 30.0} <= set(got.codebook.tolist())
    # as many clusters as distinct values: every value becomes a centroid
    sw = sparsenet.kmeans_codebook(np.array([3.0, 1.0, 2.0, 2.0, 1.0]), 3, init="random", random_state=0)
    np.testing.assert_array_equal(sw.codebook, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(sw.decode(), [3.0, 1.0, 2.0, 2.0, 1.0])


def test_kmeans_layouts_and_edge_cases():
    rng = np.random.default_rng(9)
    W = np.asfortranarray(rng.standard_normal((30, 20)))[:, ::2]
    sw = sparsenet.kmeans_codebook(W, 5)
    assert sw.shape == W.shape
    np.testing.assert_array_equal(sw.decode(), sw.codebook[sw.codes])
    assert np.abs(sw.decode() - W).max() < np.ptp(W) / 2
    one = sparsenet.kmeans_codebook(np.array([2.5]), 1)
    assert one.codebook.tolist() == [2.5] and one.codes.tolist() == [0]
    flat = sparsenet.kmeans_codebook(np.full(10, 7.0, dtype=np.float32), 1)
    assert flat.codebook.tolist() == [7.0]
    ints = sparsenet.kmeans_codebook(np.arange(10), 2)
    assert ints.codebook.dtype == np.float64
    np.testing.assert_allclose(ints.codebook, [2.0, 7.0])
    many = sparsenet.kmeans_codebook(rng.standard_normal(1000), 300)
    assert many.codes.dtype == np.uint16 and many.codebook.size == 300


@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((np.array([1.0, np.nan]), 1), {}, ValueError, r"W must be finite; W.flat\[1\] = nan"),
    ((np.array([1.0, np.inf]), 1), {}, ValueError, "finite"),
    ((np.array([]), 1), {}, ValueError, "W must not be empty"),
    ((np.ones(5), 0), {}, ValueError, r"n_clusters must be in \[1, 5\], got 0"),
    ((np.ones(5), 6), {}, ValueError, r"n_clusters must be in \[1, 5\], got 6"),
    ((np.ones(70000), 65537), {}, ValueError, "n_clusters must be"),
    ((np.ones(5), 2.0), {}, TypeError, "n_clusters must be an int"),
    ((np.ones(500), 300), {"index_dtype": np.uint8}, ValueError, "cannot index 300"),
    ((np.ones(5), 2), {"index_dtype": np.int32}, TypeError, "uint8 or uint16"),
    ((np.ones(5), 2), {"init": "kmeans++"}, ValueError, "init must be"),
    ((np.ones(5), 2), {"init": [1.0, 2.0, 3.0]}, ValueError, "init must have n_clusters = 2"),
    ((np.ones(5), 2), {"init": [1.0, np.nan]}, ValueError, "init must be finite"),
    ((np.ones(5), 2), {"tol": -1.0}, ValueError, "tol must be"),
    ((np.ones(5), 2), {"max_iter": 0}, ValueError, "max_iter must be"),
    ((np.ones(5, dtype=complex), 2), {}, TypeError, "real numeric"),
])
def test_kmeans_bad_input(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        sparsenet.kmeans_codebook(*args, **kwargs)
    with sparsenet.use_backend("numpy"), pytest.raises(exc, match=match):
        sparsenet.kmeans_codebook(*args, **kwargs)


def test_kmeans_does_not_modify_input():
    rng = np.random.default_rng(10)
    W = rng.standard_normal(1000).astype(np.float32)
    before = W.copy()
    sparsenet.kmeans_codebook(W, 16, init="density")
    np.testing.assert_array_equal(W, before)


# ---------------------------------------------------------------- pruned and shared
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_codes", [4, 300])
def test_shared_csr_products(isa, dtype, n_codes):
    rng = np.random.default_rng(n_codes)
    dense = np.where(rng.random((70, 45)) < 0.2, rng.standard_normal((70, 45)), 0).astype(dtype)
    codebook = rng.standard_normal(n_codes).astype(dtype)
    A = sparsenet.SharedCSR.from_dense(dense, codebook)
    assert A.codes.dtype == (np.uint8 if n_codes <= 256 else np.uint16)
    D = A.toarray()
    assert np.array_equal(D != 0, dense != 0) or n_codes == 4  # a code may map to a value near 0
    # each stored value became its nearest codebook entry
    nearest = codebook[np.abs(dense[dense != 0][:, None] - codebook).argmin(axis=1)]
    np.testing.assert_array_equal(A.data, nearest)
    for transpose in (False, True):
        n_in = 70 if transpose else 45
        X = rng.standard_normal((n_in, 11)).astype(dtype)
        want = (D.T if transpose else D).astype(np.float64) @ X
        np.testing.assert_allclose(sparsenet.spmm(A, X, transpose=transpose), want, **TOL[dtype])
        np.testing.assert_allclose(sparsenet.spmv(A, X[:, 0], transpose=transpose), want[:, 0],
                                   **TOL[dtype])
        np.testing.assert_allclose(A @ X[:, 0] if not transpose else sparsenet.spmv(A, X[:, 0], transpose=True),
                                   want[:, 0], **TOL[dtype])
        with sparsenet.use_backend("numpy"):
            np.testing.assert_allclose(sparsenet.spmm(A, X, transpose=transpose), want, **TOL[dtype])


def test_shared_csr_from_scipy_with_learned_codebook_and_threads():
    rng = np.random.default_rng(11)
    # two threads' work (csrc/csr_tuning.h, SN_CSR_GRAIN)
    S = sp.random(2000, 3000, density=0.1, format="csr", dtype=np.float32, random_state=rng)
    A = sparsenet.SharedCSR.from_csr(S, 16)
    assert A.codebook.shape == (16,) and A.nnz == S.nnz and A.codebook.dtype == np.float32
    assert A.nbytes < S.data.nbytes + S.indices.nbytes + S.indptr.nbytes
    assert np.abs(A.data - S.data).max() < 0.1
    X = rng.standard_normal((2000, 7)).astype(np.float32)
    results = []
    for threads in (1, 2):
        sparsenet.set_num_threads(threads)
        results.append((sparsenet.spmm(A, X, transpose=True), sparsenet.spmv(A, X[:1000, 0].repeat(3))))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(A.to_csr().toarray(), A.toarray())
    assert "SharedCSR" in repr(A)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("copy", [True, False])
def test_shared_csr_stores_int32_where_it_fits(dtype, copy):
    """An int64 structure is narrowed to the int32 the kernel reads, as scipy's csr_matrix does;
    nothing of the caller's is shared or changed then, even with copy=False."""
    S = sp.random(30, 40, density=0.2, format="csr", dtype=dtype, random_state=1)
    indices, indptr = S.indices.astype(np.int64), S.indptr.astype(np.int64)
    A = sparsenet.SharedCSR(np.arange(S.nnz) % 3, indices, indptr, S.shape, [-1.0, 0.5, 2.0],
                            copy=copy)
    assert A.indices.dtype == A.indptr.dtype == np.int32
    np.testing.assert_array_equal(A.indices, indices)
    np.testing.assert_array_equal(A.indptr, indptr)
    assert not np.shares_memory(A.indices, indices) and indices.flags.writeable


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shared_csr_beyond_int32_multiplies_alike(isa, dtype, monkeypatch):
    """A structure int32 cannot hold (more than 2**31 - 1 entries or columns; here a policy that
    says so) stays int64, and its products, csr's kernels on the decoded values, equal the int32
    structure's bit for bit."""
    rng = np.random.default_rng(7)
    S = sp.random(300, 500, density=0.1, format="csr", dtype=dtype, random_state=rng)
    A = sparsenet.SharedCSR.from_csr(S, 16)
    monkeypatch.setattr(sparsenet._policy, "csr_index_dtype", lambda *shape: np.dtype(np.int64))
    wide = sparsenet.SharedCSR(A.codes, A.indices.astype(np.int64), A.indptr.astype(np.int64),
                               A.shape, A.codebook)
    assert wide.indices.dtype == np.int64
    for transpose in (False, True):
        # widths of whole vectors: below AVX-512 a last odd column may be summed fused or not,
        # by whether its width is a compile-time constant (csr.c's, not shared.c's)
        X = rng.standard_normal((A.shape[1 - transpose], 64)).astype(dtype)
        for x in (X, X[:, :40], X[:, 0]):
            product = sparsenet.spmm if x.ndim == 2 else sparsenet.spmv
            np.testing.assert_array_equal(product(wide, x, transpose=transpose),
                                          product(A, x, transpose=transpose))


def test_shared_csr_bad_input():
    ok = dict(codes=[0, 1], indices=[0, 2], indptr=[0, 1, 2], shape=(2, 3), codebook=[1.0, 2.0])
    sparsenet.SharedCSR(**ok)
    with pytest.raises(ValueError, match=r"codes\[1\]=2 is out of range"):
        sparsenet.SharedCSR(**{**ok, "codes": [0, 2]})
    with pytest.raises(ValueError, match=r"A.indices\[1\]=3 \(row 1\) is out of range"):
        sparsenet.SharedCSR(**{**ok, "indices": [0, 3]})
    with pytest.raises(ValueError, match="same length"):
        sparsenet.SharedCSR(**{**ok, "codes": [0]})
    with pytest.raises(ValueError, match="indptr must have n_rows"):
        sparsenet.SharedCSR(**{**ok, "indptr": [0, 2]})
    with pytest.raises(ValueError, match=r"indptr\[0\] must be 0"):
        sparsenet.SharedCSR(**{**ok, "indptr": [1, 1, 2]})
    with pytest.raises(TypeError, match="integer dtype"):
        sparsenet.SharedCSR(**{**ok, "codes": [0.0, 1.0]})
    A = sparsenet.SharedCSR(**ok)
    with pytest.raises(ValueError, match=r"x.shape\[0\] must be 3"):
        sparsenet.spmv(A, np.ones(2))
    with pytest.raises(ValueError, match="finite"):
        sparsenet.SharedCSR.from_dense(np.array([[np.nan, 1.0]]), [1.0])


# ---------------------------------------------------------------- backend and docs
def test_numpy_backend_routes_to_reference():
    rng = np.random.default_rng(12)
    sw = random_shared(rng, (10, 12), 7, np.float64)
    x = rng.standard_normal(12)
    with sparsenet.use_backend("numpy"):
        y = sparsenet.shared_matvec(sw, x)
        km = sparsenet.kmeans_codebook(x, 3)
        W = sparsenet.decode(sw)
    np.testing.assert_array_equal(y, reference.shared_matvec(sw, x))
    np.testing.assert_array_equal(km.codebook, reference.kmeans_codebook(x, 3).codebook)
    np.testing.assert_array_equal(W, sw.codebook[sw.codes])


def test_savez_round_trip_in_memory():
    sw = sparsenet.kmeans_codebook(np.linspace(-1, 1, 1000).astype(np.float32), 300)
    f = io.BytesIO()
    np.savez(f, **sw.to_arrays())
    f.seek(0)
    back = sparsenet.SharedWeights(**np.load(f, allow_pickle=False))
    np.testing.assert_array_equal(back.decode(), sw.decode())
    assert back.codes.dtype == np.uint16


@pytest.mark.parametrize("kind", ["u8", "hashed"])
def test_products_and_gradient_over_several_tiles(kind):
    """More than one decoded tile of the gradient (about 2**20 weights each), the last one
    partial; more than one block of 384 terms in both products."""
    rng = np.random.default_rng(13)
    shape = (1500, 1001)
    w = random_shared(rng, shape, 256) if kind == "u8" else random_hashed(rng, shape, 256)
    mm = sparsenet.shared_matmul if kind == "u8" else sparsenet.hashed_matmul
    X, G = rng.standard_normal((1001, 3)).astype(np.float32), rng.standard_normal((1500, 3)).astype(np.float32)
    tol = dict(rtol=1e-4, atol=1e-3)
    results = []
    for threads in (1, 2):
        sparsenet.set_num_threads(threads)
        results.append([mm(w, X), mm(w, G, transpose=True), sparsenet.codebook_grad(w, G, X)])
    np.testing.assert_allclose(results[0][0], dense_product(w, X, False), **tol)
    np.testing.assert_allclose(results[0][1], dense_product(w, G, True), **tol)
    np.testing.assert_allclose(results[0][2], reference.codebook_grad(w, G, X), rtol=1e-3, atol=1e-2)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_concurrent_calls_from_python_threads():
    """The kernels release the GIL and share no state: calls from several threads give the serial
    answers."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(14)
    sw = random_shared(rng, (300, 200), 256)
    hw = random_hashed(rng, (300, 200), 50)
    xs = [rng.standard_normal(200).astype(np.float32) for _ in range(8)]
    Xs = [rng.standard_normal((200, 4)).astype(np.float32) for _ in range(8)]
    jobs = [lambda x=x: sparsenet.shared_matvec(sw, x) for x in xs]
    jobs += [lambda X=X: sparsenet.shared_matmul(sw, X) for X in Xs]
    jobs += [lambda x=x: sparsenet.hashed_matvec(hw, x) for x in xs]
    jobs += [lambda x=x: sparsenet.kmeans_codebook(x, 8).codebook for x in xs]
    serial = [job() for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda job: job(), jobs))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


def test_review_findings_shared():
    """Checked objects are frozen; out= may not overlap the codebook or the codes; from_csr copies
    the caller's structure; the reference handles empty products."""
    cb = np.array([1.0, 2.0, 3.0])
    sw = sparsenet.SharedWeights(cb, np.array([[0, 1, 2], [2, 1, 0], [1, 1, 1]], np.uint8),
                                 copy=False)
    with pytest.raises(AttributeError, match="read-only"):
        sw.codebook = np.zeros(1)
    with pytest.raises(ValueError, match="share memory"):
        sparsenet.shared_matvec(sw, np.ones(3), out=cb)
    big = np.zeros(4 * 64, np.uint16)
    sw16 = sparsenet.SharedWeights(np.array([2.0]), big[:64].reshape(64, 1), copy=False)
    with pytest.raises(ValueError, match="share memory"):
        sparsenet.shared_matvec(sw16, np.ones(1), out=big.view(np.float64))
    hw = sparsenet.HashedWeights((3, 4), np.array([0.5, 2.0]), seed=7)
    with pytest.raises(AttributeError, match="read-only"):
        hw.shape = (300, 400)
    B = sp.csr_array((np.array([1.0, -1.0]), np.array([1, 0]), np.array([0, 2])), shape=(1, 2))
    S = sparsenet.SharedCSR.from_csr(B, np.array([-1.0, 1.0]))
    x = np.array([10.0, 1.0])
    before = sparsenet.spmv(S, x)
    B.sort_indices()
    np.testing.assert_array_equal(sparsenet.spmv(S, x), before)
    empty = sparsenet.SharedWeights([1.0, 2.0], np.zeros((5, 0), np.uint8))
    native = sparsenet.codebook_grad(empty, np.ones((5, 2)), np.ones((0, 2)))
    with sparsenet.use_backend("numpy"):
        np.testing.assert_array_equal(
            sparsenet.codebook_grad(empty, np.ones((5, 2)), np.ones((0, 2))), native)
    with pytest.raises(TypeError, match="tol must be a real number"):
        sparsenet.kmeans_codebook(np.arange(10.0), 2, tol="a")
    with pytest.raises(ValueError, match="max_iter"):
        sparsenet.kmeans_codebook(np.arange(10.0), 2, max_iter=2**70)


def test_pickles_are_checked_again():
    """Unpickling goes through the checking constructors: arrays come back read-only, and a
    tampered pickle (a code past the codebook) is refused."""
    import pickle

    rng = np.random.default_rng(11)
    W = rng.standard_normal((20, 30)).astype(np.float32)
    W[W < 0.5] = 0
    codebook = np.array([0.25, 0.5, 1.0], dtype=np.float32)
    containers = [sparsenet.kmeans_codebook(W, 8),
                  sparsenet.HashedWeights((20, 30), codebook, seed=3),
                  sparsenet.SharedCSR.from_dense(W, codebook)]
    x = rng.standard_normal(30).astype(np.float32)
    for w in containers:
        back = pickle.loads(pickle.dumps(w))
        assert type(back) is type(w)
        for name in ("codebook", "codes", "indices", "indptr"):
            if name == "indices" and isinstance(w, sparsenet.SharedWeights):
                continue  # the deprecated alias of codes
            if hasattr(w, name) and isinstance(getattr(w, name), np.ndarray):
                assert not getattr(back, name).flags.writeable
        matvec = {sparsenet.SharedCSR: sparsenet.spmv, sparsenet.HashedWeights:
                  sparsenet.hashed_matvec}.get(type(w), sparsenet.shared_matvec)
        np.testing.assert_array_equal(matvec(back, x), matvec(w, x))
    rebuild, args = containers[0].__reduce__()
    with pytest.raises(ValueError, match="codes"):
        rebuild(np.array([1.0], dtype=np.float32), args[1])  # codes >= 1 point past the codebook
