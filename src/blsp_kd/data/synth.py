"""An offline spoken corpus: sentences from four text sources (data/texts.py) spoken by four TTS engines
(data/engines.py), lightly augmented in training (data/augment.py), written as 16 kHz mono FLAC.

Split scheme (all choices from `seed`; nothing depends on `num` except how many utterances are taken):
- Sentences: each source's sentences are shuffled and cut into test (10 %), valid (10 %) and train (80 %)
  pools, so no sentence is spoken in two splits.
- Voices: a voice is `engine/name`. The Kal speaker (flite kal16 and Festival kal_diphone, two engines on the same
  diphone recordings) is test-only, flite awb valid-only: `HELD_OUT_VOICES`. espeak-ng's 96 voices (accent ×
  variant) are shuffled; 12 are test-only, 8 valid-only, the rest train-only. Piper's joe, flite rms and slt are
  train-only. So valid and test have unseen sentences and unseen voices, and each holds one speaker out entirely.
- Utterances: `num` is split 80 / 10 / 10 into train / valid / test. Utterance i of a split draws its source by
  `SOURCE_WEIGHTS`, speaks that source's next sentence (cycling when the pool is shorter), and draws a voice of its
  split by `VOICE_WEIGHTS` (a group's weight shared by its voices in the split), a rate (130–190 words per
  minute), a pitch (30–70 on espeak's 0–99 scale) and Piper's two noises. Half the training utterances are
  augmented: speed 0.9–1.1, white noise at 10–30 dB SNR, gain −12–0 dB, with a noise seed of their own.
Utterance i of a split is the same for any `num` (and any set of sources, so long as the sources are the same), so
a larger corpus extends a smaller one, and audio files
already present (named by a hash of everything that shapes the audio) are not spoken again: a killed run
resumes where it stopped.
"""

import hashlib
import os
import random
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from tqdm import tqdm

from blsp_kd.data.augment import GAIN_DB_RANGE, SNR_DB_RANGE, SPEED_RANGE, Augmentation, augment
from blsp_kd.data.engines import (
    ESPEAK_VOICES,
    FESTIVAL_VOICE,
    FLITE_VOICES,
    PIPER_VOICE,
    Prosody,
    TtsError,
    missing_engines,
    render,
)
from blsp_kd.data.manifest import ManifestRecord, Problem, write_manifest
from blsp_kd.data.texts import (
    FORTUNES_DIR,
    collect_sentences,
    number_sentences,
    read_lines,
    read_wordnet_examples,
)
from blsp_kd.layout.clips import SAMPLE_RATE

# The share of utterances by voice group: an espeak-ng group is an accent (its weight is shared by the accent's
# variants in the split). Whisper tiny.en's WER on each group is in docs/INTELLIGIBILITY.md (`blsp-kd prepare
# synth --report`): Piper and flite 1.5-6.4 %, Festival 10 %, espeak-ng 15-22 %; the three espeak-ng accents above
# 25 % are left out (weight 0).
VOICE_WEIGHTS = {
    f"piper/{PIPER_VOICE}": 0.20,
    "flite/rms": 0.18,
    "flite/slt": 0.18,
    "flite/awb": 0.08,
    "flite/kal16": 0.05,
    f"festival/{FESTIVAL_VOICE}": 0.05,
    "espeak-ng/en-us": 0.04,
    "espeak-ng/en": 0.03,
    "espeak-ng/en-gb-x-rp": 0.03,
    "espeak-ng/en-us-nyc": 0.03,
    "espeak-ng/en-gb-x-gbclan": 0.025,
    "espeak-ng/en-029": 0.0,  # WER 28 %
    "espeak-ng/en-gb-scotland": 0.0,  # WER 29 %
    "espeak-ng/en-gb-x-gbcwmd": 0.0,  # WER 41 %
}
HELD_OUT_VOICES = {"test": ("flite/kal16", f"festival/{FESTIVAL_VOICE}"), "valid": ("flite/awb",)}
HELD_OUT_ESPEAK_VOICES = {"test": 12, "valid": 8}
# Relative weights of the sources a corpus uses (questions and wordnet only when given): without WordNet the plan
# of every corpus built before it (corpus8k) is unchanged; with it, fortunes, questions and WordNet share 6/7.
SOURCE_WEIGHTS = {"fortunes": 0.4, "questions": 0.4, "numbers": 0.2, "wordnet": 0.4}
SPLIT_FRACTIONS = {"test": 0.1, "valid": 0.1}  # of sentences and of utterances; train gets the rest
SPLITS = ("train", "valid", "test")
RATE_RANGE = (130, 190)  # words per minute
PITCH_RANGE = (30, 70)  # espeak-ng pitch, 0-99, default 50
NOISE_SCALE_RANGE = (0.4, 0.9)  # Piper's generator noise; its default 0.667
NOISE_W_RANGE = (0.5, 1.0)  # Piper's duration noise; its default 0.8
AUGMENTED_SHARE = 0.5  # of the training utterances


