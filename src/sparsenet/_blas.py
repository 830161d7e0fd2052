"""BLAS called from sparsenet's own threads runs on one thread.

The codebook gradient (csrc/shared_kernels.h, shared_grad) forms tiles of G X^T with SciPy's
xGEMM from sparsenet's OpenMP threads (the parameter-sharing products, which did the same with
decoded tiles of W, now multiply without BLAS). A BLAS left at its default thread count
(OpenBLAS: every core) would then start its own pool inside each of them: two pools fighting over
the cores, which on a busy machine made ``codebook_grad`` several times slower than NumPy.
sparsenet's threads are the parallelism, so BLAS gets one thread for the duration of such a call,
as scikit-learn's k-means does (threadpoolctl), and its count is restored after.
"""
import contextlib
import functools
from typing import ContextManager

import numpy as np


@functools.lru_cache(maxsize=None)
def _blas_libraries():
    # threadpoolctl sees only the libraries loaded when the controller is made, and this one is
    # kept: so SciPy's BLAS, which the kernels call, is loaded first. (The first product of a
    # process reaches here before it imports sparsenet._shared, which loads that BLAS: the
    # controller then missed it, and xGEMM ran on every core inside sparsenet's threads.)
    import scipy.linalg.cython_blas  # noqa: F401
    import threadpoolctl

    _first_product_on_default_threads()
    return threadpoolctl.ThreadpoolController().select(user_api="blas")


def _first_product_on_default_threads():
    # With OpenBLAS (0.3.30, 4 KiB pages, a Zen 1), when a process's first product large enough
    # to thread ran on one thread, every later one-thread product ran 3x slower (shared_matmul at
    # 4096^2, k=128: 420 ms against 145 ms), and stayed so; one product of 256^3 on BLAS's default
    # threads first, or transparent huge pages, avoided it. So the first limit comes after one.
    from scipy.linalg import blas

    a = np.zeros((256, 256), np.float32, order="F")
    blas.sgemm(1.0, a, a)


# Products of at most this many multiply-adds (m n k) run on one thread in OpenBLAS anyway
# (interface/gemm.c: SMP_THRESHOLD_MIN 65536 x GEMM_MULTITHREAD_THRESHOLD 4), so a call whose whole
# product is this small needs no limit; the limit costs about 60 us (threadpoolctl reads every
# library's info), three times a whole 64 x 64, k = 8 shared product (about 18 us).
ONE_THREAD_ANYWAY = 1 << 18


def one_thread(n_rows: int, n_cols: int, k: int) -> ContextManager:
    """A context in which every loaded BLAS runs on one thread, for the codebook gradient of an
    n_rows x n_cols matrix with k columns; a no-op when it makes no xGEMM call (k == 1) or only
    ones too small for BLAS to thread."""
    if k <= 1 or n_rows * n_cols * k <= ONE_THREAD_ANYWAY:
        return contextlib.nullcontext()
    return _blas_libraries().limit(limits=1)
