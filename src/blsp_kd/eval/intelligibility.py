"""Which synthetic voices the encoder can hear: Whisper's own WER on every voice group of the corpus.

Each group of `VOICE_WEIGHTS` speaks the same `REPORT_SENTENCES` at neutral prosody (an espeak-ng accent cycles
through its variants), Whisper transcribes them with its own decoder (the cascade's ASR, eval/cascade.py), and
the WER is scored after Whisper's normaliser (eval/metrics.py). The audio is scored three ways: as rendered
(float), after a 16-bit FLAC round trip (lossless, so it shows the quantisation only) and after an Opus round
trip (libsndfile's default bitrate), to show what compressing the corpus would cost.
"""

import io
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import soundfile
from tqdm import tqdm

from blsp_kd.data.engines import ESPEAK_VARIANTS, Prosody, render
from blsp_kd.data.synth import VOICE_WEIGHTS, voice_group, voice_pools
from blsp_kd.layout.clips import SAMPLE_RATE

REPORT_SENTENCES = (
    "Could you turn off the lights in the kitchen?",
    "I would like a cup of coffee with milk.",
    "The bus was late again this morning.",
    "What time does the library open tomorrow?",
    "Please remind me to water the plants.",
    "My sister is moving to a new apartment next week.",
    "How far is it from here to the train station?",
    "We had pasta and salad for dinner last night.",
    "Can you tell me a joke about cats?",
    "The children are playing football in the park.",
    "It looks like it is going to rain this afternoon.",
    "I forgot my umbrella at the office.",
    "Where can I buy fresh bread around here?",
    "She reads a book every evening before bed.",
    "Send a message to my brother saying I am on my way.",
    "The meeting has been moved to Thursday afternoon.",
    "How do I make a simple tomato soup?",
    "Our neighbours have a very friendly old dog.",
    "Please play some quiet music while I work.",
    "He left his keys on the kitchen table.",
    "Which is the best way to learn a new language?",
    "The shop on the corner sells fruit and flowers.",
    "I need to call the doctor about my appointment.",
    "Tell me something interesting about the moon.",
)
FORMATS = ("wav", "flac", "opus")


def round_trip(samples: np.ndarray, audio_format: str) -> tuple[np.ndarray, int]:
    """(samples after writing and reading back in `audio_format`, bytes written). 'wav' = float samples as they are."""
    if audio_format == "wav":
        return samples, 4 * len(samples)
    buffer = io.BytesIO()
    if audio_format == "flac":
        soundfile.write(buffer, samples, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    else:
        soundfile.write(buffer, samples, SAMPLE_RATE, format="OGG", subtype="OPUS")
    size = len(buffer.getvalue())  # not tell(): libsndfile seeks back to finish the header
    buffer.seek(0)
    decoded, _ = soundfile.read(buffer, dtype="float32")
    return decoded, size


def group_voices(group: str) -> list[tuple[str, str]]:
    """(engine, voice) per report sentence: an espeak-ng accent cycles through its variants."""
    engine, name = group.split("/", 1)
    if engine == "espeak-ng":
        return [(engine, f"{name}+{ESPEAK_VARIANTS[index % len(ESPEAK_VARIANTS)]}")
                for index in range(len(REPORT_SENTENCES))]
    return [(engine, name)] * len(REPORT_SENTENCES)


def group_splits(seed: int = 0) -> dict[str, list[str]]:
    """{voice group: the splits that have one of its voices}."""
    splits = {}
    for split, voices in voice_pools(seed).items():
        for voice in voices:
            splits.setdefault(voice_group(*voice.split("/", 1)), []).append(split)
    return {group: sorted(set(names), key=("train", "valid", "test").index) for group, names in splits.items()}


def measure(whisper, processor, groups=tuple(VOICE_WEIGHTS), progress: bool = True) -> list[dict]:
    """Per voice group: {"voice", "seconds_per_utterance", "wer_wav", "wer_flac", "wer_opus", "opus_kbps"}."""
    from blsp_kd.eval.cascade import transcribe
    from blsp_kd.eval.metrics import error_rate

    rows = []
    for group in tqdm(groups, desc="intelligibility", disable=not progress):
        started = time.perf_counter()
        clips = [render(engine, voice, text, Prosody())
                 for (engine, voice), text in zip(group_voices(group), REPORT_SENTENCES, strict=True)]
        row = {"voice": group, "seconds_per_utterance": (time.perf_counter() - started) / len(clips)}
        for audio_format in FORMATS:
            decoded = [round_trip(clip, audio_format) for clip in clips]
            hypotheses = transcribe(whisper, processor, [samples for samples, _ in decoded])
            row[f"wer_{audio_format}"] = error_rate(list(REPORT_SENTENCES), hypotheses)["wer"]
            if audio_format == "opus":
                seconds = sum(len(clip) for clip in clips) / SAMPLE_RATE
                row["opus_kbps"] = 8 * sum(size for _, size in decoded) / seconds / 1000
        rows.append(row)
    return rows


def report_markdown(rows: list[dict], seed: int = 0) -> str:
    splits = group_splits(seed)
    lines = [
        "# Which voices Whisper tiny.en hears",
        "",
        f"Written by `blsp-kd prepare synth --report` on {datetime.now(timezone.utc):%Y-%m-%d} "
        f"({platform.machine()}, {platform.system()}). Each voice speaks the same {len(REPORT_SENTENCES)} everyday "
        "sentences at neutral prosody (an espeak-ng accent cycles through its 12 variants); Whisper tiny.en's own "
        "decoder transcribes them (greedy); WER after Whisper's English normaliser. FLAC is the corpus' format "
        "(16-bit, lossless); Opus is libsndfile's default setting. *Weight*: the share in `VOICE_WEIGHTS` "
        "(data/synth.py; 0 = left out). *Splits*: where the corpus uses the voice (seed 0). *s/utt*: synthesis "
        "time per sentence on one thread, measured while other jobs shared the CPU: a rough guide only.",
        "",
        "| voice | weight | splits | WER wav | WER FLAC | WER Opus | Opus kb/s | s/utt |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        weight = VOICE_WEIGHTS.get(row["voice"], 0.0)
        used = ", ".join(splits.get(row["voice"], [])) if weight > 0 else "left out"
        lines.append(
            f"| {row['voice']} | {weight:.3g} | {used} | {100 * row['wer_wav']:.1f} % | {100 * row['wer_flac']:.1f} % "
            f"| {100 * row['wer_opus']:.1f} % | {row['opus_kbps']:.0f} | {row['seconds_per_utterance']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def write_report(out: str | Path, whisper_name: str = "embedded", progress: bool = True) -> list[dict]:
    from blsp_kd.models.pretrained import load_whisper

    whisper, processor = load_whisper(whisper_name)
    rows = measure(whisper, processor, progress=progress)
    Path(out).write_text(report_markdown(rows))
    return rows