@dataclass(frozen=True)
class Utterance:
    id: str
    split: str
    source: str
    text: str
    engine: str
    voice: str
    prosody: Prosody
    augmentation: Augmentation | None = None

    def audio_name(self) -> str:
        """File name with a hash of all that shapes the audio, so a resumed run never reuses stale audio."""
        key = f"{self.engine}|{self.voice}|{self.prosody}|{self.augmentation}|{self.text}"
        return f"{self.id}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.flac"

    def noise_seed(self) -> int:
        return int(hashlib.sha1(f"noise|{self.id}|{self.text}".encode()).hexdigest()[:8], 16)


def voice_group(engine: str, voice: str) -> str:
    """'espeak-ng/en-us' for espeak-ng's 'en-us+f3'; 'engine/voice' otherwise."""
    return f"{engine}/{voice.split('+')[0]}" if engine == "espeak-ng" else f"{engine}/{voice}"


def all_voices() -> list[str]:
    """Every voice as 'engine/name', in a fixed order."""
    return [f"piper/{PIPER_VOICE}", *(f"flite/{name}" for name in FLITE_VOICES), f"festival/{FESTIVAL_VOICE}",
            *(f"espeak-ng/{name}" for name in ESPEAK_VOICES)]


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


def voice_pools(seed: int) -> dict[str, list[str]]:
    """The voices ('engine/name') of each split: disjoint, see the module docstring."""
    espeak = [f"espeak-ng/{name}" for name in ESPEAK_VOICES]
    random.Random(seed).shuffle(espeak)
    pools = _cut(espeak, {**HELD_OUT_ESPEAK_VOICES, "train": len(espeak)})
    for voice in all_voices():
        if not voice.startswith("espeak-ng/"):
            pools[next((split for split, voices in HELD_OUT_VOICES.items() if voice in voices), "train")].append(voice)
    return pools


def _voice_choices(voices: list[str], weights: dict[str, float]) -> tuple[list[str], list[float]]:
    """The voices with a weight > 0 and their weights: a group's weight shared by its voices in the pool."""
    groups = [voice_group(*voice.split("/", 1)) for voice in voices]
    group_sizes = {group: groups.count(group) for group in groups}
    chosen = [(voice, weights.get(group, 0.0) / group_sizes[group]) for voice, group in zip(voices, groups, strict=True)]
    chosen = [(voice, weight) for voice, weight in chosen if weight > 0]
    return [voice for voice, _ in chosen], [weight for _, weight in chosen]


