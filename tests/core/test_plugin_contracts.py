"""emokit.testing's contract checks: every built-in plugin passes them, and broken components fail
them with a message that names the component and the rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from support.methods import FAST
from support.methods import FDAN_LAYOUT as LAYOUT

from emokit.api import (
    Corpus,
    DatasetProvider,
    FeatureExtractor,
    LoadContext,
    Method,
    Option,
    TransferTask,
    Utterance,
    read_audio,
)
from emokit.registry import Registry
from emokit.testing import (
    ContractError,
    as_runner_gives,
    check_dataset,
    check_extractor,
    check_method,
    check_suite,
    make_task,
)

SIMULATED = ("sim-savee", "sim-emodb", "sim-enterface")


@pytest.fixture(scope="module")
def context(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> LoadContext:
    """Tiny simulated corpora, in a cache of this module's own."""
    cache = tmp_path_factory.mktemp("contract-cache")
    return LoadContext(
        cache_dir=cache, options={"scale": 0.05}, providers=dict(registry.providers["dataset"])
    )


@pytest.fixture(scope="module")
def simulated(registry: Registry, context: LoadContext) -> dict[str, Corpus]:
    return {name: check_dataset(registry.dataset(name), context) for name in SIMULATED}


# -- every built-in passes -----------------------------------------------------------------------
def test_the_built_ins_register_the_components_these_tests_check(registry: Registry) -> None:
    assert set(registry.names("method")) >= {"pathnet", "fdan", "cascade", "svm", "source-only"}
    assert set(registry.names("dataset")) >= {*SIMULATED, "savee", "emodb", "enterface", "ravdess", "cremad"}


@pytest.mark.parametrize(
    "name", ["source-only", "target-only", "finetune", "svm", "cascade", "pooled", "pathnet", "fdan"]
)
def test_each_built_in_method_keeps_the_method_contract(registry: Registry, name: str) -> None:
    method = registry.method(name)
    task = make_task(layout=LAYOUT, modality="audiovisual") if name == "fdan" else None
    predictions = check_method(method, task, options=FAST)
    assert predictions.ndim == 1


def test_each_simulated_corpus_keeps_the_dataset_contract(simulated: dict[str, Corpus]) -> None:
    assert all(len(c.speakers) >= 3 for c in simulated.values())


@pytest.mark.parametrize(
    ("real", "sim", "folder"),
    [
        ("savee", "sim-savee", "SAVEE"),
        ("emodb", "sim-emodb", "EMODB"),
        ("enterface", "sim-enterface", "eNTERFACE"),
    ],
)
def test_each_real_loader_keeps_the_dataset_contract_on_its_layout(
    registry: Registry, simulated: dict[str, Corpus], tmp_path: Path, real: str, sim: str, folder: str
) -> None:
    shutil.copytree(simulated[sim].root, tmp_path / folder)  # the simulator writes the real layout
    context = LoadContext(data_root=tmp_path, cache_dir=tmp_path / "cache")
    corpus = check_dataset(registry.dataset(real), context)
    assert len(corpus) == len(simulated[sim])


def _wav(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.random.default_rng(len(str(path))).normal(0, 0.1, 800), 16000)


def test_ravdess_and_cremad_loaders_keep_the_dataset_contract(registry: Registry, tmp_path: Path) -> None:
    for actor in (1, 2, 3):
        for emotion in ("01", "05"):
            _wav(tmp_path / f"RAVDESS/Actor_{actor:02d}/03-01-{emotion}-01-01-01-{actor:02d}.wav")
    for actor in ("1001", "1002", "1003"):
        for emotion in ("ANG", "NEU"):
            _wav(tmp_path / f"CREMA-D/AudioWAV/{actor}_DFA_{emotion}_XX.wav")
    context = LoadContext(data_root=tmp_path, cache_dir=tmp_path / "cache")
    assert len(check_dataset(registry.dataset("ravdess"), context)) == 6
    assert len(check_dataset(registry.dataset("cremad"), context)) == 6


@pytest.mark.parametrize("name", ["logmel", "mfcc", "egemaps", "face", "face-logmel"])
def test_each_built_in_feature_keeps_the_feature_contract(
    registry: Registry, simulated: dict[str, Corpus], tmp_path: Path, name: str
) -> None:
    extractor = registry.feature(name)
    vectors = check_extractor(extractor, simulated["sim-enterface"].utterances[:3], tmp_path=tmp_path)
    assert vectors.shape[0] == 3 and vectors.dtype == np.float32


def test_each_suite_keeps_the_suite_contract(registry: Registry) -> None:
    assert registry.names("suite")
    for name in registry.names("suite"):
        check_suite(registry.suite(name), registry)


