# Included by every wrapper: C status code -> Python exception; the argument rules wrappers share.
cdef inline int raise_for_status(int status) except -1:
    if status == SN_OK:
        return 0
    if status == SN_ENOMEM:
        raise MemoryError("sparsenet: a kernel could not allocate its scratch memory")
    raise RuntimeError(f"sparsenet: kernel failed with status {status}")


cdef inline int check_padded_rows(sn_size k, sn_size ldx, bint transpose) except -1:
    """X's rows (ldx apart) may be longer than Y's k columns only for A X, whose kernels read k."""
    if ldx != k and (transpose or ldx < k):
        raise ValueError("sparsenet: X's rows may be padded only for A X")
    return 0