def plan_utterances(sources: dict[str, list[str]], num: int, seed: int,
                    voice_weights: dict[str, float] = VOICE_WEIGHTS,
                    source_weights: dict[str, float] = SOURCE_WEIGHTS) -> list[Utterance]:
    """Choose source, text, voice, prosody and augmentation for `num` utterances (see the module docstring).
    `sources` maps a source name to its sentences; a source missing there is not used."""
    sentence_pools = {}
    for name, sentences in sources.items():
        shuffled = list(sentences)
        random.Random(f"{seed}-{name}").shuffle(shuffled)
        sentence_pools[name] = _cut(shuffled, _split_counts(len(shuffled)))
    names = [name for name in sources if source_weights.get(name, 0) > 0]
    pools = voice_pools(seed)
    utterance_counts = _split_counts(num)
    plan = []
    for split in SPLITS:
        if not utterance_counts[split]:
            continue
        for name in names:
            if not sentence_pools[name][split]:
                raise ValueError(f"too few {name} sentences ({len(sources[name])}) to fill the {split} split")
        voices, weights = _voice_choices(pools[split], voice_weights)
        if not voices:
            raise ValueError(f"no voice with a weight > 0 in the {split} split")
        rng = random.Random(f"{seed}-{split}")
        taken = dict.fromkeys(names, 0)
        for index in range(utterance_counts[split]):
            source = rng.choices(names, [source_weights[name] for name in names])[0]
            pool = sentence_pools[source][split]
            text = pool[taken[source] % len(pool)]
            taken[source] += 1
            engine, voice = rng.choices(voices, weights)[0].split("/", 1)
            prosody = Prosody(rate=rng.randint(*RATE_RANGE), pitch=rng.randint(*PITCH_RANGE),
                              noise_scale=round(rng.uniform(*NOISE_SCALE_RANGE), 3),
                              noise_w=round(rng.uniform(*NOISE_W_RANGE), 3))
            augmentation = Augmentation(speed=round(rng.uniform(*SPEED_RANGE), 3),
                                        snr_db=round(rng.uniform(*SNR_DB_RANGE), 1),
                                        gain_db=round(rng.uniform(*GAIN_DB_RANGE), 1))
            if split != "train" or rng.random() >= AUGMENTED_SHARE:
                augmentation = None
            plan.append(Utterance(f"{split}-{index:06d}", split, source, text, engine, voice, prosody, augmentation))
    return plan


def speak(text: str, voice: str = "en-us", engine: str = "espeak-ng", rate: int = 160, pitch: int = 50) -> np.ndarray:
    """One sentence spoken by a TTS engine, as 16 kHz mono float32 samples (for smoke checks and tests)."""
    return render(engine, voice, text, Prosody(rate=rate, pitch=pitch))


