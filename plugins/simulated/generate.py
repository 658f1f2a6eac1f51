"""Generating a simulated corpus on disk: deterministic, resumable, in parallel worker processes.

:func:`prepare_corpus` writes ``<cache>/corpora/<name>-seed<seed>-scale<scale>/`` in the real
corpus's layout. Each utterance draws from random streams keyed by (seed, corpus, utterance id), so
the corpus is the same whatever the number of worker processes or the order of work, and an
utterance is identical at every scale that contains it.

Resumption: files are renamed into place only when complete, so a file that exists is whole. A
rerun writes only the missing files; an interrupted run's temporaries are removed. The folder's
``.emokit-simulated-config.json`` holds the generation config: when the generator or the spec
changed, the folder is regenerated from scratch. ``emokit-simulated.json`` (the completion marker)
is written last, with the config and the counts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path

from emokit.data.corpus import SIMULATED_MARKER

from .channel import pad, record
from .faces import make_track, render_clip, speaker_face, speech_envelope
from .layouts import Job, plan
from .rng import rng_for
from .specs import EMOTION_AUS, EMOTION_PROSODY, GENERATOR_VERSION, SPECS, CorpusSpec
from .speech import speak, speaker_voice, utterance_prosody
from .video import PARTIAL_SUFFIX, write_avi, write_wav

MARKER = SIMULATED_MARKER  # also what tells any loader that a folder is simulated
CONFIG_FILE = ".emokit-simulated-config.json"
WORKERS_ENV = "EMOKIT_SIM_WORKERS"
#: Below this many files to write, worker start-up (about a second each) is not worth it.
_PARALLEL_MIN_JOBS = 24

Progress = Callable[[str, int, int], None]


# -- arguments and config --------------------------------------------------------------------
def check_arguments(name: str, scale: float, seed: int) -> tuple[CorpusSpec, float, int]:
    """Validate a corpus name, scale and seed; returns the spec and the normalised values.

    Raises:
        ValueError: unknown name (the message lists the valid ones), a scale outside (0, 1], or a
            seed that is not an integer in [0, 2**32).
    """
    spec = SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown simulated corpus {name!r}; expected one of {', '.join(SPECS)}")
    return spec, check_scale(scale), check_seed(seed)


def check_scale(scale: float) -> float:
    """``scale`` as a float in (0, 1]; a clear ``ValueError`` otherwise."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"scale must be a number in (0, 1], got {scale!r}")
    if not 0.0 < scale <= 1.0:
        raise ValueError(
            f"scale must be in (0, 1] (1.0 = the real corpus's size, smaller for quick runs), got {scale!r}"
        )
    return float(scale)


def check_seed(seed: int) -> int:
    """``seed`` as an int in [0, 2**32); a clear ``ValueError`` otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return seed


def corpus_dir(name: str, *, cache_dir: Path | None, scale: float, seed: int) -> Path:
    """Where the corpus ``name`` generated with ``scale`` and ``seed`` lives."""
    if cache_dir is None:
        from emokit.paths import cache_dir as default_cache_dir

        cache_dir = default_cache_dir()
    return Path(cache_dir) / "corpora" / f"{name}-seed{seed}-scale{scale}"


def generation_config(spec: CorpusSpec, *, scale: float, seed: int) -> dict:
    """Everything that determines the generated files (JSON-serialisable).

    The code that turns it into files is represented by :data:`GENERATOR_VERSION`; the corpus
    structure and texts by a hash of the generation plan.
    """
    jobs = [(j.uid, j.label, j.text, j.wav, j.video) for j in plan(spec, scale)]
    return {
        "name": spec.name,
        "seed": seed,
        "scale": scale,
        "generator_version": GENERATOR_VERSION,
        "spec": asdict(spec),
        "emotion_prosody": {k: asdict(v) for k, v in EMOTION_PROSODY.items()},
        "emotion_aus": EMOTION_AUS,
        "plan": hashlib.sha256(json.dumps(jobs).encode()).hexdigest()[:16],
    }


def config_hash(config: dict) -> str:
    """A short stable hash of a generation config."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def fingerprint(name: str, *, scale: float, seed: int, spec: CorpusSpec | None = None) -> str:
    """The corpus fingerprint: a hash of the generation config (see :attr:`Corpus.fingerprint`)."""
    spec, scale, seed = _resolve(name, scale, seed, spec)
    return "sim-" + config_hash(generation_config(spec, scale=scale, seed=seed))


