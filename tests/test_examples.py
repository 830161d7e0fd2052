"""The examples run (with few epochs): examples/deep_compression_digits.py."""
import importlib.util
import pathlib

import pytest

torch = pytest.importorskip("torch")
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
