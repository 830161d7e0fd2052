"""CSR.optimize: products on the column-blocked layout == NumPy reference == SciPy.

Blocks are sized for cache (thousands of columns for a vector), so most tests shrink them with
`small_blocks` to exercise many blocks on small matrices."""
import contextlib

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from test_csr import _shifted, assert_close, check_product, random_csr

import sparsenet
from sparsenet import _csr, _csr_blocks, _shared, _validate

# every test twice on an AVX-512 machine: x read by loads and by gathers (sn_hw_gathers)
pytestmark = pytest.mark.usefixtures("hw_gathers")


@contextlib.contextmanager
def small_blocks(slice_bytes=32, min_segment=0):
    """Blocks sized for `slice_bytes` of the dense operand, never widened for sparse rows."""
    saved = (_csr_blocks.VECTOR_SLICE_BYTES, _csr_blocks.BATCH_SLICE_BYTES, _csr_blocks.MIN_SEGMENT)
    _csr_blocks.VECTOR_SLICE_BYTES = _csr_blocks.BATCH_SLICE_BYTES = slice_bytes
    _csr_blocks.MIN_SEGMENT = min_segment
    try:
        yield
    finally:
        _csr_blocks.VECTOR_SLICE_BYTES, _csr_blocks.BATCH_SLICE_BYTES, _csr_blocks.MIN_SEGMENT = saved


def optimized(A, batch=1, **kwargs):
    with small_blocks(**kwargs):
        return sparsenet.CSR.from_scipy(A).optimize(batch=batch, transpose=True)


def check_blocks(blocks, M):
    """The blocks hold exactly the entries of the scipy matrix M, each in its block."""
    n_rows, n_cols = M.shape
    n_blocks = blocks.seg_ptr.shape[0]
    assert n_blocks == -(-n_cols // blocks.width)
    assert np.all(np.diff(blocks.seg_ptr.ravel()) >= 0)
    assert blocks.seg_ptr[0, 0] == 0 and blocks.seg_ptr[-1, -1] == M.nnz
    np.testing.assert_array_equal(blocks.seg_ptr[1:, 0], blocks.seg_ptr[:-1, -1])
    np.testing.assert_array_equal(blocks.row_ptr, M.indptr)
    rebuilt = np.zeros(M.shape)
    for b in range(n_blocks):
        for i in range(n_rows):
            s, e = blocks.seg_ptr[b, i], blocks.seg_ptr[b, i + 1]
            cols = b * blocks.width + blocks.col[s:e].astype(np.int64)
            assert np.all(cols < min(n_cols, (b + 1) * blocks.width))
            np.add.at(rebuilt, (i, cols), blocks.values[s:e])
    np.testing.assert_array_equal(rebuilt, M.toarray())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("k", [None, 1, 3, 16, 17, 64, 133])
def test_optimized_matches_scipy(isa, dtype, index, transpose, k):
    rng = np.random.default_rng(hash((isa, index, transpose, k)) % 2**32)
    A = random_csr(rng, 57, 43, 0.3, dtype, index)
    B = optimized(A, batch=k or 1)
    assert (B._blocks_t if transpose else B._blocks) is not None
    n_in = A.shape[0] if transpose else A.shape[1]
    X = rng.standard_normal(n_in if k is None else (n_in, k)).astype(dtype)
    got = check_product(B, X, transpose)
    plain = (sparsenet.spmv if k is None else sparsenet.spmm)(A, X, transpose=transpose)
    np.testing.assert_allclose(got, plain, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-4 if dtype == np.float32 else 1e-10)


@st.composite
def problems(draw):
    n_rows, n_cols = draw(st.integers(0, 40)), draw(st.integers(0, 40))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    index = draw(st.sampled_from([np.int32, np.int64]))
    duplicates, unsorted, transpose = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    k = draw(st.sampled_from([None, 0, 1, 2, 5, 16, 33]))
    slice_bytes = draw(st.sampled_from([1, 8, 32, 100, 1 << 14]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    A = random_csr(rng, n_rows, n_cols, density, dtype, index, duplicates=duplicates,
                   unsorted=unsorted)
    n_in = n_rows if transpose else n_cols
    X = rng.standard_normal(n_in if k is None else (n_in, k)).astype(dtype)
    return A, X, transpose, slice_bytes


@settings(max_examples=300, deadline=None)
@given(problems())
def test_random_problems(problem):
    A, X, transpose, slice_bytes = problem
    B = optimized(A, batch=X.shape[1] if X.ndim == 2 and X.shape[1] else 1,
                  slice_bytes=slice_bytes)
    check_product(B, X, transpose)
    for blocks, M in ((B._blocks, A), (B._blocks_t, A.T.tocsr())):
        if blocks is not None:
            check_blocks(blocks, M)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0), (1, 1), (1, 1000), (1000, 1)])
