"""`python -m sparsenet bench`: sparsenet against its NumPy baseline and the installed peers.

Each kernel family contributes cases: a workload and the callables that compute the same thing
(sparsenet, the NumPy reference, and peers such as SciPy when importable). Every time is the median
of repeated runs after a warm-up; every speedup is a ratio of two times taken in the same run.
"""
import contextlib
import json
import os
import platform
import sys
import time

import numpy as np

from sparsenet import backend


class Case:
    """One benchmark row: `runs` maps an implementation name to a zero-argument callable."""

    def __init__(self, family, kernel, workload, runs):
        self.family, self.kernel, self.workload, self.runs = family, kernel, workload, runs


def median_time(fn, *, repeat=7, min_time=0.2):
    """Median seconds of one call of `fn`, after a warm-up call, over at least `repeat` calls or
    `min_time` seconds; calls slower than a second (the slow baselines) are repeated 3 times."""
    t0 = time.perf_counter()
    fn()
    if time.perf_counter() - t0 > 1.0:
        repeat, min_time = min(repeat, 3), 0.0
    times = []
    start = time.perf_counter()
    while len(times) < repeat or (time.perf_counter() - start < min_time and len(times) < 1000):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def csr_cases(quick):
    """The CSR workload of the benchmarks: 8192 x 8192 at 10% density, float32, int32 indices.

    "sparsenet" multiplies a matrix optimised once for the product (CSR.optimize, column blocks,
    as MKL's inspector-executor); "sparsenet (plain CSR)" and "(scipy input)" are the same call on
    a plain sparsenet.CSR and on the scipy matrix itself (checked on every call)."""
    import scipy.sparse as sp

    import sparsenet
    from sparsenet import reference

    n = 2048 if quick else 8192
    A = sp.random(n, n, density=0.10, format="csr", dtype=np.float32, random_state=1)
    C = sparsenet.CSR.from_scipy(A)
    V = C.optimize(transpose=True)
    M = C.optimize(batch=64, transpose=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, dtype=np.float32)
    X = rng.standard_normal((n, 64), dtype=np.float32)
    workload = f"{n}x{n} d=0.10 f32"
    dense = A.toarray()
    cases = [
        Case("csr", "spmv", workload, {
            "sparsenet": lambda: sparsenet.spmv(V, x),
            "sparsenet (plain CSR)": lambda: sparsenet.spmv(C, x),
            "sparsenet (scipy input)": lambda: sparsenet.spmv(A, x),
            "numpy": lambda: reference.spmv(C, x),
            "scipy": lambda: A @ x,
        }),
        Case("csr", "spmv transposed", workload, {
            "sparsenet": lambda: sparsenet.spmv(V, x, transpose=True),
            "sparsenet (plain CSR)": lambda: sparsenet.spmv(C, x, transpose=True),
            "numpy": lambda: reference.spmv(C, x, transpose=True),
            "scipy": lambda: A.T @ x,
        }),
        Case("csr", "spmm", workload + ", X n x 64", {
            "sparsenet": lambda: sparsenet.spmm(M, X),
            "sparsenet (plain CSR)": lambda: sparsenet.spmm(C, X),
            "numpy": lambda: reference.spmm(C, X),
            "scipy": lambda: A @ X,
            "dense matmul": lambda: dense @ X,
        }),
        Case("csr", "spmm transposed", workload + ", X n x 64", {
            "sparsenet": lambda: sparsenet.spmm(M, X, transpose=True),
            "sparsenet (plain CSR)": lambda: sparsenet.spmm(C, X, transpose=True),
            "numpy": lambda: reference.spmm(C, X, transpose=True),
            "scipy": lambda: A.T @ X,
        }),
    ]
    for case, run in zip(cases, _torch_csr_runs(A, x, X)):
        case.runs["pytorch"] = run
    cases.append(Case("csr", "optimize (once)", workload + ", A and A^T", {
        "sparsenet": lambda: C.optimize(transpose=True),
        "scipy A.T.tocsr()": lambda: A.T.tocsr(),
    }))
    return cases


