"""An offline spoken corpus: English sentences from Debian's `fortunes` files, spoken by espeak-ng and
Festival.

Needs the Debian packages `fortunes` (text), `espeak-ng` and `festival` + `festvox-kallpc16k` (voices).

Split scheme (all choices from `seed`; nothing depends on `num` except how many utterances are taken):
- Sentences: the deduplicated sentences are shuffled and cut into test (10 %), valid (10 %) and train (80 %)
  pools, so no sentence is spoken in two splits.
- Voices: espeak-ng voices are accent × variant (8 × 12 = 96). They are shuffled; 12 are test-only, 8 are
  valid-only, the other 76 train-only. Festival's `kal_diphone` (a different engine) is test-only.
- Utterances: `num` is split 80 / 10 / 10 into train / valid / test. Utterance i of a split speaks sentence
  i of its pool (cycling when the pool is shorter) with a voice drawn from the split's voices; every odd
  test utterance is spoken by Festival, so the test set compares engines. Rate (130–190 words per minute)
  and pitch (30–70, espeak's 0–99 scale) are drawn per utterance.
Utterance i of a split is the same for any `num`, so a larger corpus extends a smaller one, and wav files
already present (named by a hash of text, voice, rate and pitch) are not spoken again.
"""

import hashlib
import os
import random
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr
from tqdm import tqdm

from blsp_kd.data.audio import SILENCE_PEAK, TARGET_SAMPLE_RATE
from blsp_kd.data.manifest import ManifestRecord, Problem, write_manifest

FORTUNES_DIR = Path("/usr/share/games/fortunes")
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
FESTIVAL_VOICE = "kal_diphone"
HELD_OUT_ESPEAK_VOICES = {"test": 12, "valid": 8}
SPLIT_FRACTIONS = {"test": 0.1, "valid": 0.1}  # of sentences and of utterances; train gets the rest
SPLITS = ("train", "valid", "test")
RATE_RANGE = (130, 190)  # words per minute
PITCH_RANGE = (30, 70)  # espeak-ng pitch, 0-99, default 50
MIN_WORDS, MAX_WORDS = 4, 20
TTS_TIMEOUT_SECONDS = 60

# Words that end with "." without ending a sentence.
ABBREVIATIONS = set(
    "mr mrs ms dr st jr sr vs etc prof gen col lt sgt capt rev vol mt ft co inc ltd"
    " e.g i.e u.s a.m p.m".split()
)
# A natural sentence: capital first, then only letters, spaces and , ; ' - and a lowercase letter before the
# end mark.
NATURAL_SENTENCE = re.compile(r"[A-Z][A-Za-z ,;'\-]*[a-z][.!?]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# Frequent English words; a sentence with none of them is usually another language (fortunes quote Latin).
COMMON_ENGLISH_WORDS = set(
    "the a an is are was were be been of to in on at for with and or but not no it its this that you your i"
    " me my we our he she his her they them their what who how why when where there do does did have has had"
    " can will would should could if so as all one by from".split()
)


@dataclass(frozen=True)
class Utterance:
    id: str
    split: str
    text: str
    engine: str  # "espeak-ng" or "festival"
    voice: str
    rate: int
    pitch: int

    def wav_name(self) -> str:
        """File name with a hash of all that shapes the audio, so a resumed run never reuses stale audio."""
        key = f"{self.engine}|{self.voice}|{self.rate}|{self.pitch}|{self.text}"
        return f"{self.id}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.wav"


def read_fortunes(path: Path) -> list[str]:
    """The fortunes of one file as paragraphs: attribution lines ("-- Mark Twain") and verse are dropped.

    Verse (every line capitalised, some line without an end mark) would join into run-on non-sentences."""
    paragraphs = []
    for block in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
        lines = [line.strip() for line in block.split("\n")]
        lines = [line for line in lines if line and line != "%" and not line.startswith("--")]
        is_verse = len(lines) >= 2 and all(line[0].isupper() for line in lines)
        if is_verse and any(not line.endswith((".", "!", "?")) for line in lines[:-1]):
            continue
        paragraphs.append(" ".join(" ".join(lines).split()))
    return paragraphs


def split_sentences(paragraph: str) -> list[str]:
    """Split at . ! ? followed by whitespace, except after an abbreviation or an initial ("J. Smith")."""
    sentences, current = [], ""
    for piece in SENTENCE_END.split(paragraph):
        current = f"{current} {piece}" if current else piece
        last_word = current.rsplit(" ", 1)[-1][:-1].lower()
        if current.endswith(".") and (
            last_word in ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha())
        ):
            continue
        sentences.append(current)
        current = ""
    if current:
        sentences.append(current)
    return sentences


