"""The worked examples of docs/plugins.md, exactly as printed: they make a package that passes
emokit.testing's checks and runs in `emokit bench`; and no file of the repository cites a
document the repository does not hold."""

from __future__ import annotations

import csv
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from rich.console import Console

from emokit import cli
from emokit.cli.bench import run_bench_command
from emokit.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"


def _files_of_the_guide() -> dict[str, str]:
    """Each ```python block of the guide whose first line is ``# <path>``, by that path."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.S)
    files = {}
    for block in blocks:
        first = block.partition("\n")[0]
        if first.startswith("# ") and first.endswith(".py"):
            files[first[2:].strip()] = block
    return files


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory):
    files = _files_of_the_guide()
    assert {p for p in files if p.startswith("emokit_example/")} == {
        "emokit_example/__init__.py",
        "emokit_example/dataset.py",
        "emokit_example/features.py",
        "emokit_example/method.py",
    }
    site = tmp_path_factory.mktemp("example-site")
    for path, source in files.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text(source)
    sys.path.insert(0, str(site))
    try:
        yield importlib.import_module("emokit_example"), site
    finally:
        sys.path.remove(str(site))
        for name in [m for m in sys.modules if m.startswith(("emokit_example", "test_emokit_example"))]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lab-recordings/ as the guide describes it: 4 speakers x 4 emotions x 3 takes, and two bad rows."""
    root = tmp_path_factory.mktemp("lab-data")
    folder = root / "lab-recordings"
    rng = np.random.default_rng(0)
    rows = []
    pitch = {"angry": 300.0, "happy": 250.0, "sad": 150.0, "neutral": 200.0}
    t = np.arange(4000) / 16000
    for s in range(4):
        for emotion, f in pitch.items():
            for take in range(3):
                name = f"spk{s}/{emotion}_{take}.wav"
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                tone = np.sin(2 * np.pi * f * (1 + 0.05 * s) * t) * (0.5 if emotion == "angry" else 0.2)
                soundfile.write(str(folder / name), (tone + 0.01 * rng.normal(size=t.shape)), 16000)
                rows.append((name, f"spk{s}", emotion))
    rows += [("spk0/missing.wav", "spk0", "sad"), ("spk1/angry_0.wav", "spk1", "bored")]
    with (folder / "labels.csv").open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["file", "speaker", "emotion"])
        writer.writerows(rows)
    return root


def test_the_guides_example_passes_its_own_test(example, data_root: Path, tmp_path: Path) -> None:
    _, site = example
    files = _files_of_the_guide()
    (site / "test_emokit_example.py").write_text(files["tests/test_emokit_example.py"])
    test = importlib.import_module("test_emokit_example")
    test.test_contracts(data_root, tmp_path)


def test_the_guides_dataset_reports_bad_rows_and_a_missing_folder(example, data_root: Path) -> None:
    module, _ = example
    from emokit.api import DataLayoutError, LoadContext

    corpus = module.LabRecordings().load(LoadContext(data_root=data_root))
    assert len(corpus) == 48 and corpus.labels == ["anger", "happiness", "neutral", "sadness"]
    reasons = sorted(p.reason.split(" (")[0] for p in corpus.problems)
    assert reasons == ["cannot be read", "unknown emotion 'bored'"]
    with pytest.raises(DataLayoutError, match=r"labels\.csv with columns file,speaker,emotion"):
        module.LabRecordings().load(LoadContext(data_root=data_root / "nowhere"))


def test_the_guides_plugin_runs_in_bench(example, data_root: Path, tmp_path: Path) -> None:
    module, _ = example
    registry = Registry.discover(extra=[("example", module)])
    info = next(p for p in registry.plugins if p.name == "example")
    assert info.clean, info.problems
    args = cli.build_parser().parse_args(
        ["bench", "--method", "deep-coral", "--source", "lab-recordings", "--target", "lab-recordings",
         "--features", "frame-stats", "--data-root", str(data_root), "--seeds", "1", "--option", "epochs=15",
         "--out", str(tmp_path), "--quiet"]
    )  # fmt: skip
    assert run_bench_command(args, registry, Console(width=200)) == 0
    (path,) = tmp_path.glob("bench-*.json")
    data = json.loads(path.read_text())
    methods = {c["method"] for c in data["cells"]}
    assert {"deep-coral", "source-only", "target-only"} <= methods  # brought its baselines
    coral = [r for r in data["summary"] if r["method"] == "deep-coral"]
    assert coral and coral[0]["uar"]["mean"] > 0.5


#: documents outside the repository that older comments cited
_OUTSIDE = re.compile(r"DESIGN\.md|REFERENCES\.md|issue item|\bthe issue\b|issue's|\bthe brief\b")


def _repository_files() -> list[Path]:
    """The repository's own files: git's tracked and unignored ones, else a walk that skips build output.

    Asking git keeps a virtual environment or a build made inside a checkout out of the scan.
    """
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip
        # an untracked virtual environment inside the checkout (python -m venv .v) is not ours
        venvs = {cfg.parent for cfg in ROOT.glob("*/pyvenv.cfg")}
        return [ROOT / name for name in listed if not any((ROOT / name).is_relative_to(v) for v in venvs)]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "build", "dist", "__pycache__", ".ruff_cache", ".import_linter_cache"}
        return [path for path in ROOT.rglob("*") if not skip & set(path.relative_to(ROOT).parts)]


def test_no_file_cites_a_document_outside_the_repository() -> None:
    suffixes = {".py", ".md", ".toml", ".txt", ".cfg", ".h", ".cpp", ".cu", ".tmpl", ".in", ".json"}
    offenders = []
    for path in _repository_files():
        if not path.is_file() or path.suffix not in suffixes or path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if _OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_relative_link_of_the_docs_and_readme_resolves() -> None:
    broken = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)", doc.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, broken
