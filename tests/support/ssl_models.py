"""Tiny randomly initialised speech SSL checkpoints (and a non-speech one) for the ``ssl`` extractor tests.

Each builder writes a folder as ``save_pretrained`` does (``config.json``, ``model.safetensors``)
plus ``preprocessor_config.json``, the layout of a downloaded checkpoint. The models are a few
thousand parameters: two transformer layers of width 32 and a two-layer convolutional front end
with a stride of 20 samples (a frame every 1.25 ms at 16 kHz), so a second of audio is 800 frames.
"""

from __future__ import annotations

from pathlib import Path

#: the shared shape of every tiny model (``conv_*``: the waveform front end).
TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (32, 32),
    "conv_stride": (5, 4),
    "conv_kernel": (10, 8),
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
    "hidden_dropout": 0.0,
    "attention_dropout": 0.0,
    "activation_dropout": 0.0,
    "feat_proj_dropout": 0.0,
    "layerdrop": 0.0,
}

#: a front end with the public checkpoints' hop of 320 samples (50 frames a second at 16 kHz), for
#: runs over whole corpora (TINY's 800 frames a second make long attention)
REAL_STRIDE = {"conv_stride": (20, 16), "conv_kernel": (20, 16)}

#: model kinds :func:`make_ssl_model` builds.
KINDS = ("wav2vec2", "wav2vec2-group", "hubert", "wavlm", "data2vec-audio")


def make_ssl_model(
    folder: Path,
    kind: str = "wav2vec2",
    *,
    seed: int = 0,
    sampling_rate: int = 16000,
    preprocessor: bool = True,
    do_normalize: bool = True,
    **config: object,
) -> Path:
    """Write a tiny random ``kind`` checkpoint (one of :data:`KINDS`) to ``folder``.

    ``wav2vec2``, ``hubert`` and ``wavlm`` use layer-normalised front ends (``feat_extract_norm="layer"``,
    the large checkpoints' layout, which takes an attention mask); ``wav2vec2-group`` is the base
    layout (group norm, no attention mask). ``sampling_rate`` and ``do_normalize`` go to
    ``preprocessor_config.json``; ``preprocessor=False`` leaves that file out. ``config`` replaces
    entries of :data:`TINY` (e.g. :data:`REAL_STRIDE` for the frame rate of the public checkpoints).
    """
    import torch
    import transformers as tr

    tr.utils.logging.disable_progress_bar()  # "Writing model shards" bars in the test output
    tiny = {**TINY, **config}
    group = kind == "wav2vec2-group"
    norm = {"feat_extract_norm": "group" if group else "layer", "do_stable_layer_norm": not group}
    if kind in ("wav2vec2", "wav2vec2-group"):
        model_config = tr.Wav2Vec2Config(**tiny, **norm)
        model_class = tr.Wav2Vec2Model
    elif kind == "hubert":
        model_config = tr.HubertConfig(**tiny, **norm)
        model_class = tr.HubertModel
    elif kind == "wavlm":
        # WavLM's relative position buckets must fit the tiny sequence lengths of the tests
        model_config = tr.WavLMConfig(**tiny, **norm, num_buckets=32, max_bucket_distance=100)
        model_class = tr.WavLMModel
    elif kind == "data2vec-audio":
        # data2vec-audio has a stack of small positional convolutions instead of one wide one
        tiny = {k: v for k, v in tiny.items() if not k.startswith("num_conv_pos")}
        model_config = tr.Data2VecAudioConfig(
            **tiny, num_conv_pos_embeddings=5, conv_pos_kernel_size=5, num_conv_pos_embedding_groups=2
        )
        model_class = tr.Data2VecAudioModel
    else:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    torch.manual_seed(seed)
    model = model_class(model_config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    if preprocessor:
        tr.Wav2Vec2FeatureExtractor(
            sampling_rate=sampling_rate, do_normalize=do_normalize, return_attention_mask=not group
        ).save_pretrained(folder)
    return folder


def make_text_model(folder: Path) -> Path:
    """A tiny random BERT checkpoint: a valid Hugging Face folder, but not a speech model."""
    import torch
    import transformers as tr

    tr.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    config = tr.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    folder.mkdir(parents=True, exist_ok=True)
    tr.BertModel(config).save_pretrained(folder)
    return folder
