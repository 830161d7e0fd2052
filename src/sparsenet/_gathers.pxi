# How this module's AVX-512 kernels read a table by index (sn_hw_gathers, sparsenet.h): included by
# the modules whose kernels read it (_csr: the vector products' x; _shared: the codebook).


def set_hw_gathers(on=None):
    """Whether this module's AVX-512 kernels read by gather instructions (True) or one load an
    element (False); None: whichever this CPU runs faster (sn_hw_gathers_pay), the default. For
    tests and diagnosis: both give the same result up to rounding."""
    global sn_hw_gathers
    sn_hw_gathers = sn_hw_gathers_pay() if on is None else bool(on)


def hw_gathers():
    """True when this module's AVX-512 kernels read by gather instructions (set_hw_gathers)."""
    return bool(sn_hw_gathers)


set_hw_gathers(None)
