"""The figures of sparsenet.dask: OMP on the O1 workload (float64 dictionary 64 x 256, k = 8,
Gaussian signals) over many signals held in a cluster, each figure a ratio of two timings taken in
this run. Needs dask and distributed (``pip install sparsenet[dask]``).

    python benchmarks/bench_dask.py                 # 400000 signals, chunks of 25000
    python benchmarks/bench_dask.py --signals 40000 --chunk 5000 --repeat 2   # a quick look
    python benchmarks/bench_dask.py --no-worker-profiler   # the clusters without Dask's profiler

Prints, each the median of --repeat runs:
- two worker processes vs one (``LocalCluster(n_workers=2 or 1, threads_per_worker=1)``), the
  signals generated in the cluster and the CSC codes kept there (``persist``);
- the two workers vs one in-memory ``sparsenet.omp`` call on 2 threads (the overhead of Dask);
- dense vs CSC codes on the threaded scheduler (2 threads, blocks kept with ``persist``), and the
  in-memory dense call for reference;
- the peak memory of a worker over the two-worker run vs that of one in-memory call (each above
  its process's memory before the signals exist).

The dense codes are new memory (819 MB at 400000 signals), so dense vs CSC includes what the OS
charges for fresh pages. On a virtual machine whose balloon device reports freed pages to the host
(virtio-balloon free page reporting: /sys/module/page_reporting exists), every first touch of such
a page faults to the host: on a 2-core Zen 1 VM (2026-12-04), dense vs CSC was 1.64 with it and
1.17 with it turned off (page_reporting_order raised from 9 to 11), sparsenet unchanged.
"""
import argparse
import gc
import os
import statistics
import subprocess
import sys
import time

import numpy as np

N_FEATURES, N_ATOMS, K = 64, 256, 8


def dictionary():
    D = np.random.default_rng(0).standard_normal((N_FEATURES, N_ATOMS))
    return D / np.linalg.norm(D, axis=0)


def signal_chunk(i, chunk):
    """Chunk i of the signals: `chunk` Gaussian signals."""
    return np.random.default_rng([1, i]).standard_normal((N_FEATURES, chunk))


