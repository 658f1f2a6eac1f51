"""Writing the generated media: WAV files, and AVI videos with an audio track (PyAV).

Every file is written under a hidden temporary name in its final folder and renamed when complete,
so an interrupted generation never leaves a half-written file under a name a loader reads; the
temporaries (``.<name>.partial``) are removed by the next run.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import soundfile

PARTIAL_SUFFIX = ".partial"
#: MPEG-4 quantiser scale (2 = near lossless .. 31 = worst); 4 keeps faces sharp and files small.
VIDEO_QSCALE = 4


def partial_path(path: Path) -> Path:
    """The temporary name ``path`` is written under before it is renamed into place."""
    return path.with_name(f".{path.name}{PARTIAL_SUFFIX}")


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write mono int16 ``samples`` as a 16-bit PCM WAV file, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    soundfile.write(str(tmp), samples, sample_rate, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


def write_avi(path: Path, frames: np.ndarray, fps: int, audio: np.ndarray, sample_rate: int) -> None:
    """Write RGB ``frames`` (``[T, H, W, 3]`` uint8) as MPEG-4 video with mono int16 ``audio`` as a
    PCM track, in an AVI container, atomically. Audio is interleaved with the video frame by frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path)
    n, height, width, _ = frames.shape
    samples_per_frame = sample_rate / fps
    try:
        with av.open(str(tmp), "w", format="avi") as container:
            vstream = container.add_stream("mpeg4", rate=fps)
            vstream.width, vstream.height = width, height
            vstream.pix_fmt = "yuv420p"
            # constant quality (ffmpeg's -q:v); global_quality is in lambda units (FF_QP2LAMBDA = 118)
            vstream.codec_context.flags |= av.codec.context.Flags.qscale
            vstream.codec_context.options = {"global_quality": str(VIDEO_QSCALE * 118)}
            astream = container.add_stream("pcm_s16le", rate=sample_rate, layout="mono")
            start = 0
            for i in range(n):
                frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
                frame.pts = i
                container.mux(vstream.encode(frame))
                stop = len(audio) if i == n - 1 else min(len(audio), round((i + 1) * samples_per_frame))
                if stop > start:
                    chunk = av.AudioFrame.from_ndarray(
                        np.ascontiguousarray(audio[start:stop]).reshape(1, -1), format="s16", layout="mono"
                    )
                    chunk.sample_rate = sample_rate
                    chunk.pts = start
                    container.mux(astream.encode(chunk))
                    start = stop
            container.mux(vstream.encode(None))
            container.mux(astream.encode(None))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
