"""Corpora registered without Python: one dataset per entry of ``corpora.toml`` in emokit's config
folder, each a manifest (CSV or EmoBox JSONL) plus a label map, added with ``emokit data add``
(docs/manifests.md).

A plugin of its own, so that a ``corpora.toml`` that cannot be read fails this plugin alone
(``emokit plugins`` names the file and the fault) and never the real or simulated corpora.
"""

from __future__ import annotations

from emokit.api import DatasetProvider, hookimpl, read_corpora_config
from emokit_plugins.corpora.manifest import ManifestProvider, manifest_providers

__all__ = ["ManifestProvider", "emokit_register_datasets"]


@hookimpl
def emokit_register_datasets() -> list[DatasetProvider]:
    """One :class:`ManifestProvider` per ``corpora.toml`` entry.

    An entry whose files have gone still registers (loading it says which file is missing); a
    ``corpora.toml`` that cannot be read raises :class:`emokit.api.CorporaConfigError`, which the
    registry records as this plugin's problem without stopping emokit.
    """
    return manifest_providers(read_corpora_config())
