"""`python -m sparsenet bench`: sparsenet against its NumPy baseline and the installed peers.

Each kernel family contributes cases: a workload and the callables that compute the same thing
(sparsenet, the NumPy reference, and peers such as SciPy when importable). Every time is the median
of repeated runs after a warm-up; every speedup is a ratio of two times taken in the same run.
"""
import sys
import time

import numpy as np

from sparsenet import backend


class Case:
    """One benchmark row: `runs` maps an implementation name to a zero-argument callable."""

    def __init__(self, family, kernel, workload, runs):
        self.family, self.kernel, self.workload, self.runs = family, kernel, workload, runs


def median_time(fn, *, repeat=7, min_time=0.2):
    """Median seconds of one call of `fn`, after a warm-up call, over at least `repeat` calls or
    `min_time` seconds."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - start < min_time and len(times) < 1000):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def csr_cases(quick):
    """The CSR workload of the benchmarks: 8192 x 8192 at 10% density, float32, int32 indices."""
    import scipy.sparse as sp

    import sparsenet
    from sparsenet import reference

    n = 2048 if quick else 8192
    A = sp.random(n, n, density=0.10, format="csr", dtype=np.float32, random_state=1)
    C = sparsenet.CSR.from_scipy(A)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, dtype=np.float32)
    X = rng.standard_normal((n, 64), dtype=np.float32)
    workload = f"{n}x{n} d=0.10 f32"
    dense = A.toarray()
    return [
        Case("csr", "spmv", workload, {
            "sparsenet": lambda: sparsenet.spmv(C, x),
            "sparsenet (scipy input)": lambda: sparsenet.spmv(A, x),
            "numpy": lambda: reference.spmv(C, x),
            "scipy": lambda: A @ x,
        }),
        Case("csr", "spmv transposed", workload, {
            "sparsenet": lambda: sparsenet.spmv(C, x, transpose=True),
            "numpy": lambda: reference.spmv(C, x, transpose=True),
            "scipy": lambda: A.T @ x,
        }),
        Case("csr", "spmm", workload + ", X n x 64", {
            "sparsenet": lambda: sparsenet.spmm(C, X),
            "numpy": lambda: reference.spmm(C, X),
            "scipy": lambda: A @ X,
            "dense matmul": lambda: dense @ X,
        }),
        Case("csr", "spmm transposed", workload + ", X n x 64", {
            "sparsenet": lambda: sparsenet.spmm(C, X, transpose=True),
            "numpy": lambda: reference.spmm(C, X, transpose=True),
            "scipy": lambda: A.T @ X,
        }),
    ]


def omp_cases(quick):
    """The OMP workloads of the benchmarks (float64): O1-shaped (D 64 x 256, k = 8) and O2-shaped
    (D 256 x 1024, k = 32), with fewer signals than benchmarks/bench_omp.py so that scikit-learn
    and the NumPy reference, seconds per call, can be timed repeatedly."""
    import sparsenet
    from sparsenet import reference

    rng = np.random.default_rng(0)
    cases = []
    for name, (n_features, n_atoms, n_signals, k) in (("O1", (64, 256, 2000, 8)),
                                                      ("O2", (256, 1024, 200, 32))):
        if quick:
            n_signals //= 4
        D = rng.standard_normal((n_features, n_atoms))
        D /= np.linalg.norm(D, axis=0)
        X = rng.standard_normal((n_features, n_signals))
        runs = {
            "sparsenet": lambda D=D, X=X, k=k: sparsenet.omp(D, X, n_nonzero_coefs=k),
            "numpy": lambda D=D, X=X, k=k: reference.omp(D, X, n_nonzero_coefs=k),
        }
        try:
            from sklearn.linear_model import orthogonal_mp

            runs["scikit-learn"] = lambda D=D, X=X, k=k: orthogonal_mp(D, X, n_nonzero_coefs=k,
                                                                        precompute=True)
        except ImportError:
            pass
        try:
            import spams

            Df, Xf = np.asfortranarray(D), np.asfortranarray(X)
            runs["spams (1 thread)"] = lambda Df=Df, Xf=Xf, k=k: spams.omp(Xf, Df, L=k,
                                                                           numThreads=1)
        except ImportError:
            pass
        workload = f"{name}: D {n_features}x{n_atoms} X x{n_signals} k={k}"
        cases.append(Case("omp", "omp", workload, runs))
    return cases


FAMILIES = {"csr": csr_cases, "omp": omp_cases}


def run(families=None, *, quick=False, threads=None, stream=sys.stdout):
    """Time every case of `families` (all by default) and print one table; returns the rows."""
    families = list(FAMILIES) if not families else families
    previous_threads = backend._state["threads"]
    if threads is not None:
        backend.set_num_threads(threads)
    rows = []
    try:
        for family in families:
            for case in FAMILIES[family](quick):
                print(f"  timing {case.family}: {case.kernel} ...", file=sys.stderr, flush=True)
                times = {name: median_time(fn, repeat=3 if quick else 7, min_time=0.05 if quick else 0.2)
                         for name, fn in case.runs.items()}
                rows.append((case, times))
    finally:
        backend._state["threads"] = previous_threads
    _print_table(rows, stream)
    return rows


def _print_table(rows, stream):
    print(f"sparsenet bench  (threads={backend.get_num_threads()}, isa={backend.get_isa()})",
          file=stream)
    header = f"{'kernel':<18} {'workload':<28} {'implementation':<24} {'ms':>9} {'sparsenet speedup':>18}"
    print(header, file=stream)
    print("-" * len(header), file=stream)
    for case, times in rows:
        ours = times["sparsenet"]
        for name, t in times.items():
            speedup = "" if name == "sparsenet" else f"{t / ours:.2f}x"
            print(f"{case.kernel:<18} {case.workload:<28} {name:<24} {t * 1e3:9.3f} {speedup:>18}",
                  file=stream)
