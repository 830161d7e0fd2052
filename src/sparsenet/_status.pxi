# Included by every wrapper: C status code -> Python exception.
cdef inline int raise_for_status(int status) except -1:
    if status == SN_OK:
        return 0
    if status == SN_ENOMEM:
        raise MemoryError("sparsenet: a kernel could not allocate its scratch memory")
    raise RuntimeError(f"sparsenet: kernel failed with status {status}")
