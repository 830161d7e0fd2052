"""sparsenet's controller for threadpoolctl, so that ``threadpoolctl.threadpool_info()`` lists
sparsenet's thread pool and ``threadpool_limits`` caps it, as scikit-learn, joblib and Dask do to
stop nested parallelism oversubscribing the cores.

Registered when sparsenet is imported (threadpoolctl is a dependency: about 5 ms of import on a
quiet machine, once). Registering there, rather than when threadpoolctl is imported or when first
used, leaves no import order in which the controller is missing: threadpoolctl scans the loaded
libraries each time it builds a controller, and ours is loaded exactly when sparsenet is.
"""
import warnings

import threadpoolctl

from sparsenet import backend


class SparsenetController(threadpoolctl.LibController):
    """Reads and sets sparsenet's process-wide thread count (`sparsenet.set_num_threads`).

    threadpoolctl finds the library by its file name (``_runtime.*.so``, the extension that holds
    sparsenet's run-time state) and confirms it by a symbol only sparsenet defines. A
    `sparsenet.use_num_threads` context is the calling thread's own choice and wins inside it.
    """

    user_api = "sparsenet"
    internal_api = "sparsenet"
    filename_prefixes = ("_runtime",)
    check_symbols = ("sn_probe_threads",)

    def get_num_threads(self):
        return backend._process_threads()

    def set_num_threads(self, num_threads):
        # Limits come from other libraries' code: when the OS cannot start that many threads,
        # use what it can start (with a warning) rather than fail their call.
        started = backend._threads_the_os_starts(num_threads)
        if started < num_threads:
            warnings.warn(f"sparsenet: threadpool_limits asked for {num_threads} threads, the OS "
                          f"started only {started}; using {started}", RuntimeWarning, stacklevel=3)
        backend._state["threads"] = started

    def get_version(self):
        import sparsenet  # fully imported by the time threadpoolctl asks

        return sparsenet.__version__

    def set_additional_attributes(self):
        self.openmp = backend.has_openmp()


_register = getattr(threadpoolctl, "register", None)  # threadpoolctl >= 3.5 (pyproject.toml)
if _register is not None:
    _register(SparsenetController)
