"""Reading audio and video frames from corpus files.

Audio files (WAV, FLAC, ...) are read with soundfile; audio tracks of video containers (AVI, MP4,
...) and video frames are decoded with PyAV (FFmpeg). Files are opened by content, not by name:
the distributed eNTERFACE'05 copy contains ``s16_su_3avi`` (no dot), which must still be read.

Every failure (missing file, garbage bytes, no audio or video stream, nothing decoded) raises
:class:`MediaReadError` with the path and what was expected, so a caller can
report the file and skip it.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Literal

import numpy as np

#: extensions soundfile reads directly; anything else goes to PyAV first.
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".aiff", ".aif", ".au", ".snd"})
#: extensions that are certainly containers for PyAV (soundfile is not tried for these).
VIDEO_EXTENSIONS = frozenset({".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".flv", ".m4v"})


class MediaReadError(RuntimeError):
    """A media file could not be read or decoded; the message names the file."""


FrameSelection = Literal["middle", "uniform", "first", "all"]


@dataclass(frozen=True)
class VideoInfo:
    """What a video container declares about its streams.

    Attributes:
        path: the file.
        width, height: frame size in pixels.
        fps: average frame rate (frames per second); 0.0 when the container does not say.
        n_frames: frame count as declared by the container, or estimated from duration x fps
            when it declares none (0 when neither is known).
        duration: seconds (0.0 when unknown).
        has_audio: whether there is an audio stream.
        audio_sample_rate: the audio stream's sample rate, or ``None``.
        audio_channels: the audio stream's channel count, or ``None``.
    """

    path: Path
    width: int
    height: int
    fps: float
    n_frames: int
    duration: float
    has_audio: bool
    audio_sample_rate: int | None
    audio_channels: int | None


def _check_exists(path: Path, expected: str) -> None:
    if not path.exists():
        raise MediaReadError(f"{path}: file not found (expected {expected})")
    if not path.is_file():
        raise MediaReadError(f"{path}: not a regular file (expected {expected})")
    if path.stat().st_size == 0:
        raise MediaReadError(f"{path}: file is empty (expected {expected})")


def _open_container(path: Path, expected: str):
    import av  # imported lazily: PyAV loads FFmpeg's libraries

    try:
        return av.open(str(path), mode="r")
    except Exception as exc:  # any FFmpeg/OS failure means "not readable as a container"
        raise MediaReadError(f"{path}: cannot open as {expected}: {exc}") from exc


def resample(signal: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample ``signal`` (``[n]`` or ``[channels, n]``, float) from ``orig_rate`` to ``target_rate``.

    Uses a polyphase FIR filter (:func:`scipy.signal.resample_poly`), which is exact for rational
    ratios such as 44100 -> 16000 and anti-aliases when downsampling.
    """
    if orig_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_rate} -> {target_rate}")
    if orig_rate == target_rate:
        return signal
    from scipy.signal import resample_poly

    g = gcd(int(orig_rate), int(target_rate))
    out = resample_poly(signal, target_rate // g, orig_rate // g, axis=-1)
    return out.astype(np.float32, copy=False)


def _read_with_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    # soundfile detects the format from the header, so a missing extension is fine
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data.T, int(rate)  # [channels, n]


def _read_with_av(path: Path) -> tuple[np.ndarray, int]:
    container = _open_container(path, "a media container")
    with container:
        if not container.streams.audio:
            raise MediaReadError(f"{path}: no audio stream (expected an audio track in the container)")
        stream = container.streams.audio[0]
        rate = int(stream.rate or stream.codec_context.sample_rate or 0)
        if rate <= 0:
            raise MediaReadError(f"{path}: audio stream declares no sample rate")
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                chunks.append(_audio_frame_to_float(frame))
        except MediaReadError:
            raise
        except Exception as exc:
            if not chunks:
                raise MediaReadError(f"{path}: cannot decode the audio stream: {exc}") from exc
            # a damaged tail: keep what decoded (a truncated recording is still a recording)
    if not chunks:
        raise MediaReadError(f"{path}: the audio stream decoded to no samples")
    return np.concatenate(chunks, axis=1), rate


def _audio_frame_to_float(frame) -> np.ndarray:
    """A PyAV AudioFrame as float32 ``[channels, n]`` in [-1, 1], whatever its sample format."""
    array = frame.to_ndarray()
    fmt = frame.format
    channels = len(frame.layout.channels)
    if not fmt.is_planar:  # interleaved: [1, n * channels]
        array = array.reshape(-1, channels).T
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32, copy=False)
    info = np.iinfo(array.dtype)
    if info.min == 0:  # unsigned (u8): centred on the midpoint
        mid = (int(info.max) + 1) / 2
        return ((array.astype(np.float32) - mid) / mid).astype(np.float32)
    return (array.astype(np.float32) / float(-int(info.min))).astype(np.float32)


