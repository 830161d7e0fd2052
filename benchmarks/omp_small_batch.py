"""OMP at small batches: ``sparsenet.omp`` against SPAMS's ``spams.omp`` on few signals, one thread.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \\
        python benchmarks/omp_small_batch.py [--signals 50] [--repeat 41] [--dtype float64]

The target of issue 12, item 5: O2 (D 256 x 1024, unit-norm Gaussian atoms, k = 32) with 50
Gaussian signals, sparsenet at least 1.5x SPAMS. With so few signals the Gram matrix D^T D (which
both libraries compute on every call) costs as much as the coding: the table also times it alone
(sparsenet's own kernel, and SciPy's dsyrk for scale).

Both libraries run on one thread (``sparsenet.use_num_threads(1)``, SPAMS ``numThreads=1``; SPAMS
ships its own OpenBLAS, which OPENBLAS_NUM_THREADS=1 keeps on one thread too). Times are process
CPU time (``time.process_time``), the calls alternate, and the ratio is taken repeat by repeat and
reported as the median (and the ratio of the minima), so that a busy machine moves both sides
alike. ``--crossover`` instead prints, for O1 and O2 in float32 and float64, the time of
``precompute=True`` and ``precompute=False`` over a range of signal counts, and what
``precompute="auto"`` chose (see ``sparsenet.omp.precompute_gram``).
"""
import argparse
import importlib
import importlib.util
import time

import numpy as np

import sparsenet
from sparsenet import _omp, backend

WORKLOADS = {"O1": (64, 256, 8), "O2": (256, 1024, 32)}  # n_features, n_atoms, k


def problem(name, n_signals, dtype, seed=0):
    n_features, n_atoms, k = WORKLOADS[name]
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_features, n_atoms))
    D /= np.linalg.norm(D, axis=0)
    X = rng.standard_normal((n_features, n_signals))
    return D.astype(dtype), X.astype(dtype), k


def cpu_time(run, inner):
    t0 = time.process_time()
    for _ in range(inner):
        run()
    return (time.process_time() - t0) / inner


def alternate(runs, repeat, inner):
    """{name: [time per call of each repeat]}, the runs called in turn in every repeat."""
    for run in runs.values():  # warm up: caches, first-touch pages, lazy imports
        run()
    times = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            times[name].append(cpu_time(run, inner))
    return times


def small_batch(args):
    dtype = np.dtype(args.dtype)
    D, X, k = problem("O2", args.signals, dtype)
    isa, _ = backend.native_options()
    D_padded = np.zeros((D.shape[0], _omp.row_length(D.shape[1])), dtype)
    D_padded[:, :D.shape[1]] = D
    G = np.empty((D.shape[1], D_padded.shape[1]), dtype)
    runs = {"sparsenet": lambda: sparsenet.omp(D, X, n_nonzero_coefs=k)}
    if importlib.util.find_spec("spams") is None:
        print("SPAMS is not installed (pip install spams-bin): sparsenet alone")
    else:
        import spams

        Df, Xf = np.asfortranarray(D), np.asfortranarray(X)
        runs["spams"] = lambda: spams.omp(Xf, Df, L=k, numThreads=1)
    runs["sparsenet Gram only"] = lambda: _omp.gram(isa, 1, D_padded, D.shape[1], G)
    try:
        from scipy.linalg import blas

        syrk = blas.dsyrk if dtype == np.float64 else blas.ssyrk
        Df = np.asfortranarray(D)
        runs["scipy xsyrk (Gram, for scale)"] = lambda: syrk(1.0, Df, trans=1)
    except ImportError:
        pass
    with sparsenet.use_num_threads(1):
        times = alternate(runs, args.repeat, args.inner)
    print(f"O2: D {D.shape[0]}x{D.shape[1]} {dtype}, {args.signals} signals, k={k}, 1 thread, "
          f"{args.repeat} alternating repeats of {args.inner} calls (process CPU time)")
    for name, t in times.items():
        print(f"  {name:32s} min {1e3 * min(t):8.3f} ms   median {1e3 * np.median(t):8.3f} ms")
    if "spams" in times:
        per_repeat = np.array(times["spams"]) / np.array(times["sparsenet"])
        print(f"  sparsenet vs SPAMS: {np.median(per_repeat):.2f}x (median of the repeats' "
              f"ratios), {min(times['spams']) / min(times['sparsenet']):.2f}x (ratio of minima); "
              f"target >= 1.5x")


def crossover(args):
    counts = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    print("precompute=True (Gram) and False (Gram rows from D) per call, 1 thread, "
          "process CPU time (median of alternating repeats); auto: what precompute='auto' chose")
    for name in WORKLOADS:
        for dtype in (np.float32, np.float64):
            print(f"{name} {np.dtype(dtype)}")
            for n in counts:
                D, X, k = problem(name, n, dtype)
                runs = {"gram": lambda: sparsenet.omp(D, X, n_nonzero_coefs=k, precompute=True),
                        "rows": lambda: sparsenet.omp(D, X, n_nonzero_coefs=k, precompute=False)}
                with sparsenet.use_num_threads(1):
                    times = alternate(runs, max(3, args.repeat // 4), args.inner)
                gram, rows = (float(np.median(times[key])) for key in ("gram", "rows"))
                auto = importlib.import_module("sparsenet.omp").precompute_gram(D.shape[1], D.shape[0], n, k, None, dtype)
                print(f"  {n:5d} signals: gram {1e3 * gram:8.3f} ms  rows {1e3 * rows:8.3f} ms  "
                      f"faster: {'gram' if gram < rows else 'rows'}  auto: "
                      f"{'gram' if auto else 'rows'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=41)
    parser.add_argument("--inner", type=int, default=3, help="calls per timed sample")
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    parser.add_argument("--crossover", action="store_true",
                        help="time precompute=True against False over signal counts instead")
    args = parser.parse_args()
    crossover(args) if args.crossover else small_batch(args)


if __name__ == "__main__":
    main()
