"""Config files of ``emokit bench`` (TOML), and the run config a result file records in their schema.

A config file holds the options of ``emokit bench``: each key is a flag without its dashes
(``target-budget = [0.1, 1]``; underscores work too), plus ``experiments``, an array of tables
that names the experiments one by one. Method options go in the ``[option]`` table, one sub-table
per method (``[option.pathnet]``); dataset options in ``[data-option]``. A result file records
its run in the same schema, fully resolved (every method, every experiment, every option value
the methods used), as ``run_config``: ``emokit config RESULT`` prints it, ``emokit bench --rerun
RESULT`` runs it again. docs/results.md describes the keys.
"""

from __future__ import annotations

import difflib
import json
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from emokit.data.folds import SPLIT_BY


class ConfigFileError(ValueError):
    """A config file that cannot be read or holds a bad key or value; the message names the file
    and the key's path."""


MODALITIES = ("audio", "visual", "audiovisual")
EXECUTORS = ("local", "ray")


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    name = next(
        (v for k, v in kind.items() if type(value) is k), "a table" if isinstance(value, dict) else ""
    )
    return f"{name or type(value).__name__} ({value!r})" if not isinstance(value, dict) else "a table"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- checks of one value: each returns an error text, or None when the value is good --------------
def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "expected a non-empty string"


def _integer(value: Any) -> str | None:
    return None if _is_int(value) else "expected an integer"


def _number(value: Any) -> str | None:
    return None if _is_number(value) else "expected a number"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "expected true or false"