def read_audio(
    path: str | Path, *, sample_rate: int | None = None, mono: bool = True
) -> tuple[np.ndarray, int]:
    """Read an audio file, or the audio track of a video container.

    Args:
        path: a WAV/FLAC/... file or a video container (AVI, MP4, ...). The extension may be
            missing or wrong; the content decides how it is read.
        sample_rate: resample to this rate (Hz); ``None`` keeps the file's own rate.
        mono: average the channels into one.

    Returns:
        ``(signal, rate)``: float32 samples in [-1, 1], shape ``[n]`` when ``mono`` else
        ``[channels, n]``, and the rate they are at.

    Raises:
        MediaReadError: the file is missing, unreadable, has no audio, or decodes to nothing.
    """
    path = Path(path)
    expected = "an audio file or a video with an audio track"
    _check_exists(path, expected)
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
    suffix = path.suffix.lower()
    attempts = (
        [_read_with_av] if suffix in VIDEO_EXTENSIONS else [_read_with_soundfile, _read_with_av]
    )  # soundfile is fast and exact for WAV/FLAC; PyAV is the fallback for anything else
    errors: list[str] = []
    for reader in attempts:
        try:
            data, rate = reader(path)
            break
        except MediaReadError as exc:
            if "no audio stream" in str(exc) or "decoded to no samples" in str(exc):
                raise  # the file is a readable container, just not one with audio
            reason = str(exc).removeprefix(f"{path}: ")
            errors.append(f"{reader.__name__.removeprefix('_read_with_')}: {reason}")
        except Exception as exc:
            errors.append(f"{reader.__name__.removeprefix('_read_with_')}: {exc}")
    else:
        raise MediaReadError(f"{path}: cannot read as {expected} ({'; '.join(errors)})")
    if data.shape[-1] == 0:
        raise MediaReadError(f"{path}: contains no audio samples")
    if mono:
        data = data.mean(axis=0)
    if sample_rate is not None and sample_rate != rate:
        data = resample(data, rate, sample_rate)
        rate = sample_rate
    if not np.all(np.isfinite(data)):
        raise MediaReadError(f"{path}: audio contains NaN or infinite samples")
    # float files may exceed full scale, and resampling can overshoot slightly
    return np.clip(data, -1.0, 1.0).astype(np.float32, copy=False), int(rate)


