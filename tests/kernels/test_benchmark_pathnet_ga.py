"""benchmarks/pathnet_ga.py in --quick mode: what it writes, never how fast anything is."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from emokit.kernels import ExtensionState, extension_state

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pathnet_ga.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("pathnet_ga_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script is executed
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_quick_run_writes_every_engine_and_the_ratios(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "ga.json"
    rc = bench.main(["--quick", "--threads", "1", "--out", str(out)])
    has_ext = extension_state().loaded
    assert rc == (0 if has_ext else 1)
    report = json.loads(out.read_text())
    engines = ["ext", "torch", "serial"] if has_ext else ["torch", "serial"]
    assert report["status"] == ("ok" if has_ext else "no-extension")
    assert report["engines_timed"] == engines
    assert report["config"]["quick"] and report["config"]["inputs"] == ["audio"]
    assert report["config"]["search"]["patience"] is None
    assert report["environment"]["kernels"]["backend"] in ("ext", "torch")
    assert all(check["agree"] and check["dtype"] == "float64" for check in report["check"].values())

    (result,) = report["results"]
    assert result["input"] == "audio" and result["input_dim"] == 88
    assert list(result["engines"]) == engines
    config = report["config"]
    work = config["population"] * config["generations"]
    for engine in engines:
        record = result["engines"][engine]
        assert record["paths_per_s"]["median"] > 0
        assert len(record["runs"]) == config["repeats"] == 1
        assert all(run["paths_evaluated"] == work for run in record["runs"])
        assert isinstance(record["repeats_agree"], bool)
    assert set(result["float32_drift"]) == set(engines)
    assert set(result["ratios"]) == {"ext/torch", "ext/serial", "torch/serial"}
    assert result["ratios"]["torch/serial"] > 0
    if has_ext:
        assert result["ratios"]["ext/torch"] > 0 and result["ratios"]["ext/serial"] > 0
    else:
        assert result["ratios"]["ext/torch"] is None


def test_bad_options_exit_2(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "ga.json"
    assert bench.main(["--quick", "--inputs", "audio,speech", "--out", str(out)]) == 2
    assert bench.main(["--quick", "--population", "1", "--out", str(out)]) == 2
    assert bench.main(["--quick", "--repeats", "0", "--out", str(out)]) == 2
    assert not out.exists()


def test_without_the_extension_times_torch_and_serial_and_exits_1(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "extension_state", lambda: ExtensionState(loaded=False, error="not built"))
    out = tmp_path / "ga.json"
    assert bench.main(["--quick", "--threads", "1", "--out", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["status"] == "no-extension" and report["extension"]["reason"] == "not built"
    (result,) = report["results"]
    assert list(result["engines"]) == ["torch", "serial"]
    assert result["ratios"]["ext/torch"] is None and result["ratios"]["torch/serial"] > 0


def test_engines_that_disagree_are_not_timed(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "PARAM_ATOL", -1.0)  # no two searches can be that close
    out = tmp_path / "ga.json"
    assert bench.main(["--quick", "--threads", "1", "--out", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["status"] == "mismatch" and report["results"] == []
    assert report["engines_timed"] == [] and not report["check"]["audio"]["agree"]
