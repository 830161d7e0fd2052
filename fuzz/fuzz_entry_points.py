"""Atheris harness: malformed arguments to every public entry point, on both backends.

The same table of entry points and argument candidates as tests/test_malformed.py (imported from
there, so the two never drift); the fuzzer's bytes choose the entry point and, per argument, the
valid value or a malformed one. A finding is a crash (segfault, abort, sanitizer report), an
exception other than TypeError/ValueError, the backends disagreeing, or a different result.

    pip install atheris
    PYTHONPATH=src python fuzz/fuzz_entry_points.py -max_total_time=300
    PYTHONPATH=src python fuzz/fuzz_entry_points.py -runs=100000 -print_final_stats=1

(any libFuzzer option works; failing inputs are written as crash-* files, replayed by passing the
file as the argument.)

OMP's coefficients solve G[S, S] gamma = D^T x[S]; when the atoms chosen are independent but
barely (a rank-deficient Gram matrix, a pivot of 2.7e-6), two correct solvers differ by about
cond(G[S, S]) * eps, more than the table's fixed tolerance. So for omp and omp_gram a value
mismatch is a finding only when the supports differ or the coefficients differ by more than
64 eps cond(G[S, S]) (relative) per signal.
"""
import pathlib
import sys

import numpy as np

import atheris

with atheris.instrument_imports(include=["sparsenet"]):
    import sparsenet  # noqa: F401

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))
import test_malformed as table  # noqa: E402

NAMES = sorted(table.ENTRY_POINTS)


def one_input(data):
    provider = atheris.FuzzedDataProvider(data)
    name = NAMES[provider.ConsumeIntInRange(0, len(NAMES) - 1)]
    fn, slots = table.ENTRY_POINTS[name]
    recipe = tuple(provider.ConsumeIntInRange(0, len(candidates) - 1) for _, candidates in slots)
    native = table._call("native", fn, slots, recipe)
    numpy = table._call("numpy", fn, slots, recipe)
    try:
        table._check_agreement(name, recipe, native, numpy)
    except AssertionError:
        if not (name in ("omp", "omp_gram") and native[0] == numpy[0] == "ok"):
            raise
        _check_omp_within_conditioning(name, slots, recipe, native[1], numpy[1])


def _check_omp_within_conditioning(name, slots, recipe, native, numpy):
    """Same support per signal, and coefficients within 64 eps cond(G[S, S]) of each other."""
    args, _ = table._build(slots, recipe)
    gram = np.asarray(args[0], dtype=np.float64)
    if name == "omp":
        gram = gram.T @ gram
    (_, dtype, a), (_, _, b) = table._comparable(native), table._comparable(numpy)
    a, b = (np.asarray(v, dtype=np.float64).reshape(gram.shape[0], -1) for v in (a, b))
    where = f"{name} recipe={recipe}"
    np.testing.assert_array_equal(a != 0, b != 0, err_msg=where)
    for j in range(a.shape[1]):
        support = np.flatnonzero(a[:, j])
        if support.size:
            cond = np.linalg.cond(gram[np.ix_(support, support)])
            rtol = max(1e-9, 64 * np.finfo(dtype).eps * cond)
            np.testing.assert_allclose(a[support, j], b[support, j], rtol=rtol, err_msg=where)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
