"""`python -m sparsenet bench`: sparsenet against its NumPy baseline and the installed peers.

Each kernel family contributes cases: a workload and the callables that compute the same thing
(sparsenet, the NumPy reference, and peers such as SciPy when importable). The implementations of a
case are timed in turn, round after round (`interleaved_times`), and every time is a median over
the rounds; every speedup is a ratio of two times taken in the same rounds.

Ratios to peers move with the machine; so the header also prints the limits measured in the same
run (one thread's memory bandwidth, dense sgemm's flop rate) and each row the distance from
sparsenet to the limit that applies to it (see `rate`), figures that can be compared between
machines and days.
"""
from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Sequence, TextIO

import numpy as np

from sparsenet import backend

# The roofline's ridge point of one core, in flops per byte moved: a Zen 4 or Skylake core does
# about 100 GFLOP/s of float32 FMAs and reads 20-40 GB/s from memory, so a kernel that does fewer
# than about 4 flops per compulsory byte is limited by memory first. A row below it (or with no
# flop count: thresholding, copies) reports the fraction of the measured bandwidth it reaches; a
# row above it its GFLOP/s. The rule is fixed, not the measured ridge, so a row reports the same
# kind of figure on every machine.
RIDGE_FLOPS_PER_BYTE = 4.0

# Peers that are optional, with the command that installs each (for the "not run" line).
INSTALL = {"torch": "pip install torch", "sklearn": "pip install scikit-learn",
           "threadpoolctl": "pip install threadpoolctl", "spams": "pip install spams-bin"}

Runs = Dict[str, Callable[[], object]]  # implementation name -> a call that computes the case

# peer or family -> why it did not run (filled while the cases are built)
_skipped: dict[str, str] = {}


def optional_peer(module: str, peer: str) -> Any:
    """The module `module` of the optional peer `peer`, or None, noting why it was skipped."""
    import importlib

    try:
        return importlib.import_module(module)
    except (ImportError, OSError) as error:  # OSError: a compiled peer whose library is missing
        hint = INSTALL.get(module, f"pip install {module}")
        reason = (f"{module} is not installed ({hint})" if isinstance(error, ModuleNotFoundError)
                  else f"import {module} failed: {error}")
        _skipped.setdefault(peer, reason)
        return None


class Case:
    """One benchmark row: `runs` maps an implementation name to a zero-argument callable.

    `bytes` and `flops` are what the "sparsenet" run must move to and from memory (its inputs read
    once, its output written once, in the layout it reads) and compute; either may be None. They
    give the row's rate (see `rate`)."""

    def __init__(self, family: str, kernel: str, workload: str, runs: Runs, *,
                 bytes: "int | None" = None, flops: "int | None" = None) -> None:
        self.family, self.kernel, self.workload, self.runs = family, kernel, workload, runs
        self.bytes, self.flops = bytes, flops


class LayerSet(Case):
    """One row over many matrices (the layers of a network): `layers` lists (name, make), make()
    returning (runs, bytes, flops) of that layer. The row's time is the sum over its layers (one
    pass through the network) and each speedup the geometric mean of the per-layer ratios."""

    def __init__(self, family: str, kernel: str, workload: str,
                 layers: "list[tuple[str, Callable[[], tuple[Runs, int, int]]]]") -> None:
        super().__init__(family, kernel, workload, runs={})  # each layer makes its own
        self.layers = layers


class Row:
    """The timing of one case: `seconds` per implementation; for a LayerSet, `layers` holds each
    layer's name, seconds, bytes and flops."""

    def __init__(self, case: Case, seconds: "dict[str, float]",
                 layers: "list[dict[str, Any]] | None" = None) -> None:
        self.case, self.seconds, self.layers = case, seconds, layers
        if layers is not None:
            case.bytes = sum(layer["bytes"] for layer in layers)
            case.flops = sum(layer["flops"] for layer in layers)

    def rate(self, bandwidth: float) -> "dict[str, Any] | None":
        """sparsenet's rate on this row (see `rate`)."""
        largest = None if self.layers is None else max(layer["bytes"] for layer in self.layers)
        return rate(self.case.bytes, self.case.flops, self.seconds["sparsenet"], bandwidth,
                    largest=largest)

    def speedups(self) -> "dict[str, float]":
        """sparsenet's speedup over each other implementation: other time / sparsenet time, or
        for a LayerSet the geometric mean of that ratio over the layers."""
        if self.layers is None:
            ours = self.seconds["sparsenet"]
            return {name: t / ours for name, t in self.seconds.items() if name != "sparsenet"}
        names = [name for name in self.seconds if name != "sparsenet"]
        return {name: geometric_mean([layer["seconds"][name] / layer["seconds"]["sparsenet"]
                                      for layer in self.layers]) for name in names}


def geometric_mean(values: "Iterable[float]") -> float:
    """exp(mean(log(values)))."""
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values))


def median_time(fn: Callable[[], object], *, repeat: int = 7, min_time: float = 0.2) -> float:
    """Median seconds of one call of `fn`, after a warm-up call, over at least `repeat` calls or
    `min_time` seconds; calls slower than a second (the slow baselines) are repeated 3 times."""
    t0 = time.perf_counter()
    fn()
    if time.perf_counter() - t0 > 1.0:
        repeat, min_time = min(repeat, 3), 0.0
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - start < min_time and len(times) < 1000):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def interleaved_times(runs: Runs, *, rounds: int = 7, min_block: float = 0.03,
                      warm_below: float = 0.1) -> "dict[str, float]":
    """Median seconds of one call of each implementation of `runs`, the implementations timed in
    turn: each of `rounds` rounds times a block of every implementation's calls, one after the
    other, so that a machine whose speed drifts (a VM's neighbours, the clock) slows the
    implementations of a round alike rather than whichever ran in the slow second. A block is an
    untimed call that brings its operands back into cache (for calls under `warm_below` seconds),
    then as many calls as last `min_block` seconds (at least one), timed together; the result is
    the median over the rounds of a block's time per call. Calls slower than a second (the slow
    baselines) run once a round in at most 3 rounds. Every implementation is called once first,
    untimed, to learn its duration."""
    first = {}
    for name, fn in runs.items():
        t0 = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - t0
    calls = {name: max(1, min(1000, math.ceil(min_block / max(t, 1e-7))))
             for name, t in first.items()}
    blocks: "dict[str, list[float]]" = {name: [] for name in runs}
    for round_ in range(rounds):
        for name, fn in runs.items():
            if first[name] > 1.0 and round_ >= 3:
                continue
            if first[name] < warm_below:
                fn()
            t0 = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            blocks[name].append((time.perf_counter() - t0) / calls[name])
    return {name: float(np.median(times)) for name, times in blocks.items()}


def layer_time(fn: Callable[[], object], *, rounds: int = 3, min_sample: float = 1e-3) -> float:
    """Median seconds of one call of `fn` over `rounds` samples after a warm-up call: few samples,
    as a network has many layers; a sample repeats a fast call until it lasts `min_sample` seconds,
    so the timer's resolution does not matter for products of a few microseconds."""
    t0 = time.perf_counter()
    fn()
    number = max(1, min(1000, int(min_sample / max(time.perf_counter() - t0, 1e-7))))
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number)
    return float(np.median(samples))