# -- the builder ---------------------------------------------------------------------------------------
def test_make_task_splits_speakers_and_as_runner_gives_withholds_what_the_runner_withholds() -> None:
    task = make_task(sources=2, seed=3)
    assert [s.train.corpus for s in task.sources] == ["src1", "src2"]
    t = task.target
    assert not set(t.train.speakers) & set(t.test.speakers) and not set(t.val.speakers) & set(t.test.speakers)
    view = as_runner_gives(task, _Reading(), unlabelled_share=0.5)
    assert not view.target.test.labelled and view.target.train.labelled
    assert len(view.target.train) + len(view.unlabelled_target) == len(t.train)
    assert view.normalisation == "corpus"
    assert abs(float(view.target.train.X.mean())) < abs(float(t.train.X.mean()))  # normalised
    blind = as_runner_gives(task, _Reading(uses_target_labels=False))
    assert not blind.target.train.labelled and not blind.target.val.labelled


# -- broken components fail, naming the rule -------------------------------------------------------
class _Reading(Method):
    """Predicts by its own rule, configurable to break one rule of the contract at a time."""

    name = "reading"
    description = "a method for testing the checks"
    options = ()

    def __init__(self, *, uses_target_labels: bool = True, rule: str = "") -> None:
        self.uses_target_labels = uses_target_labels
        self.rule = rule

    def run(self, task: TransferTask) -> np.ndarray:
        n = len(task.target.test)
        if self.rule == "reads test labels":
            return task.target.test.y.copy()
        if self.rule == "floats":
            return np.zeros(n)
        if self.rule == "in place":
            task.target.test.X[:] = 0.0
        if self.rule != "no validation":
            task.report_validation(0.5)
        if self.rule == "random":
            return np.random.default_rng().integers(0, task.num_classes, n)
        return np.zeros(n, dtype=np.int64)


@pytest.mark.parametrize(
    ("method", "message"),
    [
        (_Reading(rule="reads test labels"), "method 'reading': read labels the runner withholds"),
        (_Reading(rule="floats"), r"returned dtype float64; expected integer class indices"),
        (_Reading(rule="in place"), "changed the features of tgt test in place"),
        (_Reading(rule="no validation"), "reported no validation UAR"),
        (_Reading(rule="random"), "two runs with the same seed predicted differently"),
    ],
)
def test_a_method_that_breaks_a_rule_fails_the_check(method: Method, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        check_method(method)


def test_bad_names_undeclared_options_and_unpicklable_methods_fail_the_check() -> None:
    badly_named = _Reading()
    badly_named.name = "Deep CORAL"
    with pytest.raises(ContractError, match=r"method name 'Deep CORAL' is not valid.*'deep-coral'"):
        check_method(badly_named)
    undeclared = _Reading()
    undeclared.options = None
    with pytest.raises(ContractError, match="declares no `options`"):
        check_method(undeclared)
    bad_default = _Reading()
    bad_default.options = (Option("k", int, "three", "the k"),)
    with pytest.raises(ContractError, match="option 'k'"):
        check_method(bad_default)
    unpicklable = _Reading()
    unpicklable.hook = lambda: None
    with pytest.raises(ContractError, match="cannot be pickled for worker processes"):
        check_method(unpicklable)


class _TwoSpeakers(DatasetProvider):
    name = "two-speakers"
    description = "a corpus of two speakers"
    options = ()

    def __init__(self, folder: Path, label: str = "anger") -> None:
        self.folder = folder
        self.label = label

    def load(self, context: LoadContext) -> Corpus:
        utterances = []
        for i, speaker in enumerate(("a", "b", "a", "b")):
            path = self.folder / f"{i}.wav"
            _wav(path)
            utterances.append(Utterance(f"u{i}", speaker, "x", self.label, audio_path=path))
        return Corpus(self.name, self.folder, utterances, "en", ("audio",), fingerprint="f")


def test_a_dataset_that_breaks_a_rule_fails_the_check(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="dataset 'two-speakers': 2 speaker"):
        check_dataset(_TwoSpeakers(tmp_path), LoadContext(cache_dir=tmp_path))
    with pytest.raises(ContractError, match=r"labels \['joy'\] are not common labels"):
        check_dataset(_TwoSpeakers(tmp_path, label="joy"), LoadContext(cache_dir=tmp_path))


class _Samples(FeatureExtractor):
    """The first samples of the audio, as float64 when asked to break the dtype rule."""

    name = "samples"
    description = "the first 16 samples"

    def __init__(self, dtype: type = np.float32, check_media: bool = True) -> None:
        self.dtype = dtype
        self.check_media = check_media

    def extract(self, utterance: Utterance) -> np.ndarray:
        if not self.check_media:
            return np.zeros(16, dtype=self.dtype)
        samples, _ = read_audio(utterance.audio_path, sample_rate=16000)
        return np.asarray(samples[:16], dtype=self.dtype)


def test_a_feature_that_breaks_a_rule_fails_the_check(tmp_path: Path) -> None:
    _wav(tmp_path / "a.wav")
    utterances = [Utterance("a", "s", "x", "anger", audio_path=tmp_path / "a.wav")]
    assert check_extractor(_Samples(), utterances, tmp_path=tmp_path).shape == (1, 16)
    with pytest.raises(ContractError, match=r"feature 'samples': extract\('a'\) returned float64"):
        check_extractor(_Samples(np.float64), utterances, tmp_path=tmp_path)
    with pytest.raises(ContractError, match="extracted a vector from a file that is not media"):
        check_extractor(_Samples(check_media=False), utterances, tmp_path=tmp_path)
