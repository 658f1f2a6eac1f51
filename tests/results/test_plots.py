"""``emokit plot`` and emokit.results.plots on real tiny runs (tests/results/conftest.py): the figures
are inspected as matplotlib objects (panels, labels, lines, image values), not as pixels."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.results import copy_result

from emokit import cli
from emokit.bench.summary import MAJORITY
from emokit.results import load
from emokit.results.plots import (
    INSTALL_HINT,
    KINDS,
    Plot,
    PlotDependencyError,
    PlotFolderError,
    figures,
    save_plots,
)

# -- shared figures: drawn once per module ---------------------------------------------------------


@pytest.fixture(scope="module")
def pathnet_plots(pathnet_run: Path) -> list[Plot]:
    return figures(load(pathnet_run))


@pytest.fixture(scope="module")
def matrix_plots(matrix_run: Path) -> list[Plot]:
    return figures(load(matrix_run))


@pytest.fixture(scope="module")
def curves_plots(curves_run: Path) -> list[Plot]:
    return figures(load(curves_run))


def of_kind(plots: list[Plot], kind: str) -> list[Plot]:
    return [p for p in plots if p.kind == kind]


def titles(plot: Plot) -> list[str]:
    return [ax.get_title() for ax in plot.panels]


def tick_labels(labels) -> list[str]:
    return [t.get_text() for t in labels]


def methods_of(results, without_majority: bool = True) -> list[str]:
    present = {c["method"] for c in results.ok_cells}
    return [m for m in results.methods if m in present and not (without_majority and m == MAJORITY)]


# -- what each run gets ----------------------------------------------------------------------------


def test_each_run_gets_the_figures_its_data_allows(pathnet_plots, matrix_plots, curves_plots) -> None:
    kinds = {name: sorted({p.kind for p in plots}, key=KINDS.index) for name, plots in [
        ("pathnet", pathnet_plots), ("matrix", matrix_plots), ("curves", curves_plots)]}  # fmt: skip
    # two budgets and PathNet: no matrix; one budget: no budget figure; no PathNet: no search or reuse
    assert kinds["pathnet"] == ["confusion", "budget", "pathnet-search", "pathnet-reuse", "training-curves"]
    assert kinds["matrix"] == ["confusion", "matrix", "training-curves"]
    assert kinds["curves"] == ["confusion", "training-curves"]
    for plots in (pathnet_plots, matrix_plots, curves_plots):
        names = [p.name for p in plots]
        assert len(set(names)) == len(names)
        assert all(re.fullmatch(r"[a-z0-9][a-z0-9.-]*", n) for n in names), names
        assert all(p.title and p.description and "\n" not in p.description for p in plots)


def test_titles_say_experiment_modality_features_and_budget(pathnet_plots) -> None:
    for plot in of_kind(pathnet_plots, "confusion") + of_kind(pathnet_plots, "pathnet-search"):
        assert "sim-savee -> sim-emodb" in plot.title and "audio/egemaps" in plot.title
        assert re.search(r"budget (50|100)%", plot.title)
        assert plot.figure.get_suptitle() == plot.title
    (budget,) = of_kind(pathnet_plots, "budget")
    assert "sim-savee -> sim-emodb, audio/egemaps" in budget.title


# -- confusion -------------------------------------------------------------------------------------


def test_confusion_has_one_normalised_panel_per_method(pathnet_run: Path, pathnet_plots) -> None:
    results = load(pathnet_run)
    methods = methods_of(results)
    confusions = of_kind(pathnet_plots, "confusion")
    assert [p.title.rsplit("budget ", 1)[1] for p in confusions] == ["50%", "100%"]
    for plot in confusions:
        budget = plot.title.rsplit("budget ", 1)[1]
        assert [t.split(" (")[0] for t in titles(plot)] == methods  # majority-class left out
        assert len(plot.figure.axes) == len(methods) + 1  # one shared colorbar
        for ax, method in zip(plot.panels, methods, strict=True):
            cells = [c for c in results.ok_cells if c["method"] == method and c["budget"]["label"] == budget]
            classes = cells[0]["classes"]
            assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
            assert tick_labels(ax.get_xticklabels()) == classes
            assert tick_labels(ax.get_yticklabels()) == classes
            shown = np.asarray(ax.images[0].get_array())
            np.testing.assert_allclose(shown.sum(axis=1), 1.0)
            summed = np.sum([np.asarray(c["scores"]["confusion"], dtype=float) for c in cells], axis=0)
            np.testing.assert_allclose(shown, summed / summed.sum(axis=1, keepdims=True))
            assert len(ax.texts) == len(classes) ** 2  # every value written on its square
            assert f"{len(cells)} cells" in ax.get_title()


# -- matrix ----------------------------------------------------------------------------------------


def test_the_matrix_heatmap_holds_the_summarys_mean_uar(matrix_run: Path, matrix_plots) -> None:
    results = load(matrix_run)
    (plot,) = of_kind(matrix_plots, "matrix")
    (ax,) = plot.panels  # target-only (majority-class is no panel)
    assert ax.get_title() == "target-only"
    assert ax.get_xlabel() == "trained on" and ax.get_ylabel() == "test corpus"
    corpora = ["sim-savee", "sim-emodb"]
    assert tick_labels(ax.get_xticklabels()) == corpora and tick_labels(ax.get_yticklabels()) == corpora
    shown = np.asarray(ax.images[0].get_array())
    for row in (r for r in results.summary if r["method"] == "target-only"):
        i, j = corpora.index(row["target"]), corpora.index(row["sources"][0])
        assert shown[i, j] == pytest.approx(row["uar"]["mean"])
        assert f"{100 * row['uar']['mean']:.1f}" in [t.get_text() for t in ax.texts]
    assert "audio/egemaps" in plot.title


def test_a_run_missing_one_pair_is_no_matrix(matrix_run: Path, tmp_path: Path, allow_invalid_results) -> None:
    path = copy_result(matrix_run, tmp_path)
    data = json.loads(path.read_text())
    dropped = {"sources": ["sim-emodb"], "target": "sim-savee"}

    def kept(item: dict) -> bool:
        return not (item["sources"] == dropped["sources"] and item["target"] == dropped["target"])

    data["config"]["experiments"] = [e for e in data["config"]["experiments"] if kept(e)]
    data["cells"] = [c for c in data["cells"] if kept(c)]
    data["summary"] = [r for r in data["summary"] if kept(r)]
    path.write_text(json.dumps(data))
    plots = figures(load(path))
    assert not of_kind(plots, "matrix")
    assert len(of_kind(plots, "confusion")) == 3


# -- budget ----------------------------------------------------------------------------------------


def test_the_budget_figure_has_a_line_and_a_band_per_method(pathnet_run: Path, pathnet_plots) -> None:
    results = load(pathnet_run)
    methods = methods_of(results)
    (plot,) = of_kind(pathnet_plots, "budget")
    (ax,) = plot.panels
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert [label for label in lines if label in methods] == methods
    assert set(lines) - set(methods) == {"chance (1/classes)"}
    assert tick_labels(ax.get_xticklabels()) == ["50%", "100%"]
    assert ax.get_ylabel() == "UAR (test)" and "%" in ax.get_xlabel()
    banded = 0
    for method in methods:
        rows = {r["budget"]["label"]: r for r in results.summary if r["method"] == method}
        np.testing.assert_allclose(lines[method].get_xdata(), [50.0, 100.0])
        np.testing.assert_allclose(
            lines[method].get_ydata(), [rows["50%"]["uar"]["mean"], rows["100%"]["uar"]["mean"]]
        )
        banded += all(r["uar"]["ci95"] for r in rows.values())
    from matplotlib.collections import PolyCollection

    assert banded >= 1
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == banded


# -- PathNet ---------------------------------------------------------------------------------------


def test_pathnet_search_has_a_panel_per_task_and_a_line_per_cell_and_series(pathnet_plots) -> None:
    searches = of_kind(pathnet_plots, "pathnet-search")
    assert len(searches) == 2  # one per budget
    for plot in searches:
        assert [t.split(" (")[0] for t in titles(plot)] == ["task sim-savee", "task sim-emodb"]
        assert "(target" in titles(plot)[1]
        for ax in plot.panels:
            assert ax.get_xlabel() == "generation" and ax.get_ylabel() == "fitness / validation UAR"
            assert len(ax.get_lines()) == 2 * 3  # 2 cells x best, mean fitness and validation UAR
            assert all(len(line.get_xdata()) == 4 for line in ax.get_lines())  # 4 generations
        (legend,) = plot.figure.legends
        labels = [t.get_text() for t in legend.get_texts()]
        assert labels == ["fold 0, repeat 0", "fold 1, repeat 0", "best fitness", "mean fitness",
                          "champion's validation UAR"]  # fmt: skip


def test_pathnet_reuse_maps_the_target_paths_modules_by_origin(pathnet_run: Path, pathnet_plots) -> None:
    (plot,) = of_kind(pathnet_plots, "pathnet-reuse")
    assert "budget 100%" in plot.title
    assert titles(plot) == ["reused from sim-savee", "trained for the target"]
    cells = [
        c for c in load(pathnet_run).ok_cells if c["method"] == "pathnet" and c["budget"]["label"] == "100%"
    ]
    arch = cells[0]["method_info"]["architecture"]
    expected = np.zeros((2, arch["layers"], arch["modules"]))
    for cell in cells:
        info = cell["method_info"]
        reused = {(r["layer"] - 1, r["module"]) for r in info["reused_modules"]}
        for layer, modules in enumerate(info["target_path"]):
            for module in set(modules):
                expected[0 if (layer, module) in reused else 1, layer, module] += 1 / len(cells)
    for ax, want in zip(plot.panels, expected, strict=True):
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), want)
        assert ax.get_ylabel() == "layer" and ax.get_xlabel() == "module"
        assert tick_labels(ax.get_yticklabels()) == [str(i) for i in range(1, arch["layers"] + 1)]
        assert tick_labels(ax.get_xticklabels()) == [str(i) for i in range(arch["modules"])]
    assert len(plot.figure.axes) == 3  # and the colorbar


def test_a_format_2_file_draws_pathnet_search_from_method_info(
    pathnet_run: Path, tmp_path: Path, allow_invalid_results
) -> None:
    path = copy_result(pathnet_run, tmp_path)
    data = json.loads(path.read_text())
    data["format"] = 2
    data.pop("run_config", None)
    for cell in data["cells"]:
        del cell["curves"]
    path.write_text(json.dumps(data))
    plots = figures(load(path))
    assert not of_kind(plots, "training-curves")  # format 2 recorded no epochs
    searches = of_kind(plots, "pathnet-search")
    assert len(searches) == 2
    for plot in searches:
        assert [t.split(" (")[0] for t in titles(plot)] == ["task sim-savee", "task sim-emodb"]
        assert all(len(ax.get_lines()) == 2 * 2 for ax in plot.panels)  # no validation UAR series
        labels = [t.get_text() for t in plot.figure.legends[0].get_texts()]
        assert "champion's validation UAR" not in labels and "best fitness" in labels


# -- training curves -------------------------------------------------------------------------------


def test_training_curves_hold_fdan_and_the_cascade_stages(curves_run: Path, curves_plots) -> None:
    cells = load(curves_run).ok_cells
    (plot,) = of_kind(curves_plots, "training-curves")
    assert titles(plot) == ["cascade: stage 1: sim-savee", "cascade: stage 2: sim-enterface", "fdan: target"]
    for ax in plot.panels:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "validation UAR"
        method, curve = ax.get_title().split(": ", 1)
        recorded = sorted(
            (c["fold"], next(k for k in c["curves"] if k["name"] == curve)["series"]["val_uar"])
            for c in cells
            if c["method"] == method
        )
        assert len(ax.get_lines()) == len(recorded) == 2  # one per cell (2 folds)
        for line, (_, values) in zip(ax.get_lines(), recorded, strict=True):
            np.testing.assert_allclose(line.get_ydata(), values)
            np.testing.assert_allclose(line.get_xdata(), np.arange(1, len(values) + 1))


def test_training_curves_of_the_baselines_leave_pathnet_out(pathnet_plots) -> None:
    curves = of_kind(pathnet_plots, "training-curves")
    assert len(curves) == 2
    for plot in curves:
        assert titles(plot) == [
            "source-only: source",
            "target-only: target",
            "finetune: source",
            "finetune: target",
        ]


# -- files and the command -------------------------------------------------------------------------


def test_save_plots_writes_png_and_svg(curves_run: Path, curves_plots, tmp_path: Path) -> None:
    folder = tmp_path / "new" / "figures"
    seen: list[str] = []
    paths = save_plots(load(curves_run), folder, on_saved=lambda plot, files: seen.append(plot.name))
    assert seen == [p.name for p in curves_plots]
    assert sorted(p.name for p in paths) == sorted(f"{n}.{fmt}" for n in seen for fmt in ("png", "svg"))
    assert sorted(folder.iterdir()) == sorted(paths)
    for path in paths:
        head = path.read_bytes()[:400]
        if path.suffix == ".png":
            assert head.startswith(b"\x89PNG\r\n\x1a\n")
        else:
            assert re.search(rb"<svg[\s>]", head) and b"http://www.w3.org/2000/svg" in head
    only_png = save_plots(load(curves_run), tmp_path / "png", formats=("png",))
    assert {p.suffix for p in only_png} == {".png"}


def test_save_plots_names_a_folder_it_cannot_use(curves_run: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    with pytest.raises(PlotFolderError, match=re.escape(str(blocker))):
        save_plots(load(curves_run), blocker)
    with pytest.raises(PlotFolderError, match=re.escape(str(blocker / "below"))):
        save_plots(load(curves_run), blocker / "below")


def test_emokit_plot_end_to_end(curves_run: Path, curves_plots, tmp_path: Path, capsys) -> None:
    out = tmp_path / "plots"
    assert cli.main(["plot", str(curves_run), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(curves_plots) + 1
    for line, plot in zip(lines[:-1], curves_plots, strict=True):
        assert line.startswith(plot.kind) and f"{out / plot.name}.{{png,svg}}" in line and plot.title in line
    assert re.fullmatch(rf"2 figures \(4 files\) in {re.escape(str(out))}, [\d.]+ s", lines[-1])
    assert len(list(out.glob("*.png"))) == len(list(out.glob("*.svg"))) == 2


def test_emokit_plot_on_a_file_that_is_no_result_file(tmp_path: Path, capsys) -> None:
    path = tmp_path / "notes.json"
    path.write_text('{"hello": "world"}')
    assert cli.main(["plot", str(path), "--out", str(tmp_path / "plots")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "notes.json" in err
    assert not (tmp_path / "plots").exists()


def test_emokit_plot_without_a_figure_to_draw(
    curves_run: Path, tmp_path: Path, capsys, allow_invalid_results
) -> None:
    path = copy_result(curves_run, tmp_path)
    data = json.loads(path.read_text())
    data["status"] = "interrupted"
    for cell in data["cells"]:
        cell["status"] = "failed"
    path.write_text(json.dumps(data))
    assert figures(load(path)) == []
    assert cli.main(["plot", str(path), "--out", str(tmp_path / "plots")]) == 0
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and "nothing to draw" in out


def test_missing_matplotlib_gives_the_install_hint(
    curves_run: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args, **kwargs):
        return None if name == "matplotlib" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(PlotDependencyError, match=re.escape(INSTALL_HINT)):
        figures(load(curves_run))
    assert cli.main(["plot", str(curves_run), "--out", str(tmp_path / "plots")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'emokit[plot]'" in err


def test_the_module_imports_without_matplotlib_and_draws_without_pyplot(
    curves_run: Path, tmp_path: Path
) -> None:
    script = f"""
import sys
sys.modules["matplotlib"] = None  # as if not installed
import emokit.results.plots as plots
from emokit.results import load
try:
    plots.figures(load({str(curves_run)!r}))
except plots.PlotDependencyError as exc:
    print("refused:", exc)
del sys.modules["matplotlib"]
plots.save_plots(load({str(curves_run)!r}), {str(tmp_path / "out")!r})
print("pyplot imported:", "matplotlib.pyplot" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"refused: {INSTALL_HINT}" in done.stdout
    assert "pyplot imported: False" in done.stdout
