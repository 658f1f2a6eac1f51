"""The rules every kind of component shares (names, options, pickling) and :class:`ContractError`."""

from __future__ import annotations

import pickle
from typing import Any

from emokit.api import (
    Option,
    OptionError,
)
from emokit.registry import check_name

#: the fewest speakers a corpus needs for a speaker-independent train / validation / test split
MIN_SPEAKERS = 3


class ContractError(AssertionError):
    """A plugin component breaks a rule of emokit's plugin contract; the message says which."""


def fail(what: str, message: str) -> None:
    raise ContractError(f"{what}: {message}")


# -- shared rules ---------------------------------------------------------------------------------
def check_identity(component: Any, kind: str) -> str:
    """Name, description and options: what ``emokit list`` shows and ``--option`` checks."""
    problem = check_name(kind, getattr(component, "name", None))
    if problem:
        fail(f"{type(component).__name__}", problem)
    what = f"{kind} {component.name!r}"
    description = getattr(component, "description", None)
    if not isinstance(description, str) or not description.strip():
        fail(what, "needs a one-line `description` (emokit list shows it)")
    options = getattr(component, "options", None)
    if options is None:
        fail(what, "declares no `options`: set `options = ()` when it takes none, so keys are checked")
    names = [getattr(o, "name", None) for o in options]
    for option in options:
        if not isinstance(option, Option):
            fail(what, f"option {option!r} is not an emokit.api.Option")
        label = f"{what} option {option.name!r}"
        if not option.name or "." in option.name:
            fail(label, "needs a name without dots (NAME.KEY scopes a key to one component)")
        if names.count(option.name) > 1:
            fail(label, "is declared twice")
        if not option.help.strip():
            fail(label, "needs `help` (emokit list shows it)")
        try:
            parsed = option.parse(option.default) if option.default is not None else None
        except OptionError as exc:
            fail(label, f"its default does not parse ({exc})")
        if parsed != option.default:
            fail(label, f"default {option.default!r} does not parse back to itself")
        if option.choices and option.default is not None and option.default not in option.choices:
            fail(label, f"default {option.default!r} is not one of its choices {list(option.choices)}")
    return what


def round_trip(component: Any, what: str) -> Any:
    """``component`` after pickling: how ``emokit bench --jobs N`` sends it to worker processes."""
    try:
        copy = pickle.loads(pickle.dumps(component))
    except Exception as exc:
        fail(
            what,
            f"cannot be pickled for worker processes ({type(exc).__name__}: {exc}); define it "
            "at module level and keep no open files, locks or lambdas on it",
        )
    if type(copy) is not type(component):
        fail(what, f"unpickles as {type(copy).__name__}, not {type(component).__name__}")
    return copy
