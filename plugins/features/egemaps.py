"""eGeMAPS v02 functionals (88 features) computed by openSMILE.

The extended Geneva Minimalistic Acoustic Parameter Set (Eyben et al. 2016) is the default
feature set of tools such as nkululeko, so emokit's numbers can be set beside theirs. Audio is
resampled to 16 kHz first; silence is kept by default (as those tools do), because several
parameters describe pauses.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from emokit.api import MediaReadError, Utterance
from emokit_plugins.features.audio import AudioFeatureExtractor

N_FEATURES = 88


class EGeMAPSExtractor(AudioFeatureExtractor):
    """openSMILE eGeMAPSv02 functionals: 88 values per utterance."""

    name = "egemaps"
    description = "openSMILE eGeMAPSv02 functionals (88 features, audio resampled to 16 kHz)"
    version = "1"

    def __init__(self, *, trim_db: float | None = None, **kwargs: Any):
        super().__init__(trim_db=trim_db, **kwargs)
        self._smile = None  # built on first use, in the process that uses it

    def params(self) -> dict[str, Any]:
        import opensmile

        # openSMILE's own version is part of the key: its feature definitions change between releases
        return {**super().params(), "feature_set": "eGeMAPSv02", "opensmile": opensmile.__version__}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_smile"] = None  # the native handle cannot be pickled to a worker process
        return state

    def _get_smile(self):
        if self._smile is None:
            import opensmile

            self._smile = opensmile.Smile(
                feature_set=opensmile.FeatureSet.eGeMAPSv02,
                feature_level=opensmile.FeatureLevel.Functionals,
            )
        return self._smile

    def feature_names(self) -> list[str]:
        """The 88 openSMILE feature names, in output order."""
        return list(self._get_smile().feature_names)

    def extract(self, utterance: Utterance) -> np.ndarray:
        signal = self.load(utterance)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Segment too short": we check for NaN below
            frame = self._get_smile().process_signal(signal, self.sample_rate)
        values = frame.to_numpy(dtype=np.float32).reshape(-1)
        if values.size != N_FEATURES:
            raise RuntimeError(f"openSMILE returned {values.size} eGeMAPS values, expected {N_FEATURES}")
        if not np.all(np.isfinite(values)):
            raise MediaReadError(
                f"{utterance.audio_path}: openSMILE could not analyse {len(signal) / self.sample_rate:.2f} s "
                "of audio (too short or silent)"
            )
        return values
