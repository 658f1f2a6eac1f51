"""The ``pathnet`` method plugin: options, the live view, and ``emokit bench --method pathnet``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from support import toy_plugin
from support.cli_runner import run_emokit
from support.tasks import runner_view
from support.tasks import shifted_task as _task
from support.toy_plugin import write_tone_corpora

from emokit import cli
from emokit.api import OptionError
from emokit.bench.protocol import BenchConfig, BenchRunner, Experiment, Reporter
from emokit.bench.results import ResultFile
from emokit.cli.bench import config_from_args
from emokit.registry import Registry
from emokit_plugins.pathnet import Architecture, PathNet, SearchConfig
from emokit_plugins.pathnet.method import PathNetMethod, model_file_name, pathnet_options

FAST = {"pathnet.generations": "3", "pathnet.population": "4", "pathnet.steps": "2", "pathnet.width": "8"}


def test_options_are_parsed_and_bad_ones_named() -> None:
    arch, search, files = pathnet_options(
        {"epochs": "5", "pathnet.width": "16", "pathnet.lr": "0.01", "pathnet.patience": "none",
         "pathnet.engine": "serial", "pathnet.save": "models", "batch": "8"}
    )  # fmt: skip
    assert Architecture(input_dim=1, **arch) == Architecture(input_dim=1, width=16)
    # the defaults are SearchConfig's; bare keys the method declares (batch) reach it too
    assert SearchConfig(**search) == SearchConfig(lr=0.01, patience=None, engine="serial", batch_size=8)
    assert files == {"save": "models", "load": None}
    assert pathnet_options({})[1] == SearchConfig().to_dict()
    with pytest.raises(OptionError, match=r"--option pathnet.widht: method 'pathnet' has no option 'widht'"):
        pathnet_options({"pathnet.widht": "3"})
    with pytest.raises(OptionError, match=r"--option pathnet.population=many: expected a whole number"):
        pathnet_options({"pathnet.population": "many"})
    with pytest.raises(OptionError, match=r"--option pathnet.engine=fast: expected one of batched, serial"):
        pathnet_options({"pathnet.engine": "fast"})


def test_the_method_transfers_and_reports_what_it_reused(tmp_path: Path) -> None:
    method = PathNetMethod()
    labelled = _task({**FAST, "pathnet.save": str(tmp_path)})
    task = runner_view(labelled)  # the test labels are withheld from the method
    predictions = method.run(task)
    assert predictions.shape == labelled.target.test.y.shape
    info = method.info()
    # it reports the target stage's selected champion's validation UAR
    assert task.validation is not None and task.validation["on"] == "target validation"
    assert task.validation["uar"] == pytest.approx(info["stages"]["b"]["val_uar"], abs=1e-4)
    assert list(info["stages"]) == ["a", "b"] and info["tasks"] == ["a", "b"]
    assert info["kernel_backend"] in ("ext", "torch")
    assert "target path reuses" in info["note"]
    saved = Path(info["saved_to"])
    assert saved.name == "a-to-b-audio-seed0-fold0.pt"
    model = PathNet.load(saved)
    assert np.array_equal(model.predict("b", task.target.test.X), predictions)
    # a transfer can start from the saved source knowledge: only the new target is evolved
    again = PathNetMethod()
    target_c = _task({**FAST, "pathnet.load": str(saved)}, seed=1)
    target_c.target.train.corpus = "c"
    again.run(runner_view(target_c))
    assert list(again.info()["stages"]) == ["c"] and again.info()["tasks"] == ["a", "b", "c"]


def test_every_cell_saves_to_its_own_file() -> None:
    task = _task()
    assert model_file_name(task) == "a-to-b-audio-seed0-fold0.pt"
    assert model_file_name(replace(task, fold=2, budget="10%")) == "a-to-b-audio-seed0-fold2-10pct.pt"


class RecordingReporter(Reporter):
    def __init__(self) -> None:
        self.updates: list[tuple] = []

    def method_progress(self, method, stage, done, total, figures, *, slot=0) -> None:
        self.updates.append((method, stage, done, total, figures))


def test_the_live_view_gets_generation_fitness_and_throughput(tmp_path: Path) -> None:
    tones = write_tone_corpora(tmp_path / "tones")

    plugin = SimpleNamespace(  # the toy corpora and features beside the built-in pathnet method
        emokit_register_datasets=toy_plugin.emokit_register_datasets,
        emokit_register_features=toy_plugin.emokit_register_features,
    )
    registry = Registry.discover(extra=[("toy", plugin)])
    config = BenchConfig(
        methods=["pathnet"],
        experiments=[Experiment(("toy-a",), "toy-b", "audio", "toy-spectrum")],
        seeds=[0],
        data_root=tones,
        cache_dir=tmp_path / "cache",
        options=FAST,
    )
    reporter = RecordingReporter()
    BenchRunner(registry, config, reporter).run(ResultFile(tmp_path / "r.json", config.to_dict()))
    stages = [u[1] for u in reporter.updates]
    assert stages[0] == "evolve toy-a (1/2)" and stages[-1] == "evolve toy-b (2/2)"
    method, _, done, total, figures = reporter.updates[-1]
    assert method == "pathnet" and 1 <= done <= total == 3
    assert set(figures) == {"best", "mean", "val", "paths_per_s"} and figures["paths_per_s"] > 0


def test_naming_pathnet_adds_its_baselines_unless_told_not_to() -> None:
    registry = Registry.discover()
    args = cli.build_parser().parse_args(["bench", "--method", "pathnet"])
    config = config_from_args(args, registry)
    assert config.methods == ["pathnet", "source-only", "target-only", "finetune"]
    labels = {(e.sources, e.target, e.modality) for e in config.experiments}
    assert len(labels) == 11
    assert (("sim-enterface",), "sim-savee", "visual") in labels
    assert (("sim-savee", "sim-emodb"), "sim-enterface", "audio") in labels
    args = cli.build_parser().parse_args(["bench", "--method", "pathnet,svm", "--no-baselines"])
    assert config_from_args(args, registry).methods == ["pathnet", "svm"]


def test_bench_pathnet_end_to_end_on_tiny_simulated_corpora(tmp_path: Path) -> None:
    fast = [f"--option={k}={v}" for k, v in FAST.items()]
    common = ["bench", "--method", "pathnet", "--modality", "audio", "--seeds", "1", "--sim-scale", "0.05",
              *fast]  # fmt: skip
    result = run_emokit(
        [
            *common,
            "--source",
            "sim-savee",
            "--target",
            "sim-emodb",
            "--out",
            "out",
            "--option",
            "pathnet.save=models",
            "--option",
            "epochs=5",  # for the baselines; a run of pathnet alone refuses it (pathnet has no epochs)
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "target path reuses" in result.stdout
    data = json.loads(next((tmp_path / "out").glob("bench-*.json")).read_text())
    assert data["status"] == "complete"
    first = [c["method"] for c in data["cells"] if c["fold"] == 0 and c["repeat"] == 0]
    assert first == ["majority-class", "pathnet", "source-only", "target-only", "finetune"]
    pathnet = [c for c in data["cells"] if c["method"] == "pathnet"]
    assert len(pathnet) == pathnet[0]["folds"] and all(c["validation"]["uar"] >= 0 for c in pathnet)
    info = pathnet[0]["method_info"]
    assert list(info["stages"]) == ["sim-savee", "sim-emodb"]
    assert all(r["from"] == "sim-savee" for r in info["reused_modules"])
    saved = Path(info["saved_to"])
    assert saved.is_file()
    # multi-source from the saved model: both sources are learnt already, only the target evolves
    result = run_emokit(
        [*common, "--source", "sim-savee,sim-emodb", "--target", "sim-enterface", "--out", "again",
         "--no-baselines", "--option", f"pathnet.load={saved}"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(next((tmp_path / "again").glob("bench-*.json")).read_text())
    assert {c["method"] for c in data["cells"]} == {"majority-class", "pathnet"}
    info = next(c for c in data["cells"] if c["method"] == "pathnet")["method_info"]
    assert list(info["stages"]) == ["sim-enterface"]
    assert info["tasks"] == ["sim-savee", "sim-emodb", "sim-enterface"]
    assert info["loaded_from"] == str(saved)