def test_degenerate_shapes(shape):
    rng = np.random.default_rng(0)
    A = random_csr(rng, *shape, density=0.5)
    B = optimized(A)
    for transpose in (False, True):
        n_in = shape[0] if transpose else shape[1]
        check_product(B, rng.standard_normal(n_in), transpose)
        check_product(B, rng.standard_normal((n_in, 3)), transpose)


def test_empty_rows_duplicates_unsorted_nan_and_inf():
    rng = np.random.default_rng(1)
    A = random_csr(rng, 60, 50, 0.2, duplicates=True, unsorted=True)
    A.data[3], A.data[7] = np.nan, np.inf
    A.indptr[10:21] = A.indptr[10]  # rows 10..19 empty: move their entries to row 20
    B = optimized(A)
    x = rng.standard_normal(50)
    x[[4, 9]] = np.inf, np.nan
    for transpose, v in ((False, x), (True, rng.standard_normal(60))):
        got = sparsenet.spmv(B, v, transpose=transpose)
        want = (A.T if transpose else A) @ v
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("k", [None, 1, 5, 64])
def test_thread_count_does_not_change_results(transpose, k):
    rng = np.random.default_rng(2)
    A = random_csr(rng, 3000, 2500, 0.15, np.float32)  # three threads' work at k = 1
    B = optimized(A, batch=k or 1, slice_bytes=1024)
    n_in = A.shape[0] if transpose else A.shape[1]
    X = rng.standard_normal(n_in if k is None else (n_in, k)).astype(np.float32)
    fn = sparsenet.spmv if k is None else sparsenet.spmm
    results = []
    for threads in (1, 2, 3):
        sparsenet.set_num_threads(threads)
        results.append(fn(B, X, transpose=transpose))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    assert_close(results[0], A, X, transpose)


def test_out_layouts_and_mixed_dtypes():
    rng = np.random.default_rng(3)
    A = random_csr(rng, 30, 40, 0.3, np.float32)
    B = optimized(A, batch=12)
    X = rng.standard_normal((80, 12)).astype(np.float32)
    for view in (np.asfortranarray(X[:40]), X[::2], X[:40, ::3]):
        check_product(B, view, False)
    out = np.full((30, 12), np.nan, dtype=np.float32)
    for _ in range(2):
        assert sparsenet.spmm(B, X[:40], out=out) is out
        assert_close(out, A, X[:40], False)
    x64 = rng.standard_normal(40)
    assert check_product(B, x64, False).dtype == np.float64  # float32 blocks promoted per call
    with sparsenet.use_backend("numpy"):
        check_product(B, x64, False)


def test_optimize_returns_a_new_matrix_sharing_the_arrays():
    rng = np.random.default_rng(4)
    S = random_csr(rng, 200, 5000, 0.1, np.float32)
    A = sparsenet.CSR.from_scipy(S)
    B = A.optimize()
    assert A._blocks is None and B._blocks is not None and B._blocks_t is None
    assert B.data is A.data and B.indices is A.indices and B.indptr is A.indptr
    assert B.shape == A.shape and B.nnz == A.nnz
    assert "column blocks of A" in repr(B) and "column blocks" not in repr(A)
    assert (B.to_scipy() != S).nnz == 0
    with pytest.raises(AttributeError):
        B._blocks = None
    with pytest.raises(ValueError):
        B._blocks.values[0] = 1.0  # the blocks are read-only too
    C = B.optimize(batch=64, transpose=True)  # re-optimising starts from the plain arrays
    assert C._blocks.width < B._blocks.width and C._blocks_t is not None


