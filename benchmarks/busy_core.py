"""Every `bench --quick` row's sparsenet run at 2 threads against 1 thread, with another process
keeping a core busy (issue 12 item 2: "<= 1.5x the time").

The two thread counts alternate call by call in one process, so both see the same machine; each
row prints the median over rounds of (time at 2 threads) / (time at 1 thread), a round timing each
count for at least `--sample` seconds (`bench.layer_time`). `--busy` starts ``python -c "while True: pass"`` for the run.

    PYTHONPATH=src python benchmarks/busy_core.py --busy [--family csr ...]
"""
import argparse
import subprocess
import sys

import numpy as np

from sparsenet import backend, bench


def sparsenet_runs(case):
    """name -> callable of the case's sparsenet implementations (a LayerSet: all its layers)."""
    if not isinstance(case, bench.LayerSet):
        return {name: fn for name, fn in case.runs.items() if name.startswith("sparsenet")}
    layers = [make()[0] for _, make in case.layers]
    names = [name for name in layers[0] if name.startswith("sparsenet")]
    return {name: (lambda fns=[runs[name] for runs in layers]: [fn() for fn in fns])
            for name in names}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", action="append", choices=sorted(bench.FAMILIES))
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--sample", type=float, default=0.02)
    parser.add_argument("--busy", action="store_true", help="keep one core busy meanwhile")
    args = parser.parse_args()
    hog = (subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None)
    worst = 0.0
    try:
        backend.set_num_threads(2)  # the peers' thread counts are fixed when the cases are made
        for family in args.family or list(bench.FAMILIES):
            make = bench.FAMILIES[family]
            for case in (make(True, None) if make is bench.dlmc_cases else make(True)):
                for name, fn in sparsenet_runs(case).items():
                    ratios, ones = [], []
                    for _ in range(args.rounds):
                        times = {}
                        for threads in (1, 2):
                            backend.set_num_threads(threads)
                            # a warm-up call (the other count's buffers and threads out of the
                            # way), then one sample of at least --sample seconds
                            times[threads] = bench.layer_time(fn, rounds=1, min_sample=args.sample)
                        ratios.append(times[2] / times[1])
                        ones.append(times[1])
                    ratio = float(np.median(ratios))
                    worst = max(worst, ratio)
                    print(f"{family:9s} {case.kernel:24s} {name[10:] or '-':22s} "
                          f"1 thread {np.median(ones) * 1e3:8.3f} ms   2/1 {ratio:5.2f}"
                          f"{'  <-- over 1.5' if ratio > 1.5 else ''}", flush=True)
    finally:
        if hog is not None:
            hog.kill()
    print(f"worst 2/1 ratio: {worst:.2f} (busy core: {args.busy})")


if __name__ == "__main__":
    main()