def memory_bandwidth(repeat: int = 5, size: "int | None" = None) -> "tuple[float, str]":
    """One thread's memory read bandwidth in bytes per second, and how it was measured: the median
    of `repeat` dot products of a float32 buffer with itself (BLAS sdot on one thread, streaming
    each byte once), the buffer (`size` bytes) by default 8 times the last-level cache and at least
    256 MiB, so that it comes from memory."""
    if size is None:
        size = max(256 << 20, 8 * _last_level_cache())
    buffer = np.ones(size // 4, dtype=np.float32)
    with _blas_threads(1) as limited:
        seconds = median_time(lambda: np.dot(buffer, buffer), repeat=repeat, min_time=0)
    threads = "1 BLAS thread" if limited else "BLAS threads not limited: no threadpoolctl"
    method = (f"median of {repeat} float32 dot products of a {size >> 20} MiB buffer with itself"
              f" (np.dot, {threads})")
    return size / seconds, method


def sgemm_rate(repeat: int = 5, n: int = 1024) -> "tuple[float, str]":
    """Dense float32 GEMM's flop rate on one thread (flops per second), and how it was measured."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    with _blas_threads(1) as limited:
        seconds = median_time(lambda: a @ b, repeat=repeat, min_time=0)
    method = (f"median of {repeat} float32 {n}x{n} @ {n}x{n} (NumPy's BLAS, "
              f"{'1 thread' if limited else 'threads not limited: no threadpoolctl'})")
    return 2 * n ** 3 / seconds, method


def rate(bytes: "float | None", flops: "float | None", seconds: float, bandwidth: float, *,
         largest: "float | None" = None) -> "dict[str, Any] | None":
    """sparsenet's distance to its limit on one row: for a memory-bound row (fewer than
    RIDGE_FLOPS_PER_BYTE flops per byte, or no flop count) the fraction of the measured bandwidth
    `bandwidth` it reaches, bytes / seconds / bandwidth; for a flop-bound row its GFLOP/s. None
    when the row counts neither (k-means, OMP, optimize: no single count says what limits them).

    A memory-bound row whose operands (`largest`: of its largest layer; default `bytes`) fit in
    half the last-level cache stays in cache from one timed call to the next: it is marked
    ``in_cache``, and its fraction may pass 1 (cache is faster than memory)."""
    if flops is not None and (bytes is None or flops >= RIDGE_FLOPS_PER_BYTE * bytes):
        return {"bound": "flops", "gflops": flops / seconds / 1e9}
    if bytes is not None:
        return {"bound": "memory", "gbytes_per_s": bytes / seconds / 1e9,
                "bandwidth_fraction": bytes / seconds / bandwidth,
                "in_cache": 2 * (bytes if largest is None else largest) <= _last_level_cache()}
    return None


def _last_level_cache() -> int:
    """Bytes of the largest cache of CPU 0 (Linux sysfs), or 0 when unknown."""
    sizes = [0]
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (index / "size").read_text().strip().upper()
        except OSError:
            continue
        unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * unit)
    return max(sizes)


def _csr_bytes(A, *, transpose=False):
    """Bytes a product with the sparsenet.CSR (or scipy matrix) A reads of A: its column blocks
    when `optimize` made them for this direction, else data, indices and indptr."""
    blocks = getattr(A, "_blocks_t" if transpose else "_blocks", None)
    if blocks is not None:
        return blocks.values.nbytes + blocks.col.nbytes + blocks.seg_ptr.nbytes
    return A.data.nbytes + A.indices.nbytes + A.indptr.nbytes


def csr_cases(quick: bool) -> "list[Case]":
    """The CSR workload of the benchmarks: 8192 x 8192 at 10% density, float32, int32 indices.

    "sparsenet" multiplies a matrix optimised once for the product (CSR.optimize, column blocks,
    as MKL's inspector-executor); "sparsenet (plain CSR)" and "(scipy input)" are the same call on
    a plain sparsenet.CSR and on the scipy matrix itself (checked on every call)."""
    import scipy.sparse as sp

    import sparsenet
    from sparsenet import reference

    n = 2048 if quick else 8192
    A = sp.random(n, n, density=0.10, format="csr", dtype=np.float32, random_state=1)
    C = sparsenet.CSR.from_scipy(A)
    V = C.optimize(transpose=True)
    M = C.optimize(batch=64, transpose=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, dtype=np.float32)
    X = rng.standard_normal((n, 64), dtype=np.float32)
    workload = f"{n}x{n} d=0.10 f32"
    dense = A.toarray()
    cases = [
        Case("csr", "spmv", workload, bytes=_csr_bytes(V) + 2 * x.nbytes, runs={
            "sparsenet": lambda: sparsenet.spmv(V, x),
            "sparsenet (plain CSR)": lambda: sparsenet.spmv(C, x),
            "sparsenet (scipy input)": lambda: sparsenet.spmv(A, x),
            "numpy": lambda: reference.spmv(C, x),
            "scipy": lambda: A @ x,
        }),
        Case("csr", "spmv transposed", workload, bytes=_csr_bytes(V, transpose=True) + 2 * x.nbytes,
             runs={
            "sparsenet": lambda: sparsenet.spmv(V, x, transpose=True),
            "sparsenet (plain CSR)": lambda: sparsenet.spmv(C, x, transpose=True),
            "numpy": lambda: reference.spmv(C, x, transpose=True),
            "scipy": lambda: A.T @ x,
        }),
        Case("csr", "spmm", workload + ", X n x 64", flops=2 * A.nnz * 64,
             bytes=_csr_bytes(M) + 2 * X.nbytes, runs={
            "sparsenet": lambda: sparsenet.spmm(M, X),
            "sparsenet (plain CSR)": lambda: sparsenet.spmm(C, X),
            "numpy": lambda: reference.spmm(C, X),
            "scipy": lambda: A @ X,
            "dense matmul": lambda: dense @ X,
        }),
        Case("csr", "spmm transposed", workload + ", X n x 64", flops=2 * A.nnz * 64,
             bytes=_csr_bytes(M, transpose=True) + 2 * X.nbytes, runs={
            "sparsenet": lambda: sparsenet.spmm(M, X, transpose=True),
            "sparsenet (plain CSR)": lambda: sparsenet.spmm(C, X, transpose=True),
            "numpy": lambda: reference.spmm(C, X, transpose=True),
            "scipy": lambda: A.T @ X,
        }),
    ]
    for case, run in zip(cases, _torch_csr_runs(A, x, X)):
        case.runs["pytorch"] = run
    cases.append(Case("csr", "optimize (once)", workload + ", A and A^T", {
        "sparsenet": lambda: C.optimize(transpose=True),
        "scipy A.T.tocsr()": lambda: A.T.tocsr(),
    }))
    return cases


def _torch_csr_runs(A, x, X):
    """PyTorch's CPU sparse CSR kernels on the same products as csr_cases (spmv, spmv transposed,
    spmm, spmm transposed) on sparsenet's thread count; none when torch is not importable."""
    torch = optional_peer("torch", "pytorch")
    if torch is None:
        return []
    torch.set_num_threads(backend.get_num_threads())
    T = _torch_csr(torch, A)
    tx, tX, Tt = torch.from_numpy(x), torch.from_numpy(X), T.t()
    return [lambda: T @ tx, lambda: Tt @ tx, lambda: T @ tX, lambda: Tt @ tX]


