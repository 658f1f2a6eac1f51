"""``emokit new-plugin NAME``: write an installable plugin package to start from.

The package (``emokit-NAME/``) registers a dataset, a feature extractor and a method, with tests
that run emokit.testing's contract checks and an ``emokit bench`` run; it passes them as written.
The files are rendered from ``plugin_template/`` beside this module (``${name}``, ``${package}``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from string import Template

from rich.console import Console

from emokit.cli.arguments import UsageError
from emokit.registry import check_name

TEMPLATE = Path(__file__).with_name("plugin_template")


def render_plugin(name: str, folder: Path, *, force: bool = False) -> Path:
    """Write the plugin package ``emokit-NAME`` under ``folder``; return its path.

    Raises:
        UsageError: ``name`` is not a valid component name, or the package folder exists
            (without ``force``).
    """
    problem = check_name("plugin", name)
    if problem:
        raise UsageError(f"emokit new-plugin: {problem}")
    package = "emokit_" + name.replace("-", "_")
    out = folder / f"emokit-{name}"
    if out.exists():
        if not force:
            raise UsageError(
                f"emokit new-plugin: {out} exists; choose another --dir, or --force to overwrite"
            )
        shutil.rmtree(out)
    for source in sorted(TEMPLATE.rglob("*.tmpl")):
        relative = source.relative_to(TEMPLATE).with_suffix("")  # drop .tmpl
        parts = [package if part == "package" else part for part in relative.parts]
        if parts[-1] == "test_package.py":
            parts[-1] = f"test_{package}.py"
        target = out.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Template(source.read_text()).substitute(name=name, package=package))
    return out


def cmd_new_plugin(args: argparse.Namespace, console: Console) -> int:
    out = render_plugin(args.name, args.dir, force=args.force)
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    console.print(f"wrote {out} ({len(files)} files: {', '.join(files)})", highlight=False)
    console.print(
        f"next: cd {out} && pip install -e '.[test]' && pytest && emokit bench --method {args.name}-coral "
        f"--source {args.name}-tones-a --target {args.name}-tones-b --features {args.name}-spectrum",
        highlight=False,
        markup=False,
    )
    return 0
