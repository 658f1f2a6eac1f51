"""The dataset and suite contracts: :func:`check_dataset`, :func:`check_suite`."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from emokit.api import (
    COMMON_LABELS,
    Corpus,
    DataLayoutError,
    DatasetProvider,
    LabelMap,
    LoadContext,
    LoadProblem,
    Suite,
    Utterance,
)
from emokit.registry import Registry, check_name
from emokit.testing.rules import MIN_SPEAKERS, check_identity, fail, round_trip


# -- datasets ------------------------------------------------------------------------------------------
def _check_corpus(provider: DatasetProvider, corpus: Any, what: str) -> Corpus:
    if not isinstance(corpus, Corpus):
        fail(what, f"load() returned {type(corpus).__name__}; expected an emokit.api.Corpus")
    if corpus.name != provider.name:
        fail(what, f"load() returned a corpus named {corpus.name!r}; expected {provider.name!r}")
    if not corpus.utterances or not all(isinstance(u, Utterance) for u in corpus.utterances):
        fail(what, "load() returned no utterances (raise DataLayoutError when the data is missing)")
    ids = [u.id for u in corpus.utterances]
    if len(set(ids)) != len(ids):
        doubles = sorted({i for i in ids if ids.count(i) > 1})[:3]
        fail(what, f"utterance ids repeat (the feature cache keys on them): {doubles}")
    outside = sorted({u.label for u in corpus.utterances} - set(COMMON_LABELS))
    if outside:
        fail(what, f"labels {outside} are not common labels ({', '.join(COMMON_LABELS)}); harmonise them")
    label_map = provider.label_map
    if label_map is not None:
        if not isinstance(label_map, LabelMap):
            fail(what, f"label_map is {type(label_map).__name__}; expected an emokit.api.LabelMap")
        wrong = [u.id for u in corpus.utterances if label_map.get(u.emotion) not in (None, u.label)]
        if wrong:
            fail(what, f"labels disagree with its label_map, e.g. utterance {wrong[0]!r}")
    if len(corpus.speakers) < MIN_SPEAKERS:
        fail(what, f"{len(corpus.speakers)} speaker(s); a speaker-independent split needs {MIN_SPEAKERS}")
    if not set(corpus.modalities) <= set(provider.modalities):
        fail(
            what, f"corpus modalities {corpus.modalities} are not among the provider's {provider.modalities}"
        )
    for u in corpus.utterances:
        for modality, path in (("audio", u.audio_path), ("visual", u.video_path)):
            if path is not None and not Path(path).is_file():
                fail(what, f"utterance {u.id!r}: its {modality} file {path} does not exist")
    if not all(isinstance(p, LoadProblem) for p in corpus.problems):
        fail(what, "problems must be emokit.api.LoadProblem records")
    if not isinstance(corpus.fingerprint, str) or not corpus.fingerprint:
        fail(what, "needs a fingerprint that changes with the content (the feature cache keys on it)")
    return corpus


def check_dataset(provider: DatasetProvider, context: LoadContext) -> Corpus:
    """Check ``provider`` against the dataset contract by loading it with ``context``; return the corpus.

    Checks its name, description, modalities, language, label map and options; that it pickles;
    that ``load`` gives a :class:`Corpus` under its own name with unique ids, common labels (agreeing
    with its label map), at least three speakers, media files that exist, a fingerprint, and the
    same ids and fingerprint when loaded again. When ``context`` has a data root, it also checks
    that loading from an empty data root raises :class:`DataLayoutError` (not another error).
    """
    if not isinstance(provider, DatasetProvider):
        fail(type(provider).__name__, "is not an emokit.api.DatasetProvider")
    what = check_identity(provider, "dataset")
    if not provider.modalities or not set(provider.modalities) <= {"audio", "visual"}:
        fail(what, f"modalities {provider.modalities!r}: expected 'audio' and/or 'visual'")
    if not isinstance(provider.language, str):
        fail(what, "language must be an ISO 639-1 code string")
    round_trip(provider, what)
    corpus = _check_corpus(provider, provider.load(context), what)
    again = provider.load(context)
    if [u.id for u in again.utterances] != [u.id for u in corpus.utterances]:
        fail(what, "two loads gave different utterances or a different order")
    if again.fingerprint != corpus.fingerprint:
        fail(what, "two loads of unchanged data gave different fingerprints")
    if context.data_root is not None:
        with tempfile.TemporaryDirectory() as empty:
            try:
                provider.load(replace(context, data_root=Path(empty)))
            except DataLayoutError:
                pass
            except Exception as exc:
                fail(
                    what, f"an empty data root raised {type(exc).__name__} ({exc}); expected DataLayoutError"
                )
            else:
                fail(what, "loaded something from an empty data root; expected DataLayoutError")
    return corpus


# -- suites --------------------------------------------------------------------------------------------
def check_suite(suite: Suite, registry: Registry | None = None) -> None:
    """Check ``suite``: a valid name and description, experiments whose features resolve, and (with
    ``registry``, e.g. ``Registry.discover()``) corpora, features and a reference that are registered.

    A suite's ``methods`` may name methods of optional plugins (those not registered are left out
    of a run), so only methods that are registered are checked for the modalities they take.
    """
    if not isinstance(suite, Suite):
        fail(type(suite).__name__, "is not an emokit.api.Suite")
    problem = check_name("suite", suite.name)
    if problem:
        fail("suite", problem)
    what = f"suite {suite.name!r}"
    if not suite.description.strip():
        fail(what, "needs a one-line `description` (emokit list suites shows it)")
    if not suite.experiments:
        fail(what, "has no experiments")
    try:
        experiments = suite.resolved()
    except ValueError as exc:
        fail(what, str(exc))
    if registry is None:
        return
    for exp in experiments:
        for corpus in (*exp.sources, exp.target):
            if corpus not in registry.providers["dataset"]:
                fail(what, f"experiment {exp.label} names dataset {corpus!r}, which is not registered")
        if exp.features not in registry.providers["feature"]:
            fail(what, f"experiment {exp.label} names feature {exp.features!r}, which is not registered")
    if suite.reference is not None and suite.reference not in suite.methods:
        fail(what, f"reference {suite.reference!r} is not one of its methods {list(suite.methods)}")
