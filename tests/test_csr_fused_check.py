"""A scipy matrix passed as is: its indices are checked inside the product's own pass
(csr_matmul_checked). Bad structure gives a ValueError naming the array, a matrix another thread
changes meanwhile gives a correct result or that ValueError, never a crash or another exception."""
import os
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import sparsenet

# every test twice on an AVX-512 machine: x read by loads and by gathers (sn_hw_gathers)
pytestmark = pytest.mark.usefixtures("hw_gathers")

PRODUCTS = [(sparsenet.spmv, False), (sparsenet.spmv, True), (sparsenet.spmm, False),
            (sparsenet.spmm, True)]


def operand(fn, A, transpose, k=5, dtype=np.float32):
    n = A.shape[0] if transpose else A.shape[1]
    rng = np.random.default_rng(1)
    return rng.standard_normal(n if fn is sparsenet.spmv else (n, k)).astype(dtype)


def expected(A, X, transpose):
    return (A.T if transpose else A) @ X


@pytest.mark.parametrize("fn, transpose", PRODUCTS)
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scipy_input_matches_scipy(fn, transpose, index_dtype, dtype):
    # rows longer than the kernel's 256-entry pieces, empty rows and duplicates included
    A = sp.random(70, 900, density=0.4, format="csr", dtype=dtype, random_state=3)
    A.indices = A.indices.astype(index_dtype)
    A.indptr = A.indptr.astype(index_dtype)
    A.data[A.indptr[4]:A.indptr[5]] = 0
    X = operand(fn, A, transpose, dtype=dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(fn(A, X, transpose=transpose), expected(A, X, transpose),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("fn, transpose", PRODUCTS)
def test_scipy_input_same_for_every_thread_count(fn, transpose):
    # three threads' work at k = 1 (csrc/csr_tuning.h, SN_CSR_GRAIN)
    A = sp.random(3000, 2000, density=0.15, format="csr", dtype=np.float32, random_state=4)
    X = operand(fn, A, transpose, k=9)
    results = []
    for n in (1, 2, 3):
        sparsenet.set_num_threads(n)
        try:
            results.append(fn(A, X, transpose=transpose))
        finally:
            sparsenet.set_num_threads(None)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def broken(kind, index_dtype=np.int32):
    A = sp.random(40, 30, density=0.3, format="csr", dtype=np.float32, random_state=5)
    indices, indptr = A.indices.astype(index_dtype), A.indptr.astype(index_dtype)
    row = 17
    if kind == "column too large":
        indices[indptr[row]] = 30
    elif kind == "negative column":
        indices[indptr[row]] = -1
    elif kind == "huge column":
        indices[indptr[row]] = np.iinfo(index_dtype).max
    elif kind == "indptr decreasing":
        indptr[row + 1] = indptr[row] - 1
    elif kind == "indptr past nnz":
        indptr[row + 1] = len(indices) + 5
    B = sp.csr_array((A.data, A.indices, A.indptr), shape=A.shape)
    B.indices, B.indptr = indices, indptr  # scipy does not re-check attributes set afterwards
    return B


@pytest.mark.parametrize("fn, transpose", PRODUCTS)
@pytest.mark.parametrize("kind", ["column too large", "negative column", "huge column",
                                  "indptr decreasing", "indptr past nnz"])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_bad_structure_is_a_value_error_naming_the_array(fn, transpose, kind, index_dtype):
    A = broken(kind, index_dtype)
    X = operand(fn, A, transpose)
    what = "A.indices" if "column" in kind else "A.indptr"
    with pytest.raises(ValueError, match=what):
        fn(A, X, transpose=transpose)
    with sparsenet.use_backend("numpy"), pytest.raises(ValueError, match=what):
        fn(A, X, transpose=transpose)


@pytest.mark.parametrize("fn, transpose", PRODUCTS)
def test_bad_structure_checked_when_no_entry_is_read(fn, transpose):
    A = broken("column too large")
    if fn is sparsenet.spmm:  # k = 0: the product reads nothing, the structure is still checked
        X = np.zeros((A.shape[0] if transpose else A.shape[1], 0), np.float32)
        with pytest.raises(ValueError, match="A.indices"):
            fn(A, X, transpose=transpose)


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 70), at=st.integers(0, 69),
       dtype=st.sampled_from([np.float32, np.float64]),
       index_dtype=st.sampled_from([np.int32, np.int64]),
       value=st.sampled_from(["n_cols", "-1", "index max", "2**32", "-2**40"]))
