"""The examples run, small: examples/deep_compression_digits.py (few epochs) and
examples/denoise_image.py (a tiny image, few iterations)."""
import importlib.util
import pathlib

import numpy as np
import pytest

pytest.importorskip("sklearn")

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load(name):
    path = EXAMPLES / f"{name}.py"
    if not path.exists():
        pytest.skip("examples/ is not next to the tests (installed-package run)")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_deep_compression_digits_runs_and_compresses(capsys):
    torch = pytest.importorskip("torch")
    example = load("deep_compression_digits")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = example.run(epochs=5, finetune_epochs=2, hidden=128, seed=0)
    finally:
        torch.set_num_threads(threads)
    stages = list(results)
    assert stages == ["dense", "pruned 50% + fine-tuned", "pruned 75% + fine-tuned",
                      "pruned 90% + fine-tuned", "shared 16 values", "shared 16 + fine-tuned"]
    dense_acc, dense_size = results["dense"]
    final_acc, final_size = results[stages[-1]]
    assert dense_acc > 85 and final_acc > 40  # few epochs: trained, not converged (chance: 10)
    assert dense_size == 4 * (64 * 128 + 128 + 128 * 10 + 10)
    assert dense_size / final_size >= 10
    assert "smaller than dense float32" in capsys.readouterr().out


def test_denoise_image_runs_on_a_tiny_image(tmp_path, capsys):
    """main's path (run, then save_figure) on a 40 x 40 image of flat blocks, both pipelines."""
    pytest.importorskip("matplotlib")
    example = load("denoise_image")
    clean = np.kron(np.random.default_rng(0).random((5, 5)), np.ones((8, 8)))
    rows = example.run([("tiny", clean)], n_train=300, max_iter=2)
    [(name, _, noisy, denoised, D)] = rows
    assert name == "tiny" and denoised.shape == clean.shape and D.shape == (64, 256)
    assert example.psnr(denoised, clean) > example.psnr(noisy, clean) + 3
    out = capsys.readouterr().out
    assert out.startswith("tiny: noisy") and "scikit-learn MiniBatchDictionaryLearning" in out
    example.save_figure(rows, tmp_path / "figure.png")
    assert (tmp_path / "figure.png").stat().st_size > 0


def test_denoise_image_help_is_whole_sentences(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # no line break inside "scikit-learn's"
    example = load("denoise_image")
    with pytest.raises(SystemExit):
        example.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert ("K-SVD image denoising (Elad and Aharon 2006) with sparsenet, beside scikit-learn's "
            "MiniBatchDictionaryLearning + OMP pipeline on the same patches.") in text
