"""The fixed cost of a small product (issue 12: "the call cost of a product on a 64x64 matrix at
or below SciPy's"): spmv of a 64x64 float32 matrix at 10%, given as a scipy matrix, as a CSR and
as an optimize()d CSR, against SciPy's ``A @ x``; process-CPU minimum per call over 7 rounds of
20,000 calls.

    PYTHONPATH=src python benchmarks/call_cost.py [label]

To compare two builds, alternate them in separate processes, e.g.
``for i in 1 2 3; do PYTHONPATH=old/src python benchmarks/call_cost.py old;
PYTHONPATH=src python benchmarks/call_cost.py new; done``.
"""
import sys
import time

import numpy as np
import scipy.sparse as sp

import sparsenet


def per_call_us(fn, calls=20_000, rounds=7):
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - start) / calls)
    return best * 1e6


def main():
    S = sp.random(64, 64, density=0.1, format="csr", dtype=np.float32, random_state=0)
    A = sparsenet.CSR.from_scipy(S)
    optimized = A.optimize()
    x = np.ones(64, np.float32)
    cases = {"scipy": lambda: S @ x, "sparsenet(scipy input)": lambda: sparsenet.spmv(S, x),
             "sparsenet(CSR)": lambda: sparsenet.spmv(A, x),
             "sparsenet(optimized)": lambda: sparsenet.spmv(optimized, x)}
    label = sys.argv[1] if len(sys.argv) > 1 else ""
    print(label, "  ".join(f"{name} {per_call_us(fn):.2f} us" for name, fn in cases.items()))


if __name__ == "__main__":
    main()
