"""Old import paths that keep working: a module that moved leaves a stub that forwards to the new place.

A stub is a module whose attribute lookups go to the module that now holds the names, with a
:class:`DeprecationWarning` naming the new path (once per name and importer line, as Python's
warning filters do). The stub imports its new module explicitly, so the dependency is visible to
the import-layer check.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any


def forward_to(
    old: str, new: ModuleType | tuple[ModuleType, ...], *, names: dict[str, str] | None = None
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the stub ``old`` that forwards every name to ``new``.

    Args:
        old: the stub's module name (``__name__``).
        new: the module that now holds the names, or several (looked up in order) when the old
            module's names went to different places.
        names: names that were renamed on the way, ``{old name: new name}``.
    """
    renamed = dict(names or {})
    homes = new if isinstance(new, tuple) else (new,)

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        target = renamed.get(name, name)
        home = next((m for m in homes if hasattr(m, target)), None)
        if home is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        value = getattr(home, target)
        warnings.warn(
            f"{old}.{name} moved to {home.__name__}.{target}; import it from there, or from emokit.api",
            DeprecationWarning,
            stacklevel=2,
        )
        return value

    return __getattr__
