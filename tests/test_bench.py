"""The benchmark command: table, JSON and plot, on a tiny stand-in family (the real ones take minutes)."""
import json

import numpy as np
import pytest

from sparsenet import __main__ as cli
from sparsenet import bench


@pytest.fixture
def tiny_family(monkeypatch):
    x = np.arange(1000.0)

    def cases(quick):
        return [bench.Case("tiny", "sum", "1000 f64", {
            "sparsenet": lambda: x.sum(),
            "numpy": lambda: np.add.reduce(x),
            "python": lambda: sum(x.tolist()),
        })]

    monkeypatch.setattr(bench, "FAMILIES", {"tiny": cases})


def test_table_and_json(tiny_family, tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert cli.main(["bench", "--quick", "--threads", "1", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "threads=1" in out and "python" in out and "x" in out
    data = json.loads(path.read_text())
    assert data["machine"]["sparsenet_threads"] == 1 and data["machine"]["cores"] >= 1
    (result,) = data["results"]
    assert result["kernel"] == "sum" and set(result["seconds"]) == {"sparsenet", "numpy", "python"}
    assert result["speedup"]["python"] == pytest.approx(
        result["seconds"]["python"] / result["seconds"]["sparsenet"])


def test_plot(tiny_family, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    cli.main(["bench", "--quick", "--plot", str(path)])
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_unknown_family_is_refused(tiny_family):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--family", "nope"])