def synthesize(utterance: Utterance, audio_dir: Path) -> tuple[Path, float]:
    """Speak one utterance into `audio_dir` as 16 kHz mono 16-bit FLAC (skipped if already there).
    Returns (path, seconds); raises TtsError with the reason when the engine fails or is silent."""
    path = audio_dir / utterance.audio_name()
    if path.exists():
        return path, soundfile.info(str(path)).duration
    samples = render(utterance.engine, utterance.voice, utterance.text, utterance.prosody)
    if utterance.augmentation is not None:
        samples = augment(samples, utterance.augmentation, utterance.noise_seed())
    # Written under a temporary name and renamed into place: a killed run never leaves a half-written file that a
    # resumed run would take as done.
    partial = audio_dir / f".{path.name}"
    soundfile.write(str(partial), samples, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    os.replace(partial, path)
    return path, len(samples) / SAMPLE_RATE


def manifest_record(utterance: Utterance, path: Path, seconds: float) -> ManifestRecord:
    """The manifest record of a spoken utterance: its transcript, audio and how it was made (in `extra`)."""
    extra = {"source": utterance.source, "engine": utterance.engine, "voice": utterance.voice,
             "rate": utterance.prosody.rate}
    if utterance.engine in ("espeak-ng", "festival"):
        extra["pitch"] = utterance.prosody.pitch
    if utterance.engine == "piper":
        extra |= {"noise_scale": utterance.prosody.noise_scale, "noise_w": utterance.prosody.noise_w}
    if utterance.augmentation is not None:
        extra |= {"speed": utterance.augmentation.speed, "snr_db": utterance.augmentation.snr_db,
                  "gain_db": utterance.augmentation.gain_db}
    extra["seconds"] = round(seconds, 3)
    return ManifestRecord(id=utterance.id, audio=str(path), text=utterance.text, extra=extra)


def speak_utterances(utterances: list[Utterance], audio_dir: str | Path, workers: int | None = None,
                     progress: bool = True, desc: str = "synth") -> tuple[list[ManifestRecord | None], list[Problem]]:
    """Speak each utterance into `audio_dir` (created; clips already there are kept, a killed run's half-written
    ones removed) with `workers` threads (default: one per core).
    Returns the manifest record of each utterance, in their order (None where the engine failed), and a Problem
    per failure, naming the utterance, its voice and the reason."""
    audio_dir = Path(audio_dir)
    audio_dir.mkdir(parents=True, exist_ok=True)
    for partial in audio_dir.glob(".*.flac"):  # left by a killed run
        partial.unlink()
    records, problems = [None] * len(utterances), []
    # Threads are enough: the work runs in TTS subprocesses, onnxruntime, soxr and libsndfile, which release the GIL.
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        futures = {pool.submit(synthesize, utterance, audio_dir): index for index, utterance in enumerate(utterances)}
        for future in tqdm(as_completed(futures), total=len(futures), desc=desc, disable=not progress):
            index = futures[future]
            utterance = utterances[index]
            try:
                records[index] = manifest_record(utterance, *future.result())
            except TtsError as error:
                reason = f"{utterance.engine} voice {utterance.voice} failed on {utterance.text!r}: {error}"
                problems.append(Problem(None, None, utterance.id, reason))
    problems.sort(key=lambda problem: problem.record_id)
    return records, problems


def load_sources(fortunes_dir: str | Path = FORTUNES_DIR, questions: str | Path | None = None,
                 seed: int = 0, wordnet_dir: str | Path | None = None) -> dict[str, list[str]]:
    """The sentences of each source; `questions` only when a questions file is given, `wordnet` only with its
    folder. (The order is the plan's: a source added later comes last, so older plans stay as they were.)"""
    sources = {"fortunes": collect_sentences(Path(fortunes_dir)), "numbers": number_sentences(seed=seed)}
    if questions is not None:
        sources["questions"] = read_lines(questions)
    if wordnet_dir is not None:
        sources["wordnet"] = read_wordnet_examples(wordnet_dir)
    return sources


def prepare_synth(
    out_dir: str | Path,
    num: int,
    seed: int = 0,
    workers: int | None = None,
    fortunes_dir: str | Path = FORTUNES_DIR,
    progress: bool = True,
    questions: str | Path | None = None,
    voice_weights: dict[str, float] = VOICE_WEIGHTS,
    wordnet_dir: str | Path | None = None,
) -> tuple[dict[str, list[ManifestRecord]], list[Problem]]:
    """Write OUT/audio/*.flac and OUT/{train,valid,test}.jsonl for `num` utterances.
    Returns the records per split and the problems (an utterance whose TTS failed is reported and skipped)."""
    plan = plan_utterances(load_sources(fortunes_dir, questions, seed, wordnet_dir), num, seed, voice_weights)
    missing = missing_engines(sorted({utterance.engine for utterance in plan}))
    if missing:
        raise FileNotFoundError("missing TTS engines: " + "; ".join(f"{engine} (install the {package})"
                                                                    for engine, package in missing.items()))
    out_dir = Path(out_dir)
    spoken, problems = speak_utterances(plan, out_dir / "audio", workers, progress)
    records = {split: [record for utterance, record in zip(plan, spoken, strict=True) if record is not None and
                       utterance.split == split] for split in SPLITS}
    for split in SPLITS:
        write_manifest(out_dir / f"{split}.jsonl", records[split])
    return records, problems