def _torch_csr_runs(A, x, X):
    """PyTorch's CPU sparse CSR kernels on the same products as csr_cases (spmv, spmv transposed,
    spmm, spmm transposed) on sparsenet's thread count; none when torch is not importable."""
    try:
        import torch
    except ImportError:
        return []
    import warnings

    torch.set_num_threads(backend.get_num_threads())
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        T = torch.sparse_csr_tensor(torch.from_numpy(A.indptr.astype(np.int64)),
                                    torch.from_numpy(A.indices.astype(np.int64)),
                                    torch.from_numpy(A.data), size=A.shape)
    tx, tX, Tt = torch.from_numpy(x), torch.from_numpy(X), T.t()
    return [lambda: T @ tx, lambda: Tt @ tx, lambda: T @ tX, lambda: Tt @ tX]


def threshold_cases(quick):
    """The thresholding workload: Z standard normal float32, 4096 x 4096 (64 MiB)."""
    import scipy.sparse as sp

    import sparsenet
    from sparsenet import reference

    n = 1024 if quick else 4096
    Z = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    out = np.empty_like(Z)
    workload = f"{n}x{n} normal f32"
    return [
        Case("threshold", "binarize out=", workload, {
            "sparsenet": lambda: sparsenet.binarize(Z, 0.5, out=out),
            "numpy": lambda: reference.binarize(Z, 0.5, out=out),
            "np.copyto": lambda: np.copyto(out, Z),
        }),
        Case("threshold", "hard out=", workload, {
            "sparsenet": lambda: sparsenet.hard_threshold(Z, 0.5, out=out),
            "numpy": lambda: reference.hard_threshold(Z, 0.5, out=out),
            "np.copyto": lambda: np.copyto(out, Z),
        }),
        Case("threshold", "soft out=", workload, {
            "sparsenet": lambda: sparsenet.soft_threshold(Z, 0.5, out=out),
            "numpy": lambda: reference.soft_threshold(Z, 0.5, out=out),
            "np.copyto": lambda: np.copyto(out, Z),
        }),
        Case("threshold", "hard_threshold", workload, {
            "sparsenet": lambda: sparsenet.hard_threshold(Z, 0.5),
            "numpy": lambda: reference.hard_threshold(Z, 0.5),
        }),
        Case("threshold", "soft_threshold", workload, {
            "sparsenet": lambda: sparsenet.soft_threshold(Z, 0.5),
            "numpy": lambda: reference.soft_threshold(Z, 0.5),
        }),
        Case("threshold", "topk k=32", workload, {
            "sparsenet": lambda: sparsenet.topk(Z, 32),
            "numpy": lambda: reference.topk(Z, 32),
            "np.argpartition": lambda: _argpartition_topk(Z, 32),
        }),
        Case("threshold", "hard csr t=2", workload, {
            "sparsenet": lambda: sparsenet.hard_threshold(Z, 2.0, format="csr"),
            "numpy": lambda: reference.hard_threshold(Z, 2.0, format="csr"),
            "scipy": lambda: sp.csr_matrix(np.where(np.abs(Z) >= 2.0, Z, 0)),
        }),
        Case("threshold", "prune s=0.9", workload, {
            "sparsenet": lambda: sparsenet.prune(Z, sparsity=0.9),
            "numpy": lambda: reference.prune(Z, sparsity=0.9),
        }),
        Case("threshold", "prune s=0.9 per row", workload, {
            "sparsenet": lambda: sparsenet.prune(Z, sparsity=0.9, per_row=True),
            "numpy": lambda: reference.prune(Z, sparsity=0.9, per_row=True),
        }),
    ]


def _argpartition_topk(Z, k):
    """k-winners-take-all with np.argpartition (ties broken arbitrarily)."""
    idx = np.argpartition(np.abs(Z), Z.shape[1] - k, axis=-1)[:, Z.shape[1] - k:]
    y = np.zeros_like(Z)
    np.put_along_axis(y, idx, np.take_along_axis(Z, idx, axis=-1), axis=-1)
    return y


