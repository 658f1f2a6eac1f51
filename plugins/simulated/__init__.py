"""Simulated corpora: ``sim-savee``, ``sim-emodb`` and ``sim-enterface``.

Real emotion corpora are licensed and cannot ship with emokit, so emokit generates simulated
counterparts that copy each real corpus's structure (speakers, language, emotions, sentence counts,
modalities) and write their files in the real corpus's layout. Each is then read by the real
corpus's loader, so everything that works on simulated data works on the real data by changing a
name (``sim-savee`` -> ``savee``).

Speech comes from eSpeak NG with emotion acted through prosody rules, faces from a procedural
renderer driven by facial action units, and each corpus has its own recording "domain" (channel
and rendering style), so cross-corpus transfer is harder than within-corpus. See
:mod:`.specs` for every knob.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from emokit import hookimpl
from emokit.data.corpus import Corpus
from emokit.data.datasets import DatasetProvider, LoadContext

from .generate import CorpusRepairWarning, corpus_dir, fingerprint, prepare_corpus
from .specs import GENERATOR_VERSION, SPECS, CorpusSpec

__all__ = [
    "SPECS",
    "CorpusRepairWarning",
    "SimulatedCorpus",
    "corpus_dir",
    "emokit_register_datasets",
    "fingerprint",
    "prepare_corpus",
]


class SimulatedCorpus(DatasetProvider):
    """A generated corpus, read back with the loader of the real corpus it copies."""

    def __init__(self, spec: CorpusSpec):
        self.spec = spec
        self.name = spec.name
        self.description = spec.description
        self.modalities = spec.modalities
        self.language = spec.language

    def prepare(self, context: LoadContext) -> Path:
        """Generate the corpus for ``context.sim_seed`` and ``context.sim_scale`` unless it is
        complete already, under ``context.cache_dir`` (default: emokit's cache); return its folder."""
        return prepare_corpus(
            self.name,
            cache_dir=context.cache_dir,
            scale=context.sim_scale,
            seed=context.sim_seed,
            progress=context.progress,
            force=context.regenerate,
        )

    def load(self, context: LoadContext) -> Corpus:
        """Prepare the corpus, then read it with the real loader (``context.providers[family]``).

        The corpus fingerprint is the hash of the generation config (name, seed, scale, generator
        version, spec), so cached features are invalidated whenever the generator changes.
        """
        loader = context.providers.get(self.spec.family)
        if loader is None:
            # called outside the registry's own loading (e.g. a bare LoadContext): look it up
            from emokit.registry import UnknownNameError, get_registry

            try:
                loader = get_registry().dataset(self.spec.family)
            except UnknownNameError as exc:
                raise RuntimeError(
                    f"{self.name} is read by the {self.spec.family!r} loader, which is not registered "
                    f"(see `emokit plugins`): {exc}"
                ) from None
        folder = self.prepare(context)
        corpus = loader.load_folder(folder, name=self.name)
        return replace(
            corpus,
            fingerprint=fingerprint(self.name, scale=context.sim_scale, seed=context.sim_seed),
            simulation={
                "generator": "emokit simulated corpora",
                "name": self.name,
                "seed": context.sim_seed,
                "scale": context.sim_scale,
                "generator_version": GENERATOR_VERSION,
                "copies": self.spec.family,
            },
        )


@hookimpl
def emokit_register_datasets() -> list[DatasetProvider]:
    """The simulated corpora."""
    return [SimulatedCorpus(spec) for spec in SPECS.values()]
