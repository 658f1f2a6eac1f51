"""The ``ssl`` extractor (wav2vec 2.0 / HuBERT / WavLM / data2vec-audio) on tiny random checkpoints.

References are computed independently: transformers' own model in float64, fed by transformers' own
``Wav2Vec2FeatureExtractor``, pooled with numpy.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly
from support.cli_runner import run_emokit
from support.media import corpus, tone, utterance, write_wav
from support.ssl_models import REAL_STRIDE, make_ssl_model, make_text_model

from emokit.api import MediaReadError, OptionError
from emokit.features.cache import compute_features
from emokit.features.store import cache_key
from emokit.testing import check_extractor
from emokit_plugins.features.ssl import SSLExtractor

transformers = pytest.importorskip("transformers")  # the emokit[ssl] extra

#: float32 extractor against a float64 reference, on O(1) hidden states
ATOL = 2e-4


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    """``folder(kind, **kwargs)``: a tiny checkpoint of that kind, written once per module."""
    root = tmp_path_factory.mktemp("ssl-models")
    made: dict[tuple, Path] = {}

    def get(kind: str = "wav2vec2", **kwargs) -> Path:
        key = (kind, *sorted(kwargs.items()))
        if key not in made:
            made[key] = make_ssl_model(root / f"m{len(made)}", kind, **kwargs)
        return made[key]

    return get


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three 16 kHz tones of different lengths (0.25, 0.4, 0.55 s)."""
    root = tmp_path_factory.mktemp("ssl-wavs")
    return [write_wav(root / f"t{i}.wav", 16000, 300 + 120 * i, 0.25 + 0.15 * i) for i in range(3)]


def reference_states(folder: Path, wav: Path) -> list[np.ndarray]:
    """The model's hidden states ``[frames, dim]`` per layer, in float64, straight from transformers."""
    signal, rate = sf.read(str(wav), dtype="float64")
    processor = transformers.Wav2Vec2FeatureExtractor.from_pretrained(str(folder))
    assert rate == processor.sampling_rate
    inputs = processor(signal, sampling_rate=rate, return_tensors="np")["input_values"]
    model = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True).double().eval()
    with torch.no_grad():
        out = model(torch.from_numpy(np.asarray(inputs, dtype=np.float64)), output_hidden_states=True)
    return [h[0].numpy() for h in out.hidden_states]


def ssl(folder: Path, **options) -> SSLExtractor:
    return SSLExtractor(folder, **options).configured({"model": str(folder), **options})


# -- layers and pooling --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["wav2vec2", "wav2vec2-group", "hubert", "wavlm", "data2vec-audio"])
def test_layers_are_the_models_own_hidden_states(folder, wavs, kind: str) -> None:
    path = folder(kind)
    states = reference_states(path, wavs[1])
    assert len(states) == 3  # the input of layer 1, then the two layers' outputs
    u = utterance("u", audio=wavs[1])
    for layer, expected in [(0, states[0]), (1, states[1]), ("last", states[2]), (-1, states[2])]:
        got = ssl(path, layer=layer).extract(u)
        np.testing.assert_allclose(got, expected.mean(axis=0), atol=ATOL, err_msg=f"layer={layer}")
    mean = ssl(path).extract(u)  # the default: the mean of the transformer layers
    np.testing.assert_allclose(mean, np.mean(states[1:], axis=0).mean(axis=0), atol=ATOL)
    assert not np.allclose(mean, states[0].mean(axis=0), atol=1e-2)  # the layers do differ


def test_mean_std_pooling_is_numpys_over_time(folder, wavs) -> None:
    path = folder("wavlm")
    states = reference_states(path, wavs[2])
    u = utterance("u", audio=wavs[2])
    plain = ssl(path, layer=1).extract(u)
    both = ssl(path, layer=1, pooling="mean+std").extract(u)
    assert plain.shape == (32,) and both.shape == (64,) and both.dtype == np.float32
    np.testing.assert_allclose(both[:32], plain, atol=1e-6)
    np.testing.assert_allclose(both[32:], states[1].std(axis=0), atol=ATOL)  # population std
    assert both[32:].min() > 1e-3


def test_layer_spellings_share_the_cache_and_bad_layers_are_refused(folder) -> None:
    path = folder("wav2vec2")
    assert ssl(path, layer="last").params() == ssl(path, layer=-1).params() == ssl(path, layer=2).params()
    assert ssl(path, layer=0).params() == ssl(path, layer=-3).params()
    with pytest.raises(OptionError, match=r"ssl.layer=3: .* has 2 transformer layers.*0\.\.2"):
        SSLExtractor(path, layer=3)
    with pytest.raises(OptionError, match=r"ssl\.layer=middle: expected mean, last or a whole number"):
        SSLExtractor(path, layer="middle")
    option = next(o for o in SSLExtractor.options if o.name == "layer")
    assert option.parse("4") == 4 and option.parse("Mean") == "mean"
    with pytest.raises(OptionError, match=r"ssl\.layer=x"):
        option.parse("x", "ssl.layer")


