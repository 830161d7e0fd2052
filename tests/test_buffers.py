"""The output buffer cache: large new results reuse freed blocks, never memory still in use."""
import copy
import gc
import pickle
import threading

import numpy as np
import pytest

import sparsenet
from sparsenet import _buffers
from sparsenet._validate import aligned_empty, new_output, new_output_like

MIB = 1 << 20
SHAPE = (512, 1024)  # 2 MiB of float32: pooled


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts from an empty cache with the default cap (conftest restores the cap)."""
    gc.collect()  # arrays of earlier tests come back now, not in the middle of this one
    sparsenet.set_buffer_cache(0)
    sparsenet.set_buffer_cache(None)
    yield


def _z(shape=SHAPE, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _from_cache(a):
    """True when `a` views a block of the cache (through its chain of bases)."""
    while a is not None:
        if isinstance(a, _buffers.Block):
            return True
        a = a.obj if isinstance(a, memoryview) else getattr(a, "base", None)
    return False


def test_default_cap_and_large_outputs_come_from_the_cache():
    assert sparsenet.get_buffer_cache() == _buffers.DEFAULT_LIMIT == 512 * MIB
    y = sparsenet.soft_threshold(_z(), 0.5)
    assert _from_cache(y)
    assert y.flags.c_contiguous and y.flags.writeable and y.flags.aligned
    assert y.shape == SHAPE and y.dtype == np.float32
    assert y.ctypes.data % 4096 == 0  # page-aligned, so cache-line aligned
    small = sparsenet.soft_threshold(_z((16, 16)), 0.5)
    assert not _from_cache(small) and small.flags.owndata


def test_a_freed_block_is_reused():
    Z = _z()
    y = sparsenet.soft_threshold(Z, 0.5)
    address = y.ctypes.data
    del y
    gc.collect()
    assert _buffers.cached_blocks() == 1 and _buffers.cached_bytes() == 2 * MIB
    y = sparsenet.hard_threshold(Z, 0.5)
    assert y.ctypes.data == address
    assert _buffers.cached_blocks() == 0
    np.testing.assert_array_equal(y, sparsenet.reference.hard_threshold(Z, 0.5))


def test_live_arrays_never_share_memory():
    Z = _z()
    a = sparsenet.soft_threshold(Z, 0.5)
    expected = a.copy()
    b = sparsenet.soft_threshold(Z, 1.0)
    c = new_output(SHAPE, np.float32)
    assert not np.shares_memory(a, b) and not np.shares_memory(a, c)
    assert not np.shares_memory(b, c)
    c.fill(7.0)
    b.fill(3.0)
    np.testing.assert_array_equal(a, expected)


def test_a_view_keeps_the_block_alive():
    Z = _z()
    a = sparsenet.soft_threshold(Z, 0.5)
    expected = a[::2].copy()
    view = a[::2]
    address = a.ctypes.data
    del a
    gc.collect()
    assert _buffers.cached_blocks() == 0
    b = sparsenet.soft_threshold(Z, 0.0)
    assert b.ctypes.data != address and not np.shares_memory(b, view)
    b.fill(-1.0)
    np.testing.assert_array_equal(view, expected)
    del view
    gc.collect()
    assert _buffers.cached_blocks() == 1  # the parent's block came back with its last view
    assert sparsenet.soft_threshold(Z, 0.5).ctypes.data == address


def test_reshaped_transposed_and_derived_views_keep_it_alive():
    Z = _z()
    a = sparsenet.soft_threshold(Z, 0.5)
    expected = a.copy()
    views = [a.T, a.reshape(-1), a[1:, ::3], np.asarray(a), a.view(np.int32)]
    del a
    gc.collect()
    b = sparsenet.soft_threshold(Z, 0.1)
    for v in views:
        assert not np.shares_memory(v, b)
    np.testing.assert_array_equal(views[0].T, expected)


def test_behaves_as_an_ordinary_array():
    Z = _z()
    y = sparsenet.soft_threshold(Z, 0.5)
    expected = sparsenet.reference.soft_threshold(Z, 0.5)
    for clone in (pickle.loads(pickle.dumps(y)), copy.deepcopy(y), copy.copy(y), y.copy()):
        assert not np.shares_memory(clone, y)
        np.testing.assert_array_equal(clone, expected)
        assert clone.dtype == y.dtype and clone.shape == y.shape
    y += 1
    np.testing.assert_array_equal(y, expected + 1)
    assert np.shares_memory(y, y[::2]) and not np.shares_memory(y[::2], y[1::2])


def test_results_identical_with_the_cache_on_and_off():
    Z = _z((300, 2000), np.float64)  # 4.6 MiB
    inputs = [Z, np.asfortranarray(Z), Z[::-1, ::2], Z.T, Z.reshape(30, 10, 2000).transpose(1, 2, 0),
              Z.astype(np.float32), Z[:, :1000].astype(np.float32)[::-1]]
    calls = [
        lambda x: sparsenet.soft_threshold(x, 0.5),
        lambda x: sparsenet.hard_threshold(x, 0.5),
        lambda x: sparsenet.binarize(x, 0.5),
        lambda x: sparsenet.binarize(x, 0.5, dtype=bool),
        lambda x: sparsenet.binarize(x, 0.5, dtype=np.uint8),
        lambda x: sparsenet.topk(x, 5, axis=0),
    ]
    for x in inputs:
        for call in calls:
            sparsenet.set_buffer_cache(None)
            on = call(x)
            sparsenet.set_buffer_cache(0)
            off = call(x)
            assert not _from_cache(off)
            assert on.dtype == off.dtype and on.shape == off.shape and on.strides == off.strides
            np.testing.assert_array_equal(on, off)


def test_new_output_like_has_the_layout_of_empty_like():
    base = np.zeros((8, 128, 3, 256))  # 6 MiB of float64
    for x in (base, np.asfortranarray(base), base.transpose(2, 0, 3, 1), base[:, ::-1, :, ::2],
              base[:, :, :1], base.transpose(3, 1, 0, 2)[::-1], base[0], base[0].T, base.ravel(),
              base.ravel()[::2], base[:, :, 1:2, :].transpose(2, 0, 1, 3)):
        for dtype in (np.float64, np.float32, np.uint8, bool):
            y = new_output_like(x, dtype)
            ref = np.empty_like(x, dtype=dtype)
            assert y.shape == ref.shape and y.strides == ref.strides and y.dtype == ref.dtype
            assert _from_cache(y) == (ref.nbytes >= _buffers.MIN_BYTES)


def test_capacity_rounding_and_matching():
    a = new_output((3 * MIB // 4,), np.float32)  # 3 MiB: below 4 MiB, whole 4 KiB pages
    address = a.ctypes.data
    del a
    gc.collect()
    assert _buffers.cached_bytes() == 3 * MIB
    b = new_output((7 * MIB,), np.uint8)  # 8 MiB of huge pages: the 3 MiB block is too small
    assert b.ctypes.data != address and b.ctypes.data % (2 * MIB) == 0
    c = new_output((MIB + 1,), np.uint8)  # the 3 MiB block is more than 1.25x too big
    assert c.ctypes.data != address
    d = new_output((5 * MIB // 2,), np.uint8)  # 2.5 MiB takes the 3 MiB block ...
    assert d.ctypes.data == address
    del b, c, d
    gc.collect()
    # ... and returns it whole; the 1 MiB + 1 request held one page more than 1 MiB, not 2 MiB
    assert _buffers.cached_bytes() == 8 * MIB + 3 * MIB + MIB + 4096


def test_cap_is_respected():
    sparsenet.set_buffer_cache(MIB)  # below one block: nothing is pooled
    y = sparsenet.soft_threshold(_z(), 0.5)
    assert not _from_cache(y) and y.flags.owndata
    sparsenet.set_buffer_cache(5 * MIB)  # room for two 2 MiB blocks
    arrays = [new_output(SHAPE, np.float32) for _ in range(3)]
    addresses = [a.ctypes.data for a in arrays]
    while arrays:
        arrays.pop(0)  # returned in order: the first is the least recently returned
    assert _buffers.cached_blocks() == 2 and _buffers.cached_bytes() == 4 * MIB
    # the least recently returned block (the first) was let go
    assert new_output(SHAPE, np.float32).ctypes.data in addresses[1:]
    sparsenet.set_buffer_cache(2 * MIB)  # lowering the cap releases what is above it now
    assert _buffers.cached_bytes() <= 2 * MIB


def test_zero_disables_and_releases():
    arrays = [new_output(SHAPE, np.float32) for _ in range(3)]
    del arrays
    gc.collect()
    assert _buffers.cached_blocks() == 3
    sparsenet.set_buffer_cache(0)
    assert sparsenet.get_buffer_cache() == 0
    assert _buffers.cached_blocks() == 0 and _buffers.cached_bytes() == 0
    y = sparsenet.soft_threshold(_z(), 0.5)
    assert not _from_cache(y) and y.flags.owndata
    live = new_output(SHAPE, np.float32)  # made with the cache on, freed with it off
    sparsenet.set_buffer_cache(None)
    live2 = new_output(SHAPE, np.float32)
    sparsenet.set_buffer_cache(0)
    del live, live2
    gc.collect()
    assert _buffers.cached_blocks() == 0


def test_blocks_larger_than_the_cap_are_plain_arrays():
    sparsenet.set_buffer_cache(4 * MIB)
    big = new_output((6 * MIB,), np.uint8)
    assert not _from_cache(big)
    assert _from_cache(new_output((3 * MIB,), np.uint8))


def test_bad_max_bytes():
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match="max_bytes"):
            sparsenet.set_buffer_cache(bad)
    for bad in (1.5, "1", True, [1]):
        with pytest.raises(TypeError, match="max_bytes"):
            sparsenet.set_buffer_cache(bad)
    assert sparsenet.get_buffer_cache() == _buffers.DEFAULT_LIMIT
    sparsenet.set_buffer_cache(np.int64(8 * MIB))
    assert sparsenet.get_buffer_cache() == 8 * MIB


def test_thread_count_is_unaffected():
    sparsenet.set_num_threads(1)
    sparsenet.set_buffer_cache(0)
    sparsenet.set_buffer_cache(64 * MIB)
    assert sparsenet.get_num_threads() == 1


def test_numpy_backend_does_not_use_the_cache():
    Z = _z()
    with sparsenet.use_backend("numpy"):
        for y in (sparsenet.soft_threshold(Z, 0.5), sparsenet.hard_threshold(Z, 0.5),
                  sparsenet.binarize(Z, 0.5)):
            assert not _from_cache(y)
    assert not _from_cache(sparsenet.reference.soft_threshold(Z, 0.5))


def test_aligned_empty_takes_cached_blocks():
    a = aligned_empty((1024, 1024), np.float32)
    assert _from_cache(a) and a.ctypes.data % 64 == 0 and a.flags.c_contiguous
    small = aligned_empty((200, 200), np.float32)
    assert not _from_cache(small) and small.ctypes.data % 64 == 0


def test_products_and_decode_use_the_cache():
    rng = np.random.default_rng(0)
    sw = sparsenet.SharedWeights(rng.standard_normal(16).astype(np.float32),
                                 rng.integers(0, 16, (1024, 512), dtype=np.uint8))
    W = sparsenet.decode(sw)
    assert _from_cache(W)
    X = rng.standard_normal((512, 512)).astype(np.float32)
    Y = sparsenet.shared_matmul(sw, X)
    assert _from_cache(Y)
    np.testing.assert_allclose(Y, W @ X, rtol=1e-4, atol=1e-3)


def test_concurrent_threads():
    Z = _z()
    expected = sparsenet.reference.soft_threshold(Z, 0.5)
    errors = []

    def work():
        try:
            for _ in range(20):
                kept = [sparsenet.soft_threshold(Z, 0.5) for _ in range(3)]
                for y in kept:
                    np.testing.assert_array_equal(y, expected)
                kept[0].fill(0)
                np.testing.assert_array_equal(kept[1], expected)
        except Exception as e:  # reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
