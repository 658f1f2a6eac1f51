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

from emokit.api import Corpus, DatasetProvider, LoadContext, Option, Suite, hookimpl
from emokit_plugins.corpora.labels import LABEL_MAPS

from .generate import CorpusRepairWarning, corpus_dir, fingerprint, prepare_corpus
from .specs import GENERATOR_VERSION, SPECS, CorpusSpec
from .suite import DEFAULT

__all__ = [
    "SPECS",
    "CorpusRepairWarning",
    "SimulatedCorpus",
    "corpus_dir",
    "emokit_register_datasets",
    "fingerprint",
    "prepare_corpus",
]


def _scale(value: str | float) -> float:
    scale = float(value)
    if not 0.0 < scale <= 1.0:
        raise ValueError(value)
    return scale


#: ``--data-option scale=S`` (``--sim-scale S``): the corpus's size relative to the real one
SCALE = Option(
    "scale", _scale, 1.0, "size relative to the real corpus (1 = full size)", expects="a number in (0, 1]"
)
#: ``--data-option seed=K`` (``--sim-seed K``): same seed, same corpus
SEED = Option("seed", int, 0, "seed of the generation (same seed, same corpus)")


class SimulatedCorpus(DatasetProvider):
    """A generated corpus, read back with the loader of the real corpus it copies.

    Options: ``scale`` (size relative to the real corpus, default 1) and ``seed`` (default 0).
    """

    options = (SCALE, SEED)

    def __init__(self, spec: CorpusSpec):
        self.spec = spec
        self.name = spec.name
        self.description = spec.description
        self.modalities = spec.modalities
        self.language = spec.language
        self.label_map = LABEL_MAPS[spec.family]

    def prepare(self, context: LoadContext) -> Path:
        """Generate the corpus for the context's ``seed`` and ``scale`` options unless it is
        complete already, under ``context.cache_dir`` (default: emokit's cache); return its folder."""
        return prepare_corpus(
            self.name,
            cache_dir=context.cache_dir,
            scale=context.option(self, "scale"),
            seed=context.option(self, "seed"),
            progress=context.progress,
            force=context.regenerate,
        )

    def load(self, context: LoadContext) -> Corpus:
        """Prepare the corpus, then read it with the real loader (``context.providers[family]``).

        The corpus fingerprint is the hash of the generation config (name, seed, scale, generator
        version, spec), so cached features are invalidated whenever the generator changes.
        """
        # context.providers is the run's registry; a bare LoadContext (a script, a plugin test)
        # falls back to the built-in loader of the family this corpus copies
        loader = context.providers.get(self.spec.family) or _builtin_loader(self.spec.family)
        scale, seed = context.option(self, "scale"), context.option(self, "seed")
        folder = self.prepare(context)
        corpus = loader.load_folder(folder, name=self.name)
        return replace(
            corpus,
            fingerprint=fingerprint(self.name, scale=scale, seed=seed),
            simulation={
                "generator": "emokit simulated corpora",
                "name": self.name,
                "seed": seed,
                "scale": scale,
                "generator_version": GENERATOR_VERSION,
                "copies": self.spec.family,
            },
        )


def _builtin_loader(family: str) -> DatasetProvider:
    from emokit_plugins.corpora import emokit_register_datasets as real_corpora

    for provider in real_corpora():
        if provider.name == family:
            return provider
    raise RuntimeError(f"no loader for the {family!r} layout among the built-in corpora")


@hookimpl
def emokit_register_datasets() -> list[DatasetProvider]:
    """The simulated corpora."""
    return [SimulatedCorpus(spec) for spec in SPECS.values()]


@hookimpl
def emokit_register_suites() -> list[Suite]:
    """The default suite (``emokit bench`` with no experiment named), on the simulated corpora."""
    return [DEFAULT]