def signals_in_memory(n_signals, chunk):
    """The same signals as one array (filled chunk by chunk: no second copy at any time)."""
    X = np.empty((N_FEATURES, n_signals))
    for i in range(n_signals // chunk):
        X[:, i * chunk:(i + 1) * chunk] = signal_chunk(i, chunk)
    return X


def lazy_signals(n_signals, chunk, client=None):
    """The signals as a Dask array generated chunk by chunk where it is computed; with a
    distributed `client`, generated now, chunk i on worker i mod n_workers (the data spread evenly,
    as a cluster that loads its data in parallel holds it)."""
    import dask
    import dask.array as da

    workers = sorted(client.scheduler_info()["workers"]) if client is not None else None
    parts = []
    for i in range(n_signals // chunk):
        if workers is None:
            part = dask.delayed(signal_chunk, pure=True)(i, chunk)
        else:
            part = dask.delayed(client.submit(signal_chunk, i, chunk,
                                              workers=[workers[i % len(workers)]]))
        parts.append(da.from_delayed(part, (N_FEATURES, chunk), np.float64))
    return da.concatenate(parts, axis=1)


def rss_mib():
    """This process's resident memory now."""
    return _status_mib("VmRSS")


def reset_peak():
    """Starts this process's peak-memory count afresh (Linux: writing 5 to clear_refs resets the
    high-water mark), returning the memory now."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    return rss_mib()


def peak_mib():
    """This process's peak resident memory since `reset_peak`."""
    return _status_mib("VmHWM")


def _status_mib(field):
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def timed(run, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
        gc.collect()
    return statistics.median(times)


def forget(client, keys):
    """Waits until the scheduler has forgotten `keys` (results the caller dropped), so that the
    next run's identical keys are computed again rather than found."""
    import dask

    keys = {str(key) for key in dask.core.flatten(keys)}
    gc.collect()
    for _ in range(500):
        known = client.run_on_scheduler(lambda dask_scheduler: {str(k) for k in dask_scheduler.tasks})
        if not keys & known:
            return
        time.sleep(0.01)
    raise RuntimeError("the scheduler kept the previous run's results")


def on_cluster(n_workers, n_signals, chunk, repeat, profiler=True):
    """(median seconds of the persisted CSC coding, peak MiB of a worker above its start); with
    `profiler` False, the workers run without Dask's statistical profiler (its event-loop callback
    samples every thread's stack every 10 ms: measured here, 40-70 ms of CPU a second per worker,
    taken from the tasks when the workers fill the cores)."""
    import dask
    import distributed

    import sparsenet.dask

    D = dictionary()
    with dask.config.set({"distributed.worker.profile.enabled": profiler}), \
            distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        warm_up = sparsenet.dask.omp(D, lazy_signals(2000, 1000), n_nonzero_coefs=K)
        warm_up.compute()  # imports and first calls done before the memory baseline
        before = client.run(reset_peak)
        X = lazy_signals(n_signals, chunk, client).persist()
        distributed.wait(X)

        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            codes = sparsenet.dask.omp(D, X, n_nonzero_coefs=K, return_format="csc").persist()
            distributed.wait(codes)
            times.append(time.perf_counter() - start)
            keys = codes.__dask_keys__()
            del codes
            forget(client, keys)
        seconds = statistics.median(times)
        peaks = client.run(peak_mib)
        return seconds, max(peaks[w] - before[w] for w in peaks)


def in_memory_peak(n_signals, chunk):
    """Peak MiB of a fresh process above its memory before the signals exist, for one call."""
    code = f"""
import sys; sys.path[:0] = {sys.path!r}
import numpy as np, bench_dask as b, sparsenet
D = b.dictionary()
sparsenet.omp(D, np.ones((b.N_FEATURES, 2000)), n_nonzero_coefs=b.K, return_format="csc")
before = b.reset_peak()
X = b.signals_in_memory({n_signals}, {chunk})
sparsenet.omp(D, X, n_nonzero_coefs=b.K, return_format="csc")
print(b.peak_mib() - before)
"""
    here = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run([sys.executable, "-c", code], cwd=here, capture_output=True,
                            text=True, check=True)
    return float(result.stdout.split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signals", type=int, default=400000)
    parser.add_argument("--chunk", type=int, default=25000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-worker-profiler", action="store_true",
                        help="run the clusters' workers without Dask's statistical profiler")
    args = parser.parse_args()
    import dask

    import sparsenet
    import sparsenet.dask

    n, chunk, repeat = args.signals, args.chunk, args.repeat
    print(f"OMP O1: D {N_FEATURES}x{N_ATOMS} float64, k={K}, {n} signals in chunks of {chunk}; "
          f"median of {repeat}")
    D = dictionary()
    X = signals_in_memory(n, chunk)
    with sparsenet.use_num_threads(2):
        in_memory = timed(lambda: sparsenet.omp(D, X, n_nonzero_coefs=K, return_format="csc"),
                          repeat)
        in_memory_dense = timed(lambda: sparsenet.omp(D, X, n_nonzero_coefs=K), repeat)
    with sparsenet.use_num_threads(2), dask.config.set(scheduler="threads", num_workers=2):
        lazy = lazy_signals(n, chunk).persist()
        threaded_csc = timed(lambda: sparsenet.dask.omp(
            D, lazy, n_nonzero_coefs=K, return_format="csc").persist(), repeat)
        threaded_dense = timed(lambda: sparsenet.dask.omp(
            D, lazy, n_nonzero_coefs=K).persist(), repeat)
    del X, lazy
    gc.collect()
    profiler = not args.no_worker_profiler
    two, worker_peak = on_cluster(2, n, chunk, repeat, profiler)
    one, _ = on_cluster(1, n, chunk, repeat, profiler)
    cluster_note = "" if profiler else ", no profiler"
    call_peak = in_memory_peak(n, chunk)
    rows = [
        ("in memory, sparsenet.omp, 2 threads, CSC", in_memory, None),
        ("in memory, sparsenet.omp, 2 threads, dense", in_memory_dense, None),
        ("threaded scheduler, 2 threads, CSC, persist", threaded_csc, None),
        ("threaded scheduler, 2 threads, dense, persist", threaded_dense, None),
        (f"LocalCluster 1 worker x 1 thread, CSC, persist{cluster_note}", one, None),
        (f"LocalCluster 2 workers x 1 thread, CSC, persist{cluster_note}", two, None),
    ]
    for label, seconds, _ in rows:
        print(f"  {label:<62} {seconds * 1e3:9.1f} ms")
    print(f"2 workers vs 1 worker:                  {one / two:5.2f}x   (target >= 1.7x)")
    print(f"2 workers vs in-memory on 2 threads:    {in_memory / two:5.2f}x   (target >= 0.8x)")
    print(f"threaded: dense vs CSC time:            {threaded_dense / threaded_csc:5.2f}   "
          f"(target <= 1.2)")
    print(f"threaded dense vs in-memory dense:      {threaded_dense / in_memory_dense:5.2f}")
    print(f"peak memory: a worker {worker_peak:.0f} MiB, one in-memory call {call_peak:.0f} MiB: "
          f"{worker_peak / call_peak:.2f}   (target < 0.5)")


if __name__ == "__main__":
    main()
