"""benchmarks/gpu_check.py on the CPU: what it checks and writes, that a mismatch fails it, its exits."""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from support.kernel_grid import ext_available

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"
HAS_CPU_KERNELS = ext_available("cpu")


@pytest.fixture(scope="module")
def check() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("gpu_check_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def quick_run(check: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any]]:
    out = tmp_path_factory.mktemp("gpu-check") / "check.json"
    rc = check.main(["--device", "cpu", "--quick", "--skip-bench", "--out", str(out)])
    return rc, json.loads(out.read_text())


def test_help_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    for option in ("--device", "--out", "--skip-bench", "--quick", "--cache-dir"):
        assert option in done.stdout
    assert "--inject-error" not in done.stdout  # for tests only


def test_the_check_uses_the_tests_shapes_and_reference(check: ModuleType) -> None:
    from emokit.kernels import reference

    assert check.SHAPES is reference.SHAPES and check.reference_multipath is reference.reference_multipath
    assert check.reference_population is reference.reference_population


def test_quick_cpu_run_passes_and_writes_every_figure(quick_run: tuple[int, dict[str, Any]]) -> None:
    rc, report = quick_run
    assert rc == (0 if HAS_CPU_KERNELS else 1)
    assert report["check"] == "gpu_check" and report["device"] == "cpu" and report["quick"]
    machine = report["machine"]
    assert machine["torch"] == torch.__version__ and machine["gpu"] is None
    assert machine["kernels"]["backend"] in ("ext", "torch") and "environment" in machine
    assert set(report["parts"]) == {"correctness", "timing", "bench"}
    assert report["parts"]["bench"] == {"pass": None, "skipped": "--skip-bench", "runs": []}
    if not HAS_CPU_KERNELS:
        assert report["failed_parts"] == ["correctness", "timing"]
        return
    assert report["pass"] and report["failed_parts"] == []

    part = report["parts"]["correctness"]
    assert part["pass"] and part["failures"] == [] and part["extension"] is None
    assert part["tolerance"] == {
        "float32": {"rtol": 1e-4, "atol": 1e-4},
        "float64": {"rtol": 1e-10, "atol": 1e-10},
    }
    cases = part["cases"]
    assert len(cases) == 7 * 2 * 3 + 7 + 4  # shapes x layouts x variants, module_counts, population
    assert all(case["pass"] and case["error"] is None for case in cases)
    with_grads = [c for c in cases if c["op"] == "multipath_linear" and c["gradients"]]
    assert {c["dtype"] for c in with_grads} == {"float32", "float64"}
    assert {"y", "y_int32_idx", "y_train", "grad_x", "grad_weight", "grad_bias"} <= set(
        with_grads[0]["checks"]
    )
    for output in with_grads[0]["checks"].values():
        assert set(output) == {"ext_vs_torch", "ext_vs_ref", "torch_vs_ref"}
        assert all(c["max_abs"] >= 0 and c["max_rel"] >= 0 for c in output.values())
    for dtype, bound in (("float32", 1e-4), ("float64", 1e-10)):
        assert part["max_error"][dtype]["ext_vs_ref"]["max_abs"] < bound

    timing = report["parts"]["timing"]
    assert timing["pass"] and timing["extension"]["available"] and not timing["criteria_enforced"]
    assert timing["config"]["device"] == "cpu" and timing["config"]["paths"] == [8]
    assert len(timing["records"]) == len(timing["results"]) == 2  # one point, two convergence levels
    for record in timing["records"]:
        assert record["status"] == "ok"
        assert set(record["measurements"]) == {
            "op_forward_shared",
            "op_forward",
            "op_forward_backward",
            "fitness",
        }
        for m in record["measurements"].values():
            assert m["ext_ms"] > 0 and m["torch_ms"] > 0 and m["mm_ms"] > 0
            assert m["gflops"] > 0 and m["mm_gflops"] > 0 and m["mm_ratio"] > 0 and m["speedup"] > 0


@pytest.mark.extension
def test_an_injected_mismatch_fails_parts_a_and_b(check: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "bad.json"
    assert (
        check.main(
            ["--device", "cpu", "--quick", "--skip-bench", "--out", str(out), "--inject-error", "1e-3"]
        )
        == 1
    )
    report = json.loads(out.read_text())
    assert not report["pass"] and report["failed_parts"] == ["correctness", "timing"]
    part = report["parts"]["correctness"]
    layer_cases = [c for c in part["cases"] if c["op"] != "module_counts"]
    assert set(part["failures"]) == {c["name"] for c in layer_cases}
    output = layer_cases[0]["checks"]["y"]
    assert not output["ext_vs_torch"]["pass"] and not output["ext_vs_ref"]["pass"]
    assert output["torch_vs_ref"]["pass"]  # the fallback is not perturbed
    assert all(r["status"] == "mismatch" for r in report["parts"]["timing"]["records"])
    from emokit.kernels import extension

    assert extension.multipath_linear.__name__ == "multipath_linear"  # put back afterwards


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_says_so_in_one_line_and_exits_2(
    check: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "none.json"
    assert check.main(["--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "sees no CUDA device" in err and "--device cpu" in err
    assert not out.exists()
    assert check.main(["--device", "tpu", "--out", str(out)]) == 2
    assert check.main(["--device", "cpu", "--bench-methods", "svm", "--out", str(out)]) == 2
    assert not out.exists()


@functools.cache
def _bench_has_device_flag() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "emokit.cli", "bench", "--help"], capture_output=True, text=True, timeout=120
    )
    return "--device" in done.stdout


def test_bench_cells_parse_as_emokit_bench_arguments(check: ModuleType, tmp_path: Path) -> None:
    if not _bench_has_device_flag():
        pytest.skip("emokit bench has no --device flag yet, which part (c) passes")
    from emokit import cli
    from emokit.cli.bench import config_from_args
    from emokit.registry import get_registry

    for method, modality in (("pathnet", "audio"), ("fdan", "audiovisual")):
        command = check.bench_command(method, "cpu", tmp_path / "cache", tmp_path / "out", 0.05)
        assert command[:4] == [sys.executable, "-m", "emokit.cli", "bench"]
        args = cli.build_parser().parse_args(command[3:])
        assert (args.device, args.modality, args.no_baselines, args.folds) == ("cpu", modality, True, "split")
        config = config_from_args(args, get_registry())
        assert config.methods == [method] and config.seeds == [0]


@pytest.mark.extension
def test_part_c_runs_a_pathnet_cell_on_the_cpu(check: ModuleType, tmp_path: Path) -> None:
    if not _bench_has_device_flag():
        pytest.skip("emokit bench has no --device flag yet, which part (c) passes")
    out = tmp_path / "bench.json"
    argv = [
        "--device",
        "cpu",
        "--quick",
        "--out",
        str(out),
        "--bench-methods",
        "pathnet",
        "--sim-scale",
        "0.02",
    ]
    rc = check.main([*argv, "--cache-dir", str(tmp_path / "cache")])
    report = json.loads(out.read_text())
    bench = report["parts"]["bench"]
    (run,) = bench["runs"]
    assert run["pass"], run["problems"] + [run["stderr_tail"]]
    assert run["returncode"] == 0 and run["wall_s"] > 0 and run["result_status"] == "complete"
    assert "--device" in run["command"] and bench["cache_dir"] == str(tmp_path / "cache")
    (cell,) = run["cells"]  # --folds split, one seed
    assert cell["device"] == "cpu" and cell["status"] == "ok" and 0.0 <= cell["uar"] <= 1.0
    assert cell["kernel_backend"] == "ext"
    assert rc == 0 and bench["pass"]