def test_optimize_arguments():
    A = sparsenet.CSR.from_dense(np.eye(3))
    for batch, exc in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError),
                       ("2", TypeError)):
        with pytest.raises(exc, match="batch"):
            A.optimize(batch=batch)
    with pytest.raises(TypeError, match="transpose"):
        A.optimize(transpose="yes")


def test_block_widths_follow_the_cache_and_the_density():
    width = _csr_blocks.block_width
    assert width(8192, 8192, 6_710_886, 1, 4) == 4096        # x: 16 KiB of float32
    assert width(8192, 8192, 6_710_886, 1, 8) == 2048
    assert width(8192, 8192, 6_710_886, 64, 4) == 128        # X: 32 KiB of 64-column rows
    assert width(8192, 8192, 671_089, 64, 4) == 1024         # 1%: widened to 8+ entries a row
    assert width(8192, 4096, 3_355_443, 1, 4) == 0           # one block for spmv: plain CSR
    assert width(256, 64, 3277, 3136, 4) == 64               # one block: 16-bit columns (DLMC)
    assert width(256, 64, 3277, 49, 4) == 64
    assert width(256, 64, 900, 3136, 4) == 64                # 3.5 a row: no panels (as plain)
    assert width(50_000, 100, 500_000, 16, 4) == 128
    # 147 columns at 90% (ResNet-50's first convolution): two blocks of 128 would leave 7.3 entries
    # a row and block on average (the second block 19 columns, about 2 a row), so one block
    assert width(64, 147, 940, 12544, 4) == 256
    assert width(64, 147, 1100, 12544, 4) == 128             # 8.6 a row and block: two
    assert width(8192, 4096, 3_355_443, 1, 4, transposed=True) == 4096  # A^T: gather beats scatter
    assert width(100, 10**6, 1000, 1, 4) == 0                # too sparse for 65536-column blocks
    assert width(4_000_000, 8, 320, 1, 4, transposed=True) == 0  # one block, rows nearly empty
    assert width(100, 100, 0, 1, 4, transposed=True) == 0


def test_real_sized_blocks_match_scipy():
    rng = np.random.default_rng(5)
    S = random_csr(rng, 300, 9000, 0.05, np.float32)
    A = sparsenet.CSR.from_scipy(S).optimize(transpose=True)
    assert A._blocks.seg_ptr.shape[0] == 3 and A._blocks_t.seg_ptr.shape[0] == 1
    check_blocks(A._blocks, S)
    check_product(A, rng.standard_normal(9000).astype(np.float32), False)
    check_product(A, rng.standard_normal(300).astype(np.float32), True)
    A64 = sparsenet.CSR.from_scipy(S).optimize(batch=64, transpose=True)
    check_product(A64, rng.standard_normal((9000, 64)).astype(np.float32), False)
    check_product(A64, rng.standard_normal((300, 64)).astype(np.float32), True)


def test_scipy_product_operators_still_work():
    """A blocked matrix is still a CSR: the @ operator and the shared kernels take it."""
    A = sparsenet.CSR.from_scipy(sp.random(10, 7000, density=0.1, format="csr", random_state=0))
    B = A.optimize()
    x = np.ones(7000)
    np.testing.assert_allclose(B @ x, A @ x, rtol=1e-12)


