"""A sparsenet call on every core right after a multi-threaded NumPy BLAS call, against the same
call after a pause: OpenBLAS's threads spin for 2^28 cycles (about 0.1 s) after each call, taking
cores from whatever runs next. Compare with OpenBLAS told to sleep at once:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/after_blas.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_THREAD_TIMEOUT=4 python benchmarks/after_blas.py
"""
import statistics
import time

import numpy as np

import sparsenet
from sparsenet.bench import coding_problem


def main(rounds=8):
    D, X = coding_problem(20000)
    A = np.random.default_rng(0).standard_normal((1000, 1000))

    def code():
        sparsenet.omp(D, X, n_nonzero_coefs=8)

    after_gemm, after_pause = [], []
    code()
    for _ in range(rounds):
        A @ A
        time.sleep(0.3)
        start = time.perf_counter()
        code()
        after_pause.append(time.perf_counter() - start)
        A @ A
        start = time.perf_counter()
        code()
        after_gemm.append(time.perf_counter() - start)
    print(f"omp of 20000 signals on {sparsenet.get_num_threads()} threads, median of {rounds}: "
          f"right after a NumPy 1000x1000 GEMM {statistics.median(after_gemm) * 1e3:.1f} ms, "
          f"after a 0.3 s pause {statistics.median(after_pause) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