def is_natural_sentence(sentence: str) -> bool:
    """4-20 words of letters and basic punctuation, no ALL-CAPS word, no quote or dash debris, English."""
    if not NATURAL_SENTENCE.fullmatch(sentence) or "--" in sentence:
        return False
    words = sentence.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return False
    for word in words:
        letters = re.sub(r"[^A-Za-z]", "", word)
        if len(letters) >= 2 and letters.isupper():
            return False
        bare = word.rstrip(".!?,;")
        if bare.startswith(("'", "-")) or bare.endswith(("'", "-")):  # quotes or broken hyphenation
            return False
    return any(word.strip(".!?,;").lower() in COMMON_ENGLISH_WORDS for word in words)


def collect_sentences(fortunes_dir: Path = FORTUNES_DIR) -> list[str]:
    """Natural English sentences from every fortunes file (not the .dat/.u8 indexes), deduplicated
    case-insensitively, in file order."""
    paths = sorted(p for p in Path(fortunes_dir).iterdir() if p.is_file() and "." not in p.name)
    if not paths:
        raise FileNotFoundError(f"no fortunes files in {fortunes_dir}: install the Debian package 'fortunes'")
    sentences, seen = [], set()
    for path in paths:
        for paragraph in read_fortunes(path):
            for sentence in split_sentences(paragraph):
                if is_natural_sentence(sentence) and sentence.lower() not in seen:
                    seen.add(sentence.lower())
                    sentences.append(sentence)
    return sentences


def _split_counts(total: int) -> dict[str, int]:
    counts = {split: round(total * fraction) for split, fraction in SPLIT_FRACTIONS.items()}
    return {"train": total - sum(counts.values()), **counts}


def _cut(items: list, counts: dict[str, int]) -> dict[str, list]:
    """Consecutive slices of `items`: test first, then valid, then train (the rest)."""
    pools, start = {}, 0
    for split in ("test", "valid", "train"):
        pools[split] = items[start : start + counts[split]]
        start += counts[split]
    return pools


def plan_utterances(sentences: list[str], num: int, seed: int) -> list[Utterance]:
    """Choose text, engine, voice, rate and pitch for `num` utterances (see the module docstring)."""
    rng = random.Random(seed)
    sentences = list(sentences)
    rng.shuffle(sentences)
    voices = list(ESPEAK_VOICES)
    rng.shuffle(voices)
    sentence_pools = _cut(sentences, _split_counts(len(sentences)))
    voice_pools = _cut(voices, {**HELD_OUT_ESPEAK_VOICES, "train": len(voices)})
    utterance_counts = _split_counts(num)
    plan = []
    for split in SPLITS:
        if utterance_counts[split] and not sentence_pools[split]:
            raise ValueError(f"too few sentences ({len(sentences)}) to fill the {split} split")
        split_rng = random.Random(f"{seed}-{split}")
        for index in range(utterance_counts[split]):
            text = sentence_pools[split][index % len(sentence_pools[split])]
            if split == "test" and index % 2 == 1:
                engine, voice = "festival", FESTIVAL_VOICE
            else:
                engine, voice = "espeak-ng", split_rng.choice(voice_pools[split])
            rate, pitch = split_rng.randint(*RATE_RANGE), split_rng.randint(*PITCH_RANGE)
            plan.append(Utterance(f"{split}-{index:06d}", split, text, engine, voice, rate, pitch))
    return plan


def _tts_command(utterance: Utterance, wav_path: Path) -> list[str]:
    """The command that reads the text on stdin and writes a WAV file to `wav_path`.
    (A file, not stdout: through a pipe text2wave cannot fill in the WAV sizes and writes 0.)"""
    if utterance.engine == "espeak-ng":
        voice, rate, pitch = utterance.voice, str(utterance.rate), str(utterance.pitch)
        return ["espeak-ng", "-v", voice, "-s", rate, "-p", pitch, "--stdin", "-w", str(wav_path)]
    # Festival has no rate/pitch flags: stretch durations around 160 wpm and move the F0 target
    # (kal_diphone's mean is 105 Hz) by 1.25 Hz per espeak pitch step around 50.
    duration_stretch = 160 / utterance.rate
    f0_mean = 105 + 1.25 * (utterance.pitch - 50)
    setup = (
        f"(begin (voice_{utterance.voice}) (Parameter.set 'Duration_Stretch {duration_stretch:.3f})"
        f" (set! int_lr_params '((target_f0_mean {f0_mean:.1f}) (target_f0_std 14)"
        " (model_f0_mean 170) (model_f0_std 34))))"
    )
    return ["text2wave", "-eval", setup, "-o", str(wav_path)]


