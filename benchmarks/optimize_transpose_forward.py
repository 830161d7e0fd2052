"""Forward products of an ``optimize(transpose=True)`` matrix against those of ``optimize()``
(issue 12 item 7), timed the way a training loop runs them: a forward product, then other work (the
backward product on the transposed blocks, a dense update touching a few MB) before the next one,
not only back to back.

Both matrices are built from the same CSR: ``A_fwd = C.optimize(batch=b)`` and
``A_both = C.optimize(batch=b, transpose=True)``. Their forward blocks are the same layout (a test
asserts it); this script checks that they run as fast. Three timings, each of the forward product
on A_fwd, on A_both and SciPy's ``S @ x``, in every order in turn (each follows each other one
equally often): ``training`` with a training step's other work between any two timed calls,
``with scipy`` the three in turn and nothing else, ``back to back`` bursts of one call repeated,
as a plain benchmark times it. Process CPU time, medians, sparsenet on one thread.

Matrices: 8192^2 at 10% float32 (spmv, and spmm with k=64), and the largest layer of DLMC's
ResNet-50 at 90% (``../shared/data/dlmc-rn50-magnitude.npz`` or ``--dlmc PATH``; skipped when
absent) at N=1.

    PYTHONPATH=src python benchmarks/optimize_transpose_forward.py [--rounds 200] [--dlmc PATH]

The figure to read is ``fwd/both`` (forward time on A_fwd / on A_both: the speed of A_both's
forward relative to A_fwd's; the target is >= 0.95). Ratios from one process survive a loaded
machine better than absolute times.
"""
import argparse
import itertools
import os
import time

import numpy as np
import scipy.sparse as sp

import sparsenet
from sparsenet import bench


TIMINGS = ("training", "with scipy", "back to back")
BURST = 4


def timed(fn):
    start = time.process_time_ns()
    fn()
    return (time.process_time_ns() - start) * 1e-6


def training_work(A_both, batch, n_bytes, rng):
    """A training step's work besides the forward product: the backward product on A_both's
    transposed blocks (a batch of `batch` columns) and a dense update of `n_bytes` of parameters
    through a fresh temporary, as an optimiser makes."""
    shape = (A_both.shape[0],) if batch == 1 else (A_both.shape[0], batch)
    grad_out = rng.standard_normal(shape, dtype=np.float32)
    backward = sparsenet.spmv if batch == 1 else sparsenet.spmm
    params = np.ones(n_bytes // 4, dtype=np.float32)

    def work():
        backward(A_both, grad_out, transpose=True)
        params[:] = params * np.float32(0.999) + np.float32(1e-3)
    return work


def measure(S, batch, rounds, seed=0):
    """{timing: {variant: [ms per call]}}: interleaved with a training step's work, alternating
    with SciPy only (the three in turn, nothing else between them), and back to back."""
    rng = np.random.default_rng(seed)
    C = sparsenet.CSR.from_scipy(S)
    A_fwd = C.optimize(batch=batch)
    A_both = C.optimize(batch=batch, transpose=True)
    shape = (S.shape[1],) if batch == 1 else (S.shape[1], batch)
    x = rng.standard_normal(shape, dtype=np.float32)
    product = sparsenet.spmv if batch == 1 else sparsenet.spmm
    variants = {"fwd": lambda: product(A_fwd, x), "both": lambda: product(A_both, x),
                "scipy": lambda: S @ x}
    assert np.array_equal(variants["fwd"](), variants["both"]())  # the same sums, bit for bit
    work = training_work(A_both, batch, 8 << 20, rng)
    names = list(variants)
    for name in names:
        variants[name]()
        work()
    results = {mode: {name: [] for name in names} for mode in TIMINGS}
    # every order of the three in turn: each variant follows each other one equally often
    orders = list(itertools.permutations(names))
    for r in range(rounds):
        for name in orders[r % len(orders)]:
            results["training"][name].append(timed(variants[name]))
            work()
        for name in orders[r % len(orders)]:
            results["with scipy"][name].append(timed(variants[name]))
    for r in range(max(6, rounds // 4)):  # bursts of BURST calls, the first one not timed
        for name in orders[r % len(orders)]:
            variants[name]()
            results["back to back"][name] += [timed(variants[name]) for _ in range(BURST - 1)]
    return results


def report(label, results):
    for mode, r in results.items():
        m = {name: float(np.median(t)) for name, t in r.items()}
        print(f"{label:<34}{mode:<14}{m['fwd']:>9.3f}{m['both']:>9.3f}{m['scipy']:>9.3f}"
              f"{m['fwd'] / m['both']:>10.3f}{m['scipy'] / m['fwd']:>11.2f}"
              f"{m['scipy'] / m['both']:>12.2f}")


def dlmc_layer(path, level=0.9):
    """The layer of the DLMC archive at `level` with the most stored entries, or None."""
    path = bench.find_dlmc(path)
    if path is None or not path.is_file():
        return None
    layers = bench.dlmc_layers(path)[level]
    return max(layers, key=lambda layer: layer.pattern.nnz)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--only", choices=("spmv", "spmm", "dlmc"), default=None)
    parser.add_argument("--dlmc", default=os.environ.get("SPARSENET_DLMC"),
                        help=f"the {bench.DLMC_FILE} archive (default: ../shared/data/)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = 8192
    S = sp.random_array((n, n), density=0.10, format="csr", dtype=np.float32, rng=rng)
    S.indices, S.indptr = S.indices.astype(np.int32), S.indptr.astype(np.int32)
    print(f"process CPU ms, median of {args.rounds} rounds, sparsenet on 1 thread, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'matrix, product':<34}{'timing':<14}{'fwd':>9}{'both':>9}{'scipy':>9}"
          f"{'fwd/both':>10}{'scipy/fwd':>11}{'scipy/both':>12}")
    with sparsenet.use_num_threads(1):
        if args.only in (None, "spmv"):
            report(f"{n}^2 10% f32, spmv", measure(S, 1, args.rounds))
        if args.only in (None, "spmm"):
            report(f"{n}^2 10% f32, spmm k=64", measure(S, 64, max(20, args.rounds // 10)))
        layer = dlmc_layer(args.dlmc) if args.only in (None, "dlmc") else None
        if layer is not None:
            W, _ = layer.matrix()
            report(f"DLMC 90% {W.shape[0]}x{W.shape[1]}, spmv", measure(W, 1, args.rounds * 10))


if __name__ == "__main__":
    main()
