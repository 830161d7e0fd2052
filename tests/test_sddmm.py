"""SDDMM: native == NumPy reference == SciPy's masked (A @ B.T) == torch.sparse.sampled_addmm."""
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import sparsenet
from sparsenet import reference

from test_csr import random_csr

EPS = {np.float32: 2e-5, np.float64: 1e-12}


def scipy_sddmm(P, A, B):
    """(A @ B.T) at P's stored positions, in P's entry order (duplicates included)."""
    rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
    return (A.astype(np.float64) @ B.astype(np.float64).T)[rows, P.indices]


def check(P, A, B, got):
    want = scipy_sddmm(P, A, B)
    rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
    scale = np.abs(A.astype(np.float64))[rows] * np.abs(B.astype(np.float64))[P.indices]
    tol = EPS[got.dtype.type] * (scale.sum(axis=1) if A.shape[1] else 0) + 1e-300
    assert got.shape == (P.nnz,)
    np.testing.assert_array_less(np.abs(got - want), tol + 1e-30)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("k", [0, 1, 3, 7, 16, 33, 64, 130])
@pytest.mark.parametrize("kind", ["plain", "duplicates", "unsorted"])
def test_matches_scipy_and_reference(isa, dtype, index, k, kind):
    rng = np.random.default_rng(k)
    P = random_csr(rng, 37, 29, 0.3, dtype, index, duplicates=kind == "duplicates",
                   unsorted=kind == "unsorted")
    A = rng.standard_normal((37, k)).astype(dtype)
    B = rng.standard_normal((29, k)).astype(dtype)
    sparsenet.set_isa(isa)
    got = sparsenet.sddmm(P, A, B)
    assert got.dtype == dtype
    check(P, A, B, got)
    ref = reference.sddmm(P, A, B)
    assert ref.dtype == dtype
    check(P, A, B, ref)


def pattern_from_rows(rows, n_cols, index):
    """A scipy csr_array whose row i holds the columns rows[i], in that order."""
    indptr = np.zeros(len(rows) + 1, dtype=index)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    indices = np.concatenate(rows).astype(index)
    return sp.csr_array((np.ones(len(indices)), indices, indptr), shape=(len(rows), n_cols))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("k", [2, 5, 9, 16, 24, 32, 48, 64, 128, 131])
