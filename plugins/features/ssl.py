"""Self-supervised speech representations: wav2vec 2.0, HuBERT, WavLM and data2vec-audio hidden states.

The ``ssl`` extractor runs a pretrained checkpoint from a local folder (Hugging Face layout:
``config.json``, ``model.safetensors`` or ``pytorch_model.bin``, optionally
``preprocessor_config.json``) over each utterance and pools one layer's hidden states (or the mean of
the transformer layers) over time. Nothing is ever fetched from the network: the folder is opened
with ``local_files_only=True`` and the Hugging Face offline switches are set before transformers is
imported. Options, defaults and the reasoning behind them: ``docs/ssl.md``.

Batching. Utterances are fed in batches of ``batch_size``. For checkpoints whose waveform front end
is layer-normalised (``feat_extract_norm == "layer"``: the large wav2vec 2.0 / HuBERT / WavLM
models) a batch is zero-padded and the attention mask keeps the padding out of the model and out of
the pooling, so a batch gives the vectors of one-by-one runs (to float tolerance). Two layouts are
not padding-invariant: group-normalised front ends (``"group"``: wav2vec2-base, hubert-base,
wavlm-base(-plus)) normalise each channel over the whole padded signal, and data2vec-audio's stacked
positional convolutions spread the padding into the last frames. For those a batch holds only
utterances of exactly the same length (no padding), anything else runs alone: the vectors never
depend on which other files happened to share a batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emokit.api import FeatureExtractor, MediaReadError, Option, OptionError, Utterance, read_audio

#: ``model_type`` values of the checkpoints the extractor runs.
SPEECH_MODEL_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")
#: model types whose hidden states do not depend on zero padding when the attention mask is given
#: (with a layer-normalised front end).
_MASKABLE_TYPES = ("wav2vec2", "hubert", "wavlm")
#: weight files ``from_pretrained`` reads (single or sharded; safetensors is preferred when both exist).
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
#: what the folder must look like, for error messages.
_EXPECTED = (
    "a Hugging Face checkpoint folder with config.json and model.safetensors or pytorch_model.bin "
    "(e.g. a downloaded facebook/wav2vec2-base)"
)
#: the defaults when a checkpoint has no preprocessor_config.json (every public checkpoint in
#: SPEECH_MODEL_TYPES was trained on 16 kHz audio, nearly all normalised per utterance).
DEFAULT_SAMPLE_RATE = 16000
DEFAULT_NORMALIZE = True
#: the variance floor of the per-utterance normalisation, as transformers' Wav2Vec2FeatureExtractor.
_NORM_EPS = 1e-7


def _layer_value(raw: Any) -> int | str:
    """The ``layer`` option: ``mean``, ``last`` or a hidden-state index (negative counts from the end)."""
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in ("mean", "last"):
            return text
        return int(text)  # ValueError for anything else: Option.parse names the key
    if isinstance(raw, bool) or not isinstance(raw, (int, np.integer)):
        raise ValueError(raw)
    return int(raw)


_layer_value.__name__ = "layer"


class SSLExtractor(FeatureExtractor):
    """Pooled hidden states of a local wav2vec 2.0 / HuBERT / WavLM / data2vec-audio checkpoint.

    Args:
        model: the checkpoint folder. ``None`` (the registered instance) builds nothing; a run must
            set it (``--option ssl.model=PATH``).
        layer: ``"mean"`` (the mean of the transformer layers' hidden states), ``"last"``, or an index
            into the model's ``hidden_states`` (0: the input of the first transformer layer,
            ``i``: the output of layer ``i``; negative counts from the end).
        pooling: ``"mean"`` over time, or ``"mean+std"`` (mean, then population standard deviation:
            twice the width).
        batch_size: utterances per forward pass.
        max_seconds: longer files are cut to their first ``max_seconds``; ``None`` keeps all.

    Raises:
        OptionError: the folder is missing or incomplete, is not a speech model, an option cannot
            work for it, or transformers is not installed.
    """

    name = "ssl"
    modality = "audio"
    description = (
        "wav2vec 2.0 / HuBERT / WavLM hidden states pooled over time, from a local checkpoint "
        "(--option ssl.model=PATH)"
    )
    version = "1"
    options = (
        Option("model", str, None, "the checkpoint folder (config.json + weights); required"),
        Option(
            "layer",
            _layer_value,
            "mean",
            "hidden state: mean (of the transformer layers), last, or an index (0 = before layer 1)",
            expects="mean, last or a whole number (a hidden-state index)",
        ),
        Option("pooling", str, "mean", "statistics over time", choices=("mean", "mean+std")),
        Option("batch_size", int, 8, "utterances per forward pass"),
        Option("max_seconds", float, 30.0, "cut longer files to their first N seconds", nullable=True),
    )
    batch_size: int = 8
    device: str = "cpu"

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        layer: int | str = "mean",
        pooling: str = "mean",
        batch_size: int = 8,
        max_seconds: float | None = 30.0,
    ):
        try:
            layer = _layer_value(layer)
        except ValueError:
            raise OptionError(
                f"--option ssl.layer={layer}: expected mean, last or a whole number (a hidden-state index)"
            ) from None
        if pooling not in ("mean", "mean+std"):
            raise OptionError(f"--option ssl.pooling={pooling}: expected one of mean, mean+std")
        if int(batch_size) < 1:
            raise OptionError(f"--option ssl.batch_size={batch_size}: expected a whole number >= 1")
        if max_seconds is not None and not max_seconds > 0:
            raise OptionError(f"--option ssl.max_seconds={max_seconds}: expected a positive number or none")
        self.layer: int | str = layer
        self.pooling = pooling
        self.batch_size = int(batch_size)
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self.model: Path | None = None
        self._config: dict[str, Any] = {}
        self.sample_rate = DEFAULT_SAMPLE_RATE
        self.normalize = DEFAULT_NORMALIZE
        self._digest: str | None = None
        self._model: Any = None  # the torch module, loaded on first use in the process that uses it
        if model is not None:
            self._open(Path(model).expanduser().resolve())

    # -- the checkpoint folder -------------------------------------------------------------------
    def _open(self, folder: Path) -> None:
        """Check ``folder`` (no weights are read) and take the model's shape and audio settings."""
        shown = f"--option ssl.model={folder}"
        if not folder.exists():
            raise OptionError(f"{shown}: no such folder (expected {_EXPECTED})")
        if not folder.is_dir():
            raise OptionError(f"{shown}: not a folder (expected {_EXPECTED})")
        config_file = folder / "config.json"
        if not config_file.is_file():
            raise OptionError(
                f"{shown}: incomplete checkpoint, {config_file} is missing (expected {_EXPECTED})"
            )
        config = _read_json(config_file, shown)
        model_type = config.get("model_type")
        if model_type not in SPEECH_MODEL_TYPES:
            raise OptionError(
                f"{shown}: {config_file} declares model_type {model_type!r}, not a speech model "
                f"(expected one of {', '.join(SPEECH_MODEL_TYPES)}: a wav2vec 2.0, HuBERT, WavLM or "
                "data2vec-audio checkpoint)"
            )
        _weight_files(folder, shown)  # raises for a folder without (all of) its weights
        preprocessor = folder / "preprocessor_config.json"
        audio = _read_json(preprocessor, shown) if preprocessor.is_file() else {}
        rate = audio.get("sampling_rate", DEFAULT_SAMPLE_RATE)
        if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0:
            raise OptionError(
                f"{shown}: {preprocessor} has sampling_rate {rate!r}, expected a positive number of Hz"
            )
        n_layers = config.get("num_hidden_layers")
        if not isinstance(n_layers, int) or n_layers < 1:
            raise OptionError(
                f"{shown}: {config_file} has num_hidden_layers {n_layers!r}, expected a positive number"
            )
        if isinstance(self.layer, int) and not -(n_layers + 1) <= self.layer <= n_layers:
            raise OptionError(
                f"--option ssl.layer={self.layer}: {folder} has {n_layers} transformer layers, so "
                f"{n_layers + 1} hidden states; expected 0..{n_layers}, -{n_layers + 1}..-1, last or mean"
            )
        _import_transformers()  # fail before any work when the extra is not installed
        self.model = folder
        self._config = config
        self.sample_rate = rate
        self.normalize = bool(audio.get("do_normalize", DEFAULT_NORMALIZE))

    @property
    def model_type(self) -> str | None:
        """The checkpoint's ``model_type`` (``None`` without a model)."""
        return self._config.get("model_type")

    @property
    def num_layers(self) -> int:
        """Transformer layers of the checkpoint (0 without a model)."""
        return int(self._config.get("num_hidden_layers", 0))

    @property
    def hidden_index(self) -> int | None:
        """The ``hidden_states`` index the vectors come from; ``None`` for ``layer="mean"``."""
        if self.layer == "mean":
            return None
        if self.layer == "last":
            return self.num_layers
        return self.layer % (self.num_layers + 1)  # -1 -> the last: one cache entry for both spellings

    @property
    def pads_exactly(self) -> bool:
        """Whether zero padding with the attention mask leaves every utterance's vector unchanged."""
        return (
            self.model_type in _MASKABLE_TYPES and self._config.get("feat_extract_norm", "group") == "layer"
        )

    @property
    def min_samples(self) -> int:
        """The shortest input (samples) the convolutional front end turns into one frame."""
        field, jump = 1, 1
        for kernel, stride in zip(self._conv("conv_kernel"), self._conv("conv_stride"), strict=True):
            field += (kernel - 1) * jump
            jump *= stride
        return field

    def frames(self, n_samples: int) -> int:
        """How many hidden-state frames the model makes of ``n_samples`` samples."""
        for kernel, stride in zip(self._conv("conv_kernel"), self._conv("conv_stride"), strict=True):
            n_samples = (n_samples - kernel) // stride + 1
        return n_samples

    def _conv(self, key: str) -> list[int]:
        defaults = {"conv_kernel": (10, 3, 3, 3, 3, 2, 2), "conv_stride": (5, 2, 2, 2, 2, 2, 2)}
        return [int(v) for v in self._config.get(key, defaults[key])]

    def checkpoint_sha256(self) -> str:
        """SHA-256 over the checkpoint's config, preprocessor config and weight files (names, sizes and
        bytes), computed once per instance: the cache follows the content, not the folder's path."""
        if self._digest is None:
            folder = self._require_model()
            files = ["config.json", *_weight_files(folder, f"--option ssl.model={folder}")]
            if (folder / "preprocessor_config.json").is_file():
                files.append("preprocessor_config.json")
            total = hashlib.sha256()
            for name in sorted(files):
                path = folder / name
                total.update(f"{name}\0{path.stat().st_size}\0{_file_sha256(path)}\n".encode())
            self._digest = total.hexdigest()
        return self._digest

    def params(self) -> dict[str, Any]:
        if self.model is None:  # the registered, unconfigured instance
            return {
                "model": None,
                "layer": self.layer,
                "pooling": self.pooling,
                "max_seconds": self.max_seconds,
            }
        # batch_size and device are left out: they change the vectors only within float tolerance
        return {
            "model_sha256": self.checkpoint_sha256(),
            "model_type": self.model_type,
            "layer": "mean" if self.hidden_index is None else self.hidden_index,
            "pooling": self.pooling,
            "max_seconds": self.max_seconds,
            "sample_rate": self.sample_rate,
            "normalize": self.normalize,
        }

    def configured(self, values: dict[str, Any], *, device: str = "cpu") -> SSLExtractor:
        """A copy with ``values`` (the options) on ``device``; refuses a run without ``model``."""
        made = type(self)(**values) if values else _copy_unloaded(self)
        if made.model is None:
            raise OptionError(
                "the ssl features need a checkpoint folder: add --option ssl.model=PATH "
                f"(expected {_EXPECTED}; docs/ssl.md says how to get one)"
            )
        made.device = str(device)
        return made

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_model"] = None  # a worker process loads its own copy
        return state

    def _require_model(self) -> Path:
        if self.model is None:
            raise OptionError(
                "the ssl features need a checkpoint folder: set model (--option ssl.model=PATH)"
            )
        return self.model

    def load_model(self) -> Any:
        """The torch model in eval mode on :attr:`device` (loaded once, from the local folder only)."""
        if self._model is None:
            folder = self._require_model()
            transformers = _import_transformers()
            with _quiet_transformers(transformers):
                model, info = transformers.AutoModel.from_pretrained(
                    str(folder), local_files_only=True, output_loading_info=True
                )
            # masked_spec_embed only serves masked pretraining; anything else missing would be random
            missing = [k for k in info.get("missing_keys", ()) if not k.endswith("masked_spec_embed")]
            if missing:
                raise RuntimeError(
                    f"{folder}: the weights lack {len(missing)} of the model's tensors (e.g. {missing[0]}); "
                    "expected a complete checkpoint of the model config.json describes"
                )
            self._model = model.float().eval().to(self.device)
        return self._model

    # -- extraction ------------------------------------------------------------------------------
    def signal(self, utterance: Utterance) -> np.ndarray:
        """The utterance's mono audio at the model's rate, cut to ``max_seconds``, normalised as the
        checkpoint expects (zero mean, unit variance when its preprocessor says ``do_normalize``)."""
        if utterance.audio_path is None:
            raise MediaReadError(f"utterance {utterance.id!r} has no audio file")
        signal, _ = read_audio(utterance.audio_path, sample_rate=self.sample_rate)
        if self.max_seconds is not None:
            signal = signal[: round(self.max_seconds * self.sample_rate)]
        if len(signal) < self.min_samples:
            raise MediaReadError(
                f"{utterance.audio_path}: only {len(signal)} samples at {self.sample_rate} Hz, expected at "
                f"least {self.min_samples} ({1000 * self.min_samples / self.sample_rate:.0f} ms, one frame "
                "of the model)"
            )
        signal = signal.astype(np.float64)
        if self.normalize:
            signal = (signal - signal.mean()) / np.sqrt(signal.var() + _NORM_EPS)
        return signal.astype(np.float32)

    def extract(self, utterance: Utterance) -> np.ndarray:
        (result,) = self.extract_batch([utterance])
        if isinstance(result, MediaReadError):
            raise result
        return result

    def extract_batch(self, utterances: list[Utterance]) -> list[np.ndarray | MediaReadError]:
        """One vector (or the file's :class:`MediaReadError`) per utterance, in order."""
        self._require_model()
        results: list[np.ndarray | MediaReadError | None] = [None] * len(utterances)
        signals: dict[int, np.ndarray] = {}
        for i, utterance in enumerate(utterances):
            try:
                signals[i] = self.signal(utterance)
            except MediaReadError as exc:
                results[i] = exc
        for group in self._groups(signals):
            for i, vector in zip(group, self._forward([signals[i] for i in group]), strict=True):
                results[i] = vector
        return results  # type: ignore[return-value]

    def _groups(self, signals: dict[int, np.ndarray]) -> Iterator[list[int]]:
        """Batches of utterance indices: by length (to pad little) when padding is exact, else only
        utterances of identical length together."""
        order = sorted(signals, key=lambda i: len(signals[i]))
        if self.pads_exactly:
            for start in range(0, len(order), self.batch_size):
                yield order[start : start + self.batch_size]
            return
        same: dict[int, list[int]] = {}
        for i in order:
            same.setdefault(len(signals[i]), []).append(i)
        for indices in same.values():
            for start in range(0, len(indices), self.batch_size):
                yield indices[start : start + self.batch_size]

    def _forward(self, signals: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        model = self.load_model()
        lengths = [len(s) for s in signals]
        batch = torch.zeros(len(signals), max(lengths), dtype=torch.float32)
        mask = torch.zeros(len(signals), max(lengths), dtype=torch.long)
        for row, signal in enumerate(signals):
            batch[row, : len(signal)] = torch.from_numpy(signal)
            mask[row, : len(signal)] = 1
        padded = min(lengths) != max(lengths)  # only ever for pads_exactly models (see _groups)
        with torch.inference_mode(), warnings.catch_warnings():
            # WavLM hands torch a float bias beside a bool padding mask; torch warns, the result is right
            warnings.filterwarnings("ignore", message=".*mismatched key_padding_mask and attn_mask")
            out = model(
                batch.to(self.device),
                attention_mask=mask.to(self.device) if padded else None,
                output_hidden_states=True,
            )
            states = out.hidden_states
            if self.hidden_index is None:
                # the transformer layers' outputs, summed one at a time (a stack would hold all in float64)
                hidden = sum(h.double() for h in states[1:]) / (len(states) - 1)
            else:
                hidden = states[self.hidden_index].double()
            frames = [self.frames(n) for n in lengths]
            if max(frames) != hidden.shape[1]:
                raise RuntimeError(
                    f"{self.model}: the model made {hidden.shape[1]} frames of {max(lengths)} samples, "
                    f"expected {max(frames)} from its conv_kernel and conv_stride"
                )
            vectors = []
            for row, n in enumerate(frames):
                valid = hidden[row, :n]  # the frames of the utterance itself, not of the padding
                parts = [valid.mean(dim=0)]
                if self.pooling == "mean+std":
                    parts.append(valid.std(dim=0, unbiased=False))
                vectors.append(torch.cat(parts).float().cpu().numpy())
        return vectors


# -- helpers -------------------------------------------------------------------------------------
def _import_transformers() -> Any:
    """transformers, imported offline (no hub access, ever), or an error saying how to install it."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import transformers
    except ImportError as exc:
        raise OptionError(
            f"the ssl features need Hugging Face transformers, which cannot be imported ({exc}); "
            "install it with: pip install 'emokit[ssl]'"
        ) from None
    return transformers


@contextlib.contextmanager
def _quiet_transformers(transformers: Any) -> Iterator[None]:
    """No progress bars or load reports while loading: a pretraining checkpoint's heads (quantiser,
    projections) are expected to go unused, and missing weights are checked by the caller."""
    logging = transformers.utils.logging
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def _read_json(path: Path, shown: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OptionError(f"{shown}: cannot read {path} as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise OptionError(f"{shown}: {path} holds {type(data).__name__}, expected a JSON object")
    return data


def _weight_files(folder: Path, shown: str) -> list[str]:
    """The weight files of ``folder`` (names relative to it), shards included; raises when there are
    none, or an index names a shard that is not there."""
    names = [name for name in _WEIGHT_FILES if (folder / name).is_file()]
    for index in _WEIGHT_INDEXES:
        if not (folder / index).is_file():
            continue
        shards = sorted(set(_read_json(folder / index, shown).get("weight_map", {}).values()))
        absent = [s for s in shards if not (folder / s).is_file()]
        if absent:
            raise OptionError(
                f"{shown}: incomplete checkpoint, {folder / index} names {len(absent)} missing weight "
                f"file(s) ({', '.join(absent[:3])}); expected all the shards beside it"
            )
        names += [index, *shards]
    if not names:
        raise OptionError(
            f"{shown}: incomplete checkpoint, {folder} has config.json but no weights "
            f"(expected {' or '.join(_WEIGHT_FILES)}, or a sharded index)"
        )
    return sorted(set(names))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_unloaded(extractor: SSLExtractor) -> SSLExtractor:
    made = object.__new__(type(extractor))
    made.__dict__.update(extractor.__getstate__())
    return made
