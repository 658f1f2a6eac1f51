"""The simulated corpora are a function of the seed alone: not of workers, job order or history.

Regression tests for a bug where the eSpeak NG server selected each request's voice itself: every
``espeak_SetVoiceByName`` queues a voice-change command that only synthesis consumes, so the server
piled them up and the n-th utterance it served was spoken differently (at times cut short) from the
same request served first. Full-size corpora generated twice (two workers, jobs in a different
order) then differed in about 6% of their files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emokit_plugins.simulated import SPECS, prepare_corpus
from emokit_plugins.simulated import speech as speech_module
from emokit_plugins.simulated.generate import MARKER, render_job
from emokit_plugins.simulated.layouts import plan
from emokit_plugins.simulated.speech import Synthesizer

TINY = 0.05
#: More requests than eSpeak's wave-generator command queue has entries (170), so that a server
#: whose state drifts with the number of requests served goes through every state of that queue.
_MANY = 200


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and p.name != MARKER
    }


@pytest.fixture
def fresh_synthesizer(monkeypatch: pytest.MonkeyPatch):
    """A server of its own, installed as this process's synthesizer (so history is ours to set)."""
    synth = Synthesizer()
    monkeypatch.setattr(speech_module, "_SYNTH", synth)
    yield synth
    synth.close()


def test_same_request_same_samples_however_many_requests_came_before(fresh_synthesizer) -> None:
    synth = fresh_synthesizer
    request = {"rate": 190, "pitch": 55, "pitch_range": 60, "volume": 70, "seed": 7}
    first = synth.synth("en+m6", "Get out of my office.", **request)
    assert len(first) > 0.5 * synth.sample_rate
    for n in range(1, _MANY):
        # other voices in between, as the jobs of a corpus come
        if n % 3 == 0:
            synth.synth("de+f3", "Ja.", rate=300, pitch=80, pitch_range=90, volume=120, seed=n)
        again = synth.synth("en+m6", "Get out of my office.", **request)
        assert len(again) == len(first), f"request {n}: {len(again)} samples, not {len(first)}"
        np.testing.assert_array_equal(again, first, err_msg=f"request {n} differs from the first")


def test_corpus_bytes_do_not_depend_on_workers_order_or_history(tmp_path: Path, fresh_synthesizer) -> None:
    spec = SPECS["sim-emodb"]
    # two fresh worker processes, jobs in plan order, each worker with a new server
    parallel = _files(prepare_corpus("sim-emodb", cache_dir=tmp_path / "a", scale=TINY, seed=2, workers=2))
    # one process, whose server has already served many requests, jobs in reverse order
    for n in range(_MANY - 40):
        fresh_synthesizer.synth("fr+m2", "Bonjour.", rate=200, pitch=40, pitch_range=40, volume=60, seed=n)
    root = tmp_path / "b"
    jobs = plan(spec, TINY)
    for job in reversed(jobs):
        render_job(spec, 2, root, job)
    serial = _files(root)
    assert len(parallel) == len(jobs) and parallel.keys() == serial.keys()
    differing = sorted(k for k in parallel if parallel[k] != serial[k])
    assert not differing, f"{len(differing)} of {len(parallel)} files differ: {differing[:5]}"
