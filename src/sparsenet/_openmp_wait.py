"""How long an idle OpenMP thread of sparsenet's spins before it sleeps: set in the environment
just while the OpenMP runtime loads, since GNU OpenMP (libgomp) reads it once, then.

libgomp's default spins an idle thread 300,000 times (about 3 ms by its own estimate, 10 ms
measured on this project's AMD EPYC, whose ``pause`` is slow) before it sleeps. With another
process keeping a core busy, that spin holds the core a descheduled partner thread needs: 2-thread
products took up to 11 times their 1-thread time (`benchmarks/busy_core.py`, issue 12). A thread
that sleeps at once makes each call pay a wake-up instead, which costs small 2-thread calls on a
quiet machine. `SPIN_COUNT`, measured between the two, keeps threads awake across back-to-back
calls and lets a waiting thread's core go within tens of microseconds.

The user's choice wins: nothing is set when ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is in the
environment. The variable is removed again once the runtime has loaded, so that child processes
and OpenMP runtimes loaded later (PyTorch's and scikit-learn's wheels bring their own) do not
inherit it. Only a runtime that loads here is affected: in a process where another library loaded
the same libgomp first (a source build next to PyTorch, whose libgomp has the same soname),
that library's setting stands, and the other way round. LLVM's libomp (clang builds) reads
``KMP_BLOCKTIME`` instead and is left as it is.
"""
import os

SPIN_COUNT = "1000"  # about 30 us of ``pause`` on a Zen core; libgomp's default is 300000

_USER_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def load_runtime() -> None:
    """Import sparsenet's first extension (which loads libgomp) with `SPIN_COUNT` in force."""
    chosen = any(name in os.environ for name in _USER_SETTINGS)
    if not chosen:
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    try:
        from sparsenet import _runtime  # noqa: F401
    finally:
        if not chosen:
            del os.environ["GOMP_SPINCOUNT"]


load_runtime()