def _names(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        return None
    return "expected a name or an array of names"


def _seeds(value: Any) -> str | None:
    if _is_int(value) and value >= 1:
        return None
    if isinstance(value, list) and value and all(_is_int(v) for v in value):
        return None
    return "expected a count of repeats (e.g. 3) or an array of seeds (e.g. [0, 5, 7])"


def _budgets(value: Any) -> str | None:
    items = value if isinstance(value, list) else [value]
    if items and all(_is_number(v) or (isinstance(v, str) and v.strip()) for v in items):
        return None
    return 'expected a share or an array of shares (e.g. [0.1, 1] or ["10%", "100%"])'


def _whole_numbers(value: Any) -> str | None:
    items = value if isinstance(value, list) else [value]
    return None if items and all(_is_int(v) for v in items) else "expected an integer or an array of them"


def _count_or_word(value: Any) -> str | None:
    return (
        None
        if _is_int(value) or (isinstance(value, str) and value.strip())
        else "expected an integer or a word"
    )


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else f"expected one of {', '.join(choices)}"

    return check


#: the keys of a config file (``emokit bench``'s flags without their dashes; the flag's argparse
#: destination is the key with underscores) and the check of each value (``None``: a table, checked
#: by its own function)
KEYS: dict[str, Callable[[Any], str | None] | None] = {
    "method": _names,
    "suite": _text,
    "source": _names,
    "target": _text,
    "matrix": _names,
    "modality": _one_of(MODALITIES),
    "features": _text,
    "seeds": _seeds,
    "folds": _count_or_word,
    "fold-seed": _integer,
    "split-by": _one_of(SPLIT_BY),
    "label-map": None,
    "target-budget": _budgets,
    "target-shots": _whole_numbers,
    "reference": _text,
    "norm": _text,
    "show-val": _boolean,
    "data-root": _text,
    "out": _text,
    "cache-dir": _text,
    "data-option": None,
    "sim-scale": _number,
    "sim-seed": _integer,
    "option": None,
    "pretrained": _text,
    "jobs": _count_or_word,
    "threads": _integer,
    "device": _text,
    "executor": _one_of(EXECUTORS),
    "address": _text,
    "confusion": _boolean,
    "no-baselines": _boolean,
    "quiet": _boolean,
    "plots": _text,
    "experiments": None,
}
#: flags that make no sense inside a config file
COMMAND_LINE_ONLY = {
    "config": "give --config on the command line",
    "rerun": "give --rerun on the command line",
    "resume": "give --resume on the command line (it continues a result file, not a config)",
}
EXPERIMENT_KEYS = {"sources": _names, "target": _text, "modality": _one_of(MODALITIES), "features": _text}


def read_config_file(path: Path) -> dict[str, Any]:
    """The checked content of the TOML config file ``path``, keys spelled as :data:`KEYS` does.

    Raises:
        ConfigFileError: the file is missing or not TOML, or a key is unknown or of the wrong type;
            the message names the file and the key's path.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigFileError(f"--config {path}: no such file (expected a TOML config file)") from None
    except IsADirectoryError:
        raise ConfigFileError(f"--config {path}: is a folder; expected a TOML config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"--config {path}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"--config {path}: not valid TOML ({exc})") from None
    return check_config(raw, str(path))


def check_config(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``raw`` (a parsed config file or a recorded run config) checked and with canonical keys.

    Raises:
        ConfigFileError: naming ``where`` and the path of the first bad key.
    """
    config: dict[str, Any] = {}
    for given, value in raw.items():
        name = str(given).replace("_", "-")
        if name in COMMAND_LINE_ONLY:
            raise ConfigFileError(f"{where}: {given}: not a config-file key; {COMMAND_LINE_ONLY[name]}")
        if name not in KEYS:
            raise ConfigFileError(f"{where}: unknown key {given!r}{_suggestion(name, KEYS)}")
        if name in config:
            raise ConfigFileError(f"{where}: {given}: given twice (with dashes and with underscores)")
        if name == "experiments":
            config[name] = _check_experiments(value, where)
        elif name in ("option", "data-option"):
            config[name] = _check_options(value, where, name)
        elif name == "label-map":
            config[name] = _check_label_maps(value, where)
        else:
            check = KEYS[name]
            assert check is not None
            problem = check(value)
            if problem:
                raise ConfigFileError(f"{where}: {given}: {problem}, got {_describe(value)}")
            config[name] = value
    clash = [k for k in ("source", "target", "matrix") if k in config]
    if "experiments" in config and clash:
        raise ConfigFileError(
            f"{where}: experiments and {', '.join(clash)}: both name the experiments; give one or the other"
        )
    return config


def _suggestion(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (the keys are emokit bench's flags without dashes: {', '.join(known)})"


def _check_experiments(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise ConfigFileError(
            f"{where}: experiments: expected an array of tables ([[experiments]] with sources, target, "
            f"modality, features), got {_describe(value)}"
        )
    experiments = []
    for i, entry in enumerate(value):
        at = f"experiments[{i}]"
        if not isinstance(entry, dict):
            raise ConfigFileError(f"{where}: {at}: expected a table, got {_describe(entry)}")
        for given, item in entry.items():
            check = EXPERIMENT_KEYS.get(given)
            if check is None:
                raise ConfigFileError(
                    f"{where}: unknown key '{at}.{given}'{_suggestion(given, EXPERIMENT_KEYS)}"
                )
            problem = check(item)
            if problem:
                raise ConfigFileError(f"{where}: {at}.{given}: {problem}, got {_describe(item)}")
        if "target" not in entry:
            raise ConfigFileError(f"{where}: {at}: no target (each experiment needs one)")
        sources = entry.get("sources", [entry["target"]])
        experiments.append(
            {
                "sources": [sources] if isinstance(sources, str) else list(sources),
                "target": entry["target"],
                "modality": entry.get("modality", "audio"),
                "features": entry.get("features"),
            }
        )
    return experiments


def _check_label_maps(value: Any, where: str) -> dict[str, str]:
    """``[label-map]``: ``corpus = "file"`` pairs."""
    if not isinstance(value, dict):
        raise ConfigFileError(
            f'{where}: label-map: expected a table of corpus = "file", got {_describe(value)}'
        )
    for key, item in value.items():
        if not isinstance(item, str) or not item.strip():
            raise ConfigFileError(f"{where}: label-map.{key}: expected a file name, got {_describe(item)}")
    return {str(k): v for k, v in value.items()}


def _check_options(value: Any, where: str, name: str) -> dict[str, Any]:
    """``[option]`` / ``[data-option]``: ``key = value`` for every component that takes the key,
    or a sub-table per component (``[option.pathnet]``): flattened to ``pathnet.key``."""
    if not isinstance(value, dict):
        raise ConfigFileError(f"{where}: {name}: expected a table of key = value, got {_describe(value)}")
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            for inner, inner_value in item.items():
                flat[f"{key}.{inner}"] = _option_value(inner_value, where, f"{name}.{key}.{inner}")
        else:
            flat[key] = _option_value(item, where, f"{name}.{key}")
    return flat


def _option_value(value: Any, where: str, at: str) -> Any:
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return list(value)
    raise ConfigFileError(
        f"{where}: {at}: expected a string, number, boolean or array, got {_describe(value)}"
    )


def option_source(config: Mapping[str, Any], flat_key: str, table: str = "option") -> str:
    """Where a flattened option key stands in a config file, as messages name it."""
    return f"{table}.{flat_key}" if flat_key in config.get(table, {}) else flat_key


# -- the run config a result file records --------------------------------------------------------
def run_config_of(config: Mapping[str, Any], identity: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run of a result file as a config file would hold it, resolved: every method (no
    baselines added), every experiment, each method's option values as the run used them, the
    torch device and threads. ``config`` and ``identity`` are the file's (any format)."""
    identity = identity or {}
    run: dict[str, Any] = {"method": list(config.get("methods", [])), "no-baselines": True}
    if config.get("suite"):
        run["suite"] = config["suite"]
    run["experiments"] = [
        {k: v for k, v in e.items() if v is not None and k in EXPERIMENT_KEYS}
        for e in config.get("experiments", [])
    ]
    seeds = config.get("seeds")
    if seeds:
        run["seeds"] = list(seeds)
    for name, key in (("folds", "folds"), ("fold-seed", "fold_seed"), ("norm", "norm")):
        if config.get(key) is not None:
            run[name] = config[key]
    if config.get("split_by") not in (None, "speaker"):
        run["split-by"] = config["split_by"]
    if config.get("label_maps"):
        run["label-map"] = dict(config["label_maps"])
    budgets = config.get("budgets") or []
    fractions = [b["fraction"] for b in budgets if b.get("shots") is None and b.get("fraction") is not None]
    shots = [b["shots"] for b in budgets if b.get("shots") is not None]
    if fractions:
        run["target-budget"] = fractions
    if shots:
        run["target-shots"] = shots
    if "reference" in config:
        run["reference"] = config["reference"] or "none"
    if config.get("data_root"):
        run["data-root"] = str(config["data_root"])
    data_options = dict(config.get("data_options") or {})
    for old, new in (("sim_scale", "scale"), ("sim_seed", "seed")):  # format 1 recorded these apart
        if config.get(old) is not None:
            data_options.setdefault(new, config[old])
    if data_options:
        run["data-option"] = data_options
    typed = {**(identity.get("options") or {}), **(identity.get("feature_options") or {})}
    options = _recorded_options(config.get("options") or {}, typed)
    if options:
        run["option"] = options
    if identity.get("torch_threads") is not None:
        run["threads"] = identity["torch_threads"]
    if identity.get("device"):
        run["device"] = identity["device"]
    return run


def _recorded_options(raw: Mapping[str, Any], typed: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Each method's option values as the run used them (one table per method; ``None``, "not
    set", left out: TOML has no null), plus the raw keys that no such table covers (options of
    methods that declare none)."""
    options: dict[str, Any] = {}
    for method, values in typed.items():
        table = {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items() if v is not None}
        if table:
            options[method] = table
    for key, value in raw.items():
        if key == "norm":  # the runner reads it as --norm, recorded beside
            continue
        prefix, _, rest = key.partition(".")
        covered = (rest and prefix in typed) or any(key in values for values in typed.values())
        if not covered:
            options[key] = value
    return options


def to_toml(run_config: Mapping[str, Any], header: list[str] | None = None) -> str:
    """``run_config`` as the text of a config file (``header`` lines become comments on top).

    A small writer for this schema (plain keys, arrays on one line, tables, sub-tables and the
    ``[[experiments]]`` array of tables); ``None`` values are left out (TOML has no null)."""
    lines = [f"# {line}" for line in header or []]
    if lines:
        lines.append("")
    plain = {k: v for k, v in run_config.items() if v is not None and not _is_table(v)}
    tables = {k: v for k, v in run_config.items() if _is_table(v)}
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in plain.items()]
    for name, value in tables.items():
        if isinstance(value, list):  # an array of tables
            for entry in value:
                lines += ["", f"[[{_toml_key(name)}]]"]
                lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in entry.items() if v is not None]
            continue
        _write_table(lines, [name], value)
    return "\n".join(lines) + "\n"


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)
    )


def _write_table(lines: list[str], path: list[str], table: Mapping[str, Any]) -> None:
    plain = {k: v for k, v in table.items() if v is not None and not isinstance(v, Mapping)}
    if plain or not table:
        lines += ["", f"[{'.'.join(_toml_key(p) for p in path)}]"]
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in plain.items()]
    for key, value in table.items():
        if isinstance(value, Mapping):
            _write_table(lines, [*path, key], value)


def _toml_key(key: str) -> str:
    key = str(key)
    return key if key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value if v is not None) + "]"
    # a JSON string is a TOML basic string (the same escapes)
    return json.dumps(str(value), ensure_ascii=False)
