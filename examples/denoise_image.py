"""K-SVD image denoising (Elad and Aharon 2006) with sparsenet, beside scikit-learn's
MiniBatchDictionaryLearning + OMP pipeline on the same patches.

Both images bundled with scikit-learn (china.jpg, flower.jpg; no download), in grayscale scaled to
[0, 1], get white Gaussian noise of sigma = 20/255. For each:
- sparsenet: ``sparsenet.denoise_image`` (8x8 patches, 256 atoms learned by K-SVD from an
  overcomplete DCT on 40000 random patches, 10 iterations, every patch coded by OMP to a squared
  residual of (1.15 sigma)^2 * 64, patches averaged with the noisy image weighted 30/sigma);
- scikit-learn: MiniBatchDictionaryLearning(n_components=256) learned on the same 40000 patches,
  every patch coded by ``sklearn.linear_model.orthogonal_mp`` at the same tolerance, averaged the
  same way (sparsenet.image.average_patches).
Prints the PSNRs and wall times and writes denoise_image.png (noisy / denoised / atoms).

    python examples/denoise_image.py [--quick] [--out denoise_image.png] [--no-sklearn]
"""
import argparse
import time
import warnings

import numpy as np

import sparsenet
from sparsenet.image import average_patches, denoise_image, extract_patches

SIGMA = 20 / 255
PATCH = 8
N_ATOMS = 256
C = 1.15


def grayscale(name, quick):
    from sklearn.datasets import load_sample_image

    image = load_sample_image(name).astype(np.float64) @ [0.299, 0.587, 0.114] / 255
    return image[::2, ::2] if quick else image


def psnr(image, clean):
    return 10 * np.log10(1.0 / np.mean((image - clean) ** 2))


def sklearn_denoise(noisy, n_train, max_iter, random_state=0):
    """The scikit-learn pipeline on the same patches, atoms, training subset and tolerance."""
    from sklearn.decomposition import MiniBatchDictionaryLearning
    from sklearn.linear_model import orthogonal_mp

    X = extract_patches(noisy, PATCH)
    means = X.mean(axis=0)
    X -= means
    rng = np.random.default_rng(random_state)
    train = np.sort(rng.choice(X.shape[1], size=min(n_train, X.shape[1]), replace=False))
    learner = MiniBatchDictionaryLearning(n_components=N_ATOMS, batch_size=256, max_iter=max_iter,
                                          transform_algorithm="omp", random_state=random_state)
    learner.fit(X[:, train].T)
    D = learner.components_.T
    with warnings.catch_warnings():  # one thread here, so the process-wide filters are safe
        # flat patches stop at once (denoise_image keeps them silent too); only that message, so
        # NumPy's RuntimeWarnings (overflow, invalid value) still show
        warnings.filterwarnings("ignore", "Orthogonal matching pursuit ended prematurely",
                                RuntimeWarning)
        codes = orthogonal_mp(D, X, tol=(C * SIGMA) ** 2 * PATCH ** 2, precompute=True)
    patches = D @ codes + means
    return average_patches(patches, noisy.shape, noisy=noisy, lam=30 / (255 * SIGMA)), D


def atoms_image(D, per_row=16):
    """The atoms as 8x8 tiles in a grid, each scaled to [0, 1]."""
    n = D.shape[1]
    rows = (n + per_row - 1) // per_row
    grid = np.ones((rows * (PATCH + 1) + 1, per_row * (PATCH + 1) + 1))
    for j in range(n):
        tile = D[:, j].reshape(PATCH, PATCH)
        tile = (tile - tile.min()) / (np.ptp(tile) or 1)
        r, c = divmod(j, per_row)
        grid[1 + r * (PATCH + 1):1 + r * (PATCH + 1) + PATCH,
             1 + c * (PATCH + 1):1 + c * (PATCH + 1) + PATCH] = tile
    return grid


def run(images, n_train, max_iter, with_sklearn=True, seed=0):
    """Adds noise to each (name, clean image) of `images`, denoises it and prints a line of PSNRs
    and times; returns the rows (name, clean, noisy, denoised, D) for :func:`save_figure`."""
    rng = np.random.default_rng(seed)
    rows = []
    for name, clean in images:
        noisy = clean + SIGMA * rng.standard_normal(clean.shape)
        t0 = time.perf_counter()
        denoised, D = denoise_image(noisy, SIGMA, patch_size=PATCH, n_atoms=N_ATOMS,
                                    n_train=n_train, max_iter=max_iter, C=C,
                                    return_dictionary=True)
        t_ours = time.perf_counter() - t0
        line = (f"{name}: noisy {psnr(noisy, clean):.2f} dB, sparsenet K-SVD "
                f"{psnr(denoised, clean):.2f} dB (+{psnr(denoised, clean) - psnr(noisy, clean):.2f})"
                f" in {t_ours:.1f} s")
        if with_sklearn:
            t0 = time.perf_counter()
            theirs, _ = sklearn_denoise(noisy, n_train, max_iter)
            t_theirs = time.perf_counter() - t0
            line += (f"; scikit-learn MiniBatchDictionaryLearning + OMP {psnr(theirs, clean):.2f} dB"
                     f" in {t_theirs:.1f} s ({t_theirs / t_ours:.1f}x sparsenet's time)")
        print(line, flush=True)
        rows.append((name, clean, noisy, denoised, D))
    return rows


def save_figure(rows, out):
    """Noisy image, denoised image and learned atoms, a row per image, written to `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 3, figsize=(15, 4.5 * len(rows)), squeeze=False)
    for (name, clean, noisy, denoised, D), ax in zip(rows, axes):
        ax[0].imshow(noisy, cmap="gray", vmin=0, vmax=1)
        ax[0].set_title(f"{name} + noise sigma=20/255: {psnr(noisy, clean):.2f} dB")
        ax[1].imshow(denoised, cmap="gray", vmin=0, vmax=1)
        ax[1].set_title(f"sparsenet K-SVD denoised: {psnr(denoised, clean):.2f} dB")
        ax[2].imshow(atoms_image(D), cmap="gray")
        ax[2].set_title(f"{D.shape[1]} learned 8x8 atoms")
        for a in ax:
            a.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def main(argv=None):
    # the docstring's first paragraph: its first line alone stops mid-sentence
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--quick", action="store_true", help="half-size images, fewer patches")
    parser.add_argument("--out", default="denoise_image.png")
    parser.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn pipeline")
    args = parser.parse_args(argv)
    n_train, max_iter = (10000, 5) if args.quick else (40000, 10)
    images = [(name, grayscale(name, args.quick)) for name in ("china.jpg", "flower.jpg")]
    rows = run(images, n_train, max_iter, with_sklearn=not args.no_sklearn)
    save_figure(rows, args.out)
    print(f"figure: {args.out} (threads: {sparsenet.get_num_threads()})")


if __name__ == "__main__":
    main()