def test_pickles_are_checked_again_and_keep_the_blocks():
    import pickle

    rng = np.random.default_rng(6)
    S = random_csr(rng, 300, 9000, 0.05, np.float32)
    A = sparsenet.CSR.from_scipy(S).optimize(batch=3, transpose=True)
    P = pickle.loads(pickle.dumps(A))
    assert P._optimized == (3, True) and P._blocks.width == A._blocks.width
    for a in (P.data, P.indices, P.indptr, P._blocks.col, P._blocks.seg_ptr, P._blocks_t.values):
        assert not a.flags.writeable
    x = rng.standard_normal(9000).astype(np.float32)
    np.testing.assert_array_equal(sparsenet.spmv(P, x), sparsenet.spmv(A, x))
    plain = pickle.loads(pickle.dumps(sparsenet.CSR.from_scipy(S)))
    assert plain._blocks is None and plain._optimized is None
    rebuild, args = A.__reduce__()
    bad = (args[0], np.full_like(args[1], 9000), *args[2:])  # a tampered pickle: out of range
    with pytest.raises(ValueError, match="out of range"):
        rebuild(*bad)


BLOCK_FIELDS = ("row_ptr", "seg_ptr", "col", "values")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("batch", [1, 3, 64])
def test_transpose_true_keeps_the_forward_blocks_of_optimize(dtype, index, batch):
    """optimize(transpose=True) adds A^T's blocks and changes nothing of A's: its forward blocks
    are those of optimize() (width, every array, dtypes), in arrays of their own (none overlaps an
    A^T array), so forward products run the same kernel on the same layout and give the same sums
    bit for bit."""
    rng = np.random.default_rng(batch)
    S = random_csr(rng, 300, 9000, 0.05, dtype, index, duplicates=batch == 3, unsorted=batch == 3)
    C = sparsenet.CSR.from_scipy(S)
    fwd, both = C.optimize(batch=batch), C.optimize(batch=batch, transpose=True)
    assert fwd._blocks is not None and fwd._blocks_t is None and both._blocks_t is not None
    assert both._blocks.width == fwd._blocks.width
    for name in BLOCK_FIELDS:
        a, b = getattr(fwd._blocks, name), getattr(both._blocks, name)
        assert a.dtype == b.dtype and a.shape == b.shape and a.flags.c_contiguous
        np.testing.assert_array_equal(a, b)
        assert a.ctypes.data % a.dtype.itemsize == b.ctypes.data % b.dtype.itemsize == 0
        for t in BLOCK_FIELDS:
            assert not np.shares_memory(b, getattr(both._blocks_t, t))
    shape = (9000,) if batch == 1 else (9000, batch)
    X = rng.standard_normal(shape).astype(dtype)
    product = sparsenet.spmv if batch == 1 else sparsenet.spmm
    np.testing.assert_array_equal(product(both, X), product(fwd, X))
    np.testing.assert_array_equal(both @ X, fwd @ X)
    check_product(both, X, False)



def split_product(A, width, X, threads=1):
    """A @ X through the column splits of width `width` of the scipy matrix A (rows sorted)."""
    C = sparsenet.CSR.from_scipy(A)
    splits = _csr_blocks.column_splits(C, width)
    Y = np.full((A.shape[0], X.shape[1]), np.nan, dtype=X.dtype)
    isa, _ = sparsenet.backend.native_options()
    splits.matmul(isa, threads, C, C.data, X, Y)
    return splits, Y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("k", [1, 2, 7, 16, 32, 64, 128, 133])
