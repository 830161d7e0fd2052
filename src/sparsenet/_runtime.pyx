"""Run-time facts of the native build (the CPU's ISA level, OpenMP) and the process-level guards:
the OpenMP team released before a fork, and a probe of how many threads the OS lets start."""
from sparsenet._kernels cimport (
    sn_fork_team_released,
    sn_has_openmp,
    sn_install_fork_guard,
    sn_isa_supported,
    sn_probe_threads,
    sn_set_release_at_fork,
)


def isa_supported():
    """Best ISA level (0 baseline, 1 AVX2, 2 AVX-512) this CPU can run."""
    return sn_isa_supported()


def has_openmp():
    """True when the extension was compiled with OpenMP."""
    return bool(sn_has_openmp())


def install_fork_guard():
    """Release the forking thread's OpenMP team before every fork (pthread_atfork; idempotent)."""
    if sn_install_fork_guard() != 0:
        raise OSError("pthread_atfork failed: sparsenet cannot make forked children safe")


def fork_team_released():
    """In a forked child: True when the parent released its OpenMP team before the fork, so the
    child may start threads; False when the child must run its kernels on one thread."""
    return bool(sn_fork_team_released())


def set_release_at_fork(bint release):
    """Tests only: False leaves the parent's team to the child (the single-thread fallback)."""
    sn_set_release_at_fork(release)


def probe_threads(int n_threads):
    """How many threads (the caller plus workers, up to `n_threads`) the OS lets run at once with
    the stack size OpenMP will give its workers."""
    cdef int started
    with nogil:
        started = sn_probe_threads(n_threads)
    return started
