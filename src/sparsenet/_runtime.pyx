"""Run-time facts of the native build: the CPU's ISA level and OpenMP."""
from sparsenet._kernels cimport sn_has_openmp, sn_isa_supported


def isa_supported():
    """Best ISA level (0 baseline, 1 AVX2, 2 AVX-512) this CPU can run."""
    return sn_isa_supported()


def has_openmp():
    """True when the extension was compiled with OpenMP."""
    return bool(sn_has_openmp())
