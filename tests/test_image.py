"""sparsenet.image: patch helpers and K-SVD denoising on a small image."""
import numpy as np
import pytest

import sparsenet
from sparsenet.image import average_patches, denoise_image, extract_patches, overcomplete_dct


def test_patches_round_trip():
    image = np.random.default_rng(0).random((13, 17))
    patches = extract_patches(image, 4)
    assert patches.shape == (16, 10 * 14) and patches.flags.f_contiguous
    np.testing.assert_array_equal(patches[:, 0], image[:4, :4].ravel())
    np.testing.assert_array_equal(patches[:, 15], image[1:5, 1:5].ravel())
    np.testing.assert_allclose(average_patches(patches, image.shape), image)
    blended = average_patches(patches, image.shape, noisy=np.zeros_like(image), lam=1.0)
    assert blended[0, 0] == pytest.approx(image[0, 0] / 2)


def test_overcomplete_dct():
    D = overcomplete_dct(8, 256)
    np.testing.assert_allclose(np.linalg.norm(D, axis=0), 1)
    assert np.linalg.matrix_rank(D) == 64
    assert overcomplete_dct(4, 20).shape == (16, 20)


def test_small_denoising_beats_the_noise_and_is_deterministic():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    clean = sklearn_datasets.load_sample_image("flower.jpg")[100:196, 200:296].astype(float)
    clean = clean @ [0.299, 0.587, 0.114] / 255
    sigma = 20 / 255
    noisy = clean + sigma * np.random.default_rng(0).standard_normal(clean.shape)
    out, D = denoise_image(noisy, sigma, n_atoms=64, n_train=3000, max_iter=3,
                           return_dictionary=True)
    psnr = lambda x: 10 * np.log10(1 / np.mean((x - clean) ** 2))  # noqa: E731
    assert psnr(out) > psnr(noisy) + 4
    assert D.shape == (64, 64)
    np.testing.assert_allclose(np.linalg.norm(D, axis=0), 1)
    sparsenet.set_num_threads(1)
    np.testing.assert_array_equal(denoise_image(noisy, sigma, n_atoms=64, n_train=3000,
                                                max_iter=3), out)


def test_flat_patches_are_silent_on_threads(silent_on_threads):
    """Flat patches (zero once their mean is removed) end OMP at once, silently: denoise_image
    counts the early stops where it wrapped omp in catch_warnings, which is not thread-safe."""
    image = np.zeros((16, 16))
    image[4:12, 4:12] = 1.0
    silent_on_threads(lambda: denoise_image(image, 0.1, patch_size=4, n_atoms=16, n_train=50,
                                            max_iter=1))


def test_bad_arguments():
    image = np.zeros((10, 10))
    with pytest.raises(ValueError, match="sigma"):
        denoise_image(image, 0)
    # were accepted: a negative lam or data_range acted as lam = 0, C = -1 as C = 1, and C = nan
    # failed with an error about "tol"
    for name, value in (("lam", -1.0), ("data_range", -255.0), ("C", -1.0), ("C", np.nan),
                        ("lam", np.inf)):
        with pytest.raises(ValueError, match=f"^{name} must be a finite number"):
            denoise_image(image, 0.1, **{name: value})
    with pytest.raises(TypeError, match="^C must be a real number, got bool"):  # as lasso's alpha
        denoise_image(image, 0.1, C=True)
    assert denoise_image(image, 0.1, n_atoms=16, max_iter=1, lam=0).shape == image.shape
    with pytest.raises(ValueError, match="patch_size"):
        extract_patches(image, 11)
    with pytest.raises(ValueError, match="2-D"):
        extract_patches(image[0], 2)
    with pytest.raises(ValueError, match="one column per patch"):
        average_patches(np.zeros((4, 3)), (10, 10))
