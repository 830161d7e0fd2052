"""Every ratio of the sparse-coding issue's Targets table, in one run (float64):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/coding_targets.py [options]

- L1 ``lasso`` on D 64 x 256 (unit atoms), N signals that are 8-sparse combinations plus noise,
  alpha = 0.25 (about 8.4 nonzeros per signal): the objective and the time against
  ``sparse_encode(algorithm="lasso_cd")`` and SPAMS's LARS ``spams.lasso``, all on one thread.
- K1 ``ksvd`` of N 8x8 patches of china.jpg, 256 atoms, k = 8, 10 iterations: the time against
  ``DictionaryLearning(n_components=256, transform_algorithm="omp", max_iter=10)`` (minutes at
  N = 20000: ``--dl-signals`` runs both on fewer patches), and the representation error
  ``||X - D codes||_F / ||X||_F`` (codes: 8-atom OMP over each learned dictionary) against
  ``MiniBatchDictionaryLearning`` and SPAMS's ``trainDL``, given the same iterations (10 epochs;
  trainDL: the same number of 512-signal mini-batches) and given K-SVD's time.
- Threads: ``lasso`` and ``ksvd`` on two threads against one.
- Denoising china.jpg and flower.jpg (sigma = 20/255): the PSNRs and the wall times of
  ``examples/denoise_image.py``'s two pipelines (skip with ``--no-denoise``).

Every library runs on one thread (``sparsenet.use_num_threads(1)``, ``threadpool_limits(1)`` for
the BLAS the peers use) except in the two-thread rows; each time is the best of ``--repeat`` runs
(one run for the peers that take more than a few seconds; at most three of scikit-learn's
LASSO, whose single runs ranged 1.3-2.3 s on one machine in one hour). A missing peer is reported
and skipped.
"""
import argparse
import contextlib
import importlib.util
import pathlib
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import sparsenet
from sparsenet.bench import coding_problem, training_patches

ALPHA = 0.25
N_ATOMS = 256
K = 8
ITERATIONS = 10
ROOT = pathlib.Path(__file__).resolve().parents[1]


