"""Compare the bench tables of two builds of sparsenet: per row, the new/old time ratio.

Run ``python -m sparsenet bench --json`` with each build, interleaved (a round of every family with
the old build, then the same with the new one, and again), so that the machine's load falls on both
alike; name each pair of files the same, one in each folder::

    # old/ and new/: two worktrees, each built with `python setup.py build_ext --inplace`
    for round in 1 2 3; do for family in csr shared threshold omp; do
      for build in old new; do
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=$build/src \\
          python -m sparsenet bench --quick --threads 1 --family $family \\
          --json runs/$build/r${round}_$family.json
      done
    done; done
    python benchmarks/compare_builds.py table runs/old runs/new

Every row is (family, kernel, workload, implementation); its ratio is the median over the pairs of
files of new seconds / old seconds, each pair taken in the same round. Rows of sparsenet that are
more than ``--threshold`` slower are flagged with ``<<``. The peers' rows (NumPy, SciPy, ...) run the
same code in both builds, so their ratios measure the noise (printed with ``--peers``, summarised
always); a sparsenet row is a regression only when its ratio stands clear of that noise, which
re-timing the one call in isolation tells::

    python benchmarks/compare_builds.py retime --old-src old/src --new-src new/src \\
        --family csr --threads 1 "spmv/sparsenet (plain CSR)" "spmm/sparsenet"

``retime`` starts one worker process per build, each making the bench's quick workloads of the
family, and times the named rows (KERNEL/IMPLEMENTATION; a kernel with several workloads takes the
workload's name too, as "omp O1/sparsenet"). A row of many layers (the dlmc family's "spmm 80%")
is timed layer by layer, each sample the fastest of 7 calls after a warm-up call, and its line
gives the summed times and the geometric mean of the per-layer ratios. Both workers on one core,
with each build's fastest sample, that is the steadiest figure of a change to the CSR products
(the same build against itself read 0.99-1.015 at 80%, 2026-12-07, Zen 4, a noisy hour; the same
method 0.997-1.002 in a quiet one)::

    taskset -c 0 python benchmarks/compare_builds.py retime --old-src old/src --new-src new/src \\
        --full --clock wall --fastest --repeat 5 --family dlmc "spmm 80%/sparsenet"

Another row's sample is a burst of calls of about 20 ms (the caches warm, as in the bench). The
samples go one build's then the other's, the order swapped every repeat; the clock is the process's
CPU time (``--clock wall`` for elapsed time), which the other processes of a loaded machine inflate
far less. It prints the two medians (``--fastest``: minima) and their ratio.
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import statistics
import subprocess
import sys
import time
from typing import IO, Any, Dict, List, TextIO, Tuple

Key = Tuple[str, str, str, str]  # family, kernel, workload, implementation


def load(path: str) -> Dict[Key, float]:
    """Seconds per (family, kernel, workload, implementation) of one bench --json file."""
    with open(path) as f:
        results = json.load(f)["results"]
    return {(r["family"], r["kernel"], r["workload"], impl): seconds
            for r in results for impl, seconds in r["seconds"].items()}


def pair_files(old_dir: str, new_dir: str, pattern: str = "*.json") -> "list[tuple[str, str]]":
    """The (old, new) json files of the same name, matching `pattern`, in the two folders."""
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(old_dir, pattern))
                   if p.endswith(".json"))
    pairs = [(os.path.join(old_dir, n), os.path.join(new_dir, n)) for n in names
             if os.path.exists(os.path.join(new_dir, n))]
    if not pairs:
        raise SystemExit(f"no json file of the same name in both {old_dir} and {new_dir}")
    return pairs


def compare(pairs: "list[tuple[str, str]]") -> "list[dict[str, Any]]":
    """One dict per row present in both builds: median old and new seconds, the median of the
    paired new/old ratios, and how many pairs it rests on."""
    old_times: Dict[Key, List[float]] = {}
    new_times: Dict[Key, List[float]] = {}
    ratios: Dict[Key, List[float]] = {}
    for old_path, new_path in pairs:
        old, new = load(old_path), load(new_path)
        for key in old.keys() & new.keys():
            old_times.setdefault(key, []).append(old[key])
            new_times.setdefault(key, []).append(new[key])
            ratios.setdefault(key, []).append(new[key] / old[key])
    return [{"key": key, "old": statistics.median(old_times[key]),
             "new": statistics.median(new_times[key]),
             "ratio": statistics.median(ratios[key]), "rounds": len(ratios[key])}
            for key in ratios]


def is_sparsenet(key: Key) -> bool:
    return key[3].startswith("sparsenet")


def print_table(rows: "list[dict[str, Any]]", threshold: float, peers: bool,
                stream: TextIO = sys.stdout) -> int:
    """Print the rows (sparsenet's, and the peers' with `peers`); return how many are flagged."""
    flagged = 0
    header = f"{'family':<10} {'kernel':<22} {'workload':<24} {'implementation':<26} {'old ms':>9} " \
             f"{'new ms':>9} {'new/old':>8}  n"
    print(header, file=stream)
    print("-" * len(header), file=stream)
    for row in sorted(rows, key=lambda r: (r["key"][0], r["key"][1], not is_sparsenet(r["key"]),
                                           r["key"][3])):
        family, kernel, workload, impl = row["key"]
        if not peers and not is_sparsenet(row["key"]):
            continue
        slow = is_sparsenet(row["key"]) and row["ratio"] > 1 + threshold
        flagged += slow
        print(f"{family:<10} {kernel:<22} {workload[:24]:<24} {impl:<26} {row['old'] * 1e3:9.3f} "
              f"{row['new'] * 1e3:9.3f} {row['ratio']:8.3f}  {row['rounds']}"
              + ("  <<" if slow else ""), file=stream)
    control = [math.log(r["ratio"]) for r in rows if not is_sparsenet(r["key"])]
    if control:
        logs = sorted(control)
        print(f"\npeers (same code in both builds, the noise): {len(logs)} rows, geometric mean "
              f"new/old {math.exp(statistics.fmean(logs)):.3f}, range "
              f"{math.exp(logs[0]):.3f}-{math.exp(logs[-1]):.3f}", file=stream)
    print(f"sparsenet rows slower by more than {threshold:.0%}: {flagged}", file=stream)
    return flagged


def row_name(case: Any, repeated: bool) -> str:
    """The kernel's name, followed by its workload's name when several cases share the kernel (the
    omp family's "omp O1" and "omp O2")."""
    return f"{case.kernel} {case.workload.split(':')[0]}" if repeated else case.kernel


def worker(family: str, threads: int, quick: bool, clock: str, dlmc: "str | None" = None) -> None:
    """Serve timings of one build's bench rows: read "KERNEL/IMPLEMENTATION CALLS" lines on stdin,
    answer each with the mean seconds of CALLS calls in a row (run from the build's PYTHONPATH by
    `retime`). clock "cpu" counts the process's CPU time, "wall" the elapsed time."""
    timer = time.process_time if clock == "cpu" else time.perf_counter
    from sparsenet import backend, bench  # type: ignore[import-not-found]  # the build's own

    backend.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads)  # the BLAS peers, and sparsenet's BLAS calls, as in the bench
    except ImportError:
        pass
    cases = bench.dlmc_cases(quick, dlmc) if family == "dlmc" else bench.FAMILIES[family](quick)
    kernels = [case.kernel for case in cases]
    runs = {f"{row_name(case, kernels.count(case.kernel) > 1)}/{impl}": fn
            for case in cases for impl, fn in case.runs.items()}
    layer_sets = {case.kernel: case.layers for case in cases if isinstance(case, bench.LayerSet)}
    made: "dict[str, Any]" = {}  # the one layer whose operands are alive: {"KERNEL#LAYER": runs}
    print("ready", flush=True)
    for line in sys.stdin:
        row, calls = line.rstrip("\n").rsplit(" ", 1)
        if calls == "layers":  # "KERNEL/IMPLEMENTATION layers": how many (0: not a layer set)
            print(len(layer_sets.get(row.split("/", 1)[0], [])), flush=True)
            continue
        if "#" in row:  # "KERNEL/IMPLEMENTATION#LAYER"
            row, layer = row.rsplit("#", 1)
            kernel, impl = row.split("/", 1)
            if f"{kernel}#{layer}" not in made:
                made.clear()
                made[f"{kernel}#{layer}"] = layer_sets[kernel][int(layer)][1]()[0]
            runs[row] = made[f"{kernel}#{layer}"][impl]
        if calls.startswith("best"):  # "best N": a warm-up call, then the fastest of N calls
            fn, best = runs[row], math.inf
            fn()
            for _ in range(int(calls[4:])):
                start = timer()
                fn()
                best = min(best, timer() - start)
            print(best, flush=True)
            continue
        fn, calls = runs[row], int(calls)
        start = timer()
        for _ in range(calls):
            fn()
        print((timer() - start) / calls, flush=True)