@pytest.mark.parametrize("transpose", [False, True])
def test_a_bad_column_anywhere_in_a_row_is_found(length, at, dtype, index_dtype, value, transpose):
    # spmv checks each index in the register its load (or, transposed, its store) uses: the bad
    # column may sit in a full vector, the last partial one, or be a 64-bit index whose low 32
    # bits are a valid column; every ISA level refuses it, and the same matrix made valid again
    # gives SciPy's result
    at %= length
    n_cols = 80
    rng = np.random.default_rng(length * 100 + at)
    rows = [np.sort(rng.choice(n_cols, size=n, replace=False)) for n in (3, length, 5)]
    indices = np.concatenate(rows).astype(index_dtype)
    indptr = np.array([0, 3, 3 + length, 8 + length], dtype=index_dtype)
    A = sp.csr_array((rng.standard_normal(len(indices)).astype(dtype), indices.copy(), indptr),
                     shape=(3, n_cols))
    bad = {"n_cols": n_cols, "-1": -1, "index max": np.iinfo(index_dtype).max,
           "2**32": 2**32 + 7 if index_dtype == np.int64 else n_cols + 9,
           "-2**40": -2**40 if index_dtype == np.int64 else -7}[value]
    x = rng.standard_normal(3 if transpose else n_cols).astype(dtype)
    want = A.T @ x if transpose else A @ x
    isas = sparsenet.backend.ISA_LEVELS[: sparsenet.backend._best_isa + 1]
    A.indices[3 + at] = bad
    for level in isas:
        sparsenet.set_isa(level)
        with pytest.raises(ValueError, match="A.indices"):
            sparsenet.spmv(A, x, transpose=transpose)
    A.indices[3 + at] = indices[3 + at]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for level in isas:
        sparsenet.set_isa(level)
        np.testing.assert_allclose(sparsenet.spmv(A, x, transpose=transpose), want, rtol=tol,
                                   atol=tol)
    sparsenet.set_isa(None)


RACE_SECONDS = float(os.environ.get("SPARSENET_RACE_SECONDS", "3"))
"""How long the racing-mutation test runs (the issue's target run: SPARSENET_RACE_SECONDS=60)."""