def _run_tts(utterance: Utterance, wav_path: Path) -> tuple[np.ndarray, int]:
    """Run the engine; returns (samples (num_samples,) float32 mono, sample rate)."""
    try:
        result = subprocess.run(
            _tts_command(utterance, wav_path),
            input=utterance.text.encode(),
            capture_output=True,
            timeout=TTS_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{utterance.engine} timed out after {TTS_TIMEOUT_SECONDS} s") from error
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()[-300:]
        raise RuntimeError(f"{utterance.engine} exited with {result.returncode}: {message}")
    try:
        samples, sample_rate = soundfile.read(str(wav_path), dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as error:
        raise RuntimeError(f"{utterance.engine} wrote no readable WAV ({error.error_string})") from error
    return samples.mean(axis=1), sample_rate


def speak(text: str, voice: str = "en-us", engine: str = "espeak-ng", rate: int = 160, pitch: int = 50) -> np.ndarray:
    """One sentence spoken by a TTS engine, as 16 kHz mono float32 samples (for smoke checks and tests)."""
    with tempfile.TemporaryDirectory() as work_dir:
        samples, sample_rate = _run_tts(Utterance("speak", "none", text, engine, voice, rate, pitch),
                                        Path(work_dir) / "speech.wav")
    if sample_rate != TARGET_SAMPLE_RATE:
        samples = soxr.resample(samples, sample_rate, TARGET_SAMPLE_RATE)
    return samples.astype(np.float32)


def synthesize(utterance: Utterance, audio_dir: Path) -> tuple[Path, float]:
    """Speak one utterance into `audio_dir` as 16 kHz mono 16-bit WAV (skipped if already there).
    Returns (path, seconds); raises RuntimeError with the reason when the engine fails or is silent."""
    path = audio_dir / utterance.wav_name()
    if path.exists():
        return path, soundfile.info(str(path)).duration
    # Work files get temporary names and the result is renamed into place at the end: an interrupted run
    # never leaves a half-written file that a resumed run would take as done.
    engine_output = audio_dir / f".{path.stem}.{utterance.engine}.wav"
    converted = audio_dir / f".{path.stem}.16k.wav"
    try:
        samples, sample_rate = _run_tts(utterance, engine_output)
        if sample_rate != TARGET_SAMPLE_RATE:
            samples = soxr.resample(samples, sample_rate, TARGET_SAMPLE_RATE)
        if len(samples) == 0 or float(np.abs(samples).max()) < SILENCE_PEAK:
            raise RuntimeError(f"{utterance.engine} produced silence")
        soundfile.write(str(converted), np.clip(samples, -1.0, 1.0), TARGET_SAMPLE_RATE, subtype="PCM_16")
        os.replace(converted, path)
    finally:
        engine_output.unlink(missing_ok=True)
        converted.unlink(missing_ok=True)
    return path, len(samples) / TARGET_SAMPLE_RATE


def check_tts_installed() -> None:
    missing = [tool for tool in ("espeak-ng", "text2wave") if shutil.which(tool) is None]
    if missing:
        raise FileNotFoundError(
            f"missing {', '.join(missing)}:"
            " install the Debian packages espeak-ng, festival and festvox-kallpc16k"
        )


def prepare_synth(
    out_dir: str | Path,
    num: int,
    seed: int = 0,
    workers: int | None = None,
    fortunes_dir: str | Path = FORTUNES_DIR,
    progress: bool = True,
) -> tuple[dict[str, list[ManifestRecord]], list[Problem]]:
    """Write OUT/audio/*.wav and OUT/{train,valid,test}.jsonl for `num` utterances.
    Returns the records per split and the problems (an utterance whose TTS failed is reported and skipped)."""
    check_tts_installed()
    out_dir = Path(out_dir)
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_utterances(collect_sentences(Path(fortunes_dir)), num, seed)
    spoken, problems = {}, []
    # Threads are enough: the work runs in the TTS subprocesses and in soxr/libsndfile, which release the GIL.
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        futures = {pool.submit(synthesize, utterance, audio_dir): utterance for utterance in plan}
        for future in tqdm(as_completed(futures), total=len(futures), desc="synth", disable=not progress):
            utterance = futures[future]
            try:
                spoken[utterance.id] = future.result()
            except RuntimeError as error:
                reason = f"{utterance.engine} voice {utterance.voice} failed on {utterance.text!r}: {error}"
                problems.append(Problem(None, None, utterance.id, reason))
    records = {split: [] for split in SPLITS}
    for utterance in plan:
        if utterance.id not in spoken:
            continue
        path, seconds = spoken[utterance.id]
        extra = {"voice": utterance.voice, "engine": utterance.engine, "rate": utterance.rate}
        extra |= {"pitch": utterance.pitch, "seconds": round(seconds, 3)}
        records[utterance.split].append(
            ManifestRecord(id=utterance.id, audio=str(path), text=utterance.text, extra=extra)
        )
    for split in SPLITS:
        write_manifest(out_dir / f"{split}.jsonl", records[split])
    problems.sort(key=lambda problem: problem.record_id)
    return records, problems