def _resolve(name: str, scale: float, seed: int, spec: CorpusSpec | None) -> tuple[CorpusSpec, float, int]:
    if spec is None:
        return check_arguments(name, scale, seed)
    if spec.name != name:
        raise ValueError(f"spec {spec.name!r} given for corpus {name!r}")
    return spec, check_scale(scale), check_seed(seed)


# -- generating one utterance ----------------------------------------------------------------
def render_job(
    spec: CorpusSpec, seed: int, root: Path, job: Job, outputs: tuple[str, ...] | None = None
) -> None:
    """Generate ``job``'s files under ``root`` (only ``outputs`` among them, default all)."""
    outputs = job.outputs if outputs is None else outputs
    voice = speaker_voice(spec, seed, job.speaker)
    rng_speech = rng_for(seed, spec.name, "speech", job.uid)
    prosody = utterance_prosody(spec, voice, job.label, rng_speech)
    clean, sr = speak(voice, job.text, prosody, rng_speech)
    rng_channel = rng_for(seed, spec.name, "channel", job.uid)
    padded, _ = pad(clean, sr, spec.channel, rng_channel)
    gain_db = float(
        rng_for(seed, spec.name, "speaker-gain", job.speaker).uniform(*spec.channel.speaker_gain_db)
    )
    audio = record(padded, sr, spec.channel, rng_channel, gain_db)
    rate = spec.channel.sample_rate
    if job.wav is not None and job.wav in outputs:
        write_wav(root / job.wav, audio, rate)
    if job.video is not None and job.video in outputs:
        style = spec.style
        if style is None:
            raise ValueError(f"{spec.name} has no render style but job {job.uid} asks for a video")
        n_frames = max(1, round(len(audio) / rate * style.fps))
        identity, profiles = speaker_face(spec, seed, job.speaker)
        rng_face = rng_for(seed, spec.name, "face", job.uid)
        envelope = speech_envelope(padded, sr, n_frames, style.fps)
        track = make_track(spec.face, style, profiles[job.label], prosody.intensity, envelope, rng_face)
        frames = render_clip(style, identity, track, rng_face)
        write_avi(root / job.video, frames, style.fps, audio, rate)


def _work(args: tuple[CorpusSpec, int, str, Job, tuple[str, ...]]) -> str:
    spec, seed, root, job, outputs = args
    render_job(spec, seed, Path(root), job, outputs)
    return job.uid


# -- the corpus ------------------------------------------------------------------------------
def prepare_corpus(
    name: str,
    *,
    cache_dir: Path | None,
    scale: float = 1.0,
    seed: int = 0,
    progress: Progress | None = None,
    force: bool = False,
    workers: int | None = None,
    spec: CorpusSpec | None = None,
) -> Path:
    """Generate the simulated corpus ``name`` unless it is complete already; return its folder.

    Args:
        name: ``"sim-savee"``, ``"sim-emodb"`` or ``"sim-enterface"``.
        cache_dir: emokit's cache folder (``None``: :func:`emokit.paths.cache_dir`).
        scale: size relative to the real corpus, in (0, 1]. Smaller scales keep fewer speakers
            (never fewer than the spec's ``min_speakers``) and fewer utterances (never fewer than
            two per speaker and emotion).
        seed: generation seed; the same (seed, scale) always gives the same files.
        progress: called as ``progress(description, done, total)`` as utterances complete.
        force: delete whatever is there and generate from scratch.
        workers: worker processes (default: ``EMOKIT_SIM_WORKERS`` or up to 2 for large jobs).
        spec: a modified corpus spec (calibration experiments); defaults to ``SPECS[name]``.

    Raises:
        ValueError: a bad name, scale, seed or worker count.
        RuntimeError: the folder holds files emokit did not generate, or an utterance failed.
    """
    spec, scale, seed = _resolve(name, scale, seed, spec)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    root = corpus_dir(name, cache_dir=cache_dir, scale=scale, seed=seed)
    config = generation_config(spec, scale=scale, seed=seed)
    digest = config_hash(config)
    root.parent.mkdir(parents=True, exist_ok=True)
    with _locked(root.parent / f".{root.name}.lock"):
        _start(root, digest, config, force)
        jobs = plan(spec, scale)
        todo = [(job, missing) for job in jobs if (missing := _missing(root, job))]
        marker = root / MARKER
        if not todo and _read_json(marker).get("config_hash") == digest:
            if progress is not None:
                progress(f"{name}: complete", len(jobs), len(jobs))
            return root
        marker.unlink(missing_ok=True)
        started = time.perf_counter()
        description = f"generating {name}"
        done = len(jobs) - len(todo)
        if progress is not None:
            progress(description, done, len(jobs))
        for _uid in _run(spec, seed, root, todo, workers):
            done += 1
            if progress is not None:
                progress(description, done, len(jobs))
        _write_marker(root, config, digest, jobs, generated=len(todo), seconds=time.perf_counter() - started)
    return root


