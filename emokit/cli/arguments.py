"""What every ``emokit`` command shares: exit codes, the usage error, and parsers of list arguments."""

from __future__ import annotations

from typing import Any

EXIT_CELLS_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    """A bad command-line argument; the message names it and what was expected."""


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def parse_seeds(value: str | int | list[int]) -> list[int]:
    """``"3"`` (or ``3``) -> ``[0, 1, 2]``; ``"0,5,7"`` (or ``[0, 5, 7]``) -> ``[0, 5, 7]``."""
    value = value if isinstance(value, list) else str(value)  # a config file's array: seeds, even one
    try:
        if isinstance(value, list):
            seeds = [int(v) for v in value]
        elif "," in value:
            seeds = [int(v) for v in split_list(value)]
        else:
            count = int(value)
            if count < 1:
                raise UsageError(f"--seeds {value}: expected a positive count or a comma-separated list")
            seeds = list(range(count))
    except ValueError as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"--seeds {value!r}: expected a count (e.g. 3) or seeds (e.g. 0,5,7)") from None
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {value!r}: seeds repeat")
    return seeds


def parse_options(pairs: list[str], flag: str = "--option") -> dict[str, Any]:
    """``["epochs=50", "lr=1e-3"]`` -> ``{"epochs": "50", "lr": "1e-3"}`` (the components convert)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} {pair!r}: expected key=value")
        options[key.strip()] = value.strip()
    return options
