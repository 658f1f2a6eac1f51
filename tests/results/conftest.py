"""Result files of real (tiny) bench runs, made once per test session and shared by the tests of
reports, comparisons, plots, config files and the schema. Tests copy a file before changing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from emokit import cli
from emokit.cli.bench import run_bench_command
from emokit.registry import Registry

#: a small default-suite-like run: PathNet with its baselines, two budgets, two folds, two experiments
PATHNET_RUN = [
    "--method", "pathnet", "--source", "sim-savee", "--target", "sim-emodb", "--modality", "audio",
    "--sim-scale", "0.08", "--seeds", "1", "--folds", "2", "--target-budget", "0.5,1",
    "--option", "epochs=5", "--option", "pathnet.generations=4", "--option", "pathnet.population=8",
    "--option", "pathnet.steps=2",
]  # fmt: skip


def run_bench(out: Path, argv: list[str]) -> Path:
    """``emokit bench ARGV --out OUT --quiet`` in this process; the result file it wrote."""
    from rich.console import Console

    args = cli.build_parser().parse_args(["bench", *argv, "--out", str(out), "--quiet"])
    code = run_bench_command(args, Registry.discover(), Console(width=200, record=True))
    assert code == 0, f"emokit bench {' '.join(argv)} exited {code}"
    (result,) = [p for p in out.glob("bench-*.json")]
    return result


@pytest.fixture(scope="session")
def pathnet_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PathNet, source-only, target-only, finetune (and majority-class), sim-savee -> sim-emodb,
    budgets 50 % and 100 %, 2 folds, 1 repeat."""
    return run_bench(tmp_path_factory.mktemp("pathnet-run"), PATHNET_RUN)


@pytest.fixture(scope="session")
def matrix_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """target-only on every train x test pair of sim-savee and sim-emodb (``--matrix``)."""
    argv = ["--matrix", "sim-savee,sim-emodb", "--method", "target-only", "--no-baselines",
            "--sim-scale", "0.08", "--seeds", "1", "--folds", "2", "--option", "epochs=5"]  # fmt: skip
    return run_bench(tmp_path_factory.mktemp("matrix-run"), argv)


@pytest.fixture(scope="session")
def curves_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cascade and fdan on audiovisual sim-savee -> sim-enterface: training curves by epoch."""
    argv = ["--method", "cascade,fdan", "--no-baselines", "--source", "sim-savee", "--target",
            "sim-enterface", "--modality", "audiovisual", "--sim-scale", "0.08", "--seeds", "1",
            "--folds", "2", "--option", "epochs=3"]  # fmt: skip
    return run_bench(tmp_path_factory.mktemp("curves-run"), argv)


#: the session runs above, each checked against the result schema once (by the first test using it)
_SESSION_RUNS = ("pathnet_run", "matrix_run", "curves_run")
_checked_runs: set[Path] = set()


@pytest.fixture(autouse=True)
def _session_runs_match_the_schema(request: pytest.FixtureRequest):
    """The session runs a test used match emokit/results/result.schema.json (tests/conftest.py checks
    the files under a test's own tmp_path)."""
    yield
    from emokit.results.schema import validate

    for name in _SESSION_RUNS:
        if name not in request.fixturenames:
            continue
        result: Path = request.getfixturevalue(name)
        if result in _checked_runs:
            continue
        _checked_runs.add(result)
        problems = validate(result)
        if problems:
            listed = "\n".join(problems[:20])
            pytest.fail(f"{result} does not match the result schema:\n{listed}", pytrace=False)
