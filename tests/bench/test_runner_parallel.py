"""The runner across processes: --jobs, Ray, failing cells, killed workers, Ctrl-C, --device, threads.

Results must not depend on where a cell runs: the same cells (scores, predictions, validation) with
one job in this process, two worker processes, a local Ray instance, and whatever thread settings
the parent process has.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from support.cli_runner import run_emokit
from support.toy_plugin import NearestCentroid, SpectrumFeature, toy_registry, write_tone_corpora

from emokit import cli
from emokit.api import Method
from emokit.cli.bench import run_bench_command
from emokit.training import Standardizer


class SeededNoise(Method):
    """A method whose predictions depend on torch's thread-sensitive maths and on its seed: a small
    MLP trained for a few steps (so a cell run elsewhere with other threads would differ)."""

    name = "seeded-mlp"
    description = "a few Adam steps of a seeded MLP"

    def run(self, task):
        import torch

        torch.manual_seed(task.seed)
        X = torch.as_tensor(Standardizer().fit(task.target.train.X).transform(task.target.train.X))
        y = torch.as_tensor(task.target.train.y)
        model = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 3))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(20):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X), y).backward()
            opt.step()
        test = torch.as_tensor(Standardizer().fit(task.target.train.X).transform(task.target.test.X))
        self.device_seen = task.device
        return model(test).argmax(1).numpy()

    def info(self):
        return {"device": getattr(self, "device_seen", None)}


class FailsOnFold2(Method):
    """Raises in every cell of the second fold."""

    name = "fails-on-fold-2"
    description = "nearest centroid, but fold 2 raises"

    def run(self, task):
        if task.fold == 1:
            raise RuntimeError("fold 2 is cursed")
        return NearestCentroid().run(task)


class KillsItsWorker(Method):
    """Kills its own process (as the OS's out-of-memory killer would) in the first fold's 100% cell."""

    name = "kills-worker"
    description = "SIGKILLs its process in one cell"

    def run(self, task):
        if task.fold == 0 and task.budget == "100%":
            os.kill(os.getpid(), signal.SIGKILL)
        return NearestCentroid().run(task)


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone_corpora(tmp_path_factory.mktemp("tones"))


def _bench(tones: Path, out: Path, methods: str, *extra: str, registry=None) -> tuple[int, dict]:
    args = cli.build_parser().parse_args(
        ["bench", "--source", "toy-a", "--target", "toy-b", "--features", "toy-spectrum", "--data-root",
         str(tones), "--out", str(out), "--quiet", "--method", methods, "--no-baselines", "--folds", "loso",
         "--seeds", "2", "--target-budget", "0.5,1", *extra]
    )  # fmt: skip
    registry = registry or toy_registry(SeededNoise(), FailsOnFold2(), KillsItsWorker())
    code = run_bench_command(args, registry, Console(width=200, record=True))
    (path,) = out.glob("bench-*.json")
    data = json.loads(path.read_text())
    data["_predictions"] = sorted(
        path.with_name(path.stem + ".predictions.jsonl").read_text().splitlines(), key=lambda line: line
    )
    return code, data


#: what may differ between two runs of the same cells: timings, where they ran, the sidecar's name
_VARYING = {"time_s", "runtime", "predictions"}


def _cells(data: dict) -> dict[tuple, dict]:
    out = {}
    for cell in data["cells"]:
        key = (cell["method"], cell["fold"], cell["repeat"], cell["budget"]["label"])
        assert key not in out
        out[key] = {k: v for k, v in cell.items() if k not in _VARYING}
    return out


def _summary(data: dict) -> list[dict]:
    return [{k: v for k, v in row.items() if "time" not in k} for row in data["summary"]]


def test_two_worker_processes_give_the_cells_of_one_job(tones: Path, tmp_path: Path) -> None:
    code, one = _bench(tones, tmp_path / "one", "seeded-mlp,nearest-centroid", "--jobs", "1")
    assert code == 0
    code, two = _bench(tones, tmp_path / "two", "seeded-mlp,nearest-centroid", "--jobs", "2")
    assert code == 0
    assert len(one["cells"]) == len(two["cells"]) == 4 * 2 * 2 * 3  # folds x repeats x budgets x methods
    assert _cells(one) == _cells(two)
    assert one["_predictions"] == two["_predictions"]
    assert _summary(one) == _summary(two)
    runtime = two["cells"][0]["runtime"]
    assert runtime["device"] == "cpu" and runtime["torch_threads"] == 1 and runtime["cpu_capability"]


def test_a_failing_cell_is_recorded_and_every_other_cell_finishes(tones: Path, tmp_path: Path) -> None:
    code, data = _bench(tones, tmp_path, "fails-on-fold-2,nearest-centroid", "--jobs", "2")
    assert code == cli.EXIT_CELLS_FAILED
    failed = [c for c in data["cells"] if c["status"] == "failed"]
    ok = [c for c in data["cells"] if c["status"] == "ok"]
    assert len(failed) == 2 * 2  # fold 2 of both repeats, both budgets
    assert len(ok) == 4 * 2 * 2 * 3 - 4
    for cell in failed:
        assert cell["method"] == "fails-on-fold-2" and cell["fold"] == 1
        error = cell["error"]
        assert error["type"] == "RuntimeError" and error["message"] == "fold 2 is cursed"
        assert error["method"] == "fails-on-fold-2" and "fold 2" in error["cell"]
        assert "Traceback" in error["traceback"] and "cursed" in error["traceback"]
    # the summary is made of the finished cells
    rows = {(r["method"], r["budget"]["label"]): r for r in data["summary"]}
    assert rows[("fails-on-fold-2", "100%")]["cells"] == 6
    assert rows[("fails-on-fold-2", "100%")]["failed_cells"] == 2


def test_resume_runs_the_failed_cells_again(tones: Path, tmp_path: Path) -> None:
    code, data = _bench(tones, tmp_path, "fails-on-fold-2", "--jobs", "1")
    assert code == cli.EXIT_CELLS_FAILED
    (path,) = tmp_path.glob("bench-*.json")

    class Mended(FailsOnFold2):
        def run(self, task):
            return NearestCentroid().run(task)

    code, data = _bench(tones, tmp_path, "fails-on-fold-2", "--jobs", "1", "--resume", str(path),
                        registry=toy_registry(Mended()))  # fmt: skip
    assert code == 0
    assert all(c["status"] == "ok" for c in data["cells"]) and len(data["cells"]) == 4 * 2 * 2 * 2


def test_a_worker_killed_by_the_os_fails_its_cell_and_the_rest_go_on(tones: Path, tmp_path: Path) -> None:
    code, data = _bench(tones, tmp_path, "kills-worker,nearest-centroid", "--jobs", "2")
    assert code == cli.EXIT_CELLS_FAILED
    failed = [c for c in data["cells"] if c["status"] == "failed"]
    assert {(c["method"], c["fold"], c["budget"]["label"]) for c in failed} == {("kills-worker", 0, "100%")}
    assert len(failed) == 2  # one per repeat
    assert all(c["error"]["type"] == "WorkerDied" and "SIGKILL" in c["error"]["message"] for c in failed)
    assert len(data["cells"]) == 4 * 2 * 2 * 3  # every other cell finished


def test_a_local_ray_instance_gives_the_cells_of_one_job(tones: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    _, one = _bench(tones, tmp_path / "one", "seeded-mlp,fails-on-fold-2", "--jobs", "1")
    code, ray_run = _bench(tones, tmp_path / "ray", "seeded-mlp,fails-on-fold-2", "--executor", "ray",
                           "--jobs", "2")  # fmt: skip
    assert code == cli.EXIT_CELLS_FAILED  # the cursed fold fails there too, recorded the same way
    strip = {"traceback"}
    for cells in (_cells(one), _cells(ray_run)):
        for cell in cells.values():
            if "error" in cell:
                cell["error"] = {k: v for k, v in cell["error"].items() if k not in strip}
    assert _cells(one) == _cells(ray_run)
    assert one["_predictions"] == ray_run["_predictions"]


# -- the same numbers whatever the parent process's threads ------------------------------------------
TINY = ["bench", "--method", "target-only", "--no-baselines", "--source", "sim-emodb",
        "--target", "sim-savee", "--sim-scale", "0.05", "--seeds", "1", "--folds", "2",
        "--target-budget", "1", "--quiet", "--option", "epochs=15"]  # fmt: skip


def _cli_cells(out: Path) -> dict:
    (path,) = out.glob("bench-*.json")
    return _cells(json.loads(path.read_text()))


def test_cells_do_not_depend_on_the_parent_threads_or_cores(tmp_path: Path) -> None:
    runs = {
        "omp1-jobs1": ({"OMP_NUM_THREADS": "1"}, ["--jobs", "1"], None),
        "omp3-jobs1": ({"OMP_NUM_THREADS": "3"}, ["--jobs", "1"], None),
        "one-core-jobs2": ({}, ["--jobs", "2"], "0"),
    }
    cells = {}
    for name, (env, extra, cores) in runs.items():
        out = tmp_path / name
        argv = [*TINY, "--out", str(out), *extra]
        if cores is not None:  # the parent (and its workers) pinned to one core
            command = ["taskset", "-c", cores, sys.executable, "-m", "emokit.cli", *argv]
            result = subprocess.run(
                command, capture_output=True, text=True, env={**os.environ, **env}, timeout=600
            )
        else:
            result = run_emokit(argv, tmp_path, **env)
        assert result.returncode == 0, result.stdout + result.stderr
        cells[name] = _cli_cells(out)
    first = cells["omp1-jobs1"]
    assert len(first) == 2 * 2  # 2 folds x (target-only, majority)
    assert all(c == first for c in cells.values())


# -- Ctrl-C with workers ------------------------------------------------------------------------------
def test_ctrl_c_with_workers_keeps_every_finished_cell(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # PathNet without early stopping: cells of several seconds each, so a Ctrl-C lands mid-run
    argv = ["bench", "--method", "pathnet", "--no-baselines", "--source", "sim-emodb",
            "--target", "sim-savee", "--sim-scale", "0.05", "--seeds", "1", "--folds", "loso",
            "--target-budget", "1", "--quiet", "--out", str(out), "--jobs", "2",
            "--option", "pathnet.patience=none", "--option", "pathnet.generations=300"]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "emokit.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
        # a shell's background job (e.g. CI started with `&`) ignores SIGINT, and children inherit
        # that: give the bench the default, as a terminal's foreground job has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    finished = 0
    while time.monotonic() < deadline and process.poll() is None:
        files = list(out.glob("bench-*.json"))
        text = files[0].read_text() if files else ""
        if text:  # (the name is claimed empty, then the first save fills it)
            data = json.loads(text)
            finished = sum(c["method"] == "pathnet" for c in data["cells"])
            if finished >= 1:
                break
        time.sleep(0.2)
    assert process.poll() is None and finished >= 1, "the run ended before a cell finished"
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
    output, _ = process.communicate(timeout=60)
    assert process.returncode == cli.EXIT_INTERRUPTED, output
    (path,) = out.glob("bench-*.json")
    data = json.loads(path.read_text())
    assert data["status"] == "interrupted"
    kept = [c for c in data["cells"] if c["method"] == "pathnet"]
    assert finished <= len(kept) < 4 and all(c["status"] == "ok" for c in kept)
    assert "--resume" in output
    # no worker is left running (an exited child the container's init has not reaped yet is no worker)
    time.sleep(1)
    left = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(process.pid)], capture_output=True, text=True)
    assert [line for line in left.stdout.splitlines() if "<defunct>" not in line] == []


# -- devices and bad input ------------------------------------------------------------------------------
def test_the_device_reaches_the_method_and_is_recorded(tones: Path, tmp_path: Path) -> None:
    method = SeededNoise()
    code, data = _bench(tones, tmp_path, "seeded-mlp", "--jobs", "1", "--device", "cpu",
                        registry=toy_registry(method))  # fmt: skip
    assert code == 0 and method.device_seen == "cpu"
    cells = [c for c in data["cells"] if c["method"] == "seeded-mlp"]
    assert all(c["runtime"]["device"] == "cpu" and c["method_info"]["device"] == "cpu" for c in cells)
    assert data["identity"]["device"] == "cpu" and data["identity"]["torch_threads"] == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--jobs", "0"], "--jobs '0': expected a whole number of 1 or more"),
        (["--jobs", "-2"], "--jobs '-2': expected a whole number of 1 or more"),
        (["--jobs", "many"], "--jobs 'many': expected a whole number of 1 or more"),
        (["--threads", "0"], "--threads '0': expected a whole number of 1 or more"),
        (["--device", "tpu"], "--device 'tpu': expected auto, cpu, cuda or cuda:N"),
        (["--address", "127.0.0.1:1"], "--address is the Ray cluster of --executor ray"),
    ],
)
def test_bad_runner_options_are_one_clear_line_before_any_work(extra, message, capsys) -> None:
    assert cli.main(["bench", "--method", "svm", "--target", "sim-savee", *extra]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in " ".join(err.split())
    assert err.count("\n") <= 3


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:7"])
def test_cuda_on_a_machine_without_it_is_refused(device, capsys) -> None:
    assert (
        cli.main(["bench", "--method", "svm", "--target", "sim-savee", "--device", device]) == cli.EXIT_USAGE
    )
    assert "this machine has no CUDA device" in capsys.readouterr().err


def test_ray_missing_or_unreachable_is_refused_before_any_work(monkeypatch, capsys) -> None:
    argv = ["bench", "--method", "svm", "--target", "sim-savee", "--executor", "ray"]
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    assert cli.main(argv) == cli.EXIT_USAGE
    assert "ray is not installed; install it with pip install 'emokit[ray]'" in capsys.readouterr().err
    monkeypatch.undo()
    pytest.importorskip("ray")
    assert cli.main([*argv, "--address", "127.0.0.1:1"]) == cli.EXIT_USAGE
    assert "--address 127.0.0.1:1: no Ray cluster answers there" in " ".join(capsys.readouterr().err.split())


def test_a_method_that_cannot_travel_to_workers_is_named(tones: Path, tmp_path: Path) -> None:
    class Local(Method):  # defined in a function: not picklable
        name = "local-method"
        description = "cannot be pickled"

        def run(self, task):
            return np.zeros(len(task.target.test), dtype=np.int64)

    args = cli.build_parser().parse_args(
        ["bench", "--source", "toy-a", "--target", "toy-b", "--features", "toy-spectrum", "--data-root",
         str(tones), "--out", str(tmp_path), "--method", "local-method", "--jobs", "2"]
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"cannot be sent to worker processes .*local-method.*--jobs 1"):
        run_bench_command(args, toy_registry(Local()), Console(width=200))


# -- an extractor that fails ---------------------------------------------------------------------------
class BrokenFeature(SpectrumFeature):
    """Raises on every file (a bug, not unreadable media): no feature row at all."""

    name = "broken-spectrum"

    def extract(self, utterance):
        raise ZeroDivisionError("the extractor has a bug")


def test_an_extractor_that_fails_fails_its_experiments_cells_and_the_others_run(
    tones: Path, tmp_path: Path
) -> None:
    from types import SimpleNamespace

    from support import toy_plugin

    from emokit import hookimpl
    from emokit.bench.protocol import BenchConfig, BenchRunner, Experiment
    from emokit.bench.results import ResultFile
    from emokit.registry import Registry

    @hookimpl
    def register_features():
        return [SpectrumFeature(), BrokenFeature()]

    plugin = SimpleNamespace(
        emokit_register_datasets=toy_plugin.emokit_register_datasets,
        emokit_register_features=register_features,
        emokit_register_methods=toy_plugin.emokit_register_methods,
    )
    registry = Registry.discover(extra=[("toy", plugin)])
    good = Experiment(("toy-a",), "toy-b", "audio", "toy-spectrum")
    bad = Experiment(("toy-a",), "toy-b", "audio", "broken-spectrum")
    config = BenchConfig(
        methods=["nearest-centroid"], experiments=[bad, good], seeds=[0], data_root=tones, cache_dir=tmp_path
    )
    runner = BenchRunner(registry, config)
    runner.check_plan()
    results = ResultFile(tmp_path / "run.json", config.to_dict())
    assert runner.run(results) == 4 * 2  # 4 folds x (method, majority) of the broken experiment
    results.close()
    failed = [c for c in results.cells if c["status"] == "failed"]
    assert {c["features"] for c in failed} == {"broken-spectrum"}
    assert all("the extractor has a bug" in c["error"]["message"] for c in failed)
    assert all("extracting broken-spectrum features" in c["error"]["cell"] for c in failed)
    ok = [c for c in results.cells if c["status"] == "ok"]
    assert len(ok) == 4 * 2 and {c["features"] for c in ok} == {"toy-spectrum"}


def test_the_default_jobs_follow_the_cores_and_the_memory(monkeypatch) -> None:
    from emokit.bench import machine

    monkeypatch.setattr(machine, "usable_cores", lambda: 16)
    monkeypatch.setattr(machine, "available_memory", lambda: 64 * 10**9)
    assert machine.default_jobs(1, "cpu") == 16
    assert machine.default_jobs(4, "cpu") == 4
    monkeypatch.setattr(machine, "available_memory", lambda: 4 * 10**9)  # 1.5 GB per worker
    assert machine.default_jobs(1, "cpu") == 2
    monkeypatch.setattr(machine, "available_memory", lambda: 10**9)
    assert machine.default_jobs(1, "cpu") == 1
    assert machine.default_jobs(1, "cuda") == 1  # one process per GPU
