"""Loaders of the real emotion corpora, read from a user's folder in their distributed layouts.

Registered datasets: ``savee``, ``emodb``, ``enterface``, ``ravdess``, ``cremad``. Each finds its
corpus under the data root (``--data-root`` / ``EMOKIT_DATA``) and can read any folder in the
corpus's layout through ``load_folder(folder, name=...)``, which is how the simulated corpora,
written in the same layouts, are read.

:class:`ManifestProvider` (a corpus read from a manifest and a label map) lives here too; the
``manifests`` plugin registers one per corpus added with ``emokit data add``.
"""

from __future__ import annotations

from emokit.api import DatasetProvider, hookimpl

from .common import RealCorpusProvider
from .cremad import CremadProvider
from .emodb import EmodbProvider
from .enterface import EnterfaceProvider
from .manifest import ManifestProvider
from .ravdess import RavdessProvider
from .savee import SaveeProvider

__all__ = [
    "CremadProvider",
    "EmodbProvider",
    "EnterfaceProvider",
    "ManifestProvider",
    "RavdessProvider",
    "RealCorpusProvider",
    "SaveeProvider",
    "emokit_register_datasets",
]


@hookimpl
def emokit_register_datasets() -> list[DatasetProvider]:
    """The real corpora: SAVEE, EMODB, eNTERFACE'05, RAVDESS and CREMA-D."""
    return [SaveeProvider(), EmodbProvider(), EnterfaceProvider(), RavdessProvider(), CremadProvider()]
