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

For omp and omp_gram a value mismatch is a finding only when the supports differ or the
coefficients differ by more than the conditioning of the chosen atoms allows (see
test_malformed.check_omp_within_conditioning).
"""
import pathlib
import sys

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
    table._check_agreement(name, recipe, native, numpy)  # OMP within its conditioning


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