def shared_cases(quick):
    """The parameter-sharing workloads of the issue: K = 256 float32 codebook, uint8 codes of a
    4096 x 4096 layer (1024 x 1024 when quick), x of n, X of n x 128; k-means of N(0, 0.05) weights
    (scikit-learn takes about a minute on the issue's 4,000,000 weights, so this table uses 250,000,
    or 50,000 when quick; benchmarks/bench_shared.py has the full size)."""
    import sparsenet
    from sparsenet import reference

    n = 1024 if quick else 4096
    rng = np.random.default_rng(0)
    codebook = rng.standard_normal(256).astype(np.float32)
    sw = sparsenet.SharedWeights(codebook, rng.integers(0, 256, (n, n), dtype=np.uint8))
    W = sw.decode()
    x = rng.standard_normal(n).astype(np.float32)
    X = rng.standard_normal((n, 128)).astype(np.float32)
    G = rng.standard_normal((n, 128)).astype(np.float32)
    hw = sparsenet.HashedWeights((n, n), codebook, seed=1)
    workload = f"{n}x{n} u8, K=256 f32"
    cases = [
        Case("shared", "shared_matvec", workload, {
            "sparsenet": lambda: sparsenet.shared_matvec(sw, x),
            "numpy": lambda: reference.shared_matvec(sw, x),
            "dense W @ x": lambda: W @ x,
        }),
        Case("shared", "shared_matvec T", workload, {
            "sparsenet": lambda: sparsenet.shared_matvec(sw, x, transpose=True),
            "numpy": lambda: reference.shared_matvec(sw, x, transpose=True),
            "dense W.T @ x": lambda: W.T @ x,
        }),
        Case("shared", "shared_matmul", workload + ", k=128", {
            "sparsenet": lambda: sparsenet.shared_matmul(sw, X),
            "numpy": lambda: reference.shared_matmul(sw, X),
            "dense W @ X": lambda: W @ X,
        }),
        Case("shared", "shared_matmul T", workload + ", k=128", {
            "sparsenet": lambda: sparsenet.shared_matmul(sw, X, transpose=True),
            "numpy": lambda: reference.shared_matmul(sw, X, transpose=True),
            "dense W.T @ X": lambda: W.T @ X,
        }),
        Case("shared", "codebook_grad", workload + ", k=128", {
            "sparsenet": lambda: sparsenet.codebook_grad(sw, G, X),
            "numpy": lambda: reference.codebook_grad(sw, G, X),
        }),
        Case("shared", "hashed_matvec", f"{n}x{n}, K=256 f32", {
            "sparsenet": lambda: sparsenet.hashed_matvec(hw, x),
            "numpy": lambda: reference.hashed_matvec(hw, x),
        }),
        Case("shared", "hashed_matmul", f"{n}x{n}, K=256 f32, k=128", {
            "sparsenet": lambda: sparsenet.hashed_matmul(hw, X),
            "numpy": lambda: reference.hashed_matmul(hw, X),
        }),
    ]
    m = 50_000 if quick else 250_000
    w = (rng.standard_normal(m) * 0.05).astype(np.float32)
    runs = {
        "sparsenet": lambda: sparsenet.kmeans_codebook(w, 256, max_iter=30, tol=0),
        "numpy": lambda: reference.kmeans_codebook(w, 256, max_iter=30, tol=0),
    }
    try:
        from sklearn.cluster import KMeans

        from threadpoolctl import threadpool_limits

        init = np.linspace(float(w.min()), float(w.max()), 256).reshape(-1, 1).astype(np.float32)

        def sklearn_kmeans():
            with threadpool_limits(backend.get_num_threads()):  # the threads sparsenet gets
                KMeans(256, init=init, n_init=1, max_iter=30, tol=0).fit(w.reshape(-1, 1))

        runs["scikit-learn"] = sklearn_kmeans
    except ImportError:
        pass
    cases.append(Case("shared", "kmeans_codebook", f"{m} f32, K=256, 30 it", runs))
    A = _random_shared_csr(rng, n, codebook)
    C = A.to_csr()
    S = C.to_scipy()
    Xs = X[:, :64].copy()
    cases.append(Case("shared", "SharedCSR spmm", f"{n}x{n} d=0.10 u8, k=64", {
        "sparsenet": lambda: sparsenet.spmm(A, Xs),
        "numpy": lambda: reference.spmm(A, Xs),
        "sparsenet CSR (decoded)": lambda: sparsenet.spmm(C, Xs),
        "scipy (decoded)": lambda: S @ Xs,
    }))
    return cases


