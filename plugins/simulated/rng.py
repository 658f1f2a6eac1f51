"""Deterministic random streams: one per (seed, corpus, purpose, item).

Every utterance and speaker draws from its own stream, keyed by stable strings, so a corpus is the
same whatever order or number of processes generates it, and an utterance is the same at every
scale that contains it.
"""

from __future__ import annotations

import zlib

import numpy as np


def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """A generator determined by ``seed`` and the string ``keys`` (CRC-32 of each, stable across runs)."""
    return np.random.default_rng([seed, *(zlib.crc32(k.encode("utf-8")) for k in keys)])
