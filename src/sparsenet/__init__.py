"""sparsenet: fast CPU kernels for the sparse representations of neural networks.

Pruned weights (CSR products), parameter sharing (codebook weights), sparse coding by thresholding,
Orthogonal Matching Pursuit and LASSO, and K-SVD dictionary learning, each a hand-written C kernel
with a NumPy twin in ``sparsenet.reference``.
"""
# first: how idle OpenMP threads wait must be in the environment when the runtime loads
from sparsenet import _openmp_wait  # noqa: F401
from sparsenet import reference
from sparsenet.backend import (
    get_backend,
    get_buffer_cache,
    get_isa,
    get_num_threads,
    has_openmp,
    set_backend,
    set_buffer_cache,
    set_isa,
    set_num_threads,
    use_backend,
    use_isa,
    use_num_threads,
)
from sparsenet.csr import CSR, spmm, spmv
from sparsenet.threshold import binarize, hard_threshold, prune, soft_threshold, topk
from sparsenet.shared import (
    HashedWeights,
    SharedCSR,
    SharedWeights,
    codebook_grad,
    decode,
    hashed_matmul,
    hashed_matvec,
    kmeans_codebook,
    shared_matmul,
    shared_matvec,
)
from sparsenet.omp import omp, omp_gram
from sparsenet.sddmm import sddmm
from sparsenet import _threadpool  # noqa: F401  (registers sparsenet with threadpoolctl)
from sparsenet.coding import ConvergenceWarning, ksvd, lasso, lasso_gram
from sparsenet.image import denoise_image

__version__ = "0.1.0"

__all__ = [
    "CSR",
    "spmv",
    "spmm",
    "binarize",
    "hard_threshold",
    "soft_threshold",
    "topk",
    "prune",
    "omp",
    "omp_gram",
    "lasso",
    "lasso_gram",
    "ksvd",
    "ConvergenceWarning",
    "denoise_image",
    "reference",
    "set_backend",
    "get_backend",
    "use_backend",
    "use_num_threads",
    "use_isa",
    "set_num_threads",
    "get_num_threads",
    "has_openmp",
    "get_isa",
    "set_isa",
    "set_buffer_cache",
    "get_buffer_cache",
    "SharedWeights",
    "HashedWeights",
    "SharedCSR",
    "kmeans_codebook",
    "decode",
    "shared_matvec",
    "shared_matmul",
    "hashed_matvec",
    "hashed_matmul",
    "codebook_grad",
    "sddmm",
]
