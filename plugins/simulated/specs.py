"""Every knob of the simulated corpora, in one place.

A simulated corpus is a :class:`CorpusSpec`: who speaks (speakers with an eSpeak voice and a voice
variant), what they say (sentences), which emotions they act, and the recording "domain" that makes
one corpus differ from another (:class:`Channel` for the audio, :class:`RenderStyle` for the video,
plus the corpus's acting ``expressiveness``).

How emotion is acted:

- speech: :data:`EMOTION_PROSODY` gives each emotion's effect at full intensity on eSpeak's rate,
  pitch, pitch range and volume (after Murray and Arnott, 1993), plus cheap post-processing cues
  (spectral tilt, tremolo). Each speaker has baselines and their own way of acting each emotion
  (:class:`SpeakerSpread`), each utterance an intensity and noise (:class:`ProsodyVariation`), so
  classes overlap as they do in real acted speech.
- faces: :data:`EMOTION_AUS` gives each emotion's facial action units (after Ekman's EMFACS
  prototypes), varied per speaker and clip by :class:`FaceVariation`.

Everything here is part of the generation config: changing any value changes the corpus
fingerprint and makes :func:`~emokit_plugins.simulated.generate.prepare_corpus` regenerate.
Calibrate here (effect sizes, spreads, channel and style differences), not in the generators.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Bump when the generators change what they write for an unchanged spec.
#: 2: speech no longer depends on how many requests the eSpeak server had served before (version 1
#: corpora hold some utterances spoken differently or cut short; the others are byte-identical).
GENERATOR_VERSION = "2"


# -- emotion in speech -----------------------------------------------------------------------
@dataclass(frozen=True)
class EmotionProsody:
    """An emotion's effect on speech at full intensity (1.0), relative to the speaker's baseline.

    Attributes:
        rate: multiplier of the speaking rate (words per minute).
        pitch: eSpeak pitch units added to the base pitch (0-100 scale; about 1 Hz per unit for a
            male voice).
        range: eSpeak pitch-range units added (0-100 scale; wider range = livelier intonation).
        volume: multiplier of the volume.
        tilt: spectral tilt; > 0 brighter (tense voice), < 0 darker (lax voice).
        tremolo: depth of a slow amplitude modulation (a shaky voice).
        endings: probabilities of ending the sentence with ``"!"`` or ``"?"`` (eSpeak changes the
            final intonation contour accordingly); the rest end with ``"."``.
    """

    rate: float = 1.0
    pitch: float = 0.0
    range: float = 0.0
    volume: float = 1.0
    tilt: float = 0.0
    tremolo: float = 0.0
    endings: tuple[tuple[str, float], ...] = ()


#: Murray & Arnott (1993), "Toward the simulation of emotion in synthetic speech", Table 1,
#: turned into eSpeak parameter changes. Keyed by harmonised label.
EMOTION_PROSODY: dict[str, EmotionProsody] = {
    "neutral": EmotionProsody(),
    "calm": EmotionProsody(rate=0.95, pitch=-2, range=-4, volume=0.95),
    # faster, much higher and much wider pitch, louder, breathy-tense
    "anger": EmotionProsody(rate=1.15, pitch=12, range=24, volume=1.35, tilt=0.5, endings=(("!", 0.35),)),
    # slower, lower, narrower, softer, darker
    "sadness": EmotionProsody(rate=0.80, pitch=-9, range=-20, volume=0.72, tilt=-0.5, tremolo=0.05),
    # faster (or slower), higher, much wider, louder
    "happiness": EmotionProsody(rate=1.10, pitch=13, range=22, volume=1.12, tilt=0.2, endings=(("!", 0.25),)),
    # much faster, much higher, wider, irregular
    "fear": EmotionProsody(rate=1.28, pitch=20, range=12, volume=1.0, tilt=0.1, tremolo=0.18),
    # very much slower, much lower, wider, grumbled
    "disgust": EmotionProsody(rate=0.78, pitch=-8, range=14, volume=0.95, tilt=-0.25),
    # slower, lower, narrower, softer
    "boredom": EmotionProsody(rate=0.85, pitch=-7, range=-24, volume=0.82, tilt=-0.3),
    # higher and much wider, rising endings
    "surprise": EmotionProsody(
        rate=1.05, pitch=18, range=28, volume=1.10, tilt=0.2, endings=(("?", 0.30), ("!", 0.25))
    ),
}


@dataclass(frozen=True)
class ProsodyVariation:
    """How an emotion's effect varies between utterances of one speaker.

    Attributes:
        intensity: per-utterance acting intensity, drawn uniformly; scales every effect.
        rate_sd: relative standard deviation of the per-utterance rate noise.
        pitch_sd: standard deviation of the per-utterance pitch noise (eSpeak units).
        range_sd: standard deviation of the per-utterance pitch-range noise.
        volume_sd: relative standard deviation of the per-utterance volume noise.
        tilt_sd: standard deviation of the per-utterance spectral-tilt noise.
    """

    intensity: tuple[float, float] = (0.3, 1.0)
    rate_sd: float = 0.06
    pitch_sd: float = 4.0
    range_sd: float = 7.0
    volume_sd: float = 0.08
    tilt_sd: float = 0.15


@dataclass(frozen=True)
class SpeakerSpread:
    """Per-speaker baselines (mean, standard deviation) and acting style.

    Attributes:
        rate_wpm: base speaking rate in words per minute.
        pitch: base pitch (eSpeak units, 0-100) on top of the voice variant's own.
        range: base pitch range (eSpeak units, 0-100).
        volume: base volume (eSpeak units, 0-200; 100 already peaks near full scale).
        expressiveness: uniform range of a speaker's overall acting strength (scales effects).
        effect_jitter: relative standard deviation with which each speaker's version of each
            emotion's effect departs from :data:`EMOTION_PROSODY` (speakers act differently).
    """

    rate_wpm: tuple[float, float] = (165.0, 12.0)
    pitch: tuple[float, float] = (50.0, 8.0)
    range: tuple[float, float] = (50.0, 7.0)
    volume: tuple[float, float] = (60.0, 5.0)
    expressiveness: tuple[float, float] = (0.6, 1.3)
    effect_jitter: float = 0.3


# -- recording channel -----------------------------------------------------------------------
@dataclass(frozen=True)
class Channel:
    """The audio recording chain of a corpus (its acoustic "domain").

    Attributes:
        sample_rate: output sample rate in Hz (speech is synthesised at 22050 Hz and resampled).
        band_hz: pass band (low, high) of the microphone and recorder; high is clipped below
            Nyquist.
        snr_db: range of the signal-to-noise ratio, drawn per utterance, relative to a speaker
            speaking at their neutral baseline (louder speech gets a better ratio, as in a room).
        noise_colour: spectral slope of the background noise: 0 white, 1 pink, 2 brown.
        hum_hz: mains hum frequency, or 0 for none.
        hum_db: hum level relative to the reference speech level, in dB.
        rt60_s: range of the reverberation time; ``(0, 0)`` is anechoic.
        reverb_wet: range of the reverberant part's mix level (0 dry .. 1 all reverb).
        speaker_gain_db: range of the recording gain per speaker (session).
        utterance_gain_sd_db: per-utterance gain variation in dB.
        padding_s: range of silence recorded before and after the speech.
    """

    sample_rate: int
    band_hz: tuple[float, float]
    snr_db: tuple[float, float]
    noise_colour: float = 1.0
    hum_hz: float = 0.0
    hum_db: float = -60.0
    rt60_s: tuple[float, float] = (0.0, 0.0)
    reverb_wet: tuple[float, float] = (0.0, 0.0)
    speaker_gain_db: tuple[float, float] = (-3.0, 3.0)
    utterance_gain_sd_db: float = 1.0
    padding_s: tuple[float, float] = (0.15, 0.4)


# -- faces -----------------------------------------------------------------------------------
#: The action units the renderer draws, with what each does.
ACTION_UNITS: dict[str, str] = {
    "AU1": "inner brow raiser",
    "AU2": "outer brow raiser",
    "AU4": "brow lowerer",
    "AU5": "upper lid raiser",
    "AU6": "cheek raiser (narrows the eyes from below)",
    "AU7": "lid tightener",
    "AU9": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU12": "lip corner puller",
    "AU15": "lip corner depressor",
    "AU20": "lip stretcher",
    "AU23": "lip tightener",
    "AU24": "lip pressor",
    "AU26": "jaw drop",
    "AU43": "eyes closing (drooping lids)",
}

#: Prototype action units per harmonised label (EMFACS-style), weights at full intensity.
EMOTION_AUS: dict[str, dict[str, float]] = {
    "neutral": {},
    "calm": {"AU43": 0.15},
    "anger": {"AU4": 1.0, "AU5": 0.4, "AU7": 0.7, "AU23": 0.8, "AU24": 0.5},
    "disgust": {"AU9": 1.0, "AU10": 0.8, "AU15": 0.4, "AU4": 0.35, "AU7": 0.3},
    "fear": {"AU1": 0.9, "AU2": 0.6, "AU4": 0.5, "AU5": 1.0, "AU20": 0.9, "AU26": 0.35},
    "happiness": {"AU6": 0.8, "AU12": 1.0, "AU26": 0.15},
    "sadness": {"AU1": 1.0, "AU4": 0.6, "AU15": 0.9, "AU43": 0.35},
    "surprise": {"AU1": 1.0, "AU2": 1.0, "AU5": 0.9, "AU26": 0.9},
    "boredom": {"AU43": 0.45, "AU15": 0.15},
}


@dataclass(frozen=True)
class FaceVariation:
    """How facial expressions vary between speakers and clips.

    Attributes:
        intensity_noise: standard deviation of the clip's visual intensity around the vocal one
            (a clip strongly acted in the voice is usually, not always, strong in the face).
        au_jitter: relative standard deviation with which each speaker's version of an emotion's
            action units departs from the prototype.
        au_leak: standard deviation of small spurious action units added per clip (faces are
            never pure prototypes).
        onset_s: range of the expression's onset (and offset) duration.
        start_frac: range of the expression's start, as a fraction of the clip.
        blink_interval_s: mean time between blinks.
        speech_mouth: how far speech opens the mouth (the jaw follows the audio envelope).
        expression_gain: how far a unit of each action unit moves the face (1: the renderer's
            default displacements; larger makes every expression more visible).
        identity_spread: how much faces differ between speakers (1: the full ranges of
            :func:`~emokit_plugins.simulated.faces.draw_identity`; 0: one face geometry for all).
    """

    intensity_noise: float = 0.15
    au_jitter: float = 0.3
    au_leak: float = 0.08
    onset_s: tuple[float, float] = (0.25, 0.6)
    start_frac: tuple[float, float] = (0.0, 0.2)
    blink_interval_s: float = 3.5
    speech_mouth: float = 0.5
    expression_gain: float = 1.0
    identity_spread: float = 1.0


@dataclass(frozen=True)
class RenderStyle:
    """How a corpus's video looks (its visual "domain").

    Attributes:
        width, height: frame size in pixels (even numbers, as the codec needs).
        fps: frames per second.
        face_height: the face's height (chin to crown) as a fraction of the frame height.
        face_center: the face's centre as fractions of (width, height).
        grayscale: write grey frames.
        background_top, background_bottom: RGB of a vertical background gradient.
        light_dir: direction the key light comes from, in face coordinates (x right, y down).
        light_strength: contrast of the directional shading.
        ambient: overall brightness multiplier.
        white_balance: per-channel RGB gains (colour cast of the camera).
        edge_px: width of soft edges in pixels: about 1 is crisp anti-aliasing, more is blur.
        pose_shift_px: amplitude of slow head translation in pixels.
        pose_roll_deg: amplitude of slow head roll in degrees.
        pose_scale: amplitude of slow relative size change (moving to and from the camera).
        pixel_noise: standard deviation of sensor noise in grey levels.
        markers: draw the blue facial markers that SAVEE's actors wore.
        skin_lightness: range of skin lightness drawn per speaker (0 dark .. 1 light).
    """

    width: int
    height: int
    fps: int
    face_height: float
    face_center: tuple[float, float] = (0.5, 0.5)
    grayscale: bool = False
    background_top: tuple[int, int, int] = (90, 100, 120)
    background_bottom: tuple[int, int, int] = (60, 66, 80)
    light_dir: tuple[float, float] = (0.0, -1.0)
    light_strength: float = 0.15
    ambient: float = 1.0
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    edge_px: float = 1.0
    pose_shift_px: float = 1.0
    pose_roll_deg: float = 1.0
    pose_scale: float = 0.01
    pixel_noise: float = 0.0
    markers: bool = False
    skin_lightness: tuple[float, float] = (0.2, 0.95)


# -- corpora ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpeakerSpec:
    """One speaker: corpus id, gender, and the eSpeak voice (language, variant m1-m8 / f1-f5)."""

    id: str
    gender: str
    voice: str
    variant: str


@dataclass(frozen=True)
class CorpusSpec:
    """A simulated corpus: the real corpus it copies and its recording domain.

    Attributes:
        name: the dataset name (``"sim-savee"``).
        family: the real corpus it copies; also the dataset name of that corpus's loader and the
            key of its label map (``"savee"``).
        description: one line for ``emokit list``.
        language: ISO 639-1 code of the sentences' language.
        modalities: ``("audio",)`` or ``("audio", "visual")``.
        speakers: every speaker of the full-size corpus.
        emotions: (corpus code, harmonised label) pairs.
        channel: the audio recording chain.
        style: the video style, or ``None`` for an audio-only corpus.
        expressiveness: corpus-wide scale of acted emotion effects (acting direction differs
            between corpora).
        acting_jitter: relative standard deviation with which this corpus's version of each
            emotion (every prosody effect and action unit) departs from the shared prototypes,
            drawn per seed: corpora differ in how emotions were elicited, so what a model learns
            on one only partly holds on another.
        min_speakers: speakers kept however small the scale.
        prosody, spread, face: the variation knobs.
    """

    name: str
    family: str
    description: str
    language: str
    modalities: tuple[str, ...]
    speakers: tuple[SpeakerSpec, ...]
    emotions: tuple[tuple[str, str], ...]
    channel: Channel
    style: RenderStyle | None = None
    expressiveness: float = 1.0
    acting_jitter: float = 0.25
    min_speakers: int = 4
    prosody: ProsodyVariation = field(default_factory=ProsodyVariation)
    spread: SpeakerSpread = field(default_factory=SpeakerSpread)
    face: FaceVariation = field(default_factory=FaceVariation)

    def speaker(self, speaker_id: str) -> SpeakerSpec:
        """The speaker called ``speaker_id``."""
        for s in self.speakers:
            if s.id == speaker_id:
                return s
        raise KeyError(f"{self.name}: no speaker {speaker_id!r}")

    def label(self, code: str) -> str:
        """The harmonised label of emotion ``code``."""
        return dict(self.emotions)[code]


# SAVEE: four male British speakers; a studio (44.1 kHz, quiet, slightly live room); colour video
# of a frontal face with painted blue markers, even lighting, crisp.
SIM_SAVEE = CorpusSpec(
    name="sim-savee",
    family="savee",
    description="simulated SAVEE: 4 male British English speakers, 7 emotions, audio + video (generated)",
    language="en",
    modalities=("audio", "visual"),
    speakers=(
        SpeakerSpec("DC", "m", "en-GB-x-rp", "m3"),
        SpeakerSpec("JE", "m", "en-GB-x-gbclan", "m1"),
        SpeakerSpec("JK", "m", "en", "m6"),
        SpeakerSpec("KL", "m", "en-GB-x-gbcwmd", "m4"),
    ),
    emotions=(
        ("a", "anger"),
        ("d", "disgust"),
        ("f", "fear"),
        ("h", "happiness"),
        ("n", "neutral"),
        ("sa", "sadness"),
        ("su", "surprise"),
    ),
    channel=Channel(
        sample_rate=44100,
        band_hz=(60.0, 16000.0),
        snr_db=(35.0, 45.0),
        noise_colour=0.5,
        rt60_s=(0.15, 0.25),
        reverb_wet=(0.05, 0.12),
    ),
    style=RenderStyle(
        width=128,
        height=128,
        fps=20,
        face_height=0.72,
        face_center=(0.5, 0.49),
        background_top=(70, 92, 140),
        background_bottom=(50, 66, 105),
        light_dir=(0.0, -1.0),
        light_strength=0.12,
        ambient=1.0,
        edge_px=1.0,
        pose_shift_px=1.0,
        pose_roll_deg=1.0,
        pose_scale=0.01,
        pixel_noise=0.0,
        markers=True,
        skin_lightness=(0.55, 0.95),
    ),
    expressiveness=1.0,
    # four male students of similar age: faces closer to each other than in a random pool
    face=FaceVariation(identity_spread=0.6),
)

# EMODB: ten German actors (ids and genders as in EMODB); an anechoic chamber, 16 kHz; no video.
_EMODB_VOICES = {
    "03": ("m", "m1"),
    "08": ("f", "f1"),
    "09": ("f", "f2"),
    "10": ("m", "m2"),
    "11": ("m", "m3"),
    "12": ("m", "m4"),
    "13": ("f", "f3"),
    "14": ("f", "f4"),
    "15": ("m", "m6"),
    "16": ("f", "f5"),
}
SIM_EMODB = CorpusSpec(
    name="sim-emodb",
    family="emodb",
    description="simulated EMODB: 10 German speakers, 7 emotions, audio 16 kHz (generated)",
    language="de",
    modalities=("audio",),
    speakers=tuple(SpeakerSpec(sid, g, "de", v) for sid, (g, v) in _EMODB_VOICES.items()),
    emotions=(
        ("W", "anger"),
        ("L", "boredom"),
        ("E", "disgust"),
        ("A", "fear"),
        ("F", "happiness"),
        ("T", "sadness"),
        ("N", "neutral"),
    ),
    channel=Channel(
        sample_rate=16000,
        band_hz=(50.0, 7800.0),
        snr_db=(40.0, 50.0),
        noise_colour=0.0,
        rt60_s=(0.0, 0.0),
        reverb_wet=(0.0, 0.0),
        speaker_gain_db=(-2.0, 2.0),
        utterance_gain_sd_db=0.5,
        padding_s=(0.05, 0.2),
    ),
    style=None,
    # EMODB's actors were asked for clearly recognisable emotions (and the corpus kept only
    # utterances that listeners recognised), so its acting is stronger.
    expressiveness=1.2,
)

# eNTERFACE'05: 42 subjects of 14 nationalities reading English (eSpeak voices of their native
# languages give the accents); a noisy, reverberant office recorded through a camera microphone
# (band-limited) at 48 kHz; video with a smaller face, side lighting, softer focus, more head
# movement, a warm colour cast and sensor noise.
ENTERFACE_ACCENTS: tuple[str, ...] = (
    "fr-BE",
    "tr",
    "fr",
    "es",
    "el",
    "it",
    "de",
    "es-419",
    "sk",
    "pt-BR",
    "en-US",
    "hr",
    "ru",
    "en-GB-scotland",
)
# About four in five eNTERFACE'05 subjects were men.
_ENTERFACE_FEMALE = frozenset({4, 9, 15, 21, 26, 30, 35, 40})
_MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
_FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")


def _enterface_speakers() -> tuple[SpeakerSpec, ...]:
    speakers = []
    for n in range(1, 43):
        female = n in _ENTERFACE_FEMALE
        variants = _FEMALE_VARIANTS if female else _MALE_VARIANTS
        speakers.append(
            SpeakerSpec(
                id=str(n),
                gender="f" if female else "m",
                voice=ENTERFACE_ACCENTS[(n - 1) % len(ENTERFACE_ACCENTS)],
                variant=variants[(n * 3) % len(variants)],
            )
        )
    return tuple(speakers)


SIM_ENTERFACE = CorpusSpec(
    name="sim-enterface",
    family="enterface",
    description=(
        "simulated eNTERFACE'05: 42 subjects, English with 14 accents, 6 emotions, video + audio (generated)"
    ),
    language="en",
    modalities=("audio", "visual"),
    speakers=_enterface_speakers(),
    emotions=(
        ("an", "anger"),
        ("di", "disgust"),
        ("fe", "fear"),
        ("ha", "happiness"),
        ("sa", "sadness"),
        ("su", "surprise"),
    ),
    channel=Channel(
        sample_rate=48000,
        band_hz=(180.0, 5000.0),
        snr_db=(12.0, 24.0),
        noise_colour=1.0,
        hum_hz=50.0,
        hum_db=-38.0,
        rt60_s=(0.35, 0.6),
        reverb_wet=(0.25, 0.45),
        speaker_gain_db=(-6.0, 4.0),
        utterance_gain_sd_db=1.5,
        padding_s=(0.1, 0.3),
    ),
    style=RenderStyle(
        width=160,
        height=120,
        fps=15,
        face_height=0.66,
        face_center=(0.5, 0.5),
        background_top=(150, 146, 138),
        background_bottom=(105, 100, 95),
        light_dir=(-0.8, -0.6),
        light_strength=0.35,
        ambient=0.92,
        white_balance=(1.08, 1.0, 0.88),
        edge_px=2.2,
        pose_shift_px=3.0,
        pose_roll_deg=4.0,
        pose_scale=0.03,
        pixel_noise=3.0,
        markers=False,
        skin_lightness=(0.15, 0.95),
    ),
    # non-actors reading emotional sentences act less strongly and less consistently
    expressiveness=0.8,
    # emotions elicited by listening to short stories, not coached: this corpus's version of each
    # emotion departs further from the shared prototypes than the actors' corpora do
    acting_jitter=0.4,
    min_speakers=6,
    spread=SpeakerSpread(expressiveness=(0.4, 1.3), effect_jitter=0.4),
)

#: Every simulated corpus by name.
SPECS: dict[str, CorpusSpec] = {spec.name: spec for spec in (SIM_SAVEE, SIM_EMODB, SIM_ENTERFACE)}
