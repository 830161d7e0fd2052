"""Thresholding kernels against sparsenet.reference and SciPy: every format, layout and dtype."""
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import sparsenet
from sparsenet import reference

FLOATS = [np.float32, np.float64]
SHAPES = [(0,), (1,), (9,), (3, 5), (2, 0), (0, 3), (4, 1), (1, 6), (5, 7, 3), (40, 33)]


def sample(shape, dtype, seed=0, specials=True):
    """Normal values with exact ties, zeros, -0.0, +-inf and NaN sprinkled in."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    if specials and x.size:
        flat = x.reshape(-1)
        picks = rng.integers(0, flat.size, size=max(1, flat.size // 5))
        flat[picks] = rng.choice(np.array([0.0, -0.0, 0.5, -0.5, 1.0, np.inf, -np.inf, np.nan],
                                          dtype=dtype), size=picks.size)
    return x


def layouts(x):
    """x in C order, F order, as strided, negative-stride and transposed views (same values)."""
    yield "C", np.ascontiguousarray(x)
    yield "F", np.asfortranarray(x)
    big = np.zeros(tuple(2 * n + 1 for n in x.shape), dtype=x.dtype)
    view = big[tuple(slice(1, None, 2) for _ in x.shape)]
    view[...] = x
    yield "strided", view
    rev = np.ascontiguousarray(x[tuple(slice(None, None, -1) for _ in x.shape)])
    yield "reversed", rev[tuple(slice(None, None, -1) for _ in x.shape)]
    if x.ndim >= 2:
        yield "transposed", np.ascontiguousarray(x.T).T


def assert_csr_equal(C, ref):
    """Same matrix, same arrays: ref a sparsenet.CSR or a scipy CSR matrix."""
    assert isinstance(C, sparsenet.CSR)
    assert C.shape == tuple(ref.shape)
    assert C.has_canonical_format
    assert_array_equal(C.indptr, ref.indptr)
    assert_array_equal(C.indices, ref.indices)
    assert C.data.dtype == ref.data.dtype
    assert_array_equal(C.data, ref.data)


ELEMENTWISE = [
    ("binarize", 0.5),
    ("hard_threshold", 0.5),
    ("soft_threshold", 0.5),
    ("hard_threshold", 0.0),
    ("soft_threshold", 0.0),
    ("binarize", -np.inf),
]


@pytest.mark.parametrize("name,theta", ELEMENTWISE)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES)
def test_elementwise_matches_reference(name, theta, dtype, shape):
    x = sample(shape, dtype)
    expected = getattr(reference, name)(x, theta)
    for layout, xl in layouts(x):
        got = getattr(sparsenet, name)(xl, theta)
        assert got.dtype == dtype, layout
        assert got.shape == x.shape
        assert_array_equal(got, expected, err_msg=layout)


@pytest.mark.parametrize("name,theta", ELEMENTWISE[:3])
@pytest.mark.parametrize("dtype", FLOATS)
def test_elementwise_out_any_layout_and_in_place(name, theta, dtype):
    x = sample((6, 8, 5), dtype, seed=3)
    expected = getattr(reference, name)(x, theta)
    fn = getattr(sparsenet, name)
    for _, xl in layouts(x):
        for _, out in layouts(np.full(x.shape, 7, dtype=dtype)):
            res = fn(xl, theta, out=out)
            assert res is out
            assert_array_equal(out, expected)
        inplace = xl.copy(order="K")
        assert fn(inplace, theta, out=inplace) is inplace
        assert_array_equal(inplace, expected)
    view = x.copy()[:, ::2]  # in place on a strided view
    fn(view, theta, out=view)
    assert_array_equal(view, expected[:, ::2])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("out_dtype", [bool, np.uint8])
def test_binarize_byte_outputs(dtype, out_dtype):
    x = sample((7, 9, 4), dtype)
    expected = x >= dtype(0.5)
    for _, xl in layouts(x):
        got = sparsenet.binarize(xl, 0.5, dtype=out_dtype)
        assert got.dtype == out_dtype
        assert_array_equal(got, expected.astype(out_dtype))
        out = np.ones(x.shape, dtype=out_dtype, order="F")
        assert sparsenet.binarize(xl, 0.5, out=out) is out  # dtype taken from out
        assert_array_equal(out, expected.astype(out_dtype))
    assert_array_equal(reference.binarize(x, 0.5, dtype=out_dtype), expected.astype(out_dtype))


def test_binarize_is_sigmoid_then_threshold():
    o = np.linspace(-6, 6, 2001)
    for theta in (0.1, 0.5, 0.73):
        via_logit = sparsenet.binarize(o, np.log(theta / (1 - theta)), dtype=bool)
        assert_array_equal(via_logit, 1 / (1 + np.exp(-o)) >= theta)


def test_nan_semantics_follow_numpy():
    x = np.array([np.nan, -np.nan, 1.0, -3.0, np.inf], dtype=np.float32)
    assert_array_equal(sparsenet.binarize(x, 0.0), [0, 0, 1, 0, 1])
    assert_array_equal(sparsenet.hard_threshold(x, 2.0), [0, 0, 0, -3, np.inf])
    assert_array_equal(sparsenet.soft_threshold(x, 2.0), [np.nan, np.nan, 0, -1, np.inf])
    # rankings: NaN above +inf, as np.sort orders it
    assert_array_equal(sparsenet.topk(x, 2), [np.nan, -np.nan, 0, 0, 0])
    assert_array_equal(sparsenet.topk(x, 3, largest_magnitude=False), [np.nan, -np.nan, 0, 0, np.inf])


def test_float32_threshold_is_rounded_to_float32():
    x = np.array([np.float32(0.7)], dtype=np.float32)  # float32(0.7) < 0.7
    assert sparsenet.binarize(x, 0.7)[0] == 1  # 0.7 rounded to float32 equals x
    assert sparsenet.binarize(x.astype(np.float64), 0.7)[0] == 0
    assert reference.binarize(x, 0.7)[0] == 1


@pytest.mark.parametrize("name,theta", ELEMENTWISE)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(0, 0), (0, 4), (3, 0), (1, 1), (5, 7), (40, 33), (1, 300)])
def test_elementwise_csr_matches_reference_and_scipy(name, theta, dtype, shape):
    x = sample(shape, dtype, seed=2)
    dense = getattr(reference, name)(x, theta)
    ref = getattr(reference, name)(x, theta, format="csr")
    for layout, xl in layouts(x):
        C = getattr(sparsenet, name)(xl, theta, format="csr")
        assert_csr_equal(C, ref)
        assert_csr_equal(C, sp.csr_matrix(dense))
        assert C.indices.dtype == np.int32
        assert_array_equal(C.toarray(), dense, err_msg=layout)


def test_csr_all_zero_rows_and_nothing_kept():
    x = np.zeros((5, 6), dtype=np.float32)
    x[2, 3] = 4.0
    C = sparsenet.hard_threshold(x, 1.0, format="csr")
    assert_array_equal(C.indptr, [0, 0, 0, 1, 1, 1])
    assert sparsenet.hard_threshold(x, 10.0, format="csr").nnz == 0
    assert sparsenet.soft_threshold(x, 0.0, format="csr").nnz == 1
    # the result feeds the CSR products directly
    assert_array_equal(sparsenet.spmv(C, np.ones(6, dtype=np.float32)), [0, 0, 4, 0, 0])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("largest_magnitude", [True, False])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 1), (6, 10), (4, 5, 6), (3, 300), (2, 5000)])
def test_topk_matches_reference(dtype, largest_magnitude, shape):
    x = sample(shape, dtype, seed=4)
    n = shape[-1]
    for k in sorted({0, 1, 2, n // 2, n - 1, n, n + 3} - {-1}):
        expected = reference.topk(x, k, largest_magnitude=largest_magnitude)
        for layout, xl in layouts(x):
            got = sparsenet.topk(xl, k, largest_magnitude=largest_magnitude)
            assert got.dtype == dtype
            assert_array_equal(got, expected, err_msg=f"{layout} k={k}")


@pytest.mark.parametrize("dtype", FLOATS)
def test_topk_axis(dtype):
    x = sample((5, 6, 7), dtype, seed=5)
    for axis in (0, 1, 2, -1, -2, -3):
        for k in (0, 2, 6):
            expected = reference.topk(x, k, axis=axis)
            assert_array_equal(sparsenet.topk(x, k, axis=axis), expected)
            assert_array_equal(sparsenet.topk(np.asfortranarray(x), k, axis=axis), expected)


@pytest.mark.parametrize("dtype", FLOATS)
def test_topk_ties_go_to_lower_index(dtype):
    x = np.ones((3, 8), dtype=dtype)
    x[1] = [2, -2, 1, 2, -2, 0, 2, 1]
    x[2] = [0.0, -0.0, 0.0, -0.0, 1, 0.0, -0.0, 0.0]
    got = sparsenet.topk(x, 3)
    assert_array_equal(got[0], [1, 1, 1, 0, 0, 0, 0, 0])
    assert_array_equal(got[1], [2, -2, 0, 2, 0, 0, 0, 0])
    assert_array_equal(got[2], [0, 0, 0, 0, 1, 0, 0, 0])
    assert np.signbit(got[2, 1])  # the first ties are kept as they are
    by_value = sparsenet.topk(x, 3, largest_magnitude=False)
    assert_array_equal(by_value[1], [2, 0, 0, 2, 0, 0, 2, 0])
    assert_array_equal(by_value, reference.topk(x, 3, largest_magnitude=False))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("largest_magnitude", [True, False])
def test_topk_csr(dtype, largest_magnitude):
    x = sample((30, 40), dtype, seed=6)
    x[3] = 0
    x[4] = -0.0
    x[5, :] = -1.5
    for k in (0, 1, 5, 39, 40, 100):
        dense = reference.topk(x, k, largest_magnitude=largest_magnitude)
        for layout, xl in layouts(x):
            C = sparsenet.topk(xl, k, largest_magnitude=largest_magnitude, format="csr")
            assert_csr_equal(C, sp.csr_matrix(dense))
            assert_csr_equal(C, reference.topk(x, k, largest_magnitude=largest_magnitude,
                                               format="csr"))


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 40), k=st.integers(0, 45),
       levels=st.integers(1, 5), seed=st.integers(0, 2**31 - 1), by_value=st.booleans())
def test_topk_property_many_ties(rows, cols, k, levels, seed, by_value):
    rng = np.random.default_rng(seed)
    x = rng.integers(-levels, levels + 1, size=(rows, cols)).astype(np.float32)
    got = sparsenet.topk(x, k, largest_magnitude=not by_value)
    assert_array_equal(got, reference.topk(x, k, largest_magnitude=not by_value))
    kept = np.count_nonzero(got != 0, axis=1) <= min(k, cols)
    assert kept.all()


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(0, 0), (1, 1), (3, 0), (0, 4), (7, 9), (50, 64), (1, 1000)])
@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 0.9, 0.99, 1.0])
@pytest.mark.parametrize("per_row", [False, True])
def test_prune_sparsity(dtype, shape, sparsity, per_row):
    W = sample(shape, dtype, seed=7)
    ref = reference.prune(W, sparsity=sparsity, per_row=per_row)
    for layout, Wl in layouts(W):
        C = sparsenet.prune(Wl, sparsity=sparsity, per_row=per_row)
        assert_csr_equal(C, ref)
    kept = np.count_nonzero(C.toarray() != 0)
    n = W.size if not per_row else W.shape[1]
    assert kept <= (W.size if not per_row else W.shape[0] * (n - round(sparsity * n)))


def test_prune_global_count_exact_and_ties():
    rng = np.random.default_rng(8)
    W = rng.standard_normal((64, 80)).astype(np.float32)
    C = sparsenet.prune(W, sparsity=0.9)
    assert C.nnz == W.size - round(0.9 * W.size)
    assert np.abs(C.data).min() >= np.sort(np.abs(W).ravel())[round(0.9 * W.size)]
    T = np.full((4, 5), 3.0)  # all equal: the first entries in row-major order are kept
    assert_array_equal(sparsenet.prune(T, sparsity=0.75).toarray().ravel(),
                       [3, 3, 3, 3, 3] + [0] * 15)
    for shape in [(33, 17), (20, 100), (3, 1000)]:  # many ties, across vector blocks too
        for dtype in FLOATS:
            ints = rng.integers(-3, 4, size=shape).astype(dtype)
            for s in (0.2, 0.5, 0.8, 0.97):
                assert_csr_equal(sparsenet.prune(ints, sparsity=s),
                                 reference.prune(ints, sparsity=s))
                assert_csr_equal(sparsenet.prune(ints, sparsity=s, per_row=True),
                                 reference.prune(ints, sparsity=s, per_row=True))
            for k in (1, 7, 30):
                assert_csr_equal(sparsenet.topk(ints, k, format="csr"),
                                 reference.topk(ints, k, format="csr"))


def test_prune_threshold_is_hard_threshold_csr():
    W = sample((20, 30), np.float64, seed=9)
    for t in (0.0, 0.7, 5.0):
        C = sparsenet.prune(W, threshold=t)
        assert_csr_equal(C, sp.csr_matrix(np.where(np.abs(W) >= t, W, 0)))
        assert_csr_equal(C, reference.prune(W, threshold=t))


@pytest.mark.parametrize("call", [
    lambda x: sparsenet.hard_threshold(x, 0.5),
    lambda x: sparsenet.soft_threshold(x, 0.5, format="csr"),
    lambda x: sparsenet.binarize(x, 0.5, dtype=np.uint8),
    lambda x: sparsenet.topk(x, 17),
    lambda x: sparsenet.topk(x, 17, format="csr"),
    lambda x: sparsenet.prune(x, sparsity=0.8),
    lambda x: sparsenet.prune(x, sparsity=0.8, per_row=True),
])
def test_threads_and_isa_do_not_change_results(call):
    # over 2^21 elements: the element-wise maps start a second thread (SN_THR_MAP_GRAIN)
    x = sample((1500, 1401), np.float32, seed=10)
    x.flags.writeable = False  # read-only input works and is not modified
    before = x.copy()
    sparsenet.set_num_threads(1)
    one = call(x)
    sparsenet.set_num_threads(2)
    two = call(x)
    sparsenet.set_isa("baseline")
    base = call(x)
    for other in (two, base):
        if isinstance(one, sparsenet.CSR):
            assert_csr_equal(other, one)
        else:
            assert_array_equal(other, one)
    assert_array_equal(x, before)


def test_numpy_backend_routes_to_reference():
    x = sample((6, 7), np.float32)
    with sparsenet.use_backend("numpy"):
        assert_array_equal(sparsenet.soft_threshold(x, 0.3), reference.soft_threshold(x, 0.3))
        assert_array_equal(sparsenet.topk(x, 2), reference.topk(x, 2))
        assert_csr_equal(sparsenet.prune(x, sparsity=0.5), reference.prune(x, sparsity=0.5))
        assert_csr_equal(sparsenet.hard_threshold(x, 0.3, format="csr"),
                         reference.hard_threshold(x, 0.3, format="csr"))
        out = np.empty_like(x)
        assert sparsenet.binarize(x, 0.0, out=out) is out


def test_integer_and_bool_input_compute_in_float64():
    x = np.arange(-3, 4)
    assert sparsenet.hard_threshold(x, 2).dtype == np.float64
    assert_array_equal(sparsenet.soft_threshold(x, 1), [-2, -1, 0, 0, 0, 1, 2])
    assert_array_equal(sparsenet.binarize(np.array([True, False]), 1), [1.0, 0.0])
    assert_array_equal(sparsenet.topk([1, -5, 3], 1), [0, -5, 0])
    assert sparsenet.binarize(np.float32(3), 1.0).shape == ()  # 0-d works


def test_bad_arguments():
    x = np.ones((3, 4), dtype=np.float32)
    x3 = np.ones((2, 3, 4), dtype=np.float32)
    cases = [
        (ValueError, lambda: sparsenet.topk(x, -1)),
        (TypeError, lambda: sparsenet.topk(x, 1.5)),
        (ValueError, lambda: sparsenet.topk(x, 1, axis=2)),
        (TypeError, lambda: sparsenet.topk(x, 1, axis=None)),
        (ValueError, lambda: sparsenet.topk(x, 1, axis=0, format="csr")),
        (ValueError, lambda: sparsenet.topk(np.float32(1), 1)),
        (TypeError, lambda: sparsenet.topk(x, 1, largest_magnitude="yes")),
        (ValueError, lambda: sparsenet.topk(x3, 1, format="csr")),
        (ValueError, lambda: sparsenet.prune(x, sparsity=1.5)),
        (ValueError, lambda: sparsenet.prune(x, sparsity=-0.1)),
        (ValueError, lambda: sparsenet.prune(x, sparsity=np.nan)),
        (TypeError, lambda: sparsenet.prune(x, sparsity="half")),
        (ValueError, lambda: sparsenet.prune(x, sparsity=0.5, threshold=0.1)),
        (ValueError, lambda: sparsenet.prune(x)),
        (ValueError, lambda: sparsenet.prune(x, threshold=0.1, per_row=True)),
        (ValueError, lambda: sparsenet.prune(x, threshold=np.nan)),
        (ValueError, lambda: sparsenet.prune(x3, sparsity=0.5)),
        (ValueError, lambda: sparsenet.prune(np.ones(4), sparsity=0.5)),
        (TypeError, lambda: sparsenet.prune(sp.csr_matrix(x), sparsity=0.5)),
        (ValueError, lambda: sparsenet.hard_threshold(x3, 0.5, format="csr")),
        (ValueError, lambda: sparsenet.hard_threshold(x, 0.5, format="coo")),
        (ValueError, lambda: sparsenet.hard_threshold(x, np.nan)),
        (TypeError, lambda: sparsenet.hard_threshold(x, "1")),
        (TypeError, lambda: sparsenet.hard_threshold(x, None)),
        (ValueError, lambda: sparsenet.soft_threshold(x, -1.0)),
        (TypeError, lambda: sparsenet.soft_threshold(x.astype(complex), 1.0)),
        (ValueError, lambda: sparsenet.soft_threshold(x, 1.0, out=np.empty((4, 3), np.float32))),
        (TypeError, lambda: sparsenet.soft_threshold(x, 1.0, out=np.empty((3, 4)))),
        (TypeError, lambda: sparsenet.soft_threshold(x, 1.0, out=[[0] * 4] * 3)),
        (ValueError, lambda: sparsenet.soft_threshold(x, 1.0, out=np.empty((3, 4), np.float32),
                                                      format="csr")),
        (ValueError, lambda: sparsenet.hard_threshold(x, 1.0, out=x[::-1])),
        (TypeError, lambda: sparsenet.binarize(x, 0.0, dtype=np.int16)),
        (TypeError, lambda: sparsenet.binarize(x, 0.0, dtype=np.float64)),
        (TypeError, lambda: sparsenet.binarize(x, 0.0, dtype=bool, format="csr")),
        (TypeError, lambda: sparsenet.binarize(x, 0.0, out=np.empty((3, 4), np.int8))),
    ]
    for exc, call in cases:
        with pytest.raises(exc):
            call()
    ro = np.empty((3, 4), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        sparsenet.hard_threshold(x, 1.0, out=ro)
    with pytest.raises(ValueError, match="exactly one"):
        sparsenet.prune(x, sparsity=0.5, threshold=0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sparsenet.prune(x, sparsity=2)


@pytest.mark.parametrize("dtype", FLOATS)
def test_outputs_large_enough_to_stream(dtype):
    """Outputs of 32 MiB and more take the non-temporal store path: odd start and tail too."""
    n = (32 << 20) // np.dtype(dtype).itemsize + 37
    x = sample((n + 1,), dtype, seed=11)[1:]
    for name, theta in [("binarize", 0.5), ("binarize", -np.inf), ("hard_threshold", 0.5),
                        ("soft_threshold", 0.5)]:
        expected = getattr(reference, name)(x, theta)
        assert_array_equal(getattr(sparsenet, name)(x, theta), expected, err_msg=name)
        y = x.copy()
        getattr(sparsenet, name)(y, theta, out=y)
        assert_array_equal(y, expected, err_msg=name)


@pytest.mark.parametrize("dtype", FLOATS)
def test_topk_long_rows_sample_and_fallback(dtype):
    """Rows long enough for the sampled filter: a fair sample, and one that misleads it (the large
    values sit exactly on the sampled positions, so too few pass the guessed cut)."""
    n = 4096
    rng = np.random.default_rng(12)
    x = rng.standard_normal((6, n)).astype(dtype)
    x[1, :: n // 256] = 100 + np.arange(256)  # every sampled key is large
    x[2] = np.round(x[2])  # few distinct values: ties everywhere
    x[3, ::7] = np.nan
    x[4] = 0.0
    x[5, :100] = np.inf
    for k in (1, 5, 32, 100, 300):
        for by_value in (False, True):
            expected = reference.topk(x, k, largest_magnitude=not by_value)
            assert_array_equal(sparsenet.topk(x, k, largest_magnitude=not by_value), expected)
            assert_csr_equal(sparsenet.topk(x, k, largest_magnitude=not by_value, format="csr"),
                             sp.csr_matrix(expected))


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 5), cols=st.integers(1, 300), frac=st.floats(0, 1),
       seed=st.integers(0, 2**31 - 1), per_row=st.booleans(), f32=st.booleans())
def test_prune_property(rows, cols, frac, seed, per_row, f32):
    rng = np.random.default_rng(seed)
    dtype = np.float32 if f32 else np.float64
    W = (rng.standard_normal((rows, cols)) * 10.0 ** rng.integers(-30, 30, size=(rows, cols)))
    W = W.astype(dtype)
    W[rng.random((rows, cols)) < 0.1] = 0
    W[rng.random((rows, cols)) < 0.05] = np.nan
    W[rng.random((rows, cols)) < 0.05] = -np.inf
    assert_csr_equal(sparsenet.prune(W, sparsity=frac, per_row=per_row),
                     reference.prune(W, sparsity=frac, per_row=per_row))


@pytest.mark.parametrize("dtype", FLOATS)
def test_int64_index_fills_match_int32(dtype):
    """CSR results switch to int64 indices past 2**31 entries: the int64 fills (too big to reach in
    a test) must write what the int32 ones do."""
    from sparsenet import _threshold, backend

    isa, threads = backend.native_options()
    x = sample((37, 203), dtype, seed=13)
    x[5] = 0.5
    n_rows = x.shape[0]

    def fills(count_then_fill):
        results = []
        for index in (np.int32, np.int64):
            counts = count_then_fill(None)
            indptr = np.concatenate([[0], np.cumsum(counts)]).astype(index)
            indices = np.empty(indptr[-1], dtype=index)
            data = np.empty(indptr[-1], dtype=dtype)
            count_then_fill((indptr, indices, data))
            results.append((indptr, indices, data))
        (p32, i32, d32), (p64, i64, d64) = results
        assert_array_equal(p32, p64)
        assert_array_equal(i32, i64)
        assert_array_equal(d32, d64)

    for op in (0, 1, 2):
        def by_op(arrays, op=op):
            if arrays is None:
                counts = np.empty(n_rows, dtype=np.int64)
                _threshold.count(isa, threads, op, 0.5, x, counts)
                return counts
            _threshold.fill(isa, threads, op, 0.5, x, *arrays)
        fills(by_op)

    for rank, k in ((0, 17), (1, 17), (0, 500)):
        cut = np.empty(n_rows, dtype=np.uint64)
        quota = np.empty(n_rows, dtype=np.int64)

        def by_cut(arrays, rank=rank, k=k):
            if arrays is None:
                counts = np.empty(n_rows, dtype=np.int64)
                _threshold.topk_cut(isa, threads, rank, k, x, cut, quota, counts)
                return counts
            _threshold.cut_fill(isa, threads, rank, x, cut, quota, *arrays)
        fills(by_cut)


@pytest.mark.parametrize("dtype", FLOATS)
def test_column_major_inputs_copied_in_tiles(dtype):
    """Row kernels get F-order and strided matrices through the tiled row-major copy (several
    tiles, partial ones at the edges)."""
    x = sample((300, 401), dtype, seed=14)
    for _, xl in layouts(x):
        assert_array_equal(sparsenet.topk(xl, 9), reference.topk(x, 9))
        assert_csr_equal(sparsenet.topk(xl, 9, format="csr"), reference.topk(x, 9, format="csr"))
        assert_csr_equal(sparsenet.prune(xl, sparsity=0.7), reference.prune(x, sparsity=0.7))
        assert_csr_equal(sparsenet.hard_threshold(xl, 1.0, format="csr"),
                         reference.hard_threshold(x, 1.0, format="csr"))
    assert_array_equal(sparsenet.topk(x.T, 5, axis=0), reference.topk(x.T, 5, axis=0))


def test_topk_with_a_huge_k_keeps_everything():
    x = np.arange(6.0).reshape(2, 3)
    for k in (3, 4, 2**63, np.uint64(2**64 - 1)):
        np.testing.assert_array_equal(sparsenet.topk(x, k), x)
        np.testing.assert_array_equal(sparsenet.reference.topk(x, k), x)
