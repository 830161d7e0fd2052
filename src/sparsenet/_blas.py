"""BLAS called from sparsenet's own threads runs on one thread.

The parameter-sharing products and the codebook gradient (csrc/shared_kernels.h) decode tiles of
the weights on sparsenet's OpenMP threads and multiply each tile with SciPy's xGEMM from those same
threads. A BLAS left at its default thread count (OpenBLAS: every core) would then start its own
pool inside each of them: two pools fighting over the cores, which on a busy machine made
``codebook_grad`` several times slower than NumPy. sparsenet's threads are the parallelism, so BLAS
gets one thread for the duration of such a call, as scikit-learn's k-means does
(threadpoolctl), and its count is restored after.
"""
import contextlib
import functools
from typing import ContextManager


@functools.lru_cache(maxsize=None)
def _blas_libraries():
    # Built on first use, after sparsenet._shared has loaded SciPy's BLAS: threadpoolctl sees the
    # libraries loaded when the controller is made.
    import threadpoolctl

    return threadpoolctl.ThreadpoolController().select(user_api="blas")


def one_thread(calls_blas: bool) -> ContextManager:
    """A context in which every loaded BLAS runs on one thread (a no-op when not calls_blas)."""
    if not calls_blas:
        return contextlib.nullcontext()
    return _blas_libraries().limit(limits=1)
