"""Image denoising by K-SVD over overlapping patches (Elad and Aharon, 2006), and the patch helpers it
is built from.

``denoise_image(noisy, sigma)`` takes every p x p patch, removes its mean, learns a dictionary on a
random subset of them by :func:`sparsenet.ksvd` (from an overcomplete DCT), codes every patch by
:func:`sparsenet.omp` to the noise level (squared residual <= ``(C * sigma)^2 * p^2``), and puts
the image back together: each pixel the average of the patches covering it, blended with the noisy
pixel (weight ``lam``).
"""
import math

import numpy as np

from sparsenet._validate import as_array, check_index, check_real


def extract_patches(image, patch_size):
    """Every `patch_size` x `patch_size` patch of the 2-D `image`, one per column, shape
    ``(patch_size**2, n_patches)`` (F order: each patch contiguous), patches in row-major order of
    their top-left corners.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenet.image import extract_patches
    >>> extract_patches(np.arange(9.).reshape(3, 3), 2)
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    image = as_array(image, "image", ndim=2)
    p = check_index(patch_size, "patch_size", low=1)
    if p > min(image.shape):
        raise ValueError(f"patch_size must be <= both sides of the image {image.shape}, got {p}")
    windows = np.lib.stride_tricks.sliding_window_view(image, (p, p))
    return np.ascontiguousarray(windows.reshape(-1, p * p)).T


def average_patches(patches, image_shape, *, noisy=None, lam=0.0):
    """The image whose pixels average the `patches` covering them (the inverse of
    :func:`extract_patches` for consistent patches), blended with `noisy`:
    ``(lam * noisy + sum of patches) / (lam + number of patches)`` per pixel.

    Examples
    --------
    >>> import numpy as np
    >>> from sparsenet.image import average_patches, extract_patches
    >>> image = np.arange(12.).reshape(3, 4)
    >>> bool(np.allclose(average_patches(extract_patches(image, 2), image.shape), image))
    True
    """
    patches = as_array(patches, "patches", ndim=2)
    height, width = image_shape
    p = math.isqrt(patches.shape[0])
    if p * p != patches.shape[0]:
        raise ValueError(f"patches must have a square number of rows (p * p), got {patches.shape}")
    rows, cols = height - p + 1, width - p + 1
    if patches.shape[1] != rows * cols:
        raise ValueError(f"patches must have one column per patch position ({rows * cols} for "
                         f"{image_shape} and p={p}), got {patches.shape[1]}")
    total = np.zeros((height, width))
    count = np.zeros((height, width))
    for i in range(p):
        for j in range(p):
            total[i:i + rows, j:j + cols] += patches[i * p + j].reshape(rows, cols)
            count[i:i + rows, j:j + cols] += 1
    if noisy is not None and lam > 0:
        total += lam * np.asarray(noisy, dtype=np.float64)
        count += lam
    return total / count


def overcomplete_dct(patch_size, n_atoms):
    """The 2-D overcomplete DCT dictionary (patch_size**2, n_atoms), unit-norm atoms: products of
    ``ceil(sqrt(n_atoms))`` sampled 1-D cosines, the first n_atoms of them (the usual K-SVD start).

    Examples
    --------
    >>> from sparsenet.image import overcomplete_dct
    >>> overcomplete_dct(8, 256).shape
    (64, 256)
    """
    p = check_index(patch_size, "patch_size", low=1)
    n_atoms = check_index(n_atoms, "n_atoms", low=1)
    k = math.isqrt(n_atoms - 1) + 1
    one_d = np.cos(np.pi * np.outer(np.arange(p), np.arange(k)) / k)
    one_d[:, 1:] -= one_d[:, 1:].mean(axis=0)
    one_d /= np.linalg.norm(one_d, axis=0)
    D = np.kron(one_d, one_d)[:, :n_atoms]
    return D / np.linalg.norm(D, axis=0)


def denoise_image(noisy, sigma, *, patch_size=8, n_atoms=256, n_train=40000, max_iter=10,
                  C=1.15, lam=None, data_range=1.0, random_state=0, return_dictionary=False):
    """Removes white Gaussian noise of standard deviation `sigma` from a grayscale image by K-SVD
    denoising (Elad and Aharon 2006).

    Parameters
    ----------
    noisy : array_like, shape (height, width)
        The noisy image (any range; `sigma` and `data_range` in its units).
    sigma : float
        Noise standard deviation, > 0.
    patch_size : int, default 8
    n_atoms : int, default 256
    n_train : int, default 40000
        Patches (drawn at random, without replacement) the dictionary is learned on; all are coded.
    max_iter : int, default 10
        K-SVD iterations.
    C : float, default 1.15
        Coding tolerance factor: a patch is coded to squared residual ``(C * sigma)^2 * p^2``.
    lam : float, optional
        Weight of the noisy pixel in the average; default ``30 / sigma`` with sigma in 8-bit gray
        levels (``30 * data_range / (255 * sigma)``), as Elad and Aharon.
    data_range : float, default 1.0
        Range of the image's values (255 for 8-bit values), for the default `lam`.
    random_state : int, optional
        Seed of the training subset; the result is deterministic for a seed.
    return_dictionary : bool, default False
        Also return the learned dictionary (p*p, n_atoms).

    Returns
    -------
    denoised : ndarray, shape (height, width), float64
    dictionary : ndarray, only with `return_dictionary`

    Examples
    --------
    >>> import numpy as np, sparsenet
    >>> rng = np.random.default_rng(0)
    >>> clean = np.kron(rng.random((8, 8)), np.ones((6, 6)))   # 48 x 48, flat blocks
    >>> noisy = clean + 0.1 * rng.standard_normal(clean.shape)
    >>> out = sparsenet.denoise_image(noisy, 0.1, n_atoms=64, n_train=1000, max_iter=3)
    >>> bool(np.mean((out - clean) ** 2) < 0.5 * np.mean((noisy - clean) ** 2))
    True
    """
    import sparsenet

    noisy = as_array(noisy, "noisy", ndim=2)
    check_real(sigma, "sigma", strict=True)
    check_real(C, "C", strict=True)
    check_real(data_range, "data_range", strict=True)
    if lam is not None:
        check_real(lam, "lam")
    n_train = check_index(n_train, "n_train", low=1)
    X = extract_patches(noisy.astype(np.float64), patch_size)
    means = X.mean(axis=0)
    X -= means
    n_patches = X.shape[1]
    rng = np.random.default_rng(random_state)
    train = np.sort(rng.choice(n_patches, size=min(n_train, n_patches), replace=False))
    tol = (C * sigma) ** 2 * patch_size ** 2
    D, _ = sparsenet.ksvd(np.asfortranarray(X[:, train]), n_atoms, tol=tol, max_iter=max_iter,
                          init=overcomplete_dct(patch_size, n_atoms), return_format="csc")
    codes = _code(D, X, tol)
    patches = (codes.T @ D.T).T + means
    if lam is None:
        lam = 30.0 * data_range / (255.0 * sigma)
    denoised = average_patches(patches, noisy.shape, noisy=noisy, lam=lam)
    return (denoised, D) if return_dictionary else denoised


def _code(D, X, tol):
    from sparsenet.omp import _omp_quiet

    # flat patches (zero after the mean) stop at once, silently: by omp's count, not a
    # catch_warnings(), whose filters are the process's (not thread-safe)
    return _omp_quiet(D, X, None, tol, "auto", "csc", True)[0]
