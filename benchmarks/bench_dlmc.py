"""Real pruned layers: DLMC's ResNet-50 at 80/90/95/98% sparsity (pytest-benchmark).

Each of the 54 layers per level is a SpMM ``W @ X``: W the layer's pattern (values seeded random
float32), X its own N output positions as columns (3136 ... 49, 12544 for the first convolution),
one thread. sparsenet multiplies ``CSR.from_scipy(W).optimize(batch=N)`` ("sparsenet") and the plain
CSR; the peers are dense sgemm (NumPy ``@``), SciPy and PyTorch's sparse CSR (MKL) when torch is
installed. The same layers at N=1 (``spmv``, one token at a time) against SciPy and dense GEMV.
The operands are those of ``python -m sparsenet bench --family dlmc`` (``sparsenet.bench.dlmc_spmm``
and ``dlmc_spmv``).

One test per kernel, level and implementation: a round runs every layer of the level once (one
pass through the network), timing each layer on its own; pytest-benchmark's table shows the pass,
``--benchmark-json`` holds each layer's median (``extra_info["layers"]``), and at the end a compact
table gives, per level, the geometric mean over the layers of each peer's time / sparsenet's time:

    python -m pytest benchmarks/bench_dlmc.py --benchmark-only --benchmark-group-by=group

The archive is ``../shared/data/dlmc-rn50-magnitude.npz`` from the working directory or the
repository (or ``SPARSENET_DLMC=PATH``); without it the module is skipped.
``SPARSENET_BENCH_QUICK=1`` times one layer per stage of the network. Compare dense BLAS fairly with
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1``.
"""
import os
import time

import numpy as np
import pytest

import sparsenet
from sparsenet import bench

PATH = bench.find_dlmc(os.environ.get("SPARSENET_DLMC"))
if PATH is None or not PATH.is_file():
    pytest.skip(f"{bench.DLMC_FILE} not found (set SPARSENET_DLMC=PATH)", allow_module_level=True)
QUICK = os.environ.get("SPARSENET_BENCH_QUICK", "") not in ("", "0")
LEVELS = bench.dlmc_layers(PATH, quick=QUICK)
ROUNDS = 3           # few: a level is 54 layers, each timed in every round
SPMV_CALLS = 20      # a layer's spmv takes microseconds: each round times this many calls

try:
    import torch
except ImportError:
    torch = None

SPMM = ("sparsenet", "sparsenet (plain CSR)", "dense sgemm", "scipy", "pytorch")
SPMV = ("sparsenet", "sparsenet (scipy input)", "dense gemv", "scipy")
CASES = [(kernel, level, impl) for kernel, impls in (("spmm", SPMM), ("spmv", SPMV))
         for level in LEVELS for impl in impls]

_operands = {}  # (kernel, level) -> [(layer name, runs)], one level at a time
_seconds = {}   # (kernel, level) -> {implementation: {layer name: seconds}}


def _level_runs(kernel, level):
    if (kernel, level) not in _operands:
        _operands.clear()  # the previous level's dense matrices and operands go first
        if kernel == "spmm":
            _operands[kernel, level] = [(layer.name, bench.dlmc_spmm(layer, torch)[0])
                                        for layer in LEVELS[level]]
        else:
            _operands[kernel, level] = [(layer.name, bench.dlmc_spmv(layer)[0])
                                        for layer in LEVELS[level]]
    return _operands[kernel, level]


@pytest.fixture(scope="module", autouse=True)
def one_thread(request):
    sparsenet.set_num_threads(1)
    if torch is not None:
        torch.set_num_threads(1)
    with bench._blas_threads(1):
        yield
    sparsenet.set_num_threads(None)
    _operands.clear()
    _print_geomeans(request.config)


@pytest.mark.parametrize("kernel, level, impl", CASES,
                         ids=[f"{k}-{level:.0%}-{impl}" for k, level, impl in CASES])
def test_dlmc(benchmark, kernel, level, impl):
    if impl == "pytorch" and torch is None:
        pytest.skip("torch is not installed")
    benchmark.group = f"dlmc {kernel} {level:.0%}"
    layers = _level_runs(kernel, level)
    calls = SPMV_CALLS if kernel == "spmv" else 1
    samples = {name: [] for name, _ in layers}

    def one_pass():
        for name, runs in layers:
            fn = runs[impl]
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - t0) / calls)

    benchmark.pedantic(one_pass, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    medians = {name: float(np.median(times[1:])) for name, times in samples.items()}  # [0]: warm-up
    benchmark.extra_info["layers"] = medians
    _seconds.setdefault((kernel, level), {})[impl] = medians


def _print_geomeans(config):
    """One line per kernel and level: sparsenet's summed time and the geometric mean over the
    layers of each implementation's time / sparsenet's time."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or not _seconds:
        return
    if capture is not None:  # past pytest's output capture, which holds a fixture's teardown
        with capture.global_and_fixture_disabled():
            _write_geomeans(reporter.write_line)
    else:
        _write_geomeans(reporter.write_line)


def _write_geomeans(write):
    write("")
    write(f"DLMC ResNet-50, one thread: geometric mean over the layers of (time / sparsenet's time)"
          f"{' (quick: one layer per stage)' if QUICK else ''}")
    for kernel, impls in (("spmm", SPMM), ("spmv", SPMV)):
        others = [impl for impl in impls[1:] if any(impl in by_impl for (k, _), by_impl in
                                                     _seconds.items() if k == kernel)]
        write(f"{kernel:<5} {'level':>5} {'layers':>6} {'sparsenet ms':>13} "
              + " ".join(f"{impl:>24}" for impl in others))
        for (k, level), by_impl in _seconds.items():
            if k != kernel or "sparsenet" not in by_impl:
                continue
            ours = by_impl["sparsenet"]
            cells = []
            for impl in others:
                theirs = by_impl.get(impl)
                cells.append(f"{bench.geometric_mean([theirs[n] / ours[n] for n in ours]):23.2f}x"
                             if theirs else f"{'':>24}")
            write(f"{kernel:<5} {level:>5.0%} {len(ours):>6} {sum(ours.values()) * 1e3:13.3f} "
                  + " ".join(cells))