def _pipes(process: "subprocess.Popen[str]") -> "tuple[IO[str], IO[str]]":
    assert process.stdin is not None and process.stdout is not None
    return process.stdin, process.stdout


def retime(old_src: str, new_src: str, family: str, rows: "list[str]", threads: int,
           repeat: int, quick: bool, clock: str = "cpu", stream: TextIO = sys.stdout,
           dlmc: "str | None" = None, fastest: bool = False) -> "list[tuple[str, float, float]]":
    """(row, old seconds, new seconds) of each row, the two builds interleaved: the medians of the
    samples, or with `fastest` their minima."""
    statistic = min if fastest else statistics.median
    workers: "dict[str, subprocess.Popen[str]]" = {}
    for build, src in (("old", old_src), ("new", new_src)):
        env = {k: v for k, v in os.environ.items()
               if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        env["PYTHONPATH"] = os.path.abspath(src)
        command = [sys.executable, os.path.abspath(__file__), "worker", "--family", family,
                   "--threads", str(threads), "--clock", clock] + (["--full"] if not quick else [])
        if dlmc:
            command += ["--dlmc", os.path.abspath(dlmc)]
        workers[build] = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          text=True, env=env, cwd=os.path.dirname(src) or ".")
        if _pipes(workers[build])[1].readline().strip() != "ready":
            raise SystemExit(f"the {build} worker did not start")

    def one(build: str, row: str, calls: "int | str" = 1) -> float:
        send, receive = _pipes(workers[build])
        send.write(f"{row} {calls}\n")
        send.flush()
        return float(receive.readline())

    def sample_pair(row: str, layer: bool) -> "tuple[float, float]":
        times: "dict[str, list[float]]" = {"old": [], "new": []}
        # warm-up; then each sample is as many calls as take about 20 ms (the caches warm, as in
        # the bench), the same number in both builds. A layer's sample is the fastest of 7 calls
        # after a warm-up call: a burst's mean takes in whatever else the machine did meanwhile,
        # which moved the same build's DLMC figure by 1-3% from run to run.
        calls: "int | str" = "best7" if layer else max(
            1, min(1000, int(0.02 / max(one("old", row), one("new", row)))))
        for i in range(repeat):
            for build in (("old", "new") if i % 2 == 0 else ("new", "old")):
                times[build].append(one(build, row, calls))
        return statistic(times["old"]), statistic(times["new"])

    results = []
    try:
        for row in rows:
            n_layers = int(one("old", row, "layers"))
            pairs = ([sample_pair(f"{row}#{i}", True) for i in range(n_layers)] if n_layers
                     else [sample_pair(row, False)])
            old, new = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
            ratio = math.exp(sum(math.log(p[1] / p[0]) for p in pairs) / len(pairs))
            results.append((row, old, new))
            print(f"{family:<10} {row:<48} old {old * 1e3:9.3f} ms  new {new * 1e3:9.3f} ms  "
                  f"new/old {ratio:6.3f}" + (f" (geomean of {n_layers} layers)" if n_layers else ""),
                  file=stream, flush=True)
    finally:
        for w in workers.values():
            _pipes(w)[0].close()
            w.wait()
    return results


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    table = sub.add_parser("table", help="the new/old ratio of every row of two sets of json files")
    table.add_argument("old", help="folder of the old build's bench --json files")
    table.add_argument("new", help="folder of the new build's files, named as the old ones")
    table.add_argument("--threshold", type=float, default=0.10,
                       help="flag sparsenet rows slower than 1 + THRESHOLD (default 0.10)")
    table.add_argument("--peers", action="store_true", help="print the peers' rows too")
    table.add_argument("--match", default="*.json", metavar="GLOB",
                       help="only the files whose names match GLOB (default *.json)")
    again = sub.add_parser("retime", help="time rows of one family in both builds, interleaved")
    again.add_argument("--old-src", required=True, help="the old build's src folder")
    again.add_argument("--new-src", required=True, help="the new build's src folder")
    again.add_argument("--repeat", type=int, default=15, help="calls per build and row (15)")
    again.add_argument("--fastest", action="store_true",
                       help="each build's fastest sample, not the median")
    work = sub.add_parser("worker", help="(internal) one build's timing process")
    for p in (again, work):
        p.add_argument("--family", required=True)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--full", action="store_true", help="the full-size workloads, not --quick's")
        p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                       help="cpu (default): the process's CPU time, which the other processes of "
                            "a loaded machine do not inflate (with --threads 1, the kernel's "
                            "time); wall: elapsed time")
        p.add_argument("--dlmc", metavar="PATH", help="the DLMC archive (dlmc family; default: "
                       "../shared/data/dlmc-rn50-magnitude.npz from the working directory)")
    again.add_argument("rows", nargs="+", metavar="KERNEL/IMPLEMENTATION")
    args = parser.parse_args(argv)
    if args.command == "table":
        print_table(compare(pair_files(args.old, args.new, args.match)), args.threshold, args.peers)
    elif args.command == "retime":
        dlmc = args.dlmc or os.path.join("..", "shared", "data", "dlmc-rn50-magnitude.npz")
        retime(args.old_src, args.new_src, args.family, args.rows, args.threads, args.repeat,
               quick=not args.full, clock=args.clock, dlmc=dlmc if args.family == "dlmc" else None,
               fastest=args.fastest)
    else:
        worker(args.family, args.threads, quick=not args.full, clock=args.clock, dlmc=args.dlmc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
