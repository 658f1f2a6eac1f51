"""Typed options that plugins declare: name, type, default, help; values parsed from the command line.

Methods declare theirs as :attr:`Method.options` (``--option KEY=VALUE``); dataset providers as
:attr:`DatasetProvider.options` (``--data-option KEY=VALUE``). Either way a bad key or value is
refused, with the key named, before any work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class OptionError(ValueError):
    """An option key or value a component cannot take; the message names the key."""


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


_KINDS: dict[Any, tuple[str, Callable[[str], Any]]] = {
    int: ("a whole number", int),
    float: ("a number", float),
    str: ("text", str),
    bool: ("true or false", _parse_bool),
}


@dataclass(frozen=True)
class Option:
    """One option a plugin component (a method, a dataset) takes.

    Attributes:
        name: the key without the component prefix (``epochs``; users may write ``METHOD.epochs``).
        type: ``int``, ``float``, ``str``, ``bool``, or a function turning the command-line string
            into the value (raise ``ValueError`` for a bad one).
        default: the value when the option is not given (``None`` allowed: "not set").
        help: one line for ``emokit list methods``.
        choices: the allowed values, if the option is one of a few.
        expects: what a good value looks like, for error messages of custom ``type`` functions
            (e.g. ``"widths joined by 'x', e.g. 256x128"``).
        nullable: whether ``none`` (or ``off``) on the command line means ``None``.
        default_text: how the default is written on the command line, when ``str(default)`` is
            not that (e.g. ``256x128`` for the widths ``(256, 128)``).
    """

    name: str
    type: Any
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    expects: str | None = None
    nullable: bool = False
    default_text: str | None = None

    @property
    def shown_default(self) -> str:
        """The default as a user would type it (``-`` when there is none)."""
        if self.default_text is not None:
            return self.default_text
        if self.default is None:
            return "-"
        if isinstance(self.default, (tuple, list)):
            return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in self.default)
        return str(self.default)

    @property
    def type_name(self) -> str:
        if self.type in _KINDS:
            return self.type.__name__
        return getattr(self.type, "__name__", "value").strip("_")

    def describe_expected(self) -> str:
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.expects:
            return self.expects
        if self.type in _KINDS:
            return _KINDS[self.type][0]
        return "a valid value"

    def parse(self, raw: Any, key: str | None = None, flag: str = "--option") -> Any:
        """The value of ``raw`` (a command-line string, or an already typed value).

        Raises:
            OptionError: naming ``key`` (default: the option's name) and what was expected.
        """
        shown = key or self.name
        if raw is None:
            if self.nullable or self.default is None:
                return None
            raise OptionError(f"{flag} {shown}: expected {self.describe_expected()}, got nothing")
        if self.nullable and isinstance(raw, str) and raw.strip().lower() in ("none", "off"):
            return None
        if isinstance(raw, str) or self.type not in _KINDS or not isinstance(raw, self.type):
            parser = _KINDS[self.type][1] if self.type in _KINDS else self.type
            try:
                value = parser(raw if not isinstance(raw, str) else raw.strip())
            except (ValueError, TypeError):
                raise OptionError(f"{flag} {shown}={raw}: expected {self.describe_expected()}") from None
        else:
            value = raw
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.choices and value not in self.choices:
            raise OptionError(f"{flag} {shown}={raw}: expected {self.describe_expected()}")
        return value

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type_name,
            "default": self.default,
            "help": self.help,
            **({"choices": list(self.choices)} if self.choices else {}),
        }


def positive_numbers(value: str | float | tuple[float, ...]) -> tuple[float, ...]:
    """An option parser: ``"0.1,1,10"`` (or one number, or a sequence) as a tuple of positive floats."""
    if isinstance(value, str):
        numbers = tuple(float(v) for v in value.split(",") if v.strip())
    elif isinstance(value, (int, float)):
        numbers = (float(value),)
    else:
        numbers = tuple(float(v) for v in value)
    if not numbers or any(not v > 0 for v in numbers):
        raise ValueError(value)
    return numbers


def declared(component: Any) -> tuple[Option, ...] | None:
    """The options ``component`` declares, or ``None`` for one that declares none (older plugins)."""
    options = getattr(component, "options", None)
    return None if options is None else tuple(options)


def option_values(
    method: Any, raw: Mapping[str, Any], *, flag: str = "--option", kind: str = "method"
) -> dict[str, Any]:
    """``method``'s (any component's) options as typed values, defaults filled in, from raw key/values.

    ``raw`` may hold bare keys (``epochs``) and keys scoped to the method (``NAME.epochs``, which
    win); a scoped key the method does not declare is refused. Keys meant for other methods are
    ignored here: :func:`check_option_keys` refuses unknown
    keys for the whole run. A method that declares no options gets ``raw`` back as it is.
    """
    options = declared(method)
    if options is None:
        return dict(raw)
    prefix = f"{method.name}."
    names = {o.name for o in options}
    for key in raw:
        if key.startswith(prefix) and key[len(prefix) :] not in names:
            raise OptionError(
                f"{flag} {key}: {kind} {method.name!r} has no option {key[len(prefix) :]!r}; "
                + _takes(method)
            )
    values: dict[str, Any] = {}
    for option in options:
        scoped = prefix + option.name
        if scoped in raw:
            values[option.name] = option.parse(raw[scoped], scoped, flag)
        elif option.name in raw:
            values[option.name] = option.parse(raw[option.name], option.name, flag)
        else:
            values[option.name] = option.default
    return values


def check_option_keys(
    methods: Iterable[Any],
    raw: Mapping[str, Any],
    *,
    flag: str = "--option",
    kind: str = "method",
    run_options: tuple[str, ...] = (),
) -> list[str]:
    """Refuse keys that no method of the run takes, and values of the wrong type.

    Returns warnings for keys that only methods without declared options could take (those
    cannot be checked).

    Raises:
        OptionError: the first bad key, naming it, the method(s) and what they take.
    """
    methods = list(methods)
    by_name = {m.name: m for m in methods}
    undeclared = [m.name for m in methods if declared(m) is None]
    warnings: list[str] = []
    for key, value in raw.items():
        if key in run_options:
            continue
        prefix, dot, name = key.rpartition(".")
        if dot and prefix in by_name:
            method = by_name[prefix]
            options = declared(method)
            if options is None:
                warnings.append(f"{flag} {key}: {prefix} declares no options; the key is not checked")
                continue
            match = next((o for o in options if o.name == name), None)
            if match is None:
                raise OptionError(
                    f"{flag} {key}: {kind} {prefix!r} has no option {name!r}; " + _takes(method)
                )
            match.parse(value, key, flag)
            continue
        if dot and not any(o.name == key for m in methods for o in declared(m) or ()):
            known = ", ".join(sorted(by_name))
            raise OptionError(
                f"{flag} {key}: {prefix!r} is not a {kind} of this run ({kind}s: {known}); "
                f"write {kind.upper()}.KEY=VALUE for one {kind}, or KEY=VALUE for every {kind} that takes KEY"
            )
        takers = [m for m in methods if any(o.name == key for o in declared(m) or ())]
        if not takers:
            if undeclared:
                warnings.append(
                    f"{flag} {key}: no {kind} declares it; passed unchecked to {', '.join(undeclared)}"
                )
                continue
            raise OptionError(
                f"{flag} {key}: no {kind} of this run takes {key!r}; " + "; ".join(_takes(m) for m in methods)
            )
        for method in takers:
            option = next(o for o in declared(method) if o.name == key)
            option.parse(value, key, flag)
    return warnings


def _takes(method: Any) -> str:
    options = declared(method) or ()
    if not options:
        return f"{method.name} takes no options"
    return f"{method.name} takes " + ", ".join(o.name for o in options)


#: the name methods' options have always had
MethodOption = Option