# -- audio in --------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [8000, 44100])
def test_files_are_resampled_to_the_models_rate(folder, tmp_path: Path, rate: int) -> None:
    path = folder("wav2vec2")
    seconds = 0.5
    native = write_wav(tmp_path / f"at{rate}.wav", rate, seconds=seconds)
    g = np.gcd(rate, 16000)
    beforehand = tmp_path / "resampled.wav"
    sf.write(beforehand, resample_poly(tone(rate, seconds), 16000 // g, rate // g), 16000, subtype="FLOAT")
    extractor = ssl(path, layer=1)
    seen: list[tuple[int, ...]] = []
    extractor.load_model().register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    got = extractor.extract(utterance("u", audio=native))
    assert seen == [(1, int(seconds * 16000))]  # the model saw 16 kHz audio
    np.testing.assert_allclose(got, extractor.extract(utterance("r", audio=beforehand)), atol=1e-4)
    # and the tone made at 16 kHz from the start differs only by the resampler's edge effects
    direct = write_wav(tmp_path / "direct.wav", 16000, seconds=seconds)
    np.testing.assert_allclose(got, extractor.extract(utterance("d", audio=direct)), atol=0.05)


def test_the_preprocessor_config_sets_rate_and_normalisation(folder, tmp_path: Path) -> None:
    at8k = ssl(folder("hubert", sampling_rate=8000))
    seen: list[tuple[int, ...]] = []
    at8k.load_model().register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))
    at8k.extract(utterance("u", audio=write_wav(tmp_path / "a.wav", 16000, seconds=0.5)))
    assert at8k.sample_rate == 8000 and seen == [(1, 4000)]
    # per-utterance normalisation makes the vector blind to level and DC offset; without it, not
    loud, quiet = tmp_path / "loud.wav", tmp_path / "quiet.wav"
    sf.write(loud, tone(16000, 0.5), 16000, subtype="FLOAT")
    sf.write(quiet, 0.5 * tone(16000, 0.5) + 0.2, 16000, subtype="FLOAT")
    for normalise in (True, False):
        e = ssl(folder("hubert", do_normalize=normalise))
        a, b = e.extract(utterance("l", audio=loud)), e.extract(utterance("q", audio=quiet))
        assert np.allclose(a, b, atol=1e-4) == normalise
        assert e.params()["normalize"] == normalise
    bare = ssl(folder("hubert", preprocessor=False))  # no preprocessor_config.json: 16 kHz, normalised
    assert (bare.sample_rate, bare.normalize) == (16000, True)
    np.testing.assert_allclose(
        bare.extract(utterance("l", audio=loud)), ssl(folder("hubert")).extract(utterance("l", audio=loud))
    )


def test_max_seconds_keeps_the_start_of_long_files(folder, tmp_path: Path) -> None:
    path = folder("wav2vec2")
    signal = tone(16000, 1.0, freq=350.0)
    sf.write(tmp_path / "long.wav", signal, 16000, subtype="FLOAT")
    sf.write(tmp_path / "start.wav", signal[:8000], 16000, subtype="FLOAT")
    cut = ssl(path, max_seconds=0.5).extract(utterance("l", audio=tmp_path / "long.wav"))
    start = ssl(path).extract(utterance("s", audio=tmp_path / "start.wav"))
    np.testing.assert_allclose(cut, start, atol=1e-5)
    assert not np.allclose(cut, ssl(path).extract(utterance("l", audio=tmp_path / "long.wav")), atol=1e-3)
    assert ssl(path, max_seconds=None).params()["max_seconds"] is None


# -- batches -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["wav2vec2", "hubert", "wavlm", "wav2vec2-group", "data2vec-audio"])
def test_a_batch_gives_the_one_by_one_vectors(folder, wavs, kind: str) -> None:
    extractor = ssl(folder(kind), pooling="mean+std", batch_size=3)
    assert extractor.batch_size == 3
    assert extractor.pads_exactly == (kind in ("wav2vec2", "hubert", "wavlm"))
    utts = [utterance(f"u{i}", audio=w) for i, w in enumerate([*wavs, wavs[0]])]
    calls: list[tuple[int, ...]] = []
    extractor.load_model().register_forward_pre_hook(lambda _m, args: calls.append(tuple(args[0].shape)))
    batch = extractor.extract_batch(utts)
    if extractor.pads_exactly:  # sorted by length, padded: 3 + 1
        assert calls == [(3, 6400), (1, 8800)]
    else:  # never padded: the two copies of the first file together, the others alone
        assert sorted(calls) == [(1, 6400), (1, 8800), (2, 4000)]
    for u, vector in zip(utts, batch, strict=True):
        np.testing.assert_allclose(vector, extractor.extract(u), atol=1e-5, err_msg=u.id)


