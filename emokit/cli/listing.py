"""``emokit list`` and ``emokit plugins``: what the plugins registered, and how each plugin loaded."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from emokit.methods.options import declared
from emokit.registry import Registry


def cmd_list(registry: Registry, console: Console, kind: str | None) -> int:
    kinds = {"datasets": "dataset", "features": "feature", "methods": "method"}
    if kind in (None, "suites"):
        console.print(suites_table(registry))
        if kind == "suites":
            return 0
    for plural, singular in kinds.items():
        if kind and kind != plural:
            continue
        table = Table(title=plural)
        table.add_column("name", style="bold")
        table.add_column("description")
        table.add_column("modality" if singular != "dataset" else "modalities")
        table.add_column("plugin")
        for name in registry.names(singular):
            provider = registry.get(singular, name)
            modality = getattr(provider, "modalities", None) or (getattr(provider, "modality", ""),)
            table.add_row(
                name, provider.description, ", ".join(modality), registry.owner(singular, name) or ""
            )
        console.print(table)
        if singular == "method":
            for name in registry.names("method"):
                console.print(method_options_table(registry.method(name)))
        if singular == "dataset":
            for name in registry.names("dataset"):
                provider = registry.dataset(name)
                if getattr(provider, "options", ()):
                    console.print(options_table(provider, f"{name} options (--data-option KEY=VALUE)"))
        if singular == "feature":
            for name in registry.names("feature"):
                extractor = registry.feature(name)
                if getattr(extractor, "options", ()):
                    console.print(options_table(extractor, f"{name} options (--option {name}.KEY=VALUE)"))
    return 0


def suites_table(registry: Registry) -> Table:
    """The suites (``emokit bench --suite NAME``): what each runs when no experiment is named."""
    table = Table(title="suites")
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("experiments", justify="right")
    table.add_column("methods")
    table.add_column("plugin")
    for name in registry.names("suite"):
        suite = registry.suite(name)
        table.add_row(
            name,
            suite.description,
            str(len(suite.experiments)),
            ", ".join(suite.methods),
            registry.owner("suite", name) or "",
        )
    return table


def method_options_table(method: Any) -> Table | str:
    """The options a method declares (``--option [METHOD.]KEY=VALUE``), as a table."""
    options = declared(method)
    if options is None:
        return f"[dim]{method.name}: declares no options (its --option keys are not checked)[/]"
    if not options:
        return f"[dim]{method.name}: no options[/]"
    return options_table(
        method, f"{method.name} options (--option {method.name}.KEY=VALUE, or KEY=VALUE for all)"
    )


def options_table(component: Any, title: str) -> Table:
    """A table of the options a method or dataset declares."""
    table = Table(title=title)
    table.add_column("option", style="bold")
    table.add_column("type")
    table.add_column("default")
    table.add_column("help")
    for option in component.options:
        kind = (
            option.type_name if option.expects is None and not option.choices else option.describe_expected()
        )
        table.add_row(option.name, kind, option.shown_default, option.help)
    return table


def cmd_plugins(registry: Registry, console: Console, strict: bool = False) -> int:
    """Show every plugin; with ``strict``, exit 1 unless each loaded with nothing skipped or suspect."""
    table = Table(title="emokit plugins")
    table.add_column("plugin", style="bold")
    table.add_column("origin")
    table.add_column("version")
    table.add_column("registers / error")
    for info in registry.plugins:
        if info.error:
            what = f"[red]{escape(info.error)}[/]" if not info.disabled else f"[dim]{escape(info.error)}[/]"
        else:
            what = "; ".join(f"{kind}s: {', '.join(names)}" for kind, names in info.registers.items()) or "-"
        for problem in info.problems:
            what += f"\n[yellow]! {escape(problem)}[/]"
        table.add_row(info.name, info.origin, info.version, what)
    console.print(table)
    if not strict:
        return 0
    unclean = [info for info in registry.plugins if not info.disabled and not info.clean]
    if unclean:
        console.print(
            f"[red]--strict: {len(unclean)} plugin(s) with problems: {', '.join(i.name for i in unclean)}[/]"
        )
        return 1
    console.print("[green]--strict: every plugin loaded cleanly[/]")
    return 0


def warn_troubled_plugins(registry: Registry, err: Console) -> None:
    """One line on stderr for plugins that failed, or loaded with something skipped."""
    if registry.failed:
        names = ", ".join(p.name for p in registry.failed)
        err.print(f"[yellow]![/] plugin(s) failed to load and were skipped: {names} (see `emokit plugins`)")
    if registry.troubled:
        names = ", ".join(p.name for p in registry.troubled)
        err.print(f"[yellow]![/] plugin(s) loaded with problems: {names} (see `emokit plugins`)")