def threshold_cases(quick: bool) -> "list[Case]":
    """The thresholding workload: Z standard normal float32, 4096 x 4096 (64 MiB)."""
    import scipy.sparse as sp

    import sparsenet
    from sparsenet import reference

    n = 1024 if quick else 4096
    Z = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(Z)
    workload = f"{n}x{n} normal f32"
    stream = 2 * Z.nbytes  # read Z, write a result of its size
    # to CSR: read Z, write the kept entries (value and column) and the row pointer
    to_csr = Z.nbytes + 8 * int(np.count_nonzero(np.abs(Z) >= 2.0)) + 4 * (n + 1)
    pruned = Z.nbytes + 8 * (Z.size - int(0.9 * Z.size)) + 4 * (n + 1)
    return [
        Case("threshold", "binarize out=", workload, bytes=stream, runs={
            "sparsenet": lambda: sparsenet.binarize(Z, 0.5, out=out),
            "numpy": lambda: reference.binarize(Z, 0.5, out=out),
            "np.copyto": lambda: np.copyto(out, Z),
        }),
        Case("threshold", "hard out=", workload, bytes=stream, runs={
            "sparsenet": lambda: sparsenet.hard_threshold(Z, 0.5, out=out),
            "numpy": lambda: reference.hard_threshold(Z, 0.5, out=out),
            "np.copyto": lambda: np.copyto(out, Z),
        }),
        Case("threshold", "soft out=", workload, bytes=stream, runs={
            "sparsenet": lambda: sparsenet.soft_threshold(Z, 0.5, out=out),
            "numpy": lambda: reference.soft_threshold(Z, 0.5, out=out),
            "np.copyto": lambda: np.copyto(out, Z),
        }),
        Case("threshold", "hard_threshold", workload, bytes=stream, runs={
            "sparsenet": lambda: sparsenet.hard_threshold(Z, 0.5),
            "numpy": lambda: reference.hard_threshold(Z, 0.5),
        }),
        Case("threshold", "soft_threshold", workload, bytes=stream, runs={
            "sparsenet": lambda: sparsenet.soft_threshold(Z, 0.5),
            "numpy": lambda: reference.soft_threshold(Z, 0.5),
        }),
        Case("threshold", "topk k=32", workload, bytes=stream, runs={
            "sparsenet": lambda: sparsenet.topk(Z, 32),
            "numpy": lambda: reference.topk(Z, 32),
            "np.argpartition": lambda: _argpartition_topk(Z, 32),
        }),
        Case("threshold", "hard csr t=2", workload, bytes=to_csr, runs={
            "sparsenet": lambda: sparsenet.hard_threshold(Z, 2.0, format="csr"),
            "numpy": lambda: reference.hard_threshold(Z, 2.0, format="csr"),
            "scipy": lambda: sp.csr_matrix(np.where(np.abs(Z) >= 2.0, Z, 0)),
        }),
        Case("threshold", "prune s=0.9", workload, bytes=pruned, runs={
            "sparsenet": lambda: sparsenet.prune(Z, sparsity=0.9),
            "numpy": lambda: reference.prune(Z, sparsity=0.9),
        }),
        Case("threshold", "prune s=0.9 per row", workload, bytes=pruned, runs={
            "sparsenet": lambda: sparsenet.prune(Z, sparsity=0.9, per_row=True),
            "numpy": lambda: reference.prune(Z, sparsity=0.9, per_row=True),
        }),
    ]


def _argpartition_topk(Z, k):
    """k-winners-take-all with np.argpartition (ties broken arbitrarily)."""
    idx = np.argpartition(np.abs(Z), Z.shape[1] - k, axis=-1)[:, Z.shape[1] - k:]
    y = np.zeros_like(Z)
    np.put_along_axis(y, idx, np.take_along_axis(Z, idx, axis=-1), axis=-1)
    return y


def shared_cases(quick: bool) -> "list[Case]":
    """The parameter-sharing workloads of the issue: K = 256 float32 codebook, uint8 codes of a
    4096 x 4096 layer (1024 x 1024 when quick), x of n, X of n x 128; k-means of N(0, 0.05) weights
    (scikit-learn takes about a minute on the issue's 4,000,000 weights, so this table uses 250,000,
    or 50,000 when quick; benchmarks/bench_shared.py has the full size)."""
    import sparsenet
    from sparsenet import reference

    n = 1024 if quick else 4096
    rng = np.random.default_rng(0)
    codebook = rng.standard_normal(256).astype(np.float32)
    sw = sparsenet.SharedWeights(codebook, rng.integers(0, 256, (n, n), dtype=np.uint8))
    W = sw.decode()
    x = rng.standard_normal(n).astype(np.float32)
    X = rng.standard_normal((n, 128)).astype(np.float32)
    G = rng.standard_normal((n, 128)).astype(np.float32)
    hw = sparsenet.HashedWeights((n, n), codebook, seed=1)
    workload = f"{n}x{n} u8, K=256 f32"
    matvec_bytes = n * n + codebook.nbytes + 2 * x.nbytes  # the codes, read once
    matmul_bytes = n * n + codebook.nbytes + 2 * X.nbytes
    cases = [
        Case("shared", "shared_matvec", workload, bytes=matvec_bytes, flops=2 * n * n, runs={
            "sparsenet": lambda: sparsenet.shared_matvec(sw, x),
            "numpy": lambda: reference.shared_matvec(sw, x),
            "dense W @ x": lambda: W @ x,
        }),
        Case("shared", "shared_matvec T", workload, bytes=matvec_bytes, flops=2 * n * n,
             runs={
            "sparsenet": lambda: sparsenet.shared_matvec(sw, x, transpose=True),
            "numpy": lambda: reference.shared_matvec(sw, x, transpose=True),
            "dense W.T @ x": lambda: W.T @ x,
        }),
        Case("shared", "shared_matmul", workload + ", k=128", bytes=matmul_bytes,
             flops=2 * n * n * 128, runs={
            "sparsenet": lambda: sparsenet.shared_matmul(sw, X),
            "numpy": lambda: reference.shared_matmul(sw, X),
            "dense W @ X": lambda: W @ X,
        }),
        Case("shared", "shared_matmul T", workload + ", k=128", bytes=matmul_bytes,
             flops=2 * n * n * 128, runs={
            "sparsenet": lambda: sparsenet.shared_matmul(sw, X, transpose=True),
            "numpy": lambda: reference.shared_matmul(sw, X, transpose=True),
            "dense W.T @ X": lambda: W.T @ X,
        }),
        Case("shared", "codebook_grad", workload + ", k=128", bytes=matmul_bytes + G.nbytes,
             flops=2 * n * n * 128, runs={
            "sparsenet": lambda: sparsenet.codebook_grad(sw, G, X),
            "numpy": lambda: reference.codebook_grad(sw, G, X),
        }),
        Case("shared", "hashed_matvec", f"{n}x{n}, K=256 f32", bytes=2 * x.nbytes,
             flops=2 * n * n, runs={
            "sparsenet": lambda: sparsenet.hashed_matvec(hw, x),
            "numpy": lambda: reference.hashed_matvec(hw, x),
        }),
        Case("shared", "hashed_matmul", f"{n}x{n}, K=256 f32, k=128", bytes=2 * X.nbytes,
             flops=2 * n * n * 128, runs={
            "sparsenet": lambda: sparsenet.hashed_matmul(hw, X),
            "numpy": lambda: reference.hashed_matmul(hw, X),
        }),
    ]
    m = 50_000 if quick else 250_000
    w = (rng.standard_normal(m) * 0.05).astype(np.float32)
    runs = {
        "sparsenet": lambda: sparsenet.kmeans_codebook(w, 256, max_iter=30, tol=0),
        "numpy": lambda: reference.kmeans_codebook(w, 256, max_iter=30, tol=0),
    }
    if optional_peer("sklearn", "scikit-learn") and optional_peer("threadpoolctl", "scikit-learn"):
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits

        init = np.linspace(float(w.min()), float(w.max()), 256).reshape(-1, 1).astype(np.float32)

        def sklearn_kmeans():
            with threadpool_limits(backend.get_num_threads()):  # the threads sparsenet gets
                KMeans(256, init=init, n_init=1, max_iter=30, tol=0).fit(w.reshape(-1, 1))

        runs["scikit-learn"] = sklearn_kmeans
    cases.append(Case("shared", "kmeans_codebook", f"{m} f32, K=256, 30 it", runs))
    A = _random_shared_csr(rng, n, codebook)
    C = A.to_csr()
    S = C.to_scipy()
    Xs = X[:, :64].copy()
    cases.append(Case("shared", "SharedCSR spmm", f"{n}x{n} d=0.10 u8, k=64", flops=2 * A.nnz * 64,
                      bytes=5 * A.nnz + 4 * (n + 1) + 2 * Xs.nbytes, runs={
        "sparsenet": lambda: sparsenet.spmm(A, Xs),
        "numpy": lambda: reference.spmm(A, Xs),
        "sparsenet CSR (decoded)": lambda: sparsenet.spmm(C, Xs),
        "scipy (decoded)": lambda: S @ Xs,
    }))
    return cases


