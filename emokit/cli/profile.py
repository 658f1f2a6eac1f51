"""``emokit profile``: time the multi-path kernels against the fallback (:mod:`emokit.kernels.profile`)."""

from __future__ import annotations

import argparse

from rich.console import Console

from emokit.cli.arguments import UsageError


def cmd_profile(args: argparse.Namespace, console: Console, err: Console) -> int:
    """``emokit profile``: time the kernels over a grid (emokit.kernels.profile), print, write JSON."""
    from emokit.kernels import KernelBackendError, profile

    lists = {name: getattr(args, option.lstrip("-")) for name, (option, _) in profile.LIST_OPTIONS.items()}
    scalars = ("classes", "repeats", "warmup", "device", "threads", "seed")
    try:
        config = profile.config_from_options(
            quick=args.quick, budget_s=args.budget, **lists, **{name: getattr(args, name) for name in scalars}
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    out = args.out or profile.default_output_path()
    try:
        report = profile.run_profile(config, console, require_ext=args.require_ext)
    except KernelBackendError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        return 1
    profile.print_report(report, console)
    console.print(f"results written to {profile.write_report(report, out)}", highlight=False)
    return 1 if any(r["status"] != "ok" for r in report["results"]) else 0
