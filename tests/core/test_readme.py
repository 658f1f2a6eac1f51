"""The README's two set-up commands stay what CI and newcomers run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2, commands
    main_job, tests = commands
    for command in commands:
        assert "\n" not in command
        # torch first, then no build isolation: pip must never pull the CUDA build of torch
        assert command.startswith("python3 -m pip install torch==2.13.0 ")
        assert "--no-build-isolation" in command
    assert main_job.endswith("emokit bench --method pathnet")
    assert tests.endswith("python3 -m pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    tests = _readme_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines()
    assert '"$rc" -eq 5' in ci  # no test collected is not a failure by itself