def _random_shared_csr(rng, n, codebook):
    """A 10%-dense n x n SharedCSR, uniform random columns and codes (the pruned-and-shared
    workload)."""
    import sparsenet

    per_row = n // 10
    indices = np.sort(rng.integers(0, n, (n, per_row), dtype=np.int32), axis=1).ravel()
    indptr = np.arange(0, n * per_row + 1, per_row, dtype=np.int32)
    codes = rng.integers(0, codebook.size, n * per_row, dtype=np.uint8)
    return sparsenet.SharedCSR(codes, indices, indptr, (n, n), codebook, copy=False)


def omp_cases(quick: bool) -> "list[Case]":
    """The OMP workloads of the issue (float64): O1 (D 64 x 256, 20000 signals, k = 8) and O2
    (D 256 x 1024, 2000 signals, k = 32), and O2 with 50 signals (a small batch: computing the
    Gram matrix costs as much as the coding; benchmarks/omp_small_batch.py times it against SPAMS
    alone). When quick, 40 times fewer signals: O2 is then the small batch."""
    import sparsenet
    from sparsenet import reference

    rng = np.random.default_rng(0)
    cases = []
    workloads = [("O1", (64, 256, 20000, 8)), ("O2", (256, 1024, 2000, 32))]
    if not quick:
        workloads.append(("O2", (256, 1024, 50, 32)))
    for name, (n_features, n_atoms, n_signals, k) in workloads:
        if quick:
            n_signals //= 40
        D = rng.standard_normal((n_features, n_atoms))
        D /= np.linalg.norm(D, axis=0)
        X = rng.standard_normal((n_features, n_signals))
        runs: Runs = {
            "sparsenet": functools.partial(sparsenet.omp, D, X, n_nonzero_coefs=k),
            "numpy": functools.partial(reference.omp, D, X, n_nonzero_coefs=k),
        }
        if optional_peer("sklearn", "scikit-learn"):
            from sklearn.linear_model import orthogonal_mp

            runs["scikit-learn"] = functools.partial(orthogonal_mp, D, X, n_nonzero_coefs=k,
                                                     precompute=True)
        spams = optional_peer("spams", "spams")
        if spams is not None:
            runs["spams"] = functools.partial(spams.omp, np.asfortranarray(X),
                                              np.asfortranarray(D), L=k,
                                              numThreads=backend.get_num_threads())
        workload = f"{name}: D {n_features}x{n_atoms} X x{n_signals} k={k}"
        cases.append(Case("omp", "omp", workload, runs))
    return cases