def _random_shared_csr(rng, n, codebook):
    """A 10%-dense n x n SharedCSR, uniform random columns and codes (the pruned-and-shared workload)."""
    import sparsenet

    per_row = n // 10
    indices = np.sort(rng.integers(0, n, (n, per_row), dtype=np.int32), axis=1).ravel()
    indptr = np.arange(0, n * per_row + 1, per_row, dtype=np.int32)
    codes = rng.integers(0, codebook.size, n * per_row, dtype=np.uint8)
    return sparsenet.SharedCSR(codes, indices, indptr, (n, n), codebook, copy=False)


def omp_cases(quick):
    """The OMP workloads of the issue (float64): O1 (D 64 x 256, 20000 signals, k = 8) and O2
    (D 256 x 1024, 2000 signals, k = 32); 40 times fewer signals when quick."""
    import sparsenet
    from sparsenet import reference

    rng = np.random.default_rng(0)
    cases = []
    for name, (n_features, n_atoms, n_signals, k) in (("O1", (64, 256, 20000, 8)),
                                                      ("O2", (256, 1024, 2000, 32))):
        if quick:
            n_signals //= 40
        D = rng.standard_normal((n_features, n_atoms))
        D /= np.linalg.norm(D, axis=0)
        X = rng.standard_normal((n_features, n_signals))
        runs = {
            "sparsenet": lambda D=D, X=X, k=k: sparsenet.omp(D, X, n_nonzero_coefs=k),
            "numpy": lambda D=D, X=X, k=k: reference.omp(D, X, n_nonzero_coefs=k),
        }
        try:
            from sklearn.linear_model import orthogonal_mp

            runs["scikit-learn"] = lambda D=D, X=X, k=k: orthogonal_mp(D, X, n_nonzero_coefs=k,
                                                                        precompute=True)
        except ImportError:
            pass
        try:
            import spams

            Df, Xf = np.asfortranarray(D), np.asfortranarray(X)
            runs["spams"] = lambda Df=Df, Xf=Xf, k=k: spams.omp(
                Xf, Df, L=k, numThreads=backend.get_num_threads())
        except ImportError:
            pass
        workload = f"{name}: D {n_features}x{n_atoms} X x{n_signals} k={k}"
        cases.append(Case("omp", "omp", workload, runs))
    return cases


