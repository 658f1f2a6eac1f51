"""``emokit report`` and :mod:`emokit.results.report`: every format holds the summary's numbers, the
matrix and per-class sections appear where they belong, bad input is one line of error (exit 2)."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from support.results import copy_result

from emokit import cli
from emokit.bench.summary import MAJORITY
from emokit.results import FRAME_COLUMNS, RunResults, load
from emokit.results.report import (
    CSV_COLUMNS,
    FORMATS,
    build_report,
    csv_columns,
    latex_escape,
    planned_cells,
    render,
    render_csv,
    render_latex,
    render_markdown,
    render_table,
)


@pytest.fixture(scope="module")
def pathnet(pathnet_run: Path) -> RunResults:
    return load(pathnet_run)


@pytest.fixture(scope="module")
def matrix(matrix_run: Path) -> RunResults:
    return load(matrix_run)


def _mean(row: dict) -> str:
    return f"{100 * row['uar']['mean']:.1f} ± {100 * row['uar']['std']:.1f}"


def _groups(summary: list[dict]) -> dict[tuple, dict[str, dict]]:
    groups: dict[tuple, dict[str, dict]] = {}
    for row in summary:
        groups.setdefault((row["experiment"], row["budget"]["label"]), {})[row["method"]] = row
    return groups


def _best(rows: dict[str, dict]) -> set[str]:
    means = {m: round(100 * r["uar"]["mean"], 1) for m, r in rows.items() if m != MAJORITY}
    return {m for m, v in means.items() if v == max(means.values())}


def _markdown_table(text: str, title: str) -> tuple[list[str], list[list[str]]]:
    lines = text.splitlines()
    start = lines.index(f"### {title}")
    assert lines[start + 1] == "" and lines[start + 3].startswith("|:---")

    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip()[1:-1].split("|")]

    body = []
    for line in lines[start + 4 :]:
        if not line.startswith("|"):
            break
        body.append(cells(line))
    return cells(lines[start + 2]), body


def _by_experiment_and_budget(header: list[str], body: list[list[str]]) -> dict[tuple, dict[str, str]]:
    """Table rows by (experiment, budget); a row without an experiment continues the one above."""
    out, experiment = {}, None
    for cells in body:
        experiment = cells[0] or experiment
        values = dict(zip(header, cells, strict=True))
        out[(experiment, values.get("budget", "100%"))] = values
    return out


# -- CSV ------------------------------------------------------------------------------------------
def test_the_csv_reads_back_with_one_row_per_summary_row(pathnet: RunResults) -> None:
    frame = pd.read_csv(io.StringIO(render_csv(pathnet)))
    summary = pathnet.summary
    assert len(frame) == len(summary) == 10  # 2 budgets x (4 methods + majority-class)
    assert list(frame.columns) == csv_columns(pathnet)
    assert list(frame.columns[: len(CSV_COLUMNS)]) == list(CSV_COLUMNS)
    classes = summary[0]["classes"]
    assert [c for c in frame.columns if c.startswith("recall_")] == [f"recall_{c}" for c in classes]
    for index, row in enumerate(summary):
        got = frame.iloc[index]
        assert (got["experiment"], got["method"], got["budget"]) == (
            row["experiment"],
            row["method"],
            row["budget"]["label"],
        )
        assert got["budget_fraction"] == row["budget"]["fraction"] and math.isnan(got["budget_shots"])
        assert got["cells"] == row["cells"] == 2 and got["folds"] == 2 and got["repeats"] == 1
        for metric in ("uar", "wa", "macro_f1"):
            assert got[f"{metric}_mean"] == pytest.approx(row[metric]["mean"])
            assert got[f"{metric}_std"] == pytest.approx(row[metric]["std"])
            assert got[f"{metric}_ci_low"] == pytest.approx(row[metric]["ci95"][0])
        for name in classes:
            expected = row["per_class_recall"][name]
            assert (
                math.isnan(got[f"recall_{name}"])
                if expected is None
                else got[f"recall_{name}"] == pytest.approx(expected)
            )
        comparison = row.get("comparison")
        if comparison:  # every method but the reference and majority-class
            assert got["reference"] == "target-only" and got["verdict"] == comparison["verdict"]
            assert got["uar_diff"] == pytest.approx(comparison["mean_diff"])
            assert got["p_holm"] == pytest.approx(comparison["fold_test"]["p_holm"])
        else:
            assert row["method"] in ("target-only", MAJORITY)
            assert math.isnan(got["uar_diff"]) and math.isnan(got["p_holm"])
    assert frame["reference"].notna().sum() == 6  # 3 compared methods x 2 budgets


def test_report_csv_to_a_file_through_the_cli(pathnet_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "summary.csv"
    assert cli.main(["report", str(pathnet_run), "--format", "csv", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    frame = pd.read_csv(out)
    assert len(frame) == len(load(pathnet_run).summary)
    # printed to stdout, the same text: pipe-able
    assert cli.main(["report", str(pathnet_run), "--format", "csv"]) == 0
    assert capsys.readouterr().out == out.read_text(encoding="utf-8")


# -- Markdown and LaTeX ---------------------------------------------------------------------------
def test_the_markdown_summary_holds_every_method_experiment_and_budget(pathnet: RunResults) -> None:
    text = render_markdown(pathnet)
    assert text.startswith(f"# emokit report: {pathnet.path.name}")
    assert "- **status**: complete" in text and "2 speaker folds × 1 repeat" in text
    header, body = _markdown_table(text, "UAR % by experiment and budget")
    assert header == [
        "experiment",
        "budget",
        "pathnet",
        "source-only",
        "target-only (ref)",
        "finetune",
        MAJORITY,
    ]
    table = _by_experiment_and_budget(header, body)
    groups = _groups(pathnet.summary)
    assert set(table) == set(groups)
    for key, rows in groups.items():
        for method, row in rows.items():
            cell = table[key][f"{method} (ref)" if method == "target-only" else method]
            assert _mean(row) in cell
            assert cell.startswith(f"**{_mean(row)}**") == (method in _best(rows))
    assert "## Per-class recall" in text and "Reference: target-only." in text
    assert "## Train × test matrices" not in text  # one pair of corpora: no matrix


def test_the_latex_summary_is_booktabs_with_the_best_of_each_row_bold(pathnet: RunResults) -> None:
    text = render_latex(pathnet)
    assert r"\usepackage{booktabs}" in text.splitlines()[1] and text.splitlines()[1].startswith("%")
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in text
    assert text.count(r"\begin{table}") == text.count(r"\end{table}") == 2  # summary, recall
    for line in text.splitlines():  # no unescaped special character outside comment lines
        if not line.startswith("%"):
            assert not re.search(r"(?<!\\)[%#_&]", line.replace(" & ", " ")), line
            assert "±" not in line and "->" not in line
    summary_env = text[text.index(r"\label{tab:emokit-summary}") :]
    summary_env = summary_env[: summary_env.index(r"\end{table}")]
    body = summary_env[summary_env.index(r"\midrule") : summary_env.index(r"\bottomrule")]
    rows = [line for line in body.splitlines() if line.endswith(r"\\")]
    header = summary_env[summary_env.index(r"\toprule") :].splitlines()[1].removesuffix(r" \\").split(" & ")
    table = _by_experiment_and_budget(header, [r.removesuffix(r" \\").split(" & ") for r in rows])
    groups = _groups(pathnet.summary)
    assert set(table) == {(latex_escape(e), latex_escape(b)) for e, b in groups}
    for (experiment, budget), methods in groups.items():
        for method, row in methods.items():
            cell = table[(latex_escape(experiment), latex_escape(budget))][
                f"{method} (ref)" if method == "target-only" else method
            ]
            mean = latex_escape(_mean(row))
            assert mean in cell and r"{\scriptsize [" in cell
            assert cell.startswith(rf"\textbf{{{mean}}}") == (method in _best(methods))


def test_latex_escaping() -> None:
    assert latex_escape("a_b & c # 50% ± 1 -> d") == r"a\_b \& c \# 50\% $\pm$ 1 $\rightarrow$ d"
    assert latex_escape(r"{x}~^\ ") == r"\{x\}\textasciitilde{}\textasciicircum{}\textbackslash{} "


# -- the table format -----------------------------------------------------------------------------
def test_the_table_format_prints_through_the_cli(pathnet_run: Path, pathnet: RunResults, capsys) -> None:
    assert cli.main(["report", str(pathnet_run)]) == 0
    out = capsys.readouterr().out
    for text in ("status", "complete", "Summary", "Per-class recall", "2 speaker folds × 1 repeat"):
        assert text in out
    versions = pathnet.data["versions"]
    assert versions["emokit"] in out and pathnet.data["git_commit"] in out
    assert pathnet.data["kernel_backend"]["backend"] in out
    for row in pathnet.summary:
        assert _mean(row) in out  # a narrow console: one row per method, every mean still there
    wide = render_table(pathnet, width=200)  # a wide one: a column per method
    assert re.search(r"pathnet\s+source-only\s+target-only \(ref\)\s+finetune\s+majority-class", wide)
    for row in pathnet.summary:
        assert _mean(row) in wide


def test_a_matrix_run_has_per_class_recall_and_the_train_test_matrix(matrix: RunResults) -> None:
    text = render_markdown(matrix)
    assert "## Per-class recall" in text and "## Train × test matrices" in text
    header, body = _markdown_table(text, "target-only: UAR % (audio, egemaps)")
    assert header == ["test \\ train", "sim-savee", "sim-emodb"]
    by_pair = {(r["sources"][0], r["target"]): r for r in matrix.summary if r["method"] == "target-only"}
    assert len(by_pair) == 4
    for cells in body:
        target = cells[0]
        for source, cell in zip(header[1:], cells[1:], strict=True):
            assert cell == _mean(by_pair[(source, target)])
    # per-class recall: one table per experiment, a row per method, a column per class
    for row in matrix.summary:
        title = f"{row['experiment']} ({row['modality']}, {row['features']}): recall %"
        header, body = _markdown_table(text, title)
        assert header == ["method", *row["classes"], "UAR"]
        (cells,) = [c for c in body if c[0] == row["method"]]
        expected = [
            "-" if v is None else f"{100 * v:.1f}"
            for v in (row["per_class_recall"][c] for c in row["classes"])
        ]
        assert cells[1:-1] == expected
    latex = render_latex(matrix)
    assert r"\label{tab:emokit-matrix-1}" in latex and "test \\textbackslash{} train" in latex
    assert [s.title for s in build_report(matrix).sections] == [
        "Summary",
        "Per-class recall",
        "Train × test matrices",
    ]


def test_an_interrupted_run_says_how_many_of_the_planned_cells_it_has(
    pathnet_run: Path, tmp_path: Path
) -> None:
    path = copy_result(pathnet_run, tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["status"] = "interrupted"
    data["cells"] = data["cells"][:14]
    data["summary"] = []
    path.write_text(json.dumps(data), encoding="utf-8")
    results = load(path)
    assert planned_cells(results) == 20  # 2 folds x 2 budgets x (4 methods + majority-class)
    facts = dict(build_report(results).facts)
    assert facts["status"] == "interrupted: 14 of the planned 20 cells"
    assert sum(row["cells"] for row in results.summary) == 14
    text = render_markdown(results)
    assert "interrupted: 14 of the planned 20 cells" in text
    for row in results.summary:
        assert _mean(row) in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_a_format1_file(fmt: str) -> None:
    (path,) = sorted((Path(__file__).parent / "fixtures" / "format1").glob("bench-*cascade*.json"))
    results = load(path)
    text = render(results, fmt)
    for row in results.summary:
        if fmt == "csv":
            assert f"{row['uar']['mean']}" in text
        else:
            assert latex_escape(_mean(row)) in text if fmt == "latex" else _mean(row) in text


def test_render_refuses_an_unknown_format(pathnet: RunResults) -> None:
    with pytest.raises(ValueError, match="unknown report format 'html'"):
        render(pathnet, "html")


# -- errors ---------------------------------------------------------------------------------------
def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_an_unknown_format_exits_2_with_one_line(pathnet_run: Path, capsys) -> None:
    assert cli.main(["report", str(pathnet_run), "--format", "html"]) == 2
    assert "--format html: expected table, markdown, csv or latex" in _one_line_error(capsys)


@pytest.fixture(scope="module")
def broken_files(pathnet_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("broken")
    other = folder / "notes.json"
    other.write_text(json.dumps({"hello": "world"}), encoding="utf-8")
    truncated = copy_result(pathnet_run, folder / "truncated")
    text = truncated.read_text(encoding="utf-8")
    truncated.write_text(text[: len(text) // 2], encoding="utf-8")
    newer = copy_result(pathnet_run, folder / "newer")
    data = json.loads(newer.read_text(encoding="utf-8"))
    data["format"] = 99
    newer.write_text(json.dumps(data), encoding="utf-8")
    return {"not a result file": other, "truncated": truncated, "newer format": newer}


@pytest.mark.parametrize("kind", ["not a result file", "truncated", "newer format"])
def test_a_file_that_cannot_be_read_exits_2_with_one_line_naming_it(
    kind: str, broken_files: dict[str, Path], capsys
) -> None:
    path = broken_files[kind]
    assert cli.main(["report", str(path)]) == 2
    err = _one_line_error(capsys)
    assert str(path) in err
    assert {"not a result file": "not an emokit result file", "truncated": "not valid JSON",
            "newer format": "result format 99"}[kind] in err  # fmt: skip


def test_out_into_a_missing_folder_exits_2_naming_the_file(pathnet_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "no-such-folder" / "report.md"
    assert cli.main(["report", str(pathnet_run), "--format", "markdown", "--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert str(out) in err and "does not exist" in err
    assert not out.parent.exists()
    assert cli.main(["report", str(pathnet_run), "--out", str(tmp_path)]) == 2  # a folder, not a file
    assert "is a folder" in _one_line_error(capsys)


# -- the frame ------------------------------------------------------------------------------------
def test_to_frame_has_one_row_per_cell(pathnet: RunResults) -> None:
    frame = pathnet.to_frame()
    assert len(frame) == len(pathnet.cells) == 20
    classes = pathnet.cells[0]["classes"]
    assert list(frame.columns) == [*FRAME_COLUMNS, *(f"recall_{c}" for c in classes)]
    for (_, row), cell in zip(frame.iterrows(), pathnet.cells, strict=True):
        assert (row["method"], row["budget"], row["fold"]) == (
            cell["method"],
            cell["budget"]["label"],
            cell["fold"],
        )
        assert row["uar"] == pytest.approx(cell["scores"]["uar"]) and row["n_test"] == cell["scores"]["n"]
    # the mean UAR of each (budget, method) is the summary's
    means = frame.groupby(["budget", "method"])["uar"].mean()
    for row in pathnet.summary:
        assert means[(row["budget"]["label"], row["method"])] == pytest.approx(row["uar"]["mean"], abs=1e-6)