def coding_problem(n_signals, *, n_features=64, n_atoms=256, k=8, noise=0.05, seed=0):
    """D (n_features x n_atoms, unit atoms) and X whose columns are k-sparse combinations of the
    atoms plus Gaussian noise: the LASSO workload of the sparse-coding issue."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_features, n_atoms))
    D /= np.linalg.norm(D, axis=0)
    rows = np.argsort(rng.random((n_atoms, n_signals)), axis=0)[:k]
    codes = np.zeros((n_atoms, n_signals))
    np.put_along_axis(codes, rows, rng.standard_normal((k, n_signals)), axis=0)
    return D, D @ codes + noise * rng.standard_normal((n_features, n_signals))


def training_patches(n_signals, patch_size=8, seed=0):
    """n_signals random patch_size^2 patches (means removed) of scikit-learn's china.jpg in
    grayscale, one per column; Gaussian signals when scikit-learn is not installed."""
    rng = np.random.default_rng(seed)
    try:
        from sklearn.datasets import load_sample_image
    except ImportError:
        return rng.standard_normal((patch_size ** 2, n_signals))
    from sparsenet.image import extract_patches

    image = load_sample_image("china.jpg").astype(np.float64) @ [0.299, 0.587, 0.114] / 255
    X = extract_patches(image, patch_size)
    X = X[:, np.sort(rng.choice(X.shape[1], n_signals, replace=False))]
    return np.asfortranarray(X - X.mean(axis=0))


def coding_cases(quick):
    """Sparse coding beyond OMP (float64): L1, lasso on D 64 x 256 and 20000 8-sparse signals plus
    noise, alpha = 0.25 (8.4 nonzeros per signal), against scikit-learn's
    sparse_encode(lasso_cd) and SPAMS's LARS (spams.lasso); K1, ksvd of 20000 8x8 patches of
    china.jpg, 256 atoms, k = 8, 10 iterations, against scikit-learn's MiniBatchDictionaryLearning
    (10 epochs) and SPAMS's trainDL (same number of mini-batch steps). 20 times fewer signals when
    quick. (scikit-learn's DictionaryLearning takes minutes here: benchmarks/bench_coding.py.)"""
    import sparsenet

    n_signals = 1000 if quick else 20000
    threads = backend.get_num_threads()
    D, X = coding_problem(n_signals)
    alpha = 0.25
    runs = {"sparsenet": lambda: sparsenet.lasso(D, X, alpha)}
    try:
        from sklearn.decomposition import sparse_encode

        Xt, Dt = np.ascontiguousarray(X.T), np.ascontiguousarray(D.T)
        runs["scikit-learn lasso_cd"] = lambda: sparse_encode(Xt, Dt, algorithm="lasso_cd",
                                                              alpha=alpha)
    except ImportError:
        pass
    try:
        import spams

        Df, Xf = np.asfortranarray(D), np.asfortranarray(X)
        runs["spams lasso (LARS)"] = lambda: spams.lasso(Xf, D=Df, lambda1=alpha, mode=2,
                                                         numThreads=threads)
    except ImportError:
        pass
    cases = [Case("coding", "lasso", f"L1: D 64x256 X x{n_signals} alpha={alpha}", runs)]

    P = training_patches(n_signals)
    runs = {"sparsenet": lambda: sparsenet.ksvd(P, 256, n_nonzero_coefs=8, max_iter=10,
                                                random_state=0)}
    try:
        from sklearn.decomposition import MiniBatchDictionaryLearning

        Pt = np.ascontiguousarray(P.T)
        runs["scikit-learn MiniBatchDL"] = lambda: MiniBatchDictionaryLearning(
            n_components=256, max_iter=10, transform_algorithm="omp",
            transform_n_nonzero_coefs=8, random_state=0).fit(Pt)
    except ImportError:
        pass
    try:
        import spams

        Pf = np.asfortranarray(P)
        runs["spams trainDL"] = lambda: spams.trainDL(Pf, K=256, lambda1=8, mode=3,
                                                      iter=10 * n_signals // 512, batchsize=512,
                                                      numThreads=threads, verbose=False)
    except ImportError:
        pass
    cases.append(Case("coding", "ksvd", f"K1: 8x8 patches x{n_signals} 256 atoms k=8 10 it", runs))
    return cases


# ---- sparsenet.torch: a transformer's feed-forward layers ---------------------------------------
# Issue 13's workload: the FFN matrices of a MiniLM-size transformer, six blocks of 384 -> 1536 -> 384
# (twelve matrices, ReLU between), pruned to 90% by magnitude, 128 tokens, float32.
TORCH_D_MODEL, TORCH_D_FF, TORCH_BLOCKS, TORCH_TOKENS, TORCH_SPARSITY = 384, 1536, 6, 128, 0.9


def torch_workload(torch: Any, *, blocks: int = TORCH_BLOCKS, seed: int = 0) -> "dict[str, Any]":
    """The same weights as a dense stack ("dense": nn.Linear, the pruned weights stored densely),
    a sparse one ("sparse": SparseLinear), a shared one ("shared": SharedLinear, 16 values, not
    pruned) and PyTorch's CSR ("csr": (weight.to_sparse_csr(), bias) per matrix), and the input."""
    import copy
    import warnings

    import sparsenet.torch as snt

    nn = torch.nn
    torch.manual_seed(seed)
    dense = nn.Sequential(*[layer for _ in range(blocks) for layer in
                            (nn.Linear(TORCH_D_MODEL, TORCH_D_FF), nn.ReLU(),
                             nn.Linear(TORCH_D_FF, TORCH_D_MODEL))])
    sparse = _pruned(torch, dense)
    shared = snt.share(copy.deepcopy(dense), n_clusters=16)
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        csr = [(m.weight.detach().to_sparse_csr(), m.bias.detach())
               for m in dense if isinstance(m, nn.Linear)]
    x = torch.randn(TORCH_TOKENS, TORCH_D_MODEL)
    return {"dense": dense, "sparse": sparse, "shared": shared, "csr": csr, "x": x}


def _pruned(torch: Any, dense: Any) -> Any:
    """A SparseLinear copy of the nn.Linear stack `dense`, pruned to TORCH_SPARSITY by magnitude;
    `dense` gets the pruned weights (zeros stored densely)."""
    import copy

    import sparsenet.torch as snt

    sparse = snt.sparsify(copy.deepcopy(dense), sparsity=TORCH_SPARSITY)
    with torch.no_grad():
        for d, s in zip(dense, sparse):
            if isinstance(d, torch.nn.Linear):
                d.weight.copy_(s.weight)
    return sparse


# Convolutions as products: ResNet-50's first-stage 1x1 convolutions, 256 -> 64 -> 256 channels, as
# linear layers over the 56 x 56 output positions (the tokens), pruned as above. An input of many
# rows reaches the first layer as x^T, a column-major view, which the product copies to rows.
TORCH_CONV_CHANNELS, TORCH_CONV_POSITIONS = (256, 64, 256), 56 * 56


def torch_conv_workload(torch: Any, *, seed: int = 0) -> "dict[str, Any]":
    """The two 1x1 convolutions as a dense ("dense") and a sparse ("sparse") stack, and the input."""
    torch.manual_seed(seed)
    c = TORCH_CONV_CHANNELS
    dense = torch.nn.Sequential(*[torch.nn.Linear(i, o) for i, o in zip(c, c[1:])])
    return {"dense": dense, "sparse": _pruned(torch, dense),
            "x": torch.randn(TORCH_CONV_POSITIONS, c[0])}


def torch_forward(model: Any, x: Any) -> Any:
    """A forward pass without autograd (inference)."""
    import torch

    with torch.no_grad():
        return model(x)


def torch_csr_forward(csr: "list[tuple[Any, Any]]", x: Any) -> Any:
    """The stack's forward pass on PyTorch's CSR weights (ReLU after every other matrix)."""
    import torch

    for i, (W, b) in enumerate(csr):
        x = (W @ x.T).T + b
        if i % 2 == 0:
            x = torch.relu(x)
    return x


def torch_training_step(model: Any, x: Any) -> Any:
    """Forward and backward (the gradients of the input and of every parameter)."""
    x = x.detach().requires_grad_()
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()
    return x.grad


def sddmm_problems(torch: Any, workload: "dict[str, Any]") -> "list[tuple[Any, Any, Any]]":
    """(pattern, dL/dY^T, X^T) of every matrix of the sparse stack, its inputs from one forward
    pass: the gradient of the matrices' stored values is sddmm(pattern, dL/dY^T, X^T)."""
    import sparsenet.torch as snt

    problems, x = [], workload["x"]
    torch.manual_seed(1)
    for m in workload["sparse"]:
        if isinstance(m, snt.SparseLinear):
            G = torch.randn(TORCH_TOKENS, m.out_features)
            problems.append((m.structure(), G.T.contiguous(), x.T.contiguous()))
        x = m(x).detach()
    return problems


def sddmm_peer_runs(torch: Any, problems: "list[tuple[Any, Any, Any]]") -> "dict[str, Callable]":
    """The same sampled products by torch.sparse.sampled_addmm and by the dense product then
    gathering the pattern's entries."""
    import warnings

    sampled, masked = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for P, GT, XT in problems:
            indptr = torch.from_numpy(P.indptr.astype(np.int64))
            indices = torch.from_numpy(P.indices.astype(np.int64))
            S = torch.sparse_csr_tensor(indptr, indices, torch.ones(P.nnz), size=P.shape)
            sampled.append((S, GT, XT.T.contiguous()))
            rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
            masked.append((GT, XT, torch.from_numpy(rows * P.shape[1]
                                                    + P.indices.astype(np.int64))))
    return {
        "pytorch sampled_addmm": lambda: [torch.sparse.sampled_addmm(S, G, X, beta=0.0)
                                          for S, G, X in sampled],
        "dense then mask (pytorch)": lambda: [(G @ X.T).view(-1)[mask] for G, X, mask in masked],
    }


def torch_cases(quick: bool) -> "list[Case]":
    """sparsenet.torch on issue 13's workload (two blocks when quick), against nn.Linear on the
    same (pruned) weights and PyTorch's CSR; torch on sparsenet's thread count. Skipped, with the
    reason, without torch."""
    torch = optional_peer("torch", "pytorch")
    if torch is None:
        _skipped.setdefault("torch", "the family needs PyTorch (pip install torch)")
        return []
    import sparsenet

    torch.set_num_threads(backend.get_num_threads())
    w = torch_workload(torch, blocks=2 if quick else TORCH_BLOCKS)
    n_matrices = 2 * (2 if quick else TORCH_BLOCKS)
    nnz = sum(int(m.weight.count_nonzero()) for m in w["dense"] if isinstance(m, torch.nn.Linear))
    workload = (f"{n_matrices}x FFN {TORCH_D_MODEL}<->{TORCH_D_FF} {TORCH_SPARSITY:.0%}, "
                f"{TORCH_TOKENS} tokens")
    x, problems = w["x"], sddmm_problems(torch, w)
    token = x[:1]  # decoding one token at a time
    return [
        *_layer_cases(workload, w, x, 2 * nnz * TORCH_TOKENS,
                      {"pytorch CSR": lambda: torch_csr_forward(w["csr"], x)}),
        Case("torch", "SparseLinear 1 token", workload.replace(
            f"{TORCH_TOKENS} tokens", "1 token"), flops=2 * nnz, runs={
            "sparsenet": lambda: torch_forward(w["sparse"], token),
            "dense nn.Linear": lambda: torch_forward(w["dense"], token),
            "pytorch CSR": lambda: torch_csr_forward(w["csr"], token)}),
        Case("torch", "sddmm (value grads)", workload, flops=2 * nnz * TORCH_TOKENS,
             runs={"sparsenet": lambda: [sparsenet.sddmm(P, G.numpy(), X.numpy())
                                         for P, G, X in problems],
                   **sddmm_peer_runs(torch, problems)}),
        *torch_conv_cases(torch),
        Case("torch", "SharedLinear fwd K=16", workload.replace(
            f"{TORCH_SPARSITY:.0%}", "dense"), runs={
            "sparsenet": lambda: torch_forward(w["shared"], x),
            "dense nn.Linear": lambda: torch_forward(w["dense"], x),
        }),
    ]


def torch_conv_cases(torch: Any) -> "list[Case]":
    """SparseLinear on TORCH_CONV_POSITIONS tokens (torch_conv_workload) against nn.Linear."""
    w = torch_conv_workload(torch)
    c, x = TORCH_CONV_CHANNELS, w["x"]
    nnz = sum(int(m.weight.count_nonzero()) for m in w["dense"])
    workload = f"2x 1x1 conv {c[0]}<->{c[1]} {TORCH_SPARSITY:.0%}, {TORCH_CONV_POSITIONS} pos"
    return _layer_cases(workload, w, x, 2 * nnz * TORCH_CONV_POSITIONS)


def _layer_cases(workload: str, w: "dict[str, Any]", x: Any, flops: int,
                 peers: "dict[str, Callable] | None" = None) -> "list[Case]":
    """The forward and the forward + backward rows of the stack w["sparse"] against w["dense"] on
    the input x (and `peers`, forward only); `flops`: one forward pass's."""
    return [
        Case("torch", "SparseLinear fwd", workload, flops=flops, runs={
            "sparsenet": lambda: torch_forward(w["sparse"], x),
            "dense nn.Linear": lambda: torch_forward(w["dense"], x), **(peers or {})}),
        Case("torch", "SparseLinear fwd+bwd", workload, flops=3 * flops, runs={
            "sparsenet": lambda: torch_training_step(w["sparse"], x),
            "dense nn.Linear": lambda: torch_training_step(w["dense"], x)}),
    ]


# ---- DLMC: ResNet-50's layers pruned by magnitude -----------------------------------------------
DLMC_FILE = "dlmc-rn50-magnitude.npz"
# --quick: one 3x3 convolution per stage of the network (N = 3136, 784, 196, 49 output positions)
DLMC_QUICK_LAYERS = ("bottleneck_2_block_group1_1_1", "bottleneck_2_block_group2_1_1",
                     "bottleneck_2_block_group3_1_1", "bottleneck_2_block_group4_1_1")


def find_dlmc(path: "str | os.PathLike[str] | None" = None) -> "Path | None":
    """The DLMC archive: `path` if given, else ``../shared/data/dlmc-rn50-magnitude.npz`` from the
    working directory or from the repository's root; None when there is none."""
    if path is not None:
        return Path(path)
    root = Path(__file__).resolve().parents[2]  # src/sparsenet/bench.py in a checkout
    for base in (Path.cwd(), root):
        candidate = base / ".." / "shared" / "data" / DLMC_FILE
        if candidate.is_file():
            return candidate.resolve()
    return None


class DlmcLayer:
    """One pruned layer: `name`, sparsity `level` (0.8 ... 0.98), `pattern` (scipy csr_array of
    ones, int32 indices) and `n`, its number of output positions (the dense operand's columns)."""

    def __init__(self, name: str, level: float, pattern: Any, n: int) -> None:
        self.name, self.level, self.pattern, self.n = name, level, pattern, n

    def matrix(self) -> "tuple[Any, np.random.Generator]":
        """The layer's weights: its pattern with standard normal float32 values, seeded by name
        (DLMC has no values), so every run and every suite multiplies the same matrix."""
        import zlib

        rng = np.random.default_rng(zlib.crc32(f"{self.level}/{self.name}".encode()))
        A = self.pattern.copy()
        A.data = rng.standard_normal(A.nnz, dtype=np.float32)
        return A, rng


def dlmc_layers(path: "str | os.PathLike[str]", *,
                quick: bool = False) -> "dict[float, list[DlmcLayer]]":
    """The layers of the DLMC archive at `path` by sparsity level: {0.8: [DlmcLayer, ...], ...}
    (54 per level; DLMC_QUICK_LAYERS only when `quick`)."""
    import scipy.sparse as sp

    levels: dict[float, list[DlmcLayer]] = {}
    with np.load(path) as archive:
        keys = sorted({name.rsplit("__", 1)[0] for name in archive.files})
        for key in keys:  # rn50__magnitude_pruning__0.9__<layer>
            level, name = key.split("__")[2:4]
            if quick and name not in DLMC_QUICK_LAYERS:
                continue
            m, k = (int(v) for v in archive[key + "__shape"])
            indices = archive[key + "__indices"].astype(np.int32)
            indptr = archive[key + "__indptr"].astype(np.int32)
            pattern = sp.csr_array((np.ones(indices.size, np.float32), indices, indptr),
                                   shape=(m, k))
            levels.setdefault(float(level), []).append(
                DlmcLayer(name, float(level), pattern, int(archive[key + "__n"])))
    return dict(sorted(levels.items()))


def dlmc_spmm(layer: DlmcLayer, torch: Any = None) -> "tuple[Runs, int, int]":
    """The runs of one layer's ``W @ X`` (X: cols x n standard normal float32), with its bytes and
    flops: sparsenet on ``CSR.optimize(batch=n)`` and on the plain CSR, dense sgemm, SciPy and,
    when `torch` is given, PyTorch's sparse CSR (MKL)."""
    import sparsenet

    A, rng = layer.matrix()
    m, k = A.shape
    X = rng.standard_normal((k, layer.n), dtype=np.float32)
    C = sparsenet.CSR.from_scipy(A)
    O = C.optimize(batch=layer.n)
    W = A.toarray()
    runs = {
        "sparsenet": lambda: sparsenet.spmm(O, X),
        "sparsenet (plain CSR)": lambda: sparsenet.spmm(C, X),
        "dense sgemm": lambda: W @ X,
        "scipy": lambda: A @ X,
    }
    if torch is not None:
        T, tX = _torch_csr(torch, A), torch.from_numpy(X)
        runs["pytorch"] = lambda: T @ tX
    return runs, _csr_bytes(O) + X.nbytes + 4 * m * layer.n, 2 * A.nnz * layer.n


def dlmc_spmv(layer: DlmcLayer) -> "tuple[Runs, int, int]":
    """The runs of one layer's ``W @ x`` (one output position: decoding one token at a time), with
    its bytes and flops: sparsenet on ``CSR.optimize()`` and on the scipy matrix passed as is,
    SciPy and dense GEMV."""
    import sparsenet

    A, rng = layer.matrix()
    x = rng.standard_normal(A.shape[1], dtype=np.float32)
    O = sparsenet.CSR.from_scipy(A).optimize()
    W = A.toarray()
    runs = {
        "sparsenet": lambda: sparsenet.spmv(O, x),
        "sparsenet (scipy input)": lambda: sparsenet.spmv(A, x),
        "dense gemv": lambda: W @ x,
        "scipy": lambda: A @ x,
    }
    return runs, _csr_bytes(O) + x.nbytes + 4 * A.shape[0], 2 * A.nnz


def _torch_csr(torch, A):
    import warnings

    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(torch.from_numpy(A.indptr.astype(np.int64)),
                                       torch.from_numpy(A.indices.astype(np.int64)),
                                       torch.from_numpy(A.data), size=A.shape)


def dlmc_cases(quick: bool, path: "str | os.PathLike[str] | None" = None) -> "list[Case]":
    """DLMC's ResNet-50 pruned to 80/90/95/98%: per level, every layer's SpMM with its own number
    of output positions, and the same layers at N=1 (spmv). Skipped, with the reason, when the
    archive is not found (see find_dlmc)."""
    found = find_dlmc(path)
    if found is None or not found.is_file():
        _skipped.setdefault("dlmc", f"{DLMC_FILE} not found in ../shared/data/ of the working "
                                    f"directory or the repository (give --dlmc PATH)")
        return []
    torch = optional_peer("torch", "pytorch")
    if torch is not None:
        torch.set_num_threads(backend.get_num_threads())
    levels = dlmc_layers(found, quick=quick)
    cases: list[Case] = []
    for kernel, make, operand in (("spmm", lambda layer: dlmc_spmm(layer, torch), "X k x N"),
                                  ("spmv", dlmc_spmv, "N=1")):
        for level, layers in levels.items():
            cases.append(LayerSet("dlmc", f"{kernel} {level:.0%}",
                                  f"RN50 {level:.0%}, {len(layers)} layers, {operand}",
                                  [(layer.name, functools.partial(make, layer))
                                   for layer in layers]))
    return cases


FAMILIES = {"csr": csr_cases, "shared": shared_cases, "threshold": threshold_cases,
            "omp": omp_cases, "dlmc": dlmc_cases, "coding": coding_cases, "torch": torch_cases}


def run(families: "Sequence[str] | None" = None, *, quick: bool = False,
        threads: "int | None" = None, stream: "TextIO | None" = None,
        dlmc_path: "str | os.PathLike[str] | None" = None) -> "tuple[list[Row], dict[str, Any]]":
    """Time every case of `families` (all by default), print one table and return the rows
    (`Row`) and the machine's description (see `machine`, with the measured limits and the peers
    that did not run). BLAS-backed peers get the same thread count as sparsenet."""
    families = list(FAMILIES) if not families else families
    previous_threads = backend._state["threads"]
    if threads is not None:
        backend.set_num_threads(threads)
    _skipped.clear()
    rows = []
    try:
        bandwidth, bandwidth_method = memory_bandwidth(repeat=3 if quick else 5)
        flop_rate, flop_method = sgemm_rate(repeat=3 if quick else 5)
        with _blas_threads(backend.get_num_threads()):
            cases: List[Any] = []
            for family in families:
                make = FAMILIES[family]
                cases += make(quick, dlmc_path) if make is dlmc_cases else make(quick)
            for i, case in enumerate(cases, 1):
                print(f"\r[{i}/{len(cases)}] {case.family}: {case.kernel:<40}", end="",
                      file=sys.stderr, flush=True)
                rows.append(_time_case(case, quick))
            print(file=sys.stderr)
            info = machine()
        info["bandwidth"] = {"gbytes_per_s": bandwidth / 1e9, "method": bandwidth_method}
        info["sgemm"] = {"gflops": flop_rate / 1e9, "method": flop_method}
        info["skipped"] = dict(_skipped)
        info["quick"] = bool(quick)
        _print_table(rows, info, stream if stream is not None else sys.stdout)
    finally:
        backend._state["threads"] = previous_threads
    return rows, info


def _time_case(case, quick):
    if not isinstance(case, LayerSet):
        return Row(case, interleaved_times(case.runs, rounds=3 if quick else 7,
                                           min_block=0.015 if quick else 0.03))
    layers = []
    for name, make in case.layers:
        runs, nbytes, flops = make()
        layers.append({"name": name,
                       "seconds": interleaved_times(runs, rounds=3 if quick else 5, min_block=1e-3),
                       "bytes": nbytes, "flops": flops})
        del runs  # the layer's operands, before the next layer's are made
    seconds = {impl: sum(layer["seconds"][impl] for layer in layers)
               for impl in layers[0]["seconds"]}
    return Row(case, seconds, layers)


@contextlib.contextmanager
def _blas_threads(n):
    """Limit the BLAS of NumPy / SciPy / scikit-learn to `n` threads (needs threadpoolctl); yields
    whether the limit is in force."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield False
        return
    with threadpool_limits(n):
        yield True


def machine() -> "dict[str, Any]":
    """What the figures were measured on: CPU, cores, versions, BLAS, sparsenet's settings."""
    info = {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sparsenet_threads": backend.get_num_threads(),
        "sparsenet_isa": backend.get_isa(),
        "openmp": backend.has_openmp(),
        "environment": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                   "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                        if k in os.environ},
    }
    import sparsenet

    for name in ("numpy", "scipy", "sklearn", "spams", "torch"):
        module = sys.modules.get(name)
        if module is not None:
            info[name] = getattr(module, "__version__", "?")
    info["sparsenet"] = sparsenet.__version__
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{k: lib.get(k) for k in ("internal_api", "version", "architecture",
                                                 "num_threads")}
                        for lib in threadpool_info() if lib.get("user_api") == "blas"]
    except ImportError:
        pass
    return info


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def records(rows: "list[Row]", info: "dict[str, Any]") -> "list[dict[str, Any]]":
    """The rows as JSON-ready dicts: seconds and speedups per implementation, sparsenet's bytes,
    flops and rate (see `rate`) and, for the layer sets, every layer's figures."""
    bandwidth = info["bandwidth"]["gbytes_per_s"] * 1e9
    results = []
    for row in rows:
        case = row.case
        record: dict[str, Any] = {
            "family": case.family, "kernel": case.kernel, "workload": case.workload,
            "seconds": row.seconds, "speedup": row.speedups(), "bytes": case.bytes,
            "flops": case.flops, "rate": row.rate(bandwidth)}
        if row.layers is not None:
            record["speedup_is"] = "geometric mean over the layers; seconds are sums"
            record["layers"] = [dict(layer, speedup={
                impl: t / layer["seconds"]["sparsenet"] for impl, t in layer["seconds"].items()
                if impl != "sparsenet"}, rate=rate(layer["bytes"], layer["flops"],
                                                   layer["seconds"]["sparsenet"], bandwidth))
                for layer in row.layers]
        results.append(record)
    return results