def _start(root: Path, digest: str, config: dict, force: bool) -> None:
    """Make ``root`` ready: wipe it when forced or generated from another config; clean temporaries."""
    config_path = root / CONFIG_FILE
    if root.exists():
        ours = config_path.exists() or (root / MARKER).exists()
        if not ours and any(root.iterdir()) and not force:
            raise RuntimeError(
                f"{root} holds files that emokit did not generate; delete the folder or regenerate with force"
            )
        if force or _read_json(config_path).get("config_hash") != digest:
            shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    if not config_path.exists():
        _write_json(config_path, {"config_hash": digest, "config": config})
    for stale in root.rglob(f".*{PARTIAL_SUFFIX}"):
        stale.unlink(missing_ok=True)


def _missing(root: Path, job: Job) -> tuple[str, ...]:
    return tuple(rel for rel in job.outputs if not (root / rel).is_file())


def default_workers(n_jobs: int) -> int:
    """Worker processes for ``n_jobs`` utterances: ``EMOKIT_SIM_WORKERS``, else up to 2 when worth it."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{WORKERS_ENV} must be a positive integer, got {value!r}")
        return int(value)
    if n_jobs < _PARALLEL_MIN_JOBS:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def _run(
    spec: CorpusSpec, seed: int, root: Path, todo: list[tuple[Job, tuple[str, ...]]], workers: int | None
) -> Iterator[str]:
    """Generate ``todo``, yielding each utterance id as it completes."""
    if not todo:
        return
    workers = default_workers(len(todo)) if workers is None else workers
    if workers == 1:
        for job, outputs in todo:
            yield _guarded(spec, seed, root, job, outputs)
        return
    context = multiprocessing.get_context(_start_method())
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_work, (spec, seed, str(root), job, outputs)): job for job, outputs in todo}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    job = futures[future]
                    exc = future.exception()
                    if exc is not None:
                        raise RuntimeError(
                            f"{spec.name}: generating {', '.join(job.outputs)} failed: {exc}"
                        ) from exc
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()


def _start_method() -> str:
    """``fork`` on Linux: workers start at once and a caller's script needs no ``__main__`` guard.

    Each forked worker has its own copy of the process, eSpeak NG's global state included (the
    workers only run numpy, scipy, PyAV and eSpeak, none of which a fork upsets there). Elsewhere
    fork is unsafe or missing, and ``spawn`` is used (scripts then need the usual guard).
    """
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


def _guarded(spec: CorpusSpec, seed: int, root: Path, job: Job, outputs: tuple[str, ...]) -> str:
    try:
        render_job(spec, seed, root, job, outputs)
    except Exception as exc:
        raise RuntimeError(f"{spec.name}: generating {', '.join(job.outputs)} failed: {exc}") from exc
    return job.uid


def _write_marker(
    root: Path, config: dict, digest: str, jobs: list[Job], *, generated: int, seconds: float
) -> None:
    counts = {
        "utterances": len(jobs),
        "wav_files": sum(job.wav is not None for job in jobs),
        "video_files": sum(job.video is not None for job in jobs),
        "speakers": len({job.speaker for job in jobs}),
        "per_label": dict(sorted(Counter(job.label for job in jobs).items())),
    }
    _write_json(
        root / MARKER,
        {
            "generator": "emokit simulated corpora",
            "config_hash": digest,
            "counts": counts,
            "generated_this_run": generated,
            "seconds_this_run": round(seconds, 2),
            "config": config,
        },
    )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}{PARTIAL_SUFFIX}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` so two processes never generate the same corpus at once."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent generation is the user's call
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
