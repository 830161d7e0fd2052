"""A matrix whose columns all fit one column block, as `CSR.optimize(batch=k)` makes it for products
of k >= 2 columns (one block of 16-bit columns), against the same matrix as a plain CSR (the plain
kernel, int32 indices): random float32 matrices of 0.5-32 MB of CSR arrays, one thread, the two
alternated call by call. Prints each case's plain / one-block time ratio and their geometric mean.

    PYTHONPATH=src python benchmarks/one_block.py
"""
import math
import time

import numpy as np
import scipy.sparse as sp

import sparsenet

# (k, the numbers of columns of A that one block covers at that k: 32 KiB of X's rows)
CASES = ((2, (1024, 4096)), (4, (512, 2048)), (16, (256, 512)), (64, (64, 128)))


def fastest(f, calls=7):
    best = math.inf
    for _ in range(calls):
        start = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - start)
    return best


def main(rounds=3):
    sparsenet.set_num_threads(1)
    rng = np.random.default_rng(0)
    logs = []
    for k, widths in CASES:
        for n_cols in widths:
            for density in (0.1, 0.3):
                for megabytes in (0.5, 4, 32):
                    n_rows = max(16, int(megabytes * 1e6 / 8 / (density * n_cols)))
                    S = sp.random(n_rows, n_cols, density=density, format="csr",
                                  dtype=np.float32, random_state=rng)
                    plain = sparsenet.CSR.from_scipy(S)
                    one_block = plain.optimize(batch=k)
                    assert one_block._blocks is not None and one_block._blocks.seg_ptr.shape[0] == 1
                    X = rng.standard_normal((n_cols, k)).astype(np.float32)
                    times = [math.inf, math.inf]
                    for _ in range(rounds):
                        times[0] = min(times[0], fastest(lambda: sparsenet.spmm(plain, X)))
                        times[1] = min(times[1], fastest(lambda: sparsenet.spmm(one_block, X)))
                    ratio = times[0] / times[1]
                    logs.append(math.log(ratio))
                    print(f"k={k:2d} {n_rows:6d} x {n_cols:4d} at {density:.0%} "
                          f"({S.nnz * 8 / 1e6:4.1f} MB): plain {times[0] * 1e3:7.3f} ms, "
                          f"one block {times[1] * 1e3:7.3f} ms, {ratio:.3f}x", flush=True)
    print(f"geometric mean of plain / one block over {len(logs)} cases: "
          f"{math.exp(sum(logs) / len(logs)):.3f}x")


if __name__ == "__main__":
    main()
