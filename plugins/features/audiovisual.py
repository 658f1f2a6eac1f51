"""Audio-visual input for cross-modal methods (FDAN): a face crop and a log-Mel image of one utterance.

The vector is the two images flattened one after the other; :meth:`FaceLogMelExtractor.layout`
says where each lies and its shape, and ``emokit bench`` hands that layout to methods as
``TransferTask.feature_layout``, so a method can cut the vector back into images.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import ndimage

from emokit.api import FeatureExtractor, Utterance
from emokit_plugins.features.audio import LogMelExtractor
from emokit_plugins.features.face import FaceCropExtractor


class FaceLogMelExtractor(FeatureExtractor):
    """The ``face`` crop (48x48 grey) and a log-Mel spectrogram image (64 bands x 128 frames).

    The spectrogram of the whole (trimmed) utterance is resampled along time to ``frames`` columns,
    as spectrogram images are for image backbones, and z-scored per utterance, as the face crop is.

    Args:
        face_size: side of the face crop.
        n_mels, frames: the spectrogram image's height and width.
    """

    name = "face-logmel"
    modality = "audiovisual"
    description = "face crop (48x48) and log-Mel image (64x128) of each utterance, for cross-modal methods"
    version = "1"

    def __init__(self, *, face_size: int = 48, n_mels: int = 64, frames: int = 128):
        if frames < 8:
            raise ValueError(f"frames must be at least 8, got {frames}")
        self.face = FaceCropExtractor(size=face_size)
        self.audio = LogMelExtractor(n_mels=n_mels)
        self.frames = int(frames)

    def params(self) -> dict[str, Any]:
        return {"face": self.face.params(), "audio": self.audio.params(), "frames": self.frames}

    def layout(self) -> dict[str, tuple[int, ...]]:
        """Each part of the vector, in order, and its shape (channels, height, width)."""
        return {
            "face": (1, self.face.size, self.face.size),
            "logmel": (1, self.audio.n_mels, self.frames),
        }

    def spectrogram(self, utterance: Utterance) -> np.ndarray:
        """The utterance's log-Mel image ``[n_mels, frames]``, z-scored."""
        image = self.audio.log_mel(self.audio.load(utterance))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = ndimage.zoom(image, (1.0, self.frames / image.shape[1]), order=1)[:, : self.frames]
        if image.shape[1] < self.frames:  # zoom rounds: pad the last column
            image = np.pad(image, ((0, 0), (0, self.frames - image.shape[1])), mode="edge")
        std = image.std()
        return ((image - image.mean()) / (std if std > 1e-8 else 1.0)).astype(np.float32)

    def extract(self, utterance: Utterance) -> np.ndarray:
        return np.concatenate([self.face.extract(utterance), self.spectrogram(utterance).reshape(-1)])
