"""DLMC ResNet-50: each layer's `optimize()`d spmm against dense sgemm, the two interleaved call by
call (each layer's fastest of `--calls` of each), so both see the same machine and the same cold
caches; prints per sparsity level the summed times and the geometric mean of the per-layer ratios.

A steadier figure than the bench's on a machine whose speed moves from run to run; to compare two
builds, run it with each build's PYTHONPATH in turn, a few rounds.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \\
        PYTHONPATH=src python benchmarks/dlmc_interleaved.py --level 0.8 --level 0.9
"""
import argparse
import math
import time

import numpy as np

import sparsenet
from sparsenet import bench


def timed(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", type=float, action="append",
                        help="sparsity level (repeatable; default 0.8 and 0.9)")
    parser.add_argument("--calls", type=int, default=9, help="calls of each per layer")
    parser.add_argument("--dlmc", default=None, help="the archive (default: bench's search)")
    args = parser.parse_args()
    sparsenet.set_num_threads(1)
    path = bench.find_dlmc(args.dlmc)
    if path is None:
        parser.error("the DLMC archive was not found: give it with --dlmc PATH")
    layers = bench.dlmc_layers(path)
    for level in args.level or [0.8, 0.9]:
        logs, sparse_total, dense_total = [], 0.0, 0.0
        for layer in layers[level]:
            A, rng = layer.matrix()
            X = rng.standard_normal((A.shape[1], layer.n), dtype=np.float32)
            W = A.toarray().astype(np.float32)
            O = sparsenet.CSR.from_scipy(A).optimize(batch=layer.n)
            Y, Yd = sparsenet.spmm(O, X), W @ X
            sparse = dense = math.inf
            for _ in range(args.calls):  # interleaved: each sees the other's cache traffic
                sparse = min(sparse, timed(lambda: sparsenet.spmm(O, X, out=Y)))
                dense = min(dense, timed(lambda: np.matmul(W, X, out=Yd)))
            logs.append(math.log(dense / sparse))
            sparse_total += sparse
            dense_total += dense
        print(f"{level:.0%}: spmm {1e3 * sparse_total:.2f} ms, sgemm {1e3 * dense_total:.2f} ms, "
              f"geometric mean {math.exp(sum(logs) / len(logs)):.2f}x sgemm")


if __name__ == "__main__":
    main()
