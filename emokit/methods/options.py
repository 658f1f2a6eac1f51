"""Method options: each method declares what it takes, and ``--option`` keys are checked before any work.

A method lists its options as :class:`~emokit.options.Option` entries (name, type, default, help;
``MethodOption`` is the same class). On the command line ``--option KEY=VALUE`` sets ``KEY`` for
every method of the run that declares it (``epochs=50`` reaches every method that trains by epochs),
and ``--option METHOD.KEY=VALUE`` for that one method only (``pathnet.population=16``). A key that no
method of the run declares, a method prefix that names no method of the run, and a value of the wrong
type are refused with the key named, before a corpus is loaded.

Run-level keys (:data:`RUN_OPTIONS`, e.g. ``norm``) belong to the runner, not to a method.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from emokit.options import MethodOption, Option, OptionError, declared, option_values, positive_numbers
from emokit.options import check_option_keys as check_components_options

__all__ = [
    "RUN_OPTIONS",
    "MethodOption",
    "Option",
    "OptionError",
    "check_option_keys",
    "declared",
    "method_option_values",
    "positive_numbers",
]

#: keys the runner itself reads (not a method's); see ``emokit bench --help``
RUN_OPTIONS = ("norm",)


def method_option_values(method: Any, raw: Mapping[str, Any]) -> dict[str, Any]:
    """``method``'s options as typed values, defaults filled in, from a raw key/value mapping.

    ``raw`` may hold bare keys (``epochs``) and keys scoped to the method (``NAME.epochs``, which
    win); a scoped key the method does not declare is refused. Keys meant for other methods are
    ignored here: :func:`check_option_keys` refuses unknown keys for the whole run. A method that
    declares no options gets ``raw`` back as it is.
    """
    return option_values(method, raw, flag="--option", kind="method")


def check_option_keys(methods: Iterable[Any], raw: Mapping[str, Any]) -> list[str]:
    """Refuse ``--option`` keys that no method of the run takes, and values of the wrong type.

    Returns warnings for keys that only methods without declared options could take (those
    cannot be checked). Run-level keys (:data:`RUN_OPTIONS`) are left to the runner.

    Raises:
        OptionError: the first bad key, naming it, the method(s) and what they take.
    """
    return check_components_options(methods, raw, flag="--option", kind="method", run_options=RUN_OPTIONS)
