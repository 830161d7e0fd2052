"""What the bounds check of a scipy matrix costs (issue 10 item 6): spmv / spmm on a scipy CSR
matrix, whose indices the product checks in its own pass (csr_matmul_checked, csrc/csr_kernels.h),
against SciPy and against the two-pass path (a CSR built with copy=False, which checks, then its
product). 8192^2, 10% nonzero, float32, int32 indices, 1 thread; the three interleaved, median of
7 per case. ``python benchmarks/fused_check.py`` (PYTHONPATH=src in a build tree); ``--tiny`` adds
the per-call time of a 64x64 spmv on a CSR and on a scipy matrix (the fixed cost of a call).
"""
import os
import sys
import time

import numpy as np
import scipy.sparse as sp

import sparsenet

N, DENSITY, K, REPEATS = 8192, 0.10, 64, 7


def time_once(fn, times):
    start = time.perf_counter()
    fn()
    times.append((time.perf_counter() - start) * 1e3)


def run(cases):
    """Each case's variants timed in turn (interleaved), REPEATS rounds; medians in ms."""
    results = {name: {variant: [] for variant in variants} for name, variants in cases.items()}
    for name, variants in cases.items():
        for variant, fn in variants.items():
            fn()  # warm up: first touch of the output, the thread team
        for _ in range(REPEATS):
            for variant, fn in variants.items():
                time_once(fn, results[name][variant])
    return {name: {v: float(np.median(t)) for v, t in r.items()} for name, r in results.items()}


def main():
    rng = np.random.default_rng(0)
    A = sp.random_array((N, N), density=DENSITY, format="csr", dtype=np.float32, rng=rng)
    A.indices = A.indices.astype(np.int32)
    A.indptr = A.indptr.astype(np.int32)
    x = rng.standard_normal(N).astype(np.float32)
    X = rng.standard_normal((N, K)).astype(np.float32)

    def two_pass():
        return sparsenet.CSR(A.data, A.indices, A.indptr, A.shape, copy=False)

    cases = {
        "spmv": {"fused": lambda: sparsenet.spmv(A, x),
                 "two-pass": lambda: sparsenet.spmv(two_pass(), x), "scipy": lambda: A @ x},
        "spmv^T": {"fused": lambda: sparsenet.spmv(A, x, transpose=True),
                   "two-pass": lambda: sparsenet.spmv(two_pass(), x, transpose=True),
                   "scipy": lambda: A.T @ x},
        f"spmm k={K}": {"fused": lambda: sparsenet.spmm(A, X),
                        "two-pass": lambda: sparsenet.spmm(two_pass(), X), "scipy": lambda: A @ X},
        f"spmm^T k={K}": {"fused": lambda: sparsenet.spmm(A, X, transpose=True),
                          "two-pass": lambda: sparsenet.spmm(two_pass(), X, transpose=True),
                          "scipy": lambda: A.T @ X},
    }
    with sparsenet.use_num_threads(1):
        results = run(cases)
        print(f"{N}x{N}, {DENSITY:.0%} nonzero, float32, int32 indices, 1 thread, "
              f"median of {REPEATS}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
              f"(timings on a loaded machine are rough)")
        print(f"{'case':<14}{'fused ms':>10}{'two-pass ms':>13}{'scipy ms':>10}"
              f"{'scipy/fused':>13}{'two-pass/fused':>16}")
        for name, r in results.items():
            print(f"{name:<14}{r['fused']:>10.2f}{r['two-pass']:>13.2f}{r['scipy']:>10.2f}"
                  f"{r['scipy'] / r['fused']:>13.2f}{r['two-pass'] / r['fused']:>16.2f}")
        if "--tiny" in sys.argv:
            small = sp.random_array((64, 64), density=0.1, format="csr", dtype=np.float32, rng=rng)
            csr, v = sparsenet.CSR(small), rng.standard_normal(64).astype(np.float32)
            def thousand(fn):
                return lambda: [fn() for _ in range(1000)]

            calls = {"tiny spmv": {"CSR": thousand(lambda: sparsenet.spmv(csr, v)),
                                   "scipy input": thousand(lambda: sparsenet.spmv(small, v)),
                                   "scipy itself": thousand(lambda: small @ v)}}
            for variant, ms in run(calls)["tiny spmv"].items():
                print(f"64x64 spmv, {variant}: {ms:.1f} us per call")


if __name__ == "__main__":
    main()