def write_json(rows: "list[Row]", info: "dict[str, Any]", path: "str | os.PathLike[str]") -> None:
    """Every figure of `rows` and the machine's description `info`, as JSON."""
    with open(path, "w") as f:
        json.dump({"machine": info, "results": records(rows, info)}, f, indent=2)


# ---- the figure ---------------------------------------------------------------------------------
# One colour per kind of implementation, the same in every panel (Okabe-Ito, colour-blind safe).
PEER_COLOURS = {
    "NumPy baseline": "#999999",
    "NumPy function": "#CC79A7",
    "SciPy": "#0072B2",
    "scikit-learn": "#E69F00",
    "SPAMS": "#009E73",
    "PyTorch": "#D55E00",
    "dense BLAS": "#56B4E9",
    "sparsenet, other path": "#000000",
    "other": "#F0E442",
}


def peer_of(implementation: str) -> str:
    """The kind of an implementation's name, a key of PEER_COLOURS."""
    name = implementation.lower()
    if name == "numpy":
        return "NumPy baseline"
    for prefix, peer in (("scipy", "SciPy"), ("scikit-learn", "scikit-learn"), ("spams", "SPAMS"),
                         ("pytorch", "PyTorch"), ("dense", "dense BLAS"), ("np.", "NumPy function"),
                         ("sparsenet", "sparsenet, other path")):
        if name.startswith(prefix):
            return peer
    return "other"


