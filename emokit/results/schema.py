"""The JSON Schema of a result file (format 3), and a validator that names where a file is wrong.

``result.schema.json`` beside this module describes what ``emokit bench`` writes: every field, its
type, its unit and its range (scores are fractions in [0, 1]). Files of formats 1 and 2 are
upgraded by :func:`emokit.results.load` first; their upgraded data (``RunResults.data``) validates::

    from emokit.results.schema import validate
    problems = validate("bench-....json")  # [] when the file is valid

Validation needs ``jsonschema`` (``pip install jsonschema``; the test extra has it); reading and
loading result files does not.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

#: the schema file, shipped with the package
SCHEMA_PATH = Path(__file__).with_name("result.schema.json")

#: longest message kept per error (a message may quote a whole cell)
_MESSAGE_CHARS = 300


def schema() -> dict[str, Any]:
    """The result file's JSON Schema (draft 2020-12), as a fresh dict."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Any:
    try:
        import jsonschema
    except ImportError as exc:
        raise ImportError(
            "validating a result file needs jsonschema: pip install jsonschema (or pip install -e '.[test]')"
        ) from exc
    loaded = schema()
    jsonschema.Draft202012Validator.check_schema(loaded)
    return jsonschema.Draft202012Validator(loaded)


def validate(data_or_path: dict[str, Any] | str | Path) -> list[str]:
    """Problems of a result file against the schema, one message per problem, each starting with
    the JSON path of the offending value (``$.cells[3].scores.uar: 1.5 is greater than the maximum
    of 1``); an empty list when it is valid.

    ``data_or_path`` is a result file's path or its parsed content (e.g. ``RunResults.data``). A
    path that is not JSON gives one message naming the file.

    Raises:
        ImportError: jsonschema is not installed.
    """
    validator = _validator()  # the ImportError first, whatever the argument
    if isinstance(data_or_path, (str, Path)):
        path = Path(data_or_path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return [f"$: cannot read {path} as JSON: {exc}"]
    else:
        data = data_or_path
    errors = sorted(validator.iter_errors(data), key=_order)
    return [_message(error) for error in errors]


def _order(error: Any) -> tuple:
    """Errors in document order: by path (list indices as numbers), then message."""
    path = [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]
    return (path, error.message)


def _message(error: Any) -> str:
    """``<json path>: <message>``; for a failed oneOf/anyOf/if, the most relevant inner error too."""
    import jsonschema

    text = _short(error.message)
    if error.context:
        inner = jsonschema.exceptions.best_match(error.context)
        if inner is not None:
            text += f" ({inner.json_path}: {_short(inner.message)})"
    return f"{error.json_path}: {text}"


def _short(message: str) -> str:
    return message if len(message) <= _MESSAGE_CHARS else message[: _MESSAGE_CHARS - 3] + "..."


__all__ = ["SCHEMA_PATH", "schema", "validate"]
