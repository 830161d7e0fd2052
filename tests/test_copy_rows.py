"""The tiled copy into C-ordered rows (sparsenet._buffers.copy_rows, csrc/buffers_kernels.h): every
layout NumPy can view, the transposes through SSE2 blocks and their edges, padded destinations,
threads; and the operands the products copy with it."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsenet
from sparsenet import _buffers
from sparsenet._validate import aligned_copy, as_c_array, as_matrix_operand, copy_into

FLOATS = (np.float32, np.float64)


def _views(base):
    """Views of the 2-D `base` with each kind of strides: transposed (the SSE2 blocks), reversed,
    stepped, both, a broadcast column."""
    return {
        "transposed": base.T,
        "reversed transposed": base[::-1, ::-1].T,
        "stepped": base[::2, ::3],
        "stepped transposed": base[::3, ::2].T,
        "row-major": base,
        "reversed rows": base[::-1],
        "broadcast": np.broadcast_to(base[:, :1], base.shape),
    }


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (3, 5), (4, 4), (7, 13), (128, 8),
                                   (129, 9), (131, 300), (300, 131), (256, 1024)])
def test_equals_numpy_for_every_layout(dtype, shape):
    base = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    for name, x in _views(base).items():
        y = np.full(x.shape, np.nan, dtype)
        _buffers.copy_rows(1, x, y)
        np.testing.assert_array_equal(y, x, err_msg=name)


@pytest.mark.parametrize("dtype", FLOATS)
def test_padded_rows_are_left_alone(dtype):
    """Y a view of a wider buffer (rows padded, as the blocked products read X): the padding and
    what lies after the last row keep their values."""
    x = np.random.default_rng(1).standard_normal((37, 130)).astype(dtype).T  # 130 x 37
    buf = np.full((131, 48), -7.0, dtype)
    _buffers.copy_rows(1, x, buf[:130, :37])
    np.testing.assert_array_equal(buf[:130, :37], x)
    assert (buf[:130, 37:] == -7).all() and (buf[130] == -7).all()


@pytest.mark.parametrize("threads", [2, 3])
def test_threads_give_the_same_copy(threads):
    x = np.random.default_rng(2).standard_normal((1500, 1100)).astype(np.float32).T
    one, more = np.empty(x.shape, x.dtype), np.empty(x.shape, x.dtype)
    _buffers.copy_rows(1, x, one)
    _buffers.copy_rows(threads, x, more)  # 1.65M elements: two threads
    np.testing.assert_array_equal(one, x)
    np.testing.assert_array_equal(more, x)


def test_nan_inf_and_signed_zeros_are_copied_bit_for_bit():
    x = np.array([[np.nan, -0.0, np.inf, 1e-45], [-np.inf, 0.0, -np.nan, 3.0]] * 40,
                 np.float32).T.copy().T  # 80 x 4 seen as transposed twice: column-major
    y = np.empty(x.shape, x.dtype)
    _buffers.copy_rows(1, x, y)
    assert y.view(np.uint32).tolist() == np.ascontiguousarray(x).view(np.uint32).tolist()


def test_bad_destinations_are_refused():
    x = np.zeros((8, 6), np.float32).T
    with pytest.raises(ValueError, match="shape"):
        _buffers.copy_rows(1, x, np.zeros((6, 9), np.float32))
    with pytest.raises(ValueError, match="contiguous rows"):
        _buffers.copy_rows(1, x, np.zeros((6, 16), np.float32)[:, ::2])
    with pytest.raises((TypeError, ValueError)):  # dtypes differ: no fused signature matches
        _buffers.copy_rows(1, x, np.zeros((6, 8), np.float64))


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 70), cols=st.integers(1, 70), step_r=st.sampled_from([1, 2, -1, -3]),
       step_c=st.sampled_from([1, 3, -2]), transposed=st.booleans(),
       dtype=st.sampled_from(FLOATS))
def test_property_any_view(rows, cols, step_r, step_c, transposed, dtype):
    base = np.arange(rows * cols * 6, dtype=dtype).reshape(rows * 2, cols * 3)
    x = base[::step_r, ::step_c][:rows, :cols]
    x = x.T if transposed else x
    y = np.empty(x.shape, dtype)
    _buffers.copy_rows(1, x, y)
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("dtype", FLOATS)
def test_operand_copies_use_it_and_keep_values(dtype):
    """The copies the products make of a transposed operand (aligned_copy, as_c_array,
    as_matrix_operand, copy_into) are C-ordered, aligned and equal; casts still cast."""
    x = np.random.default_rng(3).standard_normal((300, 200)).astype(dtype).T
    for y in (aligned_copy(x, dtype), as_c_array(x, dtype), as_matrix_operand(x, dtype, 10.0)):
        assert y.flags.c_contiguous and y.ctypes.data % y.itemsize == 0
        np.testing.assert_array_equal(y, x)
    other = np.float32 if dtype == np.float64 else np.float64
    np.testing.assert_array_equal(aligned_copy(x, other), x.astype(other))
    out = np.empty(x.shape, np.float64)
    copy_into(out, x.astype(np.int64))  # not a float copy: NumPy's
    np.testing.assert_array_equal(out, x.astype(np.int64))


def test_products_of_a_transposed_operand():
    """spmm and sddmm take a transposed X as they take its C-ordered copy: the same bits."""
    rng = np.random.default_rng(4)
    A = sparsenet.CSR.from_dense(np.where(rng.random((90, 120)) < 0.2,
                                          rng.standard_normal((90, 120)), 0).astype(np.float32))
    x = rng.standard_normal((70, 120)).astype(np.float32)
    np.testing.assert_array_equal(sparsenet.spmm(A, x.T), sparsenet.spmm(A, x.T.copy()))
    a, b = rng.standard_normal((70, 90)).astype(np.float32), x
    np.testing.assert_array_equal(sparsenet.sddmm(A, a.T, b.T),
                                  sparsenet.sddmm(A, a.T.copy(), b.T.copy()))


@pytest.mark.parametrize("layout", ["plain", "blocks", "transposed blocks", "shared", "torch layer"])
def test_a_transposed_operand_is_copied_once_to_padded_rows(monkeypatch, layout):
    """A column-major X (x^T, as PyTorch layers hand it over) whose rows are not whole cache lines
    and are read often is copied once, straight to padded rows: one operand buffer per product,
    not a C-ordered copy and then a padded copy of that; the product is unchanged."""
    from sparsenet import _validate
    rng = np.random.default_rng(6)
    dense = np.where(rng.random((200, 300)) < 0.1, rng.standard_normal((200, 300)), 0)
    A = sparsenet.CSR.from_dense(dense.astype(np.float32))  # 20 reads a row of X
    transpose = layout == "transposed blocks"
    if layout == "shared":  # pruned and shared: SharedCSR's A X reads padded rows too
        A = sparsenet.SharedCSR.from_csr(A, 16)
    elif layout != "plain":
        A = A.optimize(batch=49, transpose=transpose)
        assert (A._blocks_t if transpose else A._blocks) is not None
    x = rng.standard_normal((49, 200 if transpose else 300)).astype(np.float32)
    expected = (A.toarray().T if transpose else A.toarray()) @ x.T.astype(np.float64)
    if layout == "torch layer":  # imported first: it binds aligned_empty for its outputs
        torch = pytest.importorskip("torch")
        import sparsenet.torch as snt
    buffers = []
    real = _validate.aligned_empty
    monkeypatch.setattr(_validate, "aligned_empty",
                        lambda shape, dtype: buffers.append(shape) or real(shape, dtype))
    if layout == "torch layer":
        layer = snt.SparseLinear.from_dense(torch.from_numpy(A.toarray()), threshold=1e-30)
        assert layer.nnz == A.nnz
        with torch.no_grad():
            got = layer(torch.from_numpy(x)).numpy().T
    else:
        got = sparsenet.spmm(A, x.T, transpose=transpose)
    assert buffers == [(x.shape[1], 64)]  # 49 float32 columns padded to a 64-column line
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
