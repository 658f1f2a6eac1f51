"""Feature extractors' own options (``--option NAME.KEY=VALUE``) and batches on the run's device,
through ``emokit bench`` and the feature cache."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest
import soundfile as sf
from rich.console import Console
from support.toy_plugin import EMOTIONS, emokit_register_datasets, emokit_register_methods, write_tone_corpora

from emokit import cli
from emokit.api import FeatureExtractor, MediaReadError, Option, Utterance, hookimpl
from emokit.cli.bench import run_bench_command
from emokit.data.corpus import Corpus
from emokit.features.cache import compute_features
from emokit.registry import Registry


class BandEnergy(FeatureExtractor):
    """Log energy in ``bands`` equal bands of the spectrum, extracted ``batch`` files at a time."""

    name = "band-energy"
    modality = "audio"
    description = "log band energies (a test extractor with options and batches)"
    options = (
        Option("bands", int, 8, "spectrum bands"),
        Option("batch", int, 1, "files per extract_batch call"),
    )
    #: what every configured instance was handed: (device, batch sizes), across instances
    calls: ClassVar[list[tuple[str, int]]] = []

    def __init__(self, *, bands: int = 8, batch: int = 1) -> None:
        if bands < 1:
            raise ValueError(f"--option band-energy.bands={bands}: expected at least 1 band")
        self.bands, self.batch_size = bands, batch

    def params(self) -> dict[str, Any]:
        return {"bands": self.bands}

    def extract(self, utterance: Utterance) -> np.ndarray:
        try:
            x, _ = sf.read(str(utterance.audio_path), dtype="float32")
        except Exception as exc:
            raise MediaReadError(f"{utterance.audio_path}: {exc}") from exc
        spectrum = np.abs(np.fft.rfft(x, n=1024))[:512]
        return np.log1p(spectrum.reshape(self.bands, -1).sum(axis=1)).astype(np.float32)

    def extract_batch(self, utterances: list[Utterance]) -> list[np.ndarray | MediaReadError]:
        BandEnergy.calls.append((self.device, len(utterances)))
        return super().extract_batch(utterances)


def _registry() -> Registry:
    plugin = SimpleNamespace(
        emokit_register_datasets=emokit_register_datasets,
        emokit_register_features=hookimpl(lambda: [BandEnergy()]),
        emokit_register_methods=emokit_register_methods,
    )
    return Registry.discover(extra=[("band-plugin", plugin)])


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tone_corpora(tmp_path_factory.mktemp("tones"))


def _bench(tones: Path, out: Path, *extra: str) -> tuple[int, str]:
    argv = [
        "bench", "--source", "toy-a", "--target", "toy-b", "--features", "band-energy",
        "--method", "nearest-centroid", "--seeds", "1", "--folds", "2", "--data-root", str(tones),
        "--cache-dir", str(out / "cache"), "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip
    args = cli.build_parser().parse_args(argv)
    console = Console(record=True, width=200)
    try:
        code = run_bench_command(args, _registry(), console)
    except cli.UsageError as exc:
        return cli.EXIT_USAGE, str(exc)
    return code, console.export_text()


def test_options_reach_the_extractor_and_are_recorded(tones: Path, tmp_path: Path) -> None:
    BandEnergy.calls.clear()
    code, text = _bench(tones, tmp_path, "--option", "band-energy.bands=4", "--option", "band-energy.batch=5")
    assert code == 0, text
    data = json.loads(next(tmp_path.glob("bench-*.json")).read_text())
    assert data["identity"]["feature_options"] == {"band-energy": {"bands": 4, "batch": 5}}
    assert data["identity"]["feature_params"] == {"band-energy": {"bands": 4}}
    assert data["run_config"]["option"]["band-energy"] == {"bands": 4, "batch": 5}
    # 2 corpora x 4 speakers x 3 emotions x 4 takes: batches of at most 5, on the run's device
    assert {device for device, _ in BandEnergy.calls} == {"cpu"}
    assert max(n for _, n in BandEnergy.calls) == 5 and sum(n for _, n in BandEnergy.calls) == 96
    cache = list((tmp_path / "cache" / "features").rglob("band-energy-*.npz"))
    assert len(cache) == 2
    with np.load(cache[0], allow_pickle=False) as stored:
        assert any(stored[k].ndim == 2 and stored[k].shape[1] == 4 for k in stored.files)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("band-energy.bandz=4", "--option band-energy.bandz: feature 'band-energy' has no option 'bandz'"),
        ("band-energy.bands=many", "--option band-energy.bands=many: expected a whole number"),
        ("band-energy.bands=0", "features 'band-energy': --option band-energy.bands=0: expected at least 1"),
        ("mfcc.n_mfcc=3", "--option mfcc.n_mfcc: the features 'mfcc' are not used by this run"),
    ],
)
def test_bad_extractor_options_are_refused_before_any_work(
    tones: Path, tmp_path: Path, option: str, message: str
) -> None:
    BandEnergy.calls.clear()
    code, text = _bench(tones, tmp_path, "--option", option)
    assert code == cli.EXIT_USAGE and message in text.replace("\n", " "), text
    assert BandEnergy.calls == []


def test_an_unscoped_key_is_for_the_methods_not_the_extractor(tones: Path, tmp_path: Path) -> None:
    code, text = _bench(tones, tmp_path, "--option", "bands=4")
    assert code == 0 and "--option bands: no method declares it; passed unchecked" in text, text
    data = json.loads(next(tmp_path.glob("bench-*.json")).read_text())
    assert data["identity"]["feature_options"] == {"band-energy": {"bands": 8, "batch": 1}}


def test_a_bad_file_in_a_batch_is_reported_and_skipped(tones: Path, tmp_path: Path) -> None:
    good = sorted((tones / "toy-a").glob("*/*.wav"))[:5]
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really")
    utterances = [
        Utterance(
            id=p.stem + p.parent.name, speaker=p.parent.name, emotion="anger", label="anger", audio_path=p
        )
        for p in good
    ]
    utterances.insert(
        2, Utterance(id="broken", speaker="x", emotion="anger", label="anger", audio_path=broken)
    )
    corpus = Corpus("toys", tmp_path, utterances, "en", ("audio",), fingerprint="t")
    extractor = BandEnergy(bands=4, batch=4).configured({"bands": 4, "batch": 4})
    table = compute_features(corpus, extractor, cache_dir=tmp_path / "cache")
    assert list(table.ids) == [u.id for u in utterances if u.id != "broken"]
    assert [str(p.path) for p in table.problems] == [str(broken)] and table.problems[0].skipped
    assert table.X.shape == (5, 4)
    assert EMOTIONS  # the tone corpora's emotions, as the toy plugin writes them
