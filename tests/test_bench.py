"""The benchmark command: arguments, table, JSON, plot, the measured limits and the dlmc family, on
tiny stand-ins (the real families take minutes). No test asserts a time."""
import itertools
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import sparsenet
from sparsenet import __main__ as cli
from sparsenet import bench

# the archive beside the repository (../shared/data, as in CI), else this machine's copy
REAL_DLMC = next((path for path in (
    Path(__file__).resolve().parents[2] / "shared" / "data" / bench.DLMC_FILE,
    Path("/work/shared/data") / bench.DLMC_FILE) if path.is_file()),
    Path(bench.DLMC_FILE))


@pytest.fixture
def fast_limits(monkeypatch):
    """The limits without their 256 MiB buffer and GEMMs: fixed figures (the real measures are
    tested on their own below)."""
    monkeypatch.setattr(bench, "memory_bandwidth", lambda repeat=5: (20e9, "fake bandwidth"))
    monkeypatch.setattr(bench, "sgemm_rate", lambda repeat=5: (100e9, "fake sgemm"))


@pytest.fixture
def tiny_family(monkeypatch, fast_limits):
    x = np.arange(1000.0)

    def cases(quick):
        bench.optional_peer("sparsenet_no_such_peer", "ghost peer")
        return [bench.Case("tiny", "sum", "1000 f64", bytes=x.nbytes, runs={
            "sparsenet": lambda: x.sum(),
            "numpy": lambda: np.add.reduce(x),
            "python": lambda: sum(x.tolist()),
        }), bench.Case("tiny", "dot", "1000 f64", flops=2 * x.size, runs={
            "sparsenet": lambda: x @ x,
            "scipy": lambda: float(np.dot(x, x)),
        })]

    monkeypatch.setattr(bench, "FAMILIES", {"tiny": cases})


def _png_size(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])  # width, height of the IHDR chunk


