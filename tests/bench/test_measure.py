"""emokit.measure: the timing and report helpers shared by the profiler, the benchmarks and bench."""

from __future__ import annotations

import json
import statistics

import pytest
import torch

from emokit import measure


def test_timing_stats_median_and_iqr_match_statistics() -> None:
    times = [0.5, 0.1, 0.4, 0.2, 0.3]
    stats = measure.TimingStats.of(times)
    q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive")
    assert stats.median_s == pytest.approx(0.3)
    assert stats.iqr_s == pytest.approx(q3 - q1)
    assert stats.to_json() == {"median_s": stats.median_s, "iqr_s": stats.iqr_s, "times_s": times}
    assert measure.TimingStats.of([0.25]).iqr_s == 0.0


def test_time_interleaved_alternates_candidates_after_warmup() -> None:
    calls: list[str] = []
    syncs: list[int] = []
    candidates = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    stats = measure.time_interleaved(candidates, repeats=3, warmup=2, sync=lambda: syncs.append(1))
    assert calls == ["a", "b"] * 5  # two warm-up rounds, then three timed, interleaved
    assert {name: len(s.times_s) for name, s in stats.items()} == {"a": 3, "b": 3}
    assert len(syncs) == 2 + 3 * 2 * 2  # once per warm-up round, around every timed call


def test_choose_repeats_fits_the_budget_but_keeps_a_floor() -> None:
    assert measure.choose_repeats(20, round_s=1.0, budget_s=None) == 20
    assert measure.choose_repeats(20, round_s=1.0, budget_s=7.5) == 7
    assert measure.choose_repeats(20, round_s=10.0, budget_s=1.0) == measure.MIN_REPEATS
    assert measure.choose_repeats(2, round_s=10.0, budget_s=1.0) == 2  # never more than asked


def test_write_report_is_atomic_json_and_refuses_nan(tmp_path) -> None:
    path = measure.write_report({"x": [1, 2.5]}, tmp_path / "sub" / "r.json")
    assert json.loads(path.read_text()) == {"x": [1, 2.5]}
    with pytest.raises(ValueError):
        measure.write_report({"x": float("nan")}, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()  # nothing half-written is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]


def test_machine_facts_and_line() -> None:
    facts = measure.machine_facts(torch.device("cpu"))
    assert facts["torch"] == torch.__version__ and facts["gpu"] is None
    assert facts["versions"]["torch"] is not None and facts["versions"]["emokit"] is not None
    assert facts["cpu"] and facts["torch_threads"] >= 1
    facts["load_average"] = {"start": [1.5, 1, 1], "end": [0.5, 1, 1]}
    line = measure.machine_line(facts, "3 cells")
    assert line.endswith("1-min load average 1.5 -> 0.5; 3 cells") and facts["cpu"] in line


def test_paths_are_named_by_time_and_host(tmp_path) -> None:
    assert measure.default_output_path().name.startswith("emokit-profile-")
    path = measure.timestamped_path(tmp_path, "kernels")
    assert path.parent == tmp_path and path.name.startswith("kernels-") and path.suffix == ".json"