@pytest.mark.parametrize("width", [1, 4, 16, 64])
def test_column_splits_match_scipy(isa, dtype, index, k, width):
    # every fixed batch width of the gather kernel, ragged tails, rows empty in some blocks
    rng = np.random.default_rng(hash((isa, index, k, width)) % 2**32)
    A = random_csr(rng, 41, 57, 0.25, dtype, index)
    A.sort_indices()
    X = rng.standard_normal((57, k)).astype(dtype)
    splits, Y = split_product(A, width, X)
    starts = splits.block_start
    assert starts.shape == (-(-57 // width) + 1, 41) and starts.dtype == index
    np.testing.assert_array_equal(starts[0], A.indptr[:-1])
    np.testing.assert_array_equal(starts[-1], A.indptr[1:])
    for b in range(starts.shape[0] - 1):  # block b holds exactly row i's columns in its range
        for i in range(41):
            cols = A.indices[starts[b, i]:starts[b + 1, i]]
            assert np.all((cols >= b * width) & (cols < (b + 1) * width))
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(Y, A @ X, rtol=tol, atol=tol)
    np.testing.assert_allclose(Y, sparsenet.reference.spmm(sparsenet.CSR.from_scipy(A), X),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (1, 1), (3, 200), (200, 3)])
def test_column_splits_degenerate_shapes(shape):
    rng = np.random.default_rng(7)
    A = random_csr(rng, *shape, 0.5)
    A.sort_indices()
    X = rng.standard_normal((shape[1], 16))
    _, Y = split_product(A, 2, X)
    np.testing.assert_allclose(Y, A @ X, rtol=1e-12, atol=1e-12)


def test_column_splits_thread_count_does_not_change_results():
    rng = np.random.default_rng(8)
    A = random_csr(rng, 3000, 500, 0.05, np.float32)
    A.sort_indices()
    X = rng.standard_normal((500, 64)).astype(np.float32)
    _, one = split_product(A, 64, X, threads=1)
    _, two = split_product(A, 64, X, threads=2)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("n", [0, 1, 1000])
def test_gather_values_is_take(dtype, index, n):
    # sparsenet.torch puts a layer's values into the order of its A^T blocks with this
    rng = np.random.default_rng(n)
    values = rng.standard_normal(n).astype(dtype)
    order = rng.integers(0, max(n, 1), size=2 * n).astype(index) if n else np.zeros(0, index)
    out = np.full(order.shape, np.nan, dtype)
    sparsenet._csr.gather_values(values, order, out)
    np.testing.assert_array_equal(out, values[order])


def on_a_line(shape, dtype):
    """An uninitialised C-contiguous array starting on a cache line."""
    n_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = np.empty(n_bytes + 64, np.uint8)
    start = -buffer.ctypes.data % 64
    return buffer[start:start + n_bytes].view(dtype).reshape(shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [2, 5, 15, 17, 31, 49, 65, 196])
@pytest.mark.parametrize("layout", ["blocks", "splits", "plain"])
def test_padded_rows_are_not_read_and_give_the_unpadded_result(isa, dtype, k, layout):
    # Rows of X that are not whole cache lines are copied to padded rows (as_matrix_operand): the
    # kernels read only X's first k columns of each padded row (NaN past them here), write only
    # Y's k columns (a sentinel after Y's last row stays), and give the bits of the unpadded call.
    rng = np.random.default_rng(hash((isa, k, layout)) % 2**32)
    A = random_csr(rng, 64, 40, 0.5, dtype)
    A.sort_indices()
    line = 64 // np.dtype(dtype).itemsize
    X = on_a_line((40, k), dtype)  # both on a line: where X starts can change the sums (peel_columns)
    X[:] = rng.standard_normal((40, k))
    padded = on_a_line((40, -(-k // line) * line), dtype)
    padded[:] = np.nan
    padded[:, :k] = X
    native_isa, _ = sparsenet.backend.native_options()

    def product(operand):
        out = np.full(64 * k + line, 7.0, dtype)
        Y = out[:64 * k].reshape(64, k)
        if layout == "blocks":
            B = optimized(A, batch=k, slice_bytes=16 * X.itemsize * k)._blocks
            _csr.blocked_matmul(native_isa, 1, B.width, B.row_ptr, B.seg_ptr, B.col,
                                B.values, operand, Y)
        elif layout == "splits":
            C = sparsenet.CSR.from_scipy(A)
            _csr.split_matmul(native_isa, 1, C.indptr, _csr_blocks.column_splits(C, 16).block_start,
                              C.indices, C.data, operand, Y)
        else:
            C = sparsenet.CSR.from_scipy(A)
            _csr.matmul(native_isa, 1, C.indptr, C.indices, C.data, operand, Y, False, True)
        np.testing.assert_array_equal(out[64 * k:], 7.0)
        return Y

    got = product(padded)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, A @ X, rtol=tol, atol=tol)
    np.testing.assert_array_equal(got, product(X))
    padded_copy = _validate.as_matrix_operand(X, dtype, 8.0, padded=True)
    if k * X.itemsize <= _validate.UNSPLIT_ROW_BYTES:  # rows that never cross a line: as they are
        assert padded_copy is X
    else:
        assert padded_copy.shape == padded.shape
        np.testing.assert_array_equal(padded_copy[:, :k], X)
    assert _validate.as_matrix_operand(X, dtype, 7.9, padded=True) is X
    assert _validate.as_matrix_operand(X, dtype, 8.0) is X


@pytest.mark.parametrize("transpose, x_cols", [(True, 16), (False, 8)])
def test_padded_rows_are_refused_where_no_kernel_reads_them(transpose, x_cols):
    """The native wrappers take X's rows longer than Y's (padded) only for A X (check_padded_rows,
    _status.pxi): a transposed product's X, or X's rows shorter than Y's, is refused by name."""
    A = sparsenet.CSR.from_scipy(random_csr(np.random.default_rng(2), 12, 12, 0.5, np.float32))
    X, Y = np.ones((12, x_cols), np.float32), np.zeros((12, 12), np.float32)
    isa, _ = sparsenet.backend.native_options()
    with pytest.raises(ValueError, match="X's rows may be padded only for A X"):
        _csr.matmul(isa, 1, A.indptr, A.indices, A.data, X, Y, transpose, True)
    codes = np.zeros(A.nnz, np.uint8)
    with pytest.raises(ValueError, match="X's rows may be padded only for A X"):
        _shared.csr_matmul(isa, 1, 12, A.indptr, A.indices, codes, np.ones(4, np.float32), X, Y,
                           transpose, True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("k", [300, 700])
def test_plain_products_take_column_panels(isa, dtype, index, k):
    """A plain CSR (and a SharedCSR) of few columns times a wide X sweeps X in column panels
    (plain_panel, csr_segments.h): right, the same for every thread count, with X off a cache line
    (the first panel peeled); rows under SN_CSR_PANEL_MIN_ENTRIES entries take none."""
    rng = np.random.default_rng(k)
    S = random_csr(rng, 150, 64, 0.2, dtype)
    S.indices, S.indptr = S.indices.astype(index), S.indptr.astype(index)
    A = sparsenet.CSR.from_scipy(S)
    level, itemsize = sparsenet.backend._isa_level(), np.dtype(dtype).itemsize
    assert _csr.panel_columns(level, itemsize, 150, 64, S.nnz, k) < k
    assert _csr.panel_columns(level, itemsize, 150, 64, 3 * 150, k) == k  # 3 entries a row
    X = rng.standard_normal((64, k)).astype(dtype)
    got = check_product(A, X, False)
    assert_close(sparsenet.spmm(A, _shifted(X, 16)), S, X, False)
    for threads in (2, 3):
        with sparsenet.use_num_threads(threads):
            np.testing.assert_array_equal(sparsenet.spmm(A, X), got)
    shared = sparsenet.SharedCSR.from_csr(S, 16)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(sparsenet.spmm(shared, X), shared.todense() @ X, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, k", [(np.float32, 64), (np.float32, 60), (np.float64, 32)])
def test_products_over_a_large_X(isa, dtype, k):
    """A X gathering from more than 1 MiB of X prefetches the rows it will gather
    (sn_csr_prefetches, csr_tuning.h; 4200 rows of 64 float32 or 32 float64), from less does not
    (60 float32): right either way, for a CSR, a scipy matrix (its rows of 256+ entries checked
    piece by piece) and a SharedCSR, and the same for every thread count."""
    rng = np.random.default_rng(k)
    S = random_csr(rng, 40, 4200, 0.12, dtype)
    assert (np.diff(S.indptr) > 256).all()
    X = rng.standard_normal((4200, k)).astype(dtype)
    got = check_product(sparsenet.CSR.from_scipy(S), X, False)
    check_product(S, X, False)  # long rows summed piece by piece: other bits
    for threads in (2, 3):
        with sparsenet.use_num_threads(threads):
            np.testing.assert_array_equal(sparsenet.spmm(sparsenet.CSR.from_scipy(S), X), got)
    shared = sparsenet.SharedCSR.from_csr(S, 16)
    tol = 1e-3 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(sparsenet.spmm(shared, X), shared.todense() @ X, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype, k", [(np.float32, 64), (np.float32, 60), (np.float64, 32)])
def test_products_alike_whatever_l2_they_plan_for(isa, dtype, k):
    """A X requests the rows of X early where X is larger than the L2 the kernels plan for (this
    core's: sn_l2_bytes; sn_csr_prefetches), and takes other code for the common widths where it is
    not: a result must not depend on the machine's cache. X of about 1 MiB (4096 rows) planned for
    256 KiB of L2 and for 4 MiB: the same bits from a CSR, from a scipy matrix and from one block
    of 16-bit columns (none of them in column panels at ten entries a row)."""
    assert 128 << 10 <= _csr.l2_bytes() <= 8 << 20
    rng = np.random.default_rng(k)
    n_cols = 4096
    S = random_csr(rng, 300, n_cols, 10 / n_cols, dtype)
    X = rng.standard_normal((n_cols, k)).astype(dtype)
    C = sparsenet.CSR.from_scipy(S)
    A = C.optimize(batch=k)
    assert A._blocks is not None and A._blocks.seg_ptr.shape[0] == 1  # one block
    results = []
    for l2 in (256 << 10, 4 << 20):
        _csr.set_l2_bytes(l2)
        assert _csr.l2_bytes() == l2
        results.append([sparsenet.spmm(M, X) for M in (C, S, A)])
    for early, none in zip(*results):
        np.testing.assert_array_equal(early, none)
    assert_close(results[0][0], S, X, False)
    assert_close(results[0][2], S, X, False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_cols, density, k", [
    (64, 0.2, 600),      # one block whose X spans column panels (blocked_panel)
    (1000, 0.1, 600),    # blocks of 128 columns: panels of 8 vectors where L1 takes 4
    (1000, 0.1, 300)])   # ... and of the 4 L1 takes, X's rows being narrower
def test_wide_operands_in_column_panels(isa, dtype, n_cols, density, k):
    rng = np.random.default_rng(n_cols + k)
    S = random_csr(rng, 150, n_cols, density, dtype)
    A = sparsenet.CSR.from_scipy(S).optimize(batch=k)
    assert A._blocks is not None and A._blocks.width == (64 if n_cols == 64 else 128)
    X = rng.standard_normal((n_cols, k)).astype(dtype)
    got = check_product(A, X, False)
    assert_close(sparsenet.spmm(A, _shifted(X, 16)), S, X, False)  # the first panel peeled
    for threads in (2, 3):
        with sparsenet.use_num_threads(threads):
            np.testing.assert_array_equal(sparsenet.spmm(A, X), got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("n_rows, n_cols, density, k", [
    (300, 64, 0.055, 520),   # 3.5 entries a row, X wide: neither kernel takes panels
    (150, 64, 0.2, 600),     # 12.8 entries a row: both take panels
    (2000, 256, 0.1, 16),
    (500, 128, 0.1, 2),
    (300, 128, 0.05, 49)])
def test_one_block_sums_as_the_plain_kernel(isa, dtype, index, n_rows, n_cols, density, k):
    """A matrix whose columns fit one block is optimize()d into one block of 16-bit columns for
    products of a batch (block_width), which sweeps as the plain kernel does, column panels
    included (blocked_panel, csr_blocked_kernels.h): the plain product's bits, for X on or off a
    cache line, where no column is left over for scalar code (whose sums one instantiation may
    contract into FMAs and another not: k = 2 and 49 at AVX2), and the same for every thread
    count. With 3.5 entries a row, panels of a wide X in the one block alone regrouped some sums
    (other bits than the plain kernel's, at AVX-512)."""
    rng = np.random.default_rng(n_cols + k)
    S = random_csr(rng, n_rows, n_cols, density, dtype, index)
    plain = sparsenet.CSR.from_scipy(S)
    A = plain.optimize(batch=k)
    assert A._blocks is not None and A._blocks.seg_ptr.shape[0] == 1
    X = rng.standard_normal((n_cols, k)).astype(dtype)
    got = check_product(A, X, False)
    if k * X.itemsize % 16 == 0:  # whole 16-byte vectors at every level
        np.testing.assert_array_equal(got, sparsenet.spmm(plain, X))
        off_line = _shifted(X, 16)
        np.testing.assert_array_equal(sparsenet.spmm(A, off_line), sparsenet.spmm(plain, off_line))
    for threads in (2, 3):
        with sparsenet.use_num_threads(threads):
            np.testing.assert_array_equal(sparsenet.spmm(A, X), got)
    assert plain.optimize(batch=1)._blocks is None  # spmv: the plain kernel


def test_plain_products_read_padded_rows(monkeypatch):
    """A plain CSR's A X, a scipy matrix's (checked in the product's pass) and a SharedCSR's read
    X's rows padded to whole cache lines when each is read 8 times or more (as_matrix_operand's
    `padded`), with the bits of the unpadded product; A^T X never takes padded rows."""
    rng = np.random.default_rng(5)
    S = random_csr(rng, 200, 30, 0.5, np.float32)
    A = sparsenet.CSR.from_scipy(S)
    X = rng.standard_normal((30, 49)).astype(np.float32)
    seen = []
    real, real_checked = _csr.matmul, _csr.checked_matmul
    monkeypatch.setattr(_csr, "matmul", lambda *a: seen.append(a[5].shape) or real(*a))
    monkeypatch.setattr(_csr, "checked_matmul",
                        lambda *a: seen.append(a[6].shape) or real_checked(*a))
    got = sparsenet.spmm(A, X)
    assert_close(got, S, X, False)
    assert seen[-1] == (30, 64)  # 200 * 30 * 0.5 / 30 = 100 reads a row
    np.testing.assert_array_equal(sparsenet.spmm(S, X), got)  # checked in the product's pass
    assert seen[-1] == (30, 64)
    unpadded, (level, _) = np.empty((200, 49), np.float32), sparsenet.backend.native_options()
    assert real_checked(level, 1, 30, A.indptr, A.indices, A.data, X, unpadded, False) == 200
    np.testing.assert_array_equal(unpadded, got)
    Yt = np.empty((30, 49), np.float32)
    with pytest.raises(ValueError, match="padded"):
        real(0, 1, A.indptr, A.indices, A.data, np.zeros((200, 64), np.float32), Yt, True, True)
    with pytest.raises(ValueError, match="padded"):
        real_checked(0, 1, 30, A.indptr, A.indices, A.data, np.zeros((200, 64), np.float32), Yt,
                     True)
    shared = sparsenet.SharedCSR.from_csr(A, 8)
    padded = np.zeros((30, 64), np.float32)
    padded[:, :49] = X
    Ys, Yp = np.empty((200, 49), np.float32), np.empty((200, 49), np.float32)
    native = sparsenet.shared._native()
    for operand, Y in ((X, Ys), (padded, Yp)):
        native.csr_matmul(level, 1, 30, shared.indptr, shared.indices, shared.codes,
                          shared.codebook, operand, Y, False, True)
    np.testing.assert_array_equal(Yp, Ys)  # SharedCSR's A X reads padded rows alike
    with pytest.raises(ValueError, match="padded"):
        native.csr_matmul(level, 1, 30, shared.indptr, shared.indices, shared.codes,
                          shared.codebook, np.zeros((200, 64), np.float32), Yt, True, True)