# ---- table, JSON, plot --------------------------------------------------------------------------
def test_table_names_limits_rates_and_skipped_peers(tiny_family, capsys):
    assert cli.main(["bench", "--quick", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "threads=1" in out and "python" in out
    assert "memory read 20.0 GB/s, dense sgemm 100.0 GFLOP/s" in out
    assert "memory read: fake bandwidth" in out
    lines = out.splitlines()
    sum_row = next(line for line in lines if line.startswith("sum ") and "sparsenet" in line)
    assert "of BW" in sum_row  # no flops counted: memory-bound
    dot_row = next(line for line in lines if line.startswith("dot ") and "sparsenet" in line)
    assert "GFLOP/s" in dot_row
    assert "not run: ghost peer: sparsenet_no_such_peer is not installed" in out


def test_json_carries_everything_and_says_where(tiny_family, tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert cli.main(["bench", "--quick", "--threads", "1", "--json", str(path)]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    data = json.loads(path.read_text())
    machine = data["machine"]
    assert machine["sparsenet_threads"] == 1 and machine["cores"] >= 1
    assert machine["bandwidth"] == {"gbytes_per_s": 20.0, "method": "fake bandwidth"}
    assert machine["sgemm"]["gflops"] == 100.0
    assert machine["skipped"] == {"ghost peer": "sparsenet_no_such_peer is not installed "
                                                "(pip install sparsenet_no_such_peer)"}
    total, dot = data["results"]
    assert total["kernel"] == "sum" and set(total["seconds"]) == {"sparsenet", "numpy", "python"}
    assert total["speedup"]["python"] == pytest.approx(
        total["seconds"]["python"] / total["seconds"]["sparsenet"])
    assert total["rate"]["bound"] == "memory"
    assert total["rate"]["bandwidth_fraction"] == pytest.approx(
        8000 / total["seconds"]["sparsenet"] / 20e9)
    assert dot["rate"] == {"bound": "flops", "gflops": pytest.approx(
        2000 / dot["seconds"]["sparsenet"] / 1e9)}


def test_plot_is_written_compact_and_said(tiny_family, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    assert cli.main(["bench", "--quick", "--plot", str(path)]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    width, height = _png_size(path)
    assert width <= 1700 and height < 2000


def test_plot_of_every_family_stays_under_2000_pixels(tmp_path):
    """A full run's figure: the bars per kernel of the five real families, one peer more each."""
    pytest.importorskip("matplotlib")
    peers = ["numpy", "scipy", "pytorch", "dense matmul", "scikit-learn", "spams", "np.copyto",
             "sparsenet (plain CSR)"]
    bars = {"csr": [3, 3, 4, 3, 1], "dlmc": [3, 3, 3, 3, 2, 2, 2, 2],
            "shared": [2, 2, 2, 2, 1, 1, 1, 2, 2], "threshold": [2, 2, 2, 1, 1, 2, 2, 1, 1],
            "omp": [3, 3, 3]}
    workload = "4096x4096 d=0.10 f32, X n x 64"
    results = [{"family": family, "kernel": f"kernel {i}", "workload": workload,
                "speedup": {name: 10.0 ** ((i + j) % 5 - 1.5)
                            for j, name in enumerate(peers[i % 3:i % 3 + n + 1])}}
               for family, counts in bars.items() for i, n in enumerate(counts)]
    path = tmp_path / "all.png"
    bench.plot(results, path, {"cpu": "test CPU", "sparsenet_threads": 1, "sparsenet": "0"})
    width, height = _png_size(path)
    assert width <= 1700 and height < 2000


def test_plot_command_redraws_a_json_file(tiny_family, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    results, image = tmp_path / "bench.json", tmp_path / "again.svg"
    cli.main(["bench", "--quick", "--json", str(results)])
    assert cli.main(["plot", str(results), str(image)]) == 0
    assert f"wrote {image}" in capsys.readouterr().out
    assert image.read_text().lstrip().startswith("<?xml")
    (tmp_path / "broken.json").write_text("{}")
    with pytest.raises(SystemExit):
        cli.main(["plot", str(tmp_path / "broken.json"), str(image)])


def test_each_kind_of_implementation_has_one_colour():
    kinds = {name: bench.peer_of(name) for name in (
        "numpy", "scipy", "scipy (decoded)", "scipy A.T.tocsr()", "scikit-learn", "spams",
        "pytorch", "dense matmul", "dense W @ x", "dense sgemm", "dense gemv", "np.copyto",
        "np.argpartition", "sparsenet (plain CSR)", "sparsenet (scipy input)")}
    assert kinds["numpy"] == "NumPy baseline" and kinds["pytorch"] == "PyTorch"
    assert {kinds[n] for n in ("scipy", "scipy (decoded)", "scipy A.T.tocsr()")} == {"SciPy"}
    assert {kinds[n] for n in ("dense matmul", "dense W @ x", "dense sgemm", "dense gemv")} == {
        "dense BLAS"}
    assert "other" not in kinds.values()
    assert len(set(bench.PEER_COLOURS.values())) == len(bench.PEER_COLOURS)


# ---- arguments are checked before the run -------------------------------------------------------
@pytest.fixture
def no_run(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the benchmark ran before its arguments were checked")

    monkeypatch.setattr(bench, "run", refuse)


@pytest.mark.parametrize("argv, message", [
    (["--threads", "0"], "--threads: expected a positive integer, got 0"),
    (["--threads", "two"], "--threads: expected a positive integer, got 'two'"),
    (["--family", "nope"], "invalid choice: 'nope'"),
    (["--json", "/no/such/directory/bench.json"], "directory /no/such/directory does not exist"),
    (["--plot", "/no/such/directory/bench.png"], "does not exist"),
    (["--dlmc", "/no/such/file.npz"], "--dlmc /no/such/file.npz: no such file"),
])
def test_bad_arguments_fail_at_once(no_run, capsys, argv, message):
    with pytest.raises(SystemExit) as exit:
        cli.main(["bench", *argv])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err


def test_output_paths_are_checked(no_run, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--json", str(tmp_path)])
    assert "is a directory" in capsys.readouterr().err
    pytest.importorskip("matplotlib")
    with pytest.raises(SystemExit):
        cli.main(["bench", "--plot", str(tmp_path / "bench.xyz")])
    assert "cannot write .xyz files" in capsys.readouterr().err


def test_dlmc_asked_for_but_absent_fails_at_once(no_run, monkeypatch, capsys):
    monkeypatch.setattr(bench, "find_dlmc", lambda path=None: None)
    with pytest.raises(SystemExit):
        cli.main(["bench", "--family", "dlmc"])
    assert "give --dlmc PATH" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip() == f"sparsenet {sparsenet.__version__}"


# ---- limits and rates ---------------------------------------------------------------------------
def test_rate_decides_memory_or_flops():
    # spmv-like: 0.25 flops per byte
    r = bench.rate(8e6, 2e6, 1e-3, 16e9)
    assert r["bound"] == "memory"
    assert r["gbytes_per_s"] == pytest.approx(8.0) and r["bandwidth_fraction"] == pytest.approx(0.5)
    # spmm-like with 64 columns: 21 flops per byte
    assert bench.rate(6e6, 128e6, 1e-3, 16e9) == {"bound": "flops", "gflops": pytest.approx(128)}
    assert bench.rate(None, 5e9, 0.5, 16e9) == {"bound": "flops", "gflops": pytest.approx(10)}
    assert bench.rate(1e9, None, 1.0, 16e9)["bound"] == "memory"
    assert bench.rate(None, None, 1.0, 16e9) is None
    ridge = bench.RIDGE_FLOPS_PER_BYTE
    assert bench.rate(1e9, ridge * 1e9 * 0.99, 1.0, 1e10)["bound"] == "memory"
    assert bench.rate(1e9, ridge * 1e9, 1.0, 1e10)["bound"] == "flops"


def test_rate_marks_operands_that_stay_in_cache(monkeypatch):
    monkeypatch.setattr(bench, "_last_level_cache", lambda: 32 << 20)
    assert bench.rate(1 << 20, None, 1e-4, 1e10)["in_cache"]
    assert not bench.rate(1 << 30, None, 1e-1, 1e10)["in_cache"]
    # a layer set: its largest layer decides
    assert not bench.rate(1 << 20, None, 1e-4, 1e10, largest=64 << 20)["in_cache"]


def test_limits_measure_something():
    bandwidth, method = bench.memory_bandwidth(repeat=1, size=8 << 20)
    assert bandwidth > 0 and "8 MiB" in method
    flops, method = bench.sgemm_rate(repeat=1, n=64)
    assert flops > 0 and "64x64" in method


def test_layer_rows_are_sums_and_geometric_means():
    case = bench.LayerSet("f", "k", "w", [])
    layers = [{"name": "a", "seconds": {"sparsenet": 1.0, "scipy": 4.0}, "bytes": 10, "flops": 1},
              {"name": "b", "seconds": {"sparsenet": 2.0, "scipy": 2.0}, "bytes": 30, "flops": 3}]
    row = bench.Row(case, {"sparsenet": 3.0, "scipy": 6.0}, layers)
    assert row.speedups() == {"scipy": pytest.approx(2.0)}  # sqrt(4 * 1), not 6 / 3
    assert (case.bytes, case.flops) == (40, 4)


def test_layer_time_handles_fast_calls(monkeypatch):
    """A fast call is repeated within a sample until the sample lasts min_sample. On a clock that
    advances 1 us a reading, not the machine's: a warm-up call descheduled for 100 us (a loaded CI
    machine) made the real clock's sample a single call."""
    readings = itertools.count()
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(readings) * 1e-6)
    calls = []
    t = bench.layer_time(lambda: calls.append(1), rounds=2, min_sample=1e-4)
    number = (len(calls) - 1) // 2  # calls per sample, after the warm-up
    assert len(calls) == 1 + 2 * number and 99 <= number <= 100
    assert t == pytest.approx(1e-6 / number)


def test_interleaved_times_take_the_implementations_in_turn(monkeypatch):
    """Each round times a block of every implementation in turn, after an untimed warm call; a
    block lasts min_block; the result is the median per call over the rounds. On a fake clock:
    implementation "a" takes 2 readings (2 us) a call, "b" 5."""
    now = [0.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: now[0])
    log = []

    def call(name, us):
        def fn():
            log.append(name)
            now[0] += us * 1e-6
        return fn

    seconds = bench.interleaved_times({"a": call("a", 2), "b": call("b", 5)}, rounds=3,
                                      min_block=9e-6)
    assert seconds == {"a": pytest.approx(2e-6), "b": pytest.approx(5e-6)}
    block = ["a"] * (1 + 5) + ["b"] * (1 + 2)  # a warm call, then calls for 9 us or more
    assert log == ["a", "b"] + block * 3


def test_interleaved_times_medians_rounds_and_spare_slow_calls(monkeypatch):
    """A slow round (the machine's drift) moves no median; calls over a second run in 3 rounds
    only, one call each and no warm call."""
    now = [0.0]
    monkeypatch.setattr(bench.time, "perf_counter", lambda: now[0])
    rounds_seen = {"fast": 0, "slow": 0}
    durations = iter([1e-3, 2.0] + [1e-3, 1e-3, 2.0] + [5e-3, 5e-3, 9.0] + [1e-3, 1e-3, 2.0]
                     + [1e-3, 1e-3] * 2)

    def call(name):
        def fn():
            rounds_seen[name] += 1
            now[0] += next(durations)
        return fn

    seconds = bench.interleaved_times({"fast": call("fast"), "slow": call("slow")}, rounds=5,
                                      min_block=1e-4)
    assert seconds == {"fast": pytest.approx(1e-3), "slow": pytest.approx(2.0)}
    assert rounds_seen == {"fast": 1 + 5 * 2, "slow": 1 + 3}


# ---- the dlmc family ----------------------------------------------------------------------------
def _write_dlmc(path, levels=(0.8, 0.9), seed=0):
    """An archive in DLMC's layout: two layers per level, one of them a quick layer."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for level in levels:
        for name, (m, k, n) in (("bottleneck_2_block_group1_1_1", (16, 72, 9)),
                                ("initial_conv", (8, 30, 5))):
            A = sp.random(m, k, density=1 - level, format="csr", random_state=rng)
            A.sort_indices()
            key = f"rn50__magnitude_pruning__{level}__{name}"
            arrays[key + "__shape"] = np.array([m, k], np.int32)
            arrays[key + "__indptr"] = A.indptr.astype(np.int32)
            arrays[key + "__indices"] = A.indices.astype(np.uint16)
            arrays[key + "__n"] = np.array(n, np.int32)
    np.savez_compressed(path, **arrays)


def test_dlmc_layers_read_the_archive(tmp_path):
    path = tmp_path / bench.DLMC_FILE
    _write_dlmc(path)
    levels = bench.dlmc_layers(path)
    assert list(levels) == [0.8, 0.9]
    layer = next(layer for layer in levels[0.9] if layer.name == "initial_conv")
    assert layer.pattern.shape == (8, 30) and layer.n == 5
    assert layer.pattern.indices.dtype == np.int32
    A, _ = layer.matrix()
    B, _ = layer.matrix()
    assert A.dtype == np.float32 and np.array_equal(A.data, B.data)  # seeded: the same values
    assert not np.array_equal(A.data, levels[0.8][1].matrix()[0].data[:A.nnz])
    quick = bench.dlmc_layers(path, quick=True)
    assert [[layer.name for layer in layers] for layers in quick.values()] == [
        ["bottleneck_2_block_group1_1_1"]] * 2


def test_dlmc_runs_compute_the_same_product(tmp_path):
    path = tmp_path / bench.DLMC_FILE
    _write_dlmc(path)
    torch = bench.optional_peer("torch", "pytorch")
    for layers in bench.dlmc_layers(path).values():
        for layer in layers:
            A, _ = layer.matrix()
            runs, nbytes, flops = bench.dlmc_spmm(layer, torch)
            assert flops == 2 * A.nnz * layer.n and nbytes > 0
            if torch is not None:
                assert "pytorch" in runs
            results = {name: np.asarray(fn()) for name, fn in runs.items()}
            for name, Y in results.items():
                np.testing.assert_allclose(Y, results["scipy"], rtol=1e-4, atol=1e-4, err_msg=name)
            runs, nbytes, flops = bench.dlmc_spmv(layer)
            results = {name: np.asarray(fn()) for name, fn in runs.items()}
            assert results["sparsenet"].shape == (A.shape[0],)
            for name, y in results.items():
                np.testing.assert_allclose(y, results["scipy"], rtol=1e-4, atol=1e-4, err_msg=name)


def test_dlmc_family_one_row_per_level(tmp_path, fast_limits, capsys):
    path = tmp_path / bench.DLMC_FILE
    _write_dlmc(path)
    json_path = tmp_path / "dlmc.json"
    assert cli.main(["bench", "--family", "dlmc", "--dlmc", str(path), "--threads", "1",
                     "--json", str(json_path)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("spmm ", "spmv "))]
    kernels = sorted({line.split("  ")[0].strip() for line in rows})
    assert kernels == ["spmm 80%", "spmm 90%", "spmv 80%", "spmv 90%"]
    assert any("x gm" in line for line in rows)
    results = json.loads(json_path.read_text())["results"]
    spmm = results[0]
    assert spmm["family"] == "dlmc" and len(spmm["layers"]) == 2
    assert {"dense sgemm", "scipy", "sparsenet (plain CSR)"} <= set(spmm["speedup"])
    layer_ratios = [layer["speedup"]["scipy"] for layer in spmm["layers"]]
    assert spmm["speedup"]["scipy"] == pytest.approx(math.sqrt(layer_ratios[0] * layer_ratios[1]))
    assert spmm["seconds"]["scipy"] == pytest.approx(
        sum(layer["seconds"]["scipy"] for layer in spmm["layers"]))
    assert spmm["rate"] is not None and all(layer["rate"] for layer in spmm["layers"])


def test_dlmc_family_skipped_with_the_reason_when_absent(monkeypatch, fast_limits, capsys):
    monkeypatch.setattr(bench, "find_dlmc", lambda path=None: None)
    rows, info = bench.run(["dlmc"], quick=True, threads=1)
    assert rows == [] and "give --dlmc PATH" in info["skipped"]["dlmc"]
    assert "not run: dlmc:" in capsys.readouterr().out


def test_find_dlmc_looks_beside_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    root_copy = bench.find_dlmc()
    _write_dlmc(tmp_path / "shared" / "data" / bench.DLMC_FILE)
    assert bench.find_dlmc() == (tmp_path / "shared" / "data" / bench.DLMC_FILE).resolve()
    assert root_copy is None or root_copy.name == bench.DLMC_FILE
    assert bench.find_dlmc("/given/path.npz") == Path("/given/path.npz")


@pytest.mark.skipif(not REAL_DLMC.is_file(), reason="the DLMC archive is not on this machine")
def test_real_dlmc_archive():
    levels = bench.dlmc_layers(REAL_DLMC)
    assert list(levels) == [0.8, 0.9, 0.95, 0.98]
    assert all(len(layers) == 54 for layers in levels.values())
    for layer in levels[0.9]:
        m, k = layer.pattern.shape
        assert layer.n >= 1 and layer.pattern.nnz == pytest.approx(0.1 * m * k, rel=0.02, abs=2)
    quick = bench.dlmc_layers(REAL_DLMC, quick=True)
    assert all(len(layers) == len(bench.DLMC_QUICK_LAYERS) for layers in quick.values())


def test_torch_token_row_compares_like_with_like():
    """The torch family's one-token row: sparsenet, nn.Linear and PyTorch's CSR compute the same
    stack's output for one token."""
    torch = pytest.importorskip("torch")
    cases = {c.kernel: c for c in bench.torch_cases(quick=True)}
    case = cases["SparseLinear 1 token"]
    assert "1 token" in case.workload
    outputs = {name: run() for name, run in case.runs.items()}
    assert set(outputs) == {"sparsenet", "dense nn.Linear", "pytorch CSR"}
    for name, y in outputs.items():
        assert tuple(y.shape) == (1, bench.TORCH_D_MODEL), name
        np.testing.assert_allclose(y.numpy(), outputs["dense nn.Linear"].numpy(), rtol=1e-4,
                                   atol=1e-4, err_msg=name)


def test_torch_conv_rows_compare_like_with_like():
    """The torch family's 1x1-convolution rows: the sparse stack computes the dense one's product
    (the dense layers hold the pruned weights), at the sparsity asked for, and every run runs."""
    torch = pytest.importorskip("torch")
    w = bench.torch_conv_workload(torch)
    with torch.no_grad():
        np.testing.assert_allclose(w["sparse"](w["x"]).numpy(), w["dense"](w["x"]).numpy(),
                                   rtol=1e-4, atol=1e-4)
    density = [float(m.weight.count_nonzero()) / m.weight.numel() for m in w["dense"]]
    assert all(abs(d - (1 - bench.TORCH_SPARSITY)) < 0.01 for d in density)
    cases = bench.torch_conv_cases(torch)
    assert [c.kernel for c in cases] == ["SparseLinear fwd", "SparseLinear fwd+bwd"]
    for case in cases:
        assert set(case.runs) == {"sparsenet", "dense nn.Linear"}
        for run in case.runs.values():
            run()