def coding_problem(n_signals, *, n_features=64, n_atoms=256, k=8, noise=0.05, seed=0):
    """D (n_features x n_atoms, unit atoms) and X whose columns are k-sparse combinations of the
    atoms plus Gaussian noise: the LASSO workload of the sparse-coding issue."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((n_features, n_atoms))
    D /= np.linalg.norm(D, axis=0)
    rows = np.argsort(rng.random((n_atoms, n_signals)), axis=0)[:k]
    codes = np.zeros((n_atoms, n_signals))
    np.put_along_axis(codes, rows, rng.standard_normal((k, n_signals)), axis=0)
    return D, D @ codes + noise * rng.standard_normal((n_features, n_signals))


def training_patches(n_signals, patch_size=8, seed=0):
    """n_signals random patch_size^2 patches (means removed) of scikit-learn's china.jpg in
    grayscale, one per column; Gaussian signals when scikit-learn is not installed."""
    rng = np.random.default_rng(seed)
    try:
        from sklearn.datasets import load_sample_image
    except ImportError:
        return rng.standard_normal((patch_size ** 2, n_signals))
    from sparsenet.image import extract_patches

    image = load_sample_image("china.jpg").astype(np.float64) @ [0.299, 0.587, 0.114] / 255
    X = extract_patches(image, patch_size)
    X = X[:, np.sort(rng.choice(X.shape[1], n_signals, replace=False))]
    return np.asfortranarray(X - X.mean(axis=0))


def coding_cases(quick):
    """Sparse coding beyond OMP (float64): L1, lasso on D 64 x 256 and 20000 8-sparse signals plus
    noise, alpha = 0.25 (8.4 nonzeros per signal), against scikit-learn's
    sparse_encode(lasso_cd) and SPAMS's LARS (spams.lasso); K1, ksvd of 20000 8x8 patches of
    china.jpg, 256 atoms, k = 8, 10 iterations, against scikit-learn's MiniBatchDictionaryLearning
    (10 epochs) and SPAMS's trainDL (same number of mini-batch steps). 20 times fewer signals when
    quick. (scikit-learn's DictionaryLearning takes minutes here: benchmarks/bench_coding.py.)"""
    import sparsenet

    n_signals = 1000 if quick else 20000
    threads = backend.get_num_threads()
    D, X = coding_problem(n_signals)
    alpha = 0.25
    runs = {"sparsenet": lambda: sparsenet.lasso(D, X, alpha)}
    try:
        from sklearn.decomposition import sparse_encode

        Xt, Dt = np.ascontiguousarray(X.T), np.ascontiguousarray(D.T)
        runs["scikit-learn lasso_cd"] = lambda: sparse_encode(Xt, Dt, algorithm="lasso_cd",
                                                              alpha=alpha)
    except ImportError:
        pass
    try:
        import spams

        Df, Xf = np.asfortranarray(D), np.asfortranarray(X)
        runs["spams lasso (LARS)"] = lambda: spams.lasso(Xf, D=Df, lambda1=alpha, mode=2,
                                                         numThreads=threads)
    except ImportError:
        pass
    cases = [Case("coding", "lasso", f"L1: D 64x256 X x{n_signals} alpha={alpha}", runs)]

    P = training_patches(n_signals)
    runs = {"sparsenet": lambda: sparsenet.ksvd(P, 256, n_nonzero_coefs=8, max_iter=10,
                                                random_state=0)}
    try:
        from sklearn.decomposition import MiniBatchDictionaryLearning

        Pt = np.ascontiguousarray(P.T)
        runs["scikit-learn MiniBatchDL"] = lambda: MiniBatchDictionaryLearning(
            n_components=256, max_iter=10, transform_algorithm="omp",
            transform_n_nonzero_coefs=8, random_state=0).fit(Pt)
    except ImportError:
        pass
    try:
        import spams

        Pf = np.asfortranarray(P)
        runs["spams trainDL"] = lambda: spams.trainDL(Pf, K=256, lambda1=8, mode=3,
                                                      iter=10 * n_signals // 512, batchsize=512,
                                                      numThreads=threads, verbose=False)
    except ImportError:
        pass
    cases.append(Case("coding", "ksvd", f"K1: 8x8 patches x{n_signals} 256 atoms k=8 10 it", runs))
    return cases


FAMILIES = {"csr": csr_cases, "shared": shared_cases, "threshold": threshold_cases, "omp": omp_cases,
            "coding": coding_cases}


def run(families=None, *, quick=False, threads=None, stream=None):
    """Time every case of `families` (all by default), print one table and return the rows
    [(case, {implementation: seconds})] and the machine's description (see `machine`). BLAS-backed
    peers get the same thread count as sparsenet."""
    families = list(FAMILIES) if not families else families
    previous_threads = backend._state["threads"]
    if threads is not None:
        backend.set_num_threads(threads)
    rows = []
    try:
        with _blas_threads(backend.get_num_threads()):
            cases = [case for family in families for case in FAMILIES[family](quick)]
            for i, case in enumerate(cases, 1):
                print(f"\r[{i}/{len(cases)}] {case.family}: {case.kernel:<40}", end="",
                      file=sys.stderr, flush=True)
                times = {name: median_time(fn, repeat=3 if quick else 7,
                                           min_time=0.05 if quick else 0.2)
                         for name, fn in case.runs.items()}
                rows.append((case, times))
            print(file=sys.stderr)
            info = machine()
        _print_table(rows, stream if stream is not None else sys.stdout)
    finally:
        backend._state["threads"] = previous_threads
    return rows, info


@contextlib.contextmanager
def _blas_threads(n):
    """Limit the BLAS of NumPy / SciPy / scikit-learn to `n` threads (needs threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(n):
        yield


def machine():
    """What the figures were measured on: CPU, cores, versions, BLAS, sparsenet's settings."""
    info = {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sparsenet_threads": backend.get_num_threads(),
        "sparsenet_isa": backend.get_isa(),
        "openmp": backend.has_openmp(),
        "environment": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                   "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                        if k in os.environ},
    }
    import sparsenet

    for name in ("numpy", "scipy", "sklearn", "spams", "torch"):
        module = sys.modules.get(name)
        if module is not None:
            info[name] = getattr(module, "__version__", "?")
    info["sparsenet"] = sparsenet.__version__
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{k: lib.get(k) for k in ("internal_api", "version", "architecture",
                                                 "num_threads")}
                        for lib in threadpool_info() if lib.get("user_api") == "blas"]
    except ImportError:
        pass
    return info


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_json(rows, info, path):
    """Every figure of `rows` and the machine's description `info`, as JSON."""
    results = [{"family": case.family, "kernel": case.kernel, "workload": case.workload,
                "seconds": times,
                "speedup": {name: t / times["sparsenet"] for name, t in times.items()
                            if name != "sparsenet"}}
               for case, times in rows]
    with open(path, "w") as f:
        json.dump({"machine": info, "results": results}, f, indent=2)


