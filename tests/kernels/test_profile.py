"""`emokit profile` and emokit.kernels.profile: populations, records, criteria, bad options.

Speed is never asserted here (benchmarks measure it); these tests check what the profiler measures
and writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from rich.console import Console
from support.cli_runner import run_emokit

from emokit import cli
from emokit.kernels import KernelBackendError
from emokit.kernels import profile as prof

RECORD_KEYS = {
    "paths", "batch", "din", "dout", "modules", "slots", "layers", "classes", "convergence",
    "elite_copies", "distinct", "status", "error", "speedup", "gflops", "mm_gflops", "mm_ratio",
    "converged_vs_single", "serial_vs_ext", "max_abs_error", "measurements",
}  # fmt: skip
MEASUREMENT_KEYS = {"flops", "max_error", "status", "error", "repeats", "timings", "speedup", "gflops"}
MEASUREMENT_KEYS |= {"mm_gflops", "mm_ratio", "fallback_gflops", "fallback_mm_ratio"}


# One tiny grid point, two convergence levels: a profile in about a second.
TINY = prof.ProfileConfig(
    paths=(6,), batch=(8,), widths=(16,), modules=(5,), slots=(2,), layers=(2,), convergence=(0.0, 1.0),
    repeats=1, warmup=1, threads=1,
)  # fmt: skip


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("convergence", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_population_has_the_asked_fraction_of_elite_copies(convergence: float) -> None:
    g = _generator()
    elite = prof.random_path(3, 3, 20, g)
    paths = prof.make_population(64, 3, 3, 20, convergence, g, elite=elite)
    assert paths.shape == (64, 3, 3) and paths.dtype == torch.int64
    copies = int((paths == elite).flatten(1).all(1).sum())
    assert copies == round(convergence * 64)  # random rows equal to the elite: (1/6840)^3 chance
    assert int(paths.min()) >= 0 and int(paths.max()) < 20
    rows = paths.reshape(-1, 3)
    assert all(len(set(row)) == 3 for row in rows.tolist())  # K distinct modules per layer


def test_converged_population_is_one_path_and_random_one_is_not() -> None:
    converged = prof.make_population(16, 3, 2, 8, 1.0, _generator(1))
    assert bool((converged == converged[0]).all())
    random = prof.make_population(16, 3, 2, 8, 0.0, _generator(1))
    assert len({tuple(p) for p in random.flatten(1).tolist()}) > 1


def test_population_rejects_impossible_sizes() -> None:
    with pytest.raises(ValueError, match="K <= M"):
        prof.make_population(4, 2, 5, 3, 0.0, _generator())
    with pytest.raises(ValueError, match="convergence"):
        prof.make_population(4, 2, 2, 3, 1.5, _generator())


def test_dyadic_op_inputs_make_the_forward_exact_in_float32() -> None:
    point = prof.GridPoint(paths=4, batch=16, din=64, dout=32, modules=5, slots=3, layers=2)
    x, _, weight, bias = prof.dyadic_op_inputs(point, _generator())
    pre32 = x[0] @ weight[2].T + bias[2]
    pre64 = x[0].double() @ weight[2].double().T + bias[2].double()
    assert torch.equal(pre32.double(), pre64)


def test_criteria_pick_their_records_and_judge_them() -> None:
    def record(batch: int, width: int, convergence: float, **values: float) -> dict:
        base = {"paths": 64, "slots": 3, "modules": 20, "layers": 3, "batch": batch, "din": width}
        return {**base, "dout": width, "convergence": convergence, "status": "ok", **values}

    records = [
        record(256, 128, 0.0, speedup=6.0, mm_ratio=0.7),
        record(1024, 256, 0.0, speedup=4.0, mm_ratio=0.9),
        record(256, 128, 1.0, converged_vs_single=1.5),
        record(256, 64, 0.0, speedup=1.0, mm_ratio=0.1),  # D=64: not a criteria point
        {**record(256, 128, 0.0, speedup=1.0, mm_ratio=0.1), "paths": 8},  # P=8: neither
    ]
    criteria = prof.evaluate_criteria(records)
    speed = criteria["fitness_speedup_random"]
    assert [(c["batch"], c["width"], c["pass"]) for c in speed["checks"]] == [
        (256, 128, True),
        (1024, 256, False),
    ]
    assert speed["pass"] is False
    assert criteria["fitness_mm_ratio_random"]["pass"] is True
    assert criteria["converged_vs_single"]["pass"] is True
    assert prof.evaluate_criteria([])["converged_vs_single"]["pass"] is None


def test_profile_end_to_end_writes_config_environment_results_criteria(tmp_path: Path) -> None:
    result = run_emokit(
        ["profile", "--quick", "--repeats", "2", "--threads", "1", "--out", "p.json"], tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "acceptance criteria" in result.stdout and "p.json" in result.stdout
    data = json.loads((tmp_path / "p.json").read_text())
    assert {"config", "environment", "results", "criteria"} <= set(data)
    assert data["config"]["repeats"] == 2 and data["config"]["paths"] == list(prof.QUICK_CONFIG.paths)
    assert data["config"]["threads"] == 1 and data["environment"]["torch_threads"] == 1
    env = data["environment"]
    assert {"kernels", "git_commit", "cpu", "torch_threads", "python", "torch", "timestamp"} <= set(env)
    assert "extension_error" in env["kernels"]
    grid = len(prof.QUICK_CONFIG.convergence)
    assert len(data["results"]) == grid
    ext = data["extension"]["available"]
    for record in data["results"]:
        assert set(record) >= RECORD_KEYS, RECORD_KEYS - set(record)
        assert record["status"] == "ok", record["error"]
        assert set(record["measurements"]) == set(prof.MEASUREMENTS)
        for name, measurement in record["measurements"].items():
            assert set(measurement) >= MEASUREMENT_KEYS, (name, MEASUREMENT_KEYS - set(measurement))
            assert measurement["repeats"] == 2
            assert {"torch", "mm"} <= set(measurement["timings"])
            for backend, errors in measurement["max_error"].items():
                for output, error in errors.items():
                    assert error["max_abs"] < 1e-3, (name, backend, output, error)
        fitness = record["measurements"]["fitness"]
        assert "serial" in fitness["timings"]
        assert ("ext" in fitness["timings"]) == ext and ("single" in fitness["timings"]) == ext
        assert (record["speedup"] is not None) == ext
    converged = data["results"][-1]
    assert converged["convergence"] == 1.0 and converged["distinct"] == [1] * len(converged["distinct"])
    assert set(data["criteria"]) == {key for key, *_ in prof.CRITERIA}


def test_bad_option_exits_2_naming_it(tmp_path: Path) -> None:
    result = run_emokit(["profile", "--quick", "--width", "0", "--out", "p.json"], tmp_path, timeout=120)
    assert result.returncode == 2
    assert "--width 0" in " ".join(result.stderr.split())
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--convergence", "2"], "--convergence 2.0: expected fractions in [0, 1]"),
        (["--batch", "many"], "--batch 'many': expected a comma-separated list of integers"),
        (["--slots", "9", "--modules", "4"], "--slots 9 with --modules 4"),
        (["--din", "32"], "--din and --dout: give both"),
        (["--repeats", "0"], "--repeats 0: expected a positive integer"),
    ],
)
def test_bad_option_is_a_usage_error_naming_it(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "p.json"
    assert cli.main(["profile", "--quick", *argv, "--out", str(out)]) == cli.EXIT_USAGE
    assert message in " ".join(capsys.readouterr().err.split())
    assert not out.exists()


def test_without_extension_the_fallback_runs_alone_and_says_why(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(prof, "extension_status", lambda device: "emokit._C is not built")
    console = Console(record=True, width=200)
    threads = torch.get_num_threads()
    report = prof.run_profile(TINY, console)
    assert torch.get_num_threads() == threads  # restored after the run
    prof.print_report(report, console)
    text = console.export_text()
    assert "kernel columns are missing" in text and "emokit._C is not built" in text
    assert report["extension"] == {"available": False, "reason": "emokit._C is not built"}
    for record in report["results"]:
        assert record["status"] == "ok" and record["speedup"] is None
        assert all("ext" not in m["timings"] for m in record["measurements"].values())
    assert all(c["pass"] is None for c in report["criteria"].values())
    with pytest.raises(KernelBackendError, match=r"--require-ext but emokit\._C is not built"):
        prof.run_profile(TINY, require_ext=True)


@pytest.mark.extension
def test_extension_disagreeing_with_the_fallback_is_not_timed(monkeypatch) -> None:
    from emokit.kernels import extension

    right = extension.multipath_linear
    monkeypatch.setattr(extension, "multipath_linear", lambda x, w, b, idx: right(x, w, b, idx) + 0.01)
    report = prof.run_profile(TINY)
    for record in report["results"]:
        assert record["status"] == "mismatch"
        assert "the extension disagrees with the fallback" in record["error"]
        for measurement in record["measurements"].values():
            assert measurement["status"] == "mismatch" and measurement["timings"] == {}
        assert record["speedup"] is None
    console = Console(record=True, width=200)
    prof.print_report(report, console)
    assert "MISMATCH" in console.export_text()


def test_json_is_written_atomically(tmp_path: Path) -> None:
    path = prof.write_report({"a": [1, 2.5, None]}, tmp_path / "sub" / "r.json")
    assert json.loads(path.read_text()) == {"a": [1, 2.5, None]}
    assert not list(path.parent.glob("*.tmp"))