def plot(results: "list[dict[str, Any]]", path: "str | os.PathLike[str]",
         info: "dict[str, Any] | None" = None) -> None:
    """Draw sparsenet's speedups over its peers (`results`: the records of `records`, or the
    "results" of a --json file) into `path`: one panel per family in two columns, one bar per
    peer and kernel drawn from the 1x line (right: sparsenet faster), each kind of peer in its own
    colour in every panel (PEER_COLOURS). sparsenet's own other paths (plain CSR, scipy input) are
    in the table, not in the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    from matplotlib.patches import Patch

    order = list(PEER_COLOURS)
    families: dict[str, list[tuple[dict[str, Any], list[tuple[str, float]]]]] = {}
    for record in results:
        bars = sorted(((name, s) for name, s in record["speedup"].items()
                       if peer_of(name) != "sparsenet, other path"),
                      key=lambda bar: order.index(peer_of(bar[0])))
        if bars:
            families.setdefault(record["family"], []).append((record, bars))
    if not families:
        raise ValueError("no speedups to plot")
    # Layout in inches, placed by hand so that every bar has the same height in every panel.
    bar, gap, title_h, ticks_h = 0.17, 0.12, 0.32, 0.3
    slots = {family: [max(len(bars), 2) for _, bars in cases]  # two lines of label per group
             for family, cases in families.items()}
    heights = {family: sum(n * bar + gap for n in slots[family]) + gap for family in families}
    columns: list[list[str]] = [[], []]  # the tallest first, each into the shorter column
    for family in sorted(families, key=lambda f: heights[f], reverse=True):
        min(columns, key=lambda c: sum(title_h + heights[f] + ticks_h for f in c)).append(family)
    columns = [[f for f in families if f in column] for column in columns if column]
    kinds = [kind for kind in PEER_COLOURS if any(peer_of(name) == kind for cases in
                                                  families.values() for _, bars in cases
                                                  for name, _ in bars)]
    legend_columns = min(len(kinds), 4 * len(columns))
    label_w, col_w, bottom = 2.35, 8.2, 0.45
    top = 0.75 + 0.22 * -(-len(kinds) // legend_columns)  # title, subtitle, legend rows
    column_h = [sum(title_h + heights[f] + ticks_h for f in column) for column in columns]
    width, height = col_w * len(columns), top + max(column_h) + bottom
    fig = plt.figure(figsize=(width, height))
    values = [s for cases in families.values() for _, bars in cases for _, s in bars]
    low, high = min(values + [1.0]), max(values + [1.0])
    for c, column in enumerate(columns):
        y_top = height - top
        for family in column:
            y_top -= title_h
            h = heights[family]
            ax = fig.add_axes(((c * col_w + label_w) / width, (y_top - h) / height,
                               (col_w - label_w - 0.25) / width, h / height))
            y_top -= h + ticks_h
            y, ticks, labels = gap / bar, [], []
            for (record, bars), n in zip(families[family], slots[family]):
                start = y + (n - len(bars)) / 2
                for i, (name, s) in enumerate(bars):
                    # from the 1x line: right when sparsenet is faster, left when it is slower;
                    # the label always right of both, clear of the kernels' names
                    ax.barh(start + i, s - 1, left=1, height=0.85,
                            color=PEER_COLOURS[peer_of(name)])
                    ax.text(max(s, 1) * 1.06, start + i, f"{name} {s:.3g}x", va="center",
                            ha="left", fontsize=8)
                ticks.append(y + (n - 1) / 2)
                labels.append(f"{record['kernel']}\n{record['workload']}")
                y += n + gap / bar
            ax.set_yticks(ticks, labels, fontsize=8)
            ax.set_ylim(h / bar - 0.5, -0.5)
            ax.set_xscale("log")
            ax.set_xlim(min(0.5, low / 4), high * 8)  # room for the bars' labels
            ax.xaxis.set_major_formatter(
                matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.tick_params(axis="x", labelsize=8)
            ax.axvline(1.0, color="black", linewidth=1.2)
            ax.set_title(FAMILY_TITLES.get(family, family), loc="left", fontsize=10,
                         fontweight="bold")
            ax.grid(axis="x", color="#dddddd", linewidth=0.6)
            ax.set_axisbelow(True)
    subtitle = "log scale; right of the black 1x line sparsenet is faster, left of it slower"
    if info:
        subtitle = (f"{info.get('cpu', '?')}, {info.get('sparsenet_threads', '?')} thread(s), "
                    f"sparsenet {info.get('sparsenet', '?')}"
                    f"{', --quick workloads' if info.get('quick') else ''}; {subtitle}")
    fig.text(0.1 / width, 1 - 0.1 / height, "sparsenet's speedup over NumPy and its peers: "
             "other time / sparsenet time", fontsize=12, va="top")
    fig.text(0.1 / width, 1 - 0.4 / height, subtitle, fontsize=9, va="top", color="#444444")
    fig.legend(handles=[Patch(color=PEER_COLOURS[k], label=k) for k in kinds],
               loc="upper left", bbox_to_anchor=(0.05 / width, 1 - 0.62 / height),
               ncol=legend_columns, fontsize=9, frameon=False)
    fig.savefig(path, dpi=100)
    plt.close(fig)


FAMILY_TITLES = {
    "csr": "csr: pruned weights, float32 (sparsenet: optimize()d)",
    "dlmc": "dlmc: ResNet-50's layers pruned (geometric means over layers)",
    "shared": "shared: shared (uint8 codes, K=256) and hashed weights",
    "threshold": "threshold: sparse coding, standard normal float32",
    "omp": "omp: Orthogonal Matching Pursuit, float64",
    "torch": "torch: sparsenet.torch layers, a transformer's FFN pruned to 90%",
}


def _print_table(rows, info, stream):
    print(f"sparsenet {info['sparsenet']} bench on {info['cpu']}  "
          f"(threads={info['sparsenet_threads']}, isa={info['sparsenet_isa']})", file=stream)
    print(f"limits, one thread: memory read {info['bandwidth']['gbytes_per_s']:.1f} GB/s, "
          f"dense sgemm {info['sgemm']['gflops']:.1f} GFLOP/s", file=stream)
    print(f"  memory read: {info['bandwidth']['method']}", file=stream)
    slow_blas = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    if slow_blas:
        print(f"note: {' and '.join(slow_blas)} set: they slow current OpenBLAS, so the dense BLAS "
              f"baselines may look slower than they are; unset them for this command "
              f"(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...)", file=stream)
    header = (f"{'kernel':<22} {'workload':<32} {'implementation':<24} {'ms':>10} "
              f"{'sparsenet speedup':>18}  {'sparsenet rate':<16}")
    print(header, file=stream)
    print("-" * len(header), file=stream)
    bandwidth = info["bandwidth"]["gbytes_per_s"] * 1e9
    any_layers = False
    for row in rows:
        case, speedups = row.case, row.speedups()
        any_layers |= row.layers is not None
        mark = " gm" if row.layers is not None else ""
        for name, t in row.seconds.items():
            speedup = "" if name == "sparsenet" else f"{speedups[name]:.2f}x{mark}"
            limit = ""
            if name == "sparsenet":
                r = row.rate(bandwidth)
                if r is not None and r["bound"] == "memory":
                    limit = f"{r['bandwidth_fraction']:.0%} of BW"
                    limit += " (in cache)" if r["in_cache"] else ""
                elif r is not None:
                    limit = f"{r['gflops']:.1f} GFLOP/s"
            print(f"{case.kernel:<22} {case.workload:<32} {name:<24} {t * 1e3:10.3f} "
                  f"{speedup:>18}  {limit}".rstrip(), file=stream)
    print("rate: a memory-bound row's bytes moved / time as a fraction of the measured bandwidth "
          "(BW; in cache: its operands\n      fit in the last-level cache, so it may pass 100%), "
          "a flop-bound row's GFLOP/s", file=stream)
    if any_layers:
        print("dlmc rows: ms is the sum over the layers; 'gm' speedups are the geometric mean of "
              "the per-layer ratios (per-layer figures: --json)", file=stream)
    for peer, reason in info.get("skipped", {}).items():
        print(f"not run: {peer}: {reason}", file=stream)