def plot(rows, path):
    """A bar chart of sparsenet's speedup over each other implementation, one group per kernel."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install 'sparsenet[bench]' "
                         "(or pip install matplotlib)") from None
    labels, bars = [], {}
    for case, times in rows:
        labels.append(f"{case.kernel}\n{case.workload}")
        for name, t in times.items():
            if name != "sparsenet":
                bars.setdefault(name, {})[len(labels) - 1] = t / times["sparsenet"]
    fig, ax = plt.subplots(figsize=(11, 0.2 * len(labels) * max(2, len(bars)) + 2))
    height = 0.8 / max(1, len(bars))
    for j, (name, values) in enumerate(sorted(bars.items())):
        ys = [i + j * height for i in values]
        ax.barh(ys, list(values.values()), height=height, label=name)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(labels))], labels)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("sparsenet speedup (other time / sparsenet time), log scale")
    ax.set_title(f"sparsenet on {_cpu_name()}, {backend.get_num_threads()} thread(s)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _print_table(rows, stream):
    print(f"sparsenet bench on {_cpu_name()}  (threads={backend.get_num_threads()}, "
          f"isa={backend.get_isa()})", file=stream)
    slow_blas = [k for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ]
    if slow_blas:
        print(f"note: {' and '.join(slow_blas)} set: they slow current OpenBLAS, so the dense BLAS "
              f"baselines may look slower than they are; unset them for this command "
              f"(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...)", file=stream)
    header = (f"{'kernel':<22} {'workload':<30} {'implementation':<24} {'ms':>10} "
              f"{'sparsenet speedup':>18}")
    print(header, file=stream)
    print("-" * len(header), file=stream)
    for case, times in rows:
        ours = times["sparsenet"]
        for name, t in times.items():
            speedup = "" if name == "sparsenet" else f"{t / ours:.2f}x"
            print(f"{case.kernel:<22} {case.workload:<30} {name:<24} {t * 1e3:10.3f} "
                  f"{speedup:>18}", file=stream)