def video_info(path: str | Path) -> VideoInfo:
    """Describe a video file's streams (size, frame rate, frame count, duration, audio).

    Raises:
        MediaReadError: the file is missing, not a container, or has no video stream.
    """
    path = Path(path)
    _check_exists(path, "a video file")
    container = _open_container(path, "a video file")
    with container:
        if not container.streams.video:
            raise MediaReadError(f"{path}: no video stream (expected a video file)")
        v = container.streams.video[0]
        fps = float(v.average_rate) if v.average_rate else 0.0
        if v.duration is not None and v.time_base is not None:
            duration = float(v.duration * v.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000  # AV_TIME_BASE
        else:
            duration = 0.0
        n_frames = int(v.frames) if v.frames else round(duration * fps)
        audio = container.streams.audio[0] if container.streams.audio else None
        return VideoInfo(
            path=path,
            width=int(v.codec_context.width),
            height=int(v.codec_context.height),
            fps=fps,
            n_frames=n_frames,
            duration=duration,
            has_audio=audio is not None,
            audio_sample_rate=int(audio.rate) if audio is not None and audio.rate else None,
            audio_channels=int(audio.codec_context.channels) if audio is not None else None,
        )


def select_frame_indices(
    total: int, max_frames: int | None, which: FrameSelection = "middle", stride: int = 1
) -> list[int]:
    """Which of ``total`` frames to keep.

    ``"middle"`` takes ``max_frames`` frames ``stride`` apart centred on the middle frame (the
    expression apex of an acted clip); ``"uniform"`` spreads them evenly over the clip;
    ``"first"`` takes the first ones; ``"all"`` (or ``max_frames=None``) keeps every frame.
    """
    if which not in ("middle", "uniform", "first", "all"):
        raise ValueError(f"which must be 'middle', 'uniform', 'first' or 'all', got {which!r}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1 or None, got {max_frames}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if total <= 0:
        return []
    if max_frames is None or which == "all" or (max_frames >= total and which != "middle"):
        return list(range(total))
    if which == "first":
        return list(range(min(max_frames, total)))
    if which == "uniform":
        return sorted({round(float(x)) for x in np.linspace(0, total - 1, max_frames)})
    # middle: shrink the stride when the clip is too short to hold max_frames frames at it
    k = min(max_frames, total)
    stride = max(1, min(stride, (total - 1) // max(k - 1, 1)))
    span = (k - 1) * stride
    start = min(max(0, (total - 1) // 2 - span // 2), total - 1 - span)
    return [start + i * stride for i in range(k)]


def read_video_frames(
    path: str | Path,
    *,
    max_frames: int | None = None,
    which: FrameSelection = "middle",
    stride: int = 1,
) -> np.ndarray:
    """Decode frames of a video file as RGB.

    Args:
        path: the video (AVI, MP4, ...; opened by content, so a missing extension is fine).
        max_frames: how many frames to return; ``None`` returns every frame.
        which: how to choose them, see :func:`select_frame_indices` (default: around the middle).
        stride: spacing between chosen frames for ``which="middle"``.

    Returns:
        uint8 array ``[T, H, W, 3]`` (RGB), ``T >= 1``.

    Raises:
        MediaReadError: the file is missing, unreadable, has no video stream or no frames.
    """
    path = Path(path)
    _check_exists(path, "a video file")
    container = _open_container(path, "a video file")
    frames: list = []
    with container:
        if not container.streams.video:
            raise MediaReadError(f"{path}: no video stream (expected a video file)")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        declared = int(stream.frames or 0)
        if not declared and stream.duration and stream.average_rate and stream.time_base:
            declared = int(float(stream.duration * stream.time_base) * float(stream.average_rate))
        # with a declared count we can stop decoding after the last frame we need
        wanted = select_frame_indices(declared, max_frames, which, stride) if declared else []
        stop_after = wanted[-1] if wanted else None
        try:
            for i, frame in enumerate(container.decode(stream)):
                frames.append(frame)
                if stop_after is not None and i >= stop_after:
                    break
        except Exception as exc:
            if not frames:
                raise MediaReadError(f"{path}: cannot decode the video stream: {exc}") from exc
        if not frames:
            raise MediaReadError(f"{path}: the video stream contains no frames")
        decoded = len(frames)
        if stop_after is not None and decoded > stop_after:
            indices = wanted
        else:  # the declared count was missing or wrong: choose among what was decoded
            indices = select_frame_indices(decoded, max_frames, which, stride)
        try:
            return np.stack([frames[i].to_ndarray(format="rgb24") for i in indices])
        except Exception as exc:
            raise MediaReadError(f"{path}: cannot convert decoded frames to RGB: {exc}") from exc


__all__ = [
    "AUDIO_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "VideoInfo",
    "read_audio",
    "read_video_frames",
    "resample",
    "select_frame_indices",
    "video_info",
]