@pytest.mark.cuda
def test_on_the_gpu_a_batch_gives_the_cpus_vectors(folder, wavs) -> None:
    path = folder("wavlm")
    options = {"model": str(path), "pooling": "mean+std", "batch_size": 3}
    gpu = SSLExtractor(**options).configured(options, device="cuda")
    assert gpu.device == "cuda" and next(gpu.load_model().parameters()).is_cuda
    utts = [utterance(f"u{i}", audio=w) for i, w in enumerate(wavs)]
    cpu = ssl(path, pooling="mean+std")
    for u, vector in zip(utts, gpu.extract_batch(utts), strict=True):
        np.testing.assert_allclose(vector, cpu.extract(u), atol=1e-4, err_msg=u.id)


def test_a_bad_file_in_a_batch_is_its_own_media_error(folder, wavs, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not a wav file at all" * 20)
    short = write_wav(tmp_path / "short.wav", 16000, seconds=0.002)  # 32 samples, the model needs 45
    extractor = ssl(folder("wavlm"))
    utts = [
        utterance("ok", audio=wavs[0]),
        utterance("bad", audio=garbage),
        utterance("short", audio=short),
        utterance("none"),
    ]
    out = extractor.extract_batch(utts)
    np.testing.assert_allclose(out[0], extractor.extract(utts[0]), atol=1e-6)
    assert isinstance(out[1], MediaReadError) and str(garbage) in str(out[1])
    assert isinstance(out[2], MediaReadError)
    assert f"{short}: only 32 samples at 16000 Hz, expected at least 45" in str(out[2])
    assert isinstance(out[3], MediaReadError) and "'none' has no audio file" in str(out[3])
    with pytest.raises(MediaReadError, match=r"garbage\.wav"):
        extractor.extract(utts[1])


def test_the_extractor_keeps_the_feature_contract(folder, wavs, tmp_path: Path) -> None:
    utts = [utterance(f"u{i}", audio=w) for i, w in enumerate(wavs)]
    vectors = check_extractor(ssl(folder("wavlm"), pooling="mean+std"), utts, tmp_path=tmp_path)
    assert vectors.shape == (3, 64)


# -- the cache key -------------------------------------------------------------------------------
def test_params_follow_the_checkpoint_content_and_the_options(folder, wavs, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    original = folder("wav2vec2")
    moved = shutil.copytree(original, tmp_path / "elsewhere" / "copy")
    tiny = corpus([utterance("u0", audio=wavs[0])])
    key = cache_key(tiny, ssl(original))
    assert key == cache_key(tiny, ssl(moved))  # the path is not part of it
    assert str(original) not in json.dumps(key) and len(key["params"]["model_sha256"]) == 64
    assert ssl(original, batch_size=1).params() == ssl(original, batch_size=5).params()
    for change in ({"layer": 1}, {"pooling": "mean+std"}, {"max_seconds": 10.0}):
        assert cache_key(tiny, ssl(original, **change)) != key, change
    weights = load_file(str(moved / "model.safetensors"))
    name = next(n for n in sorted(weights) if n.endswith("feature_projection.projection.weight"))
    weights[name][0, 0] += 0.5
    save_file(weights, str(moved / "model.safetensors"), metadata={"format": "pt"})
    changed = ssl(moved)
    assert changed.checkpoint_sha256() != ssl(original).checkpoint_sha256()
    assert cache_key(tiny, changed) != key
    u = utterance("u", audio=wavs[0])
    assert not np.allclose(changed.extract(u), ssl(original).extract(u), atol=1e-4)  # it was a real change


def test_compute_features_caches_across_a_moved_checkpoint(folder, wavs, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"\0garbage" * 40)
    utts = [utterance(f"u{i}", audio=w) for i, w in enumerate(wavs)]
    audio = corpus([*utts, utterance("bad", audio=garbage)])
    first = compute_features(audio, ssl(folder("hubert"), batch_size=2), cache_dir=tmp_path / "cache")
    assert first.ids.tolist() == ["u0", "u1", "u2"] and first.X.shape == (3, 32)
    assert [p.path.name for p in first.failed] == ["garbage.wav"]
    moved = shutil.copytree(folder("hubert"), tmp_path / "moved")
    second = compute_features(audio, ssl(moved), cache_dir=tmp_path / "cache")
    assert second.n_computed == 0 and second.cache_file == first.cache_file
    np.testing.assert_array_equal(second.X, first.X)


# -- bad input -----------------------------------------------------------------------------------
def test_bad_checkpoint_folders_are_refused_saying_what_was_expected(folder, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match=r"ssl.model=.*nowhere: no such folder \(expected a Hugging Face"):
        SSLExtractor(tmp_path / "nowhere")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(OptionError, match="a-file: not a folder"):
        SSLExtractor(tmp_path / "a-file")
    no_config = shutil.copytree(folder("wav2vec2"), tmp_path / "no-config")
    (no_config / "config.json").unlink()
    with pytest.raises(OptionError, match=r"incomplete checkpoint, .*no-config/config.json is missing"):
        SSLExtractor(no_config)
    no_weights = shutil.copytree(folder("wav2vec2"), tmp_path / "no-weights")
    (no_weights / "model.safetensors").unlink()
    with pytest.raises(
        OptionError, match=r"incomplete checkpoint, .*no-weights has config.json but no weight"
    ):
        SSLExtractor(no_weights)
    sharded = shutil.copytree(folder("wav2vec2"), tmp_path / "sharded")
    (sharded / "model.safetensors").unlink()
    (sharded / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors"}})
    )
    with pytest.raises(OptionError, match=r"names 1 missing weight file\(s\) \(model-00001-of-00002"):
        SSLExtractor(sharded)
    broken = shutil.copytree(folder("wav2vec2"), tmp_path / "broken")
    (broken / "config.json").write_text("{not json")
    with pytest.raises(OptionError, match=r"cannot read .*broken/config.json as JSON"):
        SSLExtractor(broken)
    bert = make_text_model(tmp_path / "bert")
    with pytest.raises(OptionError, match=r"declares model_type 'bert', not a speech model \(expected one"):
        SSLExtractor(bert)


def test_no_model_no_transformers_and_no_load_at_registration(folder, monkeypatch) -> None:
    registered = SSLExtractor()
    assert registered.model is None and registered.params()["model"] is None
    with pytest.raises(OptionError, match=r"need a checkpoint folder: add --option ssl.model=PATH"):
        registered.configured({o.name: o.default for o in SSLExtractor.options})
    with pytest.raises(OptionError, match=r"ssl.model=PATH"):
        registered.extract(utterance("u"))
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if it were not installed
    # registering and listing the features never imports it (nor loads anything)
    from emokit_plugins.features import emokit_register_features

    listed = next(e for e in emokit_register_features() if e.name == "ssl")
    assert listed.params() == registered.params() and listed.options[0].name == "model"
    with pytest.raises(OptionError, match=r"need Hugging Face transformers.*pip install 'emokit\[ssl\]'"):
        SSLExtractor(folder("wav2vec2"))


# -- end to end ----------------------------------------------------------------------------------
def test_bench_runs_on_ssl_features_end_to_end(folder, tmp_path: Path) -> None:
    model = folder("wavlm", **REAL_STRIDE)
    result = run_emokit(
        [
            "bench",
            "--method",
            "target-only",
            "--source",
            "sim-emodb",
            "--target",
            "sim-emodb",
            "--features",
            "ssl",
            "--option",
            f"ssl.model={model}",
            "--option",
            "ssl.pooling=mean+std",
            "--seeds",
            "1",
            "--sim-scale",
            "0.05",
            "--out",
            "out",
            "--option",
            "epochs=10",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(next((tmp_path / "out").glob("bench-*.json")).read_text())
    assert data["status"] == "complete"
    cells = [c for c in data["cells"] if c["method"] == "target-only"]
    assert cells and all(c["features"] == "ssl" for c in cells)
    assert all(0.0 <= c["scores"]["uar"] <= 1.0 for c in cells)
    # the run records the features' options; the checkpoint's content hash keys the feature cache
    assert data["identity"]["feature_options"]["ssl"] == {
        "model": str(model),
        "layer": "mean",
        "pooling": "mean+std",
        "batch_size": 8,
        "max_seconds": 30.0,
    }
    params = data["identity"]["feature_params"]["ssl"]
    assert params["model_sha256"] == ssl(model).checkpoint_sha256() and params["pooling"] == "mean+std"
    cached = list(Path(data["config"]["cache_dir"]).glob("features/sim-emodb/ssl-*.npz"))
    assert len(cached) == 1
