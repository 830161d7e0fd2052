"""sparsenet: fast CPU kernels for the sparse representations of neural networks.

Pruned weights (CSR products), parameter sharing (codebook weights), sparse coding by thresholding
and Orthogonal Matching Pursuit, each a hand-written C kernel with a NumPy twin in
``sparsenet.reference``.
"""
from sparsenet import reference
from sparsenet.backend import (
    get_backend,
    get_isa,
    get_num_threads,
    has_openmp,
    set_backend,
    set_isa,
    set_num_threads,
    use_backend,
)
from sparsenet.csr import CSR, spmm, spmv
from sparsenet.omp import omp, omp_gram

__version__ = "0.1.0"

__all__ = [
    "CSR",
    "spmv",
    "spmm",
    "omp",
    "omp_gram",
    "reference",
    "set_backend",
    "get_backend",
    "use_backend",
    "set_num_threads",
    "get_num_threads",
    "has_openmp",
    "get_isa",
    "set_isa",
]
