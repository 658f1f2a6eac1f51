"""Where emokit keeps its folders on disk: the cache (generated corpora, features), the data root, and
the config folder (the manifest corpora that ``emokit data add`` registered, in ``corpora.toml``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import platformdirs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: the file in :func:`config_dir` listing the manifest corpora (``emokit data add`` writes it)
CORPORA_FILE = "corpora.toml"

#: the keys of one ``[corpora.NAME]`` entry, and whether each is required
CORPUS_ENTRY_KEYS: dict[str, bool] = {
    "manifest": True,
    "label-map": True,
    "root": False,
    "language": False,
    "description": False,
}


class CorporaConfigError(ValueError):
    """``corpora.toml`` cannot be read; the message names the file (and entry) and what was expected."""


def cache_dir() -> Path:
    """The user cache directory (``EMOKIT_CACHE`` overrides the platform default)."""
    override = os.environ.get("EMOKIT_CACHE")
    root = Path(override).expanduser() if override else Path(platformdirs.user_cache_dir("emokit"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def data_root_from_env() -> Path | None:
    """The folder holding real corpora, from ``EMOKIT_DATA``, or ``None``."""
    value = os.environ.get("EMOKIT_DATA")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """The user config directory (``EMOKIT_CONFIG`` overrides the platform default).

    Not created here: reading a missing config is not an error, and only writers need the folder.
    """
    override = os.environ.get("EMOKIT_CONFIG")
    return Path(override).expanduser() if override else Path(platformdirs.user_config_dir("emokit"))


def corpora_config_file() -> Path:
    """The file listing the manifest corpora: :data:`CORPORA_FILE` in :func:`config_dir`."""
    return config_dir() / CORPORA_FILE


def read_corpora_config(path: Path | None = None) -> dict[str, dict[str, str]]:
    """The manifest corpora of ``path`` (default :func:`corpora_config_file`): name -> entry.

    The file holds one ``[corpora.NAME]`` table per corpus with the keys of
    :data:`CORPUS_ENTRY_KEYS` (``manifest`` and ``label-map`` required), all strings. A missing
    file holds no corpora.

    Raises:
        CorporaConfigError: the file cannot be read, is not TOML, or an entry is not as above; the
            message names the file and the entry.
    """
    file = path or corpora_config_file()
    try:
        with open(file, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise CorporaConfigError(f"{file}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CorporaConfigError(f"{file}: not valid TOML ({exc}); {_FIX}") from None
    corpora = raw.get("corpora", {})
    if not isinstance(corpora, dict):
        raise CorporaConfigError(f"{file}: expected [corpora.NAME] tables, got corpora = {corpora!r}; {_FIX}")
    return {str(name): _checked_entry(file, str(name), entry) for name, entry in corpora.items()}


_FIX = "fix the file, or delete it and add the corpora again with `emokit data add`"


def _checked_entry(file: Path, name: str, entry: Any) -> dict[str, str]:
    expected = ", ".join(
        f"{k}{'' if required else ' (optional)'}" for k, required in CORPUS_ENTRY_KEYS.items()
    )
    if not isinstance(entry, dict):
        raise CorporaConfigError(f"{file}: corpora.{name}: expected a table of {expected}; {_FIX}")
    for key, required in CORPUS_ENTRY_KEYS.items():
        if required and key not in entry:
            raise CorporaConfigError(f"{file}: corpora.{name}: no {key!r} (expected {expected}); {_FIX}")
    for key, value in entry.items():
        if key not in CORPUS_ENTRY_KEYS:
            raise CorporaConfigError(
                f"{file}: corpora.{name}.{key}: unknown key (expected {expected}); {_FIX}"
            )
        if not isinstance(value, str):
            raise CorporaConfigError(
                f"{file}: corpora.{name}.{key}: expected a string, got {value!r}; {_FIX}"
            )
    return {key: entry[key] for key in CORPUS_ENTRY_KEYS if key in entry}