def test_racing_mutation_gives_a_result_or_a_value_error():
    """1 thread flips entries of a scipy matrix's indices and indptr to bad values and back, 3
    threads multiply it (the 4 products in turn): every call gives the right result or a
    ValueError; no crash, no other exception. Run with -s to see the counts."""
    A = sp.random(2000, 2000, density=0.02, format="csr", dtype=np.float32, random_state=6)
    good_indices, good_indptr = A.indices.copy(), A.indptr.copy()
    X = np.ones((2000, 4), np.float32)
    want = {(fn, t): expected(A, X if fn is sparsenet.spmm else X[:, 0], t)
            for fn, t in PRODUCTS}
    stop = time.monotonic() + RACE_SECONDS
    errors, outcomes = [], {"ok": 0, "refused": 0, "wrong": 0, "flips": 0}

    def flip():
        at_indices = np.arange(0, len(good_indices), 97)
        at_indptr = np.arange(1, len(good_indptr) - 1, 89)
        while time.monotonic() < stop:
            A.indices[at_indices] = 2**30  # past the columns
            A.indices[at_indices] = good_indices[at_indices]
            A.indptr[at_indptr] = -1  # a pointer below 0, and rows whose pointers decrease
            A.indptr[at_indptr] = good_indptr[at_indptr]
            outcomes["flips"] += 1

    def multiply(first):
        turn = first
        while time.monotonic() < stop:
            fn, transpose = PRODUCTS[turn % len(PRODUCTS)]
            turn += 1
            try:
                Y = fn(A, X if fn is sparsenet.spmm else X[:, 0], transpose=transpose)
            except ValueError:
                outcomes["refused"] += 1
                continue
            except Exception as e:  # any other exception type is a failure
                errors.append(e)
                return
            # a call that passed read only valid indices; they may be a mix of two valid states,
            # and here both states are the same matrix
            if not np.allclose(Y, want[fn, transpose], rtol=1e-4, atol=1e-4):
                outcomes["wrong"] += 1
                errors.append(AssertionError(f"a passing {fn.__name__} (transpose={transpose}) "
                                             f"gave a wrong result"))
                continue
            outcomes["ok"] += 1

    threads = [threading.Thread(target=flip)] + [
        threading.Thread(target=multiply, args=(first,)) for first in (0, 1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    A.indices[:] = good_indices
    A.indptr[:] = good_indptr
    print(f"\nracing mutation, {RACE_SECONDS:g} s: {outcomes}")
    assert not errors, (outcomes, errors[0])
    assert outcomes["ok"] + outcomes["refused"] > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wide_products_take_column_panels_in_checked_windows(isa, dtype):
    """A X with X wide enough for column panels (plain_panel): the checked product takes the
    trusted kernel's panels within its windows of rows (SN_CSR_PANEL_PIECE entries), so it gives
    the trusted product's bits, for every thread count, X's rows padded or not, at every level.
    (Padded, 593 of 600 columns, against the trusted product of the same 593: below AVX-512 a
    column after the last whole vector is summed on its own, not as the lane it is at 600
    columns, and may round otherwise.)"""
    A = sp.random(3000, 64, density=0.2, format="csr", dtype=dtype, random_state=6)
    k = 600
    level = sparsenet.backend._isa_level()
    assert sparsenet._csr.panel_columns(level, A.dtype.itemsize, 3000, 64, A.nnz, k) < k
    X = np.random.default_rng(7).standard_normal((64, k)).astype(dtype)
    want = sparsenet.spmm(sparsenet.CSR.from_scipy(A), X)
    want_padded = sparsenet.spmm(sparsenet.CSR.from_scipy(A), X[:, :593])
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(want, A @ X, rtol=tol, atol=tol)
    for threads in (1, 2, 3):
        with sparsenet.use_num_threads(threads):
            np.testing.assert_array_equal(sparsenet.spmm(A, X), want)
            np.testing.assert_array_equal(sparsenet.spmm(A, X[:, :593]), want_padded)


def test_checked_panels_take_a_row_longer_than_a_window_and_find_a_bad_row():
    """A row of more entries than a panel window (duplicates: 3000 in 64 columns) goes piece by
    piece; a bad column in a later window names its row."""
    rng = np.random.default_rng(8)
    A = sp.random(3000, 64, density=0.2, format="csr", dtype=np.float64, random_state=9)
    indices = np.concatenate([A.indices[:A.indptr[500]], rng.integers(0, 64, 3000),
                              A.indices[A.indptr[501]:]]).astype(np.int32)
    lengths = np.diff(A.indptr)
    lengths[500] = 3000
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    B = sp.csr_array((rng.standard_normal(len(indices)), indices, indptr), shape=A.shape)
    X = rng.standard_normal((64, 600))
    np.testing.assert_allclose(sparsenet.spmm(B, X), B @ X, rtol=1e-10, atol=1e-10)
    B.indices[B.indptr[2000] + 1] = 64
    with pytest.raises(ValueError, match=r"A\.indices\[\d+\]=64 \(row 2000\)"):
        sparsenet.spmm(B, X)


@pytest.mark.parametrize("first, last", [(-2**62, 2**62), (0, 2**63 - 1), (-2**63, 0)])
def test_extreme_row_pointers_of_a_wide_product_are_refused(first, last):
    """The checked A X reads the first and last row pointers to choose its panels: extreme ones
    (their difference past int64, under the sanitizers' eyes) choose without overflow, and the
    product names the bad pointer."""
    A = sp.random(300, 64, density=0.2, format="csr", dtype=np.float64, random_state=10)
    indptr = A.indptr.astype(np.int64)
    indptr[0], indptr[-1] = first, last
    B = sp.csr_array((A.data, A.indices.astype(np.int64), A.indptr), shape=A.shape)
    B.indptr = indptr
    with pytest.raises(ValueError, match="A.indptr"):
        sparsenet.spmm(B, np.ones((64, 600)))