def test_row_lengths_widths_and_tile_places(isa, dtype, index, k):
    """Rows of 0 to 19 entries (whole tiles of 8 and every remainder), at the widths compiled as
    constants (16, 32, 64, 128) and others (k < VLEN, a scalar tail, an odd number of vectors for
    AVX-512's two sums per entry: 24 in float64, 48 in float32): SciPy's values. An entry's
    value does not depend on its place in its tile: the same rows behind 1 to 7 extra entries give
    the same bits (so no thread split or row layout can change a result)."""
    rng = np.random.default_rng(k)
    n_cols = 50
    rows = [np.sort(rng.choice(n_cols, size=n, replace=False)) for n in range(20)]
    A = rng.standard_normal((len(rows), k)).astype(dtype)
    B = rng.standard_normal((n_cols, k)).astype(dtype)
    P = pattern_from_rows(rows, n_cols, index)
    got = sparsenet.sddmm(P, A, B)
    check(P, A, B, got)
    for shift in range(1, 8):
        shifted = pattern_from_rows([np.concatenate([rng.integers(0, n_cols, shift), r])
                                     for r in rows], n_cols, index)
        values = sparsenet.sddmm(shifted, A, B)
        for i in range(len(rows)):
            np.testing.assert_array_equal(values[shifted.indptr[i] + shift:shifted.indptr[i + 1]],
                                          got[P.indptr[i]:P.indptr[i + 1]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("k", [0, 1, 3, 7, 16, 33, 128])
@pytest.mark.parametrize("kind", ["plain", "duplicates", "unsorted", "empty rows and columns"])
def test_column_order_gives_the_row_order_bits(isa, monkeypatch, dtype, index, k, kind):
    """Where B does not fit L2 and A does, sddmm walks a CSR's entries column by column (its
    transpose, kept by the CSR) and writes each to its place: the same values, bit for bit, as row
    by row, in the pattern's order, on every thread count."""
    sddmm_module = sys.modules["sparsenet.sddmm"]
    rng = np.random.default_rng(k + 100)
    S = random_csr(rng, 23, 41, 0.3, dtype, index, duplicates=kind == "duplicates",
                   unsorted=kind == "unsorted")
    if kind == "empty rows and columns":
        dense = S.toarray()
        dense[::3] = 0
        dense[:, ::4] = 0
        S = sp.csr_array(dense)
    P = sparsenet.CSR(S.data, S.indices.astype(index), S.indptr.astype(index), S.shape)
    A = rng.standard_normal((23, k)).astype(dtype)
    B = rng.standard_normal((41, k)).astype(dtype)
    sparsenet.set_isa(isa)
    monkeypatch.setattr(sddmm_module, "_by_columns", lambda *_: False)
    by_rows = sparsenet.sddmm(P, A, B)
    monkeypatch.setattr(sddmm_module, "_by_columns", lambda *_: True)
    for threads in (1, 2, 3):
        sparsenet.set_num_threads(threads)
        np.testing.assert_array_equal(sparsenet.sddmm(P, A, B), by_rows)
    check(P, A, B, by_rows)
    indptr, rows, place = P._entries_by_column()  # the transpose, and each entry's place in P
    assert indptr.dtype == rows.dtype == place.dtype == index
    np.testing.assert_array_equal(np.sort(place), np.arange(P.nnz))
    np.testing.assert_array_equal(P.indices[place], np.repeat(np.arange(41), np.diff(indptr)))
    np.testing.assert_array_equal(np.repeat(np.arange(23), np.diff(P.indptr))[place], rows)
    assert all((np.diff(place[indptr[j]:indptr[j + 1]]) > 0).all() for j in range(41))


def test_the_column_order_rule():
    """Column by column where B's rows (n_cols x k) pass L2 and A's fit: issue 13's 384 x 1536
    matrix at k = 128 in float32 (A 192 KiB, B 768 KiB) with a 512 KiB L2; not the other way
    round, nor where both fit or neither does."""
    rule = sys.modules["sparsenet.sddmm"]._by_columns
    l2 = sparsenet._csr.l2_bytes()
    try:
        sparsenet._csr.set_l2_bytes(512 * 1024)
        assert rule(384, 1536, 512) and not rule(1536, 384, 512)
        assert not rule(64, 256, 128) and not rule(64, 256, 3136 * 4)
    finally:
        sparsenet._csr.set_l2_bytes(l2)


def test_threads_give_identical_results():
    rng = np.random.default_rng(1)
    P = sparsenet.CSR.from_scipy(sp.random(3000, 500, density=0.05, format="csr", random_state=rng))
    A = rng.standard_normal((3000, 40)).astype(np.float32)
    B = rng.standard_normal((500, 40)).astype(np.float32)
    results = []
    for n in (1, 2, 3, 5):
        sparsenet.set_num_threads(n)
        results.append(sparsenet.sddmm(P, A, B))
    for r in results[1:]:
        assert np.array_equal(r, results[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_misaligned_B_gives_the_aligned_result(dtype):
    """A B whose rows sit off the cache lines (NumPy's large arrays start 16 bytes into a page) is
    copied aligned when its rows are read often (sddmm.py); the values are those of the aligned B,
    bit for bit, at every offset and on both sides of the copy's threshold."""
    rng = np.random.default_rng(4)
    k = 64 // np.dtype(dtype).itemsize * 2  # rows of two cache lines
    n_cols = 2 * (1 << 16) // (k * np.dtype(dtype).itemsize)  # B of 128 KiB: over ALIGN_MIN_BYTES
    for density, n_rows in ((0.05, 1000), (0.002, 1000)):  # 50 and 2 reads a row of B
        P = sparsenet.CSR.from_scipy(sp.random(n_rows, n_cols, density=density, format="csr",
                                               random_state=rng))
        A = rng.standard_normal((n_rows, k)).astype(dtype)
        B = rng.standard_normal((n_cols, k)).astype(dtype)
        aligned = sparsenet._validate.aligned_copy(B, dtype)
        want = sparsenet.sddmm(P, A, aligned)
        check(P, A, B, want)
        buffer = np.empty(B.size + 64, dtype)
        for offset in range(0, 64, np.dtype(dtype).itemsize):
            start = (offset - buffer.ctypes.data) % 64 // np.dtype(dtype).itemsize
            shifted = buffer[start:start + B.size].reshape(B.shape)
            shifted[...] = B
            assert shifted.ctypes.data % 64 == offset
            np.testing.assert_array_equal(sparsenet.sddmm(P, A, shifted), want)
            np.testing.assert_array_equal(shifted, B)  # the caller's B untouched


def test_degenerate_shapes():
    for shape in [(0, 0), (0, 5), (5, 0), (4, 4)]:
        P = sparsenet.CSR.from_dense(np.zeros(shape))
        out = sparsenet.sddmm(P, np.ones((shape[0], 3)), np.ones((shape[1], 3)))
        assert out.shape == (0,)
    P = sparsenet.CSR.from_dense(np.eye(3))
    np.testing.assert_array_equal(sparsenet.sddmm(P, np.ones((3, 0)), np.ones((3, 0))), 0)


def test_layouts_nan_and_shared_csr():
    rng = np.random.default_rng(2)
    S = random_csr(rng, 20, 30, 0.3)
    A = np.asfortranarray(rng.standard_normal((20, 9)))
    B = rng.standard_normal((60, 9))[::2]  # strided rows
    check(S, A, B, sparsenet.sddmm(S, A, B))
    A[0, 0] = np.nan
    got = sparsenet.sddmm(S, A, B)
    row0 = slice(S.indptr[0], S.indptr[1])
    assert np.isnan(got[row0]).all() and not np.isnan(got[S.indptr[1]:]).any()
    shared = sparsenet.SharedCSR.from_csr(S, 4)
    A[0, 0] = 1.0
    np.testing.assert_array_equal(sparsenet.sddmm(shared, A, B), sparsenet.sddmm(S, A, B))


def test_mixed_dtypes_promote_and_out():
    rng = np.random.default_rng(3)
    P = sparsenet.CSR.from_scipy(random_csr(rng, 8, 6, 0.5))
    A32 = rng.standard_normal((8, 4)).astype(np.float32)
    B64 = rng.standard_normal((6, 4))
    assert sparsenet.sddmm(P, A32, B64).dtype == np.float64
    assert sparsenet.sddmm(P, A32, A32[:6]).dtype == np.float32
    out = np.empty(P.nnz)
    assert sparsenet.sddmm(P, A32, B64, out=out) is out
    check(P, A32, B64, out)
    with sparsenet.use_backend("numpy"):
        np.testing.assert_allclose(sparsenet.sddmm(P, A32, B64), out, rtol=1e-6)


def test_argument_errors():
    P = sparsenet.CSR.from_dense(np.eye(3))
    with pytest.raises(ValueError, match="shape mismatch"):
        sparsenet.sddmm(P, np.ones((2, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="shape mismatch"):
        sparsenet.sddmm(P, np.ones((3, 2)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="A must be 2-D"):
        sparsenet.sddmm(P, np.ones(3), np.ones((3, 1)))
    with pytest.raises(TypeError, match="B must have a real numeric dtype"):
        sparsenet.sddmm(P, np.ones((3, 1)), np.ones((3, 1), dtype=complex))
    with pytest.raises(TypeError, match="pattern must be a sparsenet.CSR"):
        sparsenet.sddmm(np.eye(3), np.ones((3, 1)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="out must have shape"):
        sparsenet.sddmm(P, np.ones((3, 1)), np.ones((3, 1)), out=np.empty(4))
    bad = sp.csr_array((np.ones(1), np.array([7]), np.array([0, 1, 1, 1])), shape=(3, 3))
    with pytest.raises(ValueError, match="out of range"):
        sparsenet.sddmm(bad, np.ones((3, 1)), np.ones((3, 1)))


def test_inputs_not_modified():
    rng = np.random.default_rng(4)
    P = random_csr(rng, 10, 10, 0.4)
    A, B = rng.standard_normal((10, 5)), rng.standard_normal((10, 5))
    copies = [a.copy() for a in (A, B, P.data, P.indices, P.indptr)]
    sparsenet.sddmm(P, A, B)
    for before, after in zip(copies, (A, B, P.data, P.indices, P.indptr)):
        assert np.array_equal(before, after)


@pytest.mark.filterwarnings("ignore:Sparse")
def test_matches_torch_sampled_addmm():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    S = random_csr(rng, 30, 20, 0.2)
    A, B = rng.standard_normal((30, 8)), rng.standard_normal((20, 8))
    pattern = torch.sparse_csr_tensor(torch.from_numpy(S.indptr.astype(np.int64)),
                                      torch.from_numpy(S.indices.astype(np.int64)),
                                      torch.from_numpy(S.data), size=S.shape)
    want = torch.sparse.sampled_addmm(pattern, torch.from_numpy(A), torch.from_numpy(B).T,
                                      beta=0.0).values().numpy()
    np.testing.assert_allclose(sparsenet.sddmm(S, A, B), want, rtol=1e-12, atol=1e-12)
