"""emokit's built-in feature extractors: log-Mel, MFCC, eGeMAPS and self-supervised model states (audio),
face crops (visual), and face crop + log-Mel images (audiovisual).

Registered through the ``emokit`` entry point ``features = emokit_plugins.features``, exactly as
a third-party plugin registers its own.
"""

from __future__ import annotations

from emokit.api import hookimpl
from emokit_plugins.features.audio import AudioFeatureExtractor, LogMelExtractor, MFCCExtractor
from emokit_plugins.features.audiovisual import FaceLogMelExtractor
from emokit_plugins.features.egemaps import EGeMAPSExtractor
from emokit_plugins.features.face import FaceCropExtractor
from emokit_plugins.features.ssl import SSLExtractor

__all__ = [
    "AudioFeatureExtractor",
    "EGeMAPSExtractor",
    "FaceCropExtractor",
    "FaceLogMelExtractor",
    "LogMelExtractor",
    "MFCCExtractor",
    "SSLExtractor",
    "emokit_register_features",
]


@hookimpl
def emokit_register_features() -> list:
    """The built-in extractors, with their default parameters."""
    return [
        LogMelExtractor(),
        MFCCExtractor(),
        EGeMAPSExtractor(),
        SSLExtractor(),  # no model: cheap; a run sets --option ssl.model=PATH
        FaceCropExtractor(),
        FaceLogMelExtractor(),
    ]