def best_time(run, repeat):
    """(best wall time of `repeat` runs, the last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - t0)
    return best, result


@contextlib.contextmanager
def threads(n):
    with sparsenet.use_num_threads(n), threadpool_limits(n):
        yield


def lasso_objective(D, X, A, alpha=ALPHA):
    return float(0.5 * ((X - D @ A) ** 2).sum() + alpha * np.abs(A).sum())


def representation_error(D, X):
    with warnings.catch_warnings():  # a learned atom may repeat another: OMP stops, says so
        warnings.simplefilter("ignore", RuntimeWarning)
        codes = sparsenet.omp(D, X, n_nonzero_coefs=K, return_format="csc")
    return float(np.linalg.norm(X - (codes.T @ D.T).T) / np.linalg.norm(X))


def unit_atoms(D):
    return D / np.maximum(np.linalg.norm(D, axis=0), 1e-300)


def lasso_rows(n_signals, repeat):
    D, X = coding_problem(n_signals)
    with threads(1):
        t_ours, A = best_time(lambda: sparsenet.lasso(D, X, ALPHA), repeat)
    ours = lasso_objective(D, X, A)
    print(f"L1 lasso, {n_signals} signals, {np.count_nonzero(A, axis=0).mean():.2f} nonzeros per "
          f"signal: sparsenet {t_ours:.3f} s (1 thread)")
    try:
        from sklearn.decomposition import sparse_encode
    except ImportError:
        print("  scikit-learn: not installed")
    else:
        Xt, Dt = np.ascontiguousarray(X.T), np.ascontiguousarray(D.T)
        with threads(1):
            t_sk, A_sk = best_time(lambda: sparse_encode(Xt, Dt, algorithm="lasso_cd",
                                                         alpha=ALPHA), min(repeat, 3))
        theirs = lasso_objective(D, X, A_sk.T)
        print(f"  vs scikit-learn sparse_encode(lasso_cd) {t_sk:.2f} s: {t_sk / t_ours:.1f}x "
              f"faster (target 20x); objective {ours:.10g} vs {theirs:.10g}, relative difference "
              f"{ours / theirs - 1:+.2e} (target <= 1e-6)")
    try:
        import spams
    except ImportError:
        print("  SPAMS: not installed")
    else:
        Df, Xf = np.asfortranarray(D), np.asfortranarray(X)
        with threads(1):
            t_sp, A_sp = best_time(lambda: spams.lasso(Xf, D=Df, lambda1=ALPHA, mode=2,
                                                       numThreads=1), repeat)
        print(f"  vs SPAMS lasso (LARS) {t_sp:.3f} s: {t_sp / t_ours:.2f}x faster (target 1.5x); "
              f"its objective {lasso_objective(D, X, A_sp.toarray()):.10g}")
    with threads(2):
        t_two, _ = best_time(lambda: sparsenet.lasso(D, X, ALPHA), repeat)
    print(f"  2 threads {t_two:.3f} s: {t_ours / t_two:.2f}x the 1-thread speed (target 1.8x)")


def ksvd_run(X, max_iter=ITERATIONS):
    return sparsenet.ksvd(X, N_ATOMS, n_nonzero_coefs=K, max_iter=max_iter, random_state=0)[0]


def minibatch(X, **budget):
    """MiniBatchDictionaryLearning's atoms after `max_iter` epochs, or after the mini-batches that
    fit in `seconds`."""
    from sklearn.decomposition import MiniBatchDictionaryLearning

    model = MiniBatchDictionaryLearning(n_components=N_ATOMS, batch_size=256, random_state=0,
                                        transform_algorithm="omp", transform_n_nonzero_coefs=K,
                                        max_iter=budget.get("max_iter", ITERATIONS))
    Xt = np.ascontiguousarray(X.T)
    if "seconds" not in budget:
        return unit_atoms(model.fit(Xt).components_.T)
    rng = np.random.default_rng(0)
    end = time.perf_counter() + budget["seconds"]
    while time.perf_counter() < end:
        model.partial_fit(Xt[rng.choice(Xt.shape[0], 256, replace=False)])
    return unit_atoms(model.components_.T)


def epochs_in_batches(X):
    """trainDL's 512-signal mini-batches in ITERATIONS epochs of X."""
    return max(1, ITERATIONS * X.shape[1] // 512)


def train_dl(X, batches=None):
    """SPAMS trainDL (OMP mode, k atoms): `batches` 512-signal mini-batches, by default 10 epochs'
    worth. (Its own time budget, a negative count, is whole seconds: at least one, more than
    K-SVD takes here; so the equal-time row gives it the batches that fit in K-SVD's time.)"""
    import spams

    batches = epochs_in_batches(X) if batches is None else batches
    return unit_atoms(spams.trainDL(np.asfortranarray(X), K=N_ATOMS, lambda1=K, mode=3,
                                    iter=batches, batchsize=512, numThreads=1, verbose=False))


def ksvd_rows(n_signals, dl_signals, repeat):
    X = training_patches(n_signals)
    with threads(1):
        t_ours, D = best_time(lambda: ksvd_run(X), repeat)
    err = representation_error(D, X)
    print(f"K1 ksvd, {n_signals} patches 8x8, {N_ATOMS} atoms, k={K}, {ITERATIONS} iterations: "
          f"sparsenet {t_ours:.2f} s (1 thread), relative error {err:.4f}")
    with threads(2):
        t_two, _ = best_time(lambda: ksvd_run(X), repeat)
    print(f"  2 threads {t_two:.2f} s: {t_ours / t_two:.2f}x the 1-thread speed (target 1.8x)")
    try:
        from sklearn.decomposition import DictionaryLearning
    except ImportError:
        print("  scikit-learn: not installed")
    else:
        Xs = X if dl_signals >= n_signals else X[:, :dl_signals]
        with threads(1):
            t_small = t_ours if Xs is X else best_time(lambda: ksvd_run(Xs), repeat)[0]
            model = DictionaryLearning(n_components=N_ATOMS, transform_algorithm="omp",
                                       transform_n_nonzero_coefs=K, max_iter=ITERATIONS,
                                       random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_dl, _ = best_time(lambda: model.fit(np.ascontiguousarray(Xs.T)), 1)
        D_dl = unit_atoms(model.components_.T)
        print(f"  vs scikit-learn DictionaryLearning on {Xs.shape[1]} patches: {t_dl:.1f} s vs "
              f"{t_small:.2f} s, {t_dl / t_small:.0f}x faster (target 100x); its relative error "
              f"{representation_error(D_dl, Xs):.4f} vs sparsenet's "
              f"{representation_error(ksvd_run(Xs), Xs) if Xs is not X else err:.4f}")
        with threads(1):
            t_mb, D_mb = best_time(lambda: minibatch(X), 1)
            D_mb_t = minibatch(X, seconds=t_ours)
        print(f"  vs scikit-learn MiniBatchDictionaryLearning: relative error "
              f"{representation_error(D_mb, X):.4f} after {ITERATIONS} epochs ({t_mb:.1f} s), "
              f"{representation_error(D_mb_t, X):.4f} in sparsenet's {t_ours:.2f} s (target: "
              f"sparsenet's {err:.4f} lower)")
    try:
        import spams  # noqa: F401
    except ImportError:
        print("  SPAMS: not installed")
    else:
        with threads(1):
            t_sp, D_sp = best_time(lambda: train_dl(X), 1)
            # at its speed in the 10-epoch run
            batches = max(1, round(epochs_in_batches(X) * t_ours / t_sp))
            t_sp_t, D_sp_t = best_time(lambda: train_dl(X, batches), 1)
        print(f"  vs SPAMS trainDL: relative error {representation_error(D_sp, X):.4f} after "
              f"{ITERATIONS} epochs ({t_sp:.2f} s), {representation_error(D_sp_t, X):.4f} after "
              f"{batches} batches in {t_sp_t:.2f} s, sparsenet's time (target: sparsenet's "
              f"{err:.4f} lower)")


def denoise_rows(quick):
    spec = importlib.util.spec_from_file_location("denoise_image",
                                                  ROOT / "examples" / "denoise_image.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    n_train, max_iter = (10000, 5) if quick else (40000, 10)
    rng = np.random.default_rng(0)
    for name in ("china.jpg", "flower.jpg"):
        clean = example.grayscale(name, quick)
        noisy = clean + example.SIGMA * rng.standard_normal(clean.shape)
        with threads(1):
            t_ours, ours = best_time(lambda: sparsenet.denoise_image(
                noisy, example.SIGMA, n_train=n_train, max_iter=max_iter, C=example.C), 1)
            t_sk, (theirs, _) = best_time(lambda: example.sklearn_denoise(noisy, n_train,
                                                                          max_iter), 1)
        p_noisy, p_ours = example.psnr(noisy, clean), example.psnr(ours, clean)
        print(f"denoise {name}: noisy {p_noisy:.2f} dB; sparsenet {p_ours:.2f} dB "
              f"(+{p_ours - p_noisy:.2f}) in {t_ours:.1f} s; scikit-learn "
              f"{example.psnr(theirs, clean):.2f} dB in {t_sk:.1f} s; {t_sk / t_ours:.1f}x faster "
              f"(target 10x), both on 1 thread")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=int, default=20000, help="signals of L1 and K1")
    parser.add_argument("--dl-signals", type=int, default=None,
                        help="patches for the DictionaryLearning row (default: --signals)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the fast timings")
    parser.add_argument("--quick", action="store_true", help="half-size images when denoising")
    parser.add_argument("--no-denoise", action="store_true")
    args = parser.parse_args(argv)
    print(f"sparsenet {sparsenet.__version__}, ISA {sparsenet.get_isa()}, "
          f"{sparsenet.get_num_threads()} threads available")
    lasso_rows(args.signals, args.repeat)
    ksvd_rows(args.signals, args.dl_signals or args.signals, args.repeat)
    if not args.no_denoise:
        denoise_rows(args.quick)


if __name__ == "__main__":
    main()
