"""Evaluation against the cascade BLSP-KD replaces (METHOD §8): every system answers the same instruction
about the same clips, side by side, with the same prompt layout (`PromptBuilder` segments).

Systems:
    speech   a BLSP-KD model hearing the clip: free inference with the CIF's own n̂ speech vectors
    text     its base LLM reading the gold transcript where the speech goes: the upper bound
    cascade  stock Whisper ASR (its own greedy `generate`, long-form past 30 s) → the same base LLM reading the ASR
             transcript where the speech goes: it differs from `text` only in the transcript
    NAME     another BLSP-KD checkpoint (`--compare NAME=CKPT`), a speech system too

Tasks, each applied to every record it fits:
    repeat        "Repeat what was said." → WER (CER for languages without spaces) vs the transcript;
                  for the cascade also the WER of its ASR transcripts alone (task "asr"); beside the text
                  system, every other system's WER against the text system's answer (wer_vs_text: does the
                  speech get the answer the transcript gets, even where the LLM answers instead of repeating?),
                  and on the clips the text system repeats exactly, every other system's WER and share of exact
                  repeats (wer_where_text_repeats, exact_where_text_repeats: the words it carries, with no
                  rambling to hide them);
                  beside the cascade, every other system's WER minus the cascade's with its 95 % paired bootstrap
                  interval (wer_minus_cascade, _low, _high: is it told apart from the cascade at all?)
    continuation  "Continue the following text in a coherent style:" → BLEU / chrF vs the text system's
                  answer
    translation   records with a `translation`: "Translate the following English text into German:" → BLEU
    alignment     speech systems: held-out KL(text ‖ speech) at τ = 1 with the true n, CIF count error, token
                  accuracy (the vectors' nearest token embeddings), and the same KL with the audio shuffled
                  across clips (the no-information floor)
plus latency per system (one clip at a time) and plots. With `group_by` (a manifest field such as a corpus's
`source` or `engine`), every generation task is scored again per value of that field ("repeat (source=fortunes)").
Writes to OUT: results.json (system → task → metric), results.md (the table), utterances.jsonl, plots/*.png and
report.md linking them all.
"""

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers.generation.streamers import BaseStreamer

from blsp_kd.data.audio import AudioError, load_record_audio
from blsp_kd.data.manifest import ManifestRecord, Problem, read_manifest, record_problem, require_records
from blsp_kd.eval.alignment import TRAINING_COUNT_BANDS, held_out_alignment, training_token_counts
from blsp_kd.eval.cascade import transcribe
from blsp_kd.eval.metrics import (
    base_language,
    corpus_bleu,
    corpus_chrf,
    corpus_rate,
    error_rate,
    error_rate_difference,
    error_rate_name,
    normalize,
    utterance_errors,
)
from blsp_kd.eval.plots import cif_alignment, plot_cif_alignment, plot_training_curves, read_training_log
from blsp_kd.eval.report import ReportContext, render_report, results_tables
from blsp_kd.layout.clips import DEFAULT_MAX_SECONDS
from blsp_kd.layout.tasks import EVALUATION_SYSTEMS, EVALUATION_TASKS, INSTRUCTIONS
from blsp_kd.models.blsp_kd import OWN_READING, BlspKdModel, Reading
from blsp_kd.models.config import ArchitectureConfig, BlspKdConfig
from blsp_kd.models.encoder import min_clip_samples
from blsp_kd.models.pretrained import EMBEDDED, load_whisper

logger = logging.getLogger(__name__)

# Names for the instruction; CoVoST-2's languages and a few more. Other codes are used as they are written.
LANGUAGE_NAMES = {
    "ar": "Arabic", "ca": "Catalan", "cy": "Welsh", "de": "German", "en": "English", "es": "Spanish",
    "et": "Estonian", "fa": "Persian", "fr": "French", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "ko": "Korean", "lv": "Latvian", "mn": "Mongolian", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian",
    "sl": "Slovenian", "sv": "Swedish", "ta": "Tamil", "tr": "Turkish", "zh": "Chinese",
}
# Order of the task columns in results.json and the table: ASR first (it feeds the cascade), latency last.
RESULT_ORDER = ("asr", *EVALUATION_TASKS, "latency")
EXAMPLE_CLIPS_PER_TASK = 2


@dataclass
class Clip:
    record: ManifestRecord
    audio: np.ndarray  # float32 mono samples at 16 kHz


@dataclass
class EvaluationOptions:
    tasks: tuple[str, ...] = EVALUATION_TASKS
    language: str = "en"  # of the speech and its transcripts
    max_new_tokens: int = 64
    batch_size: int = 8
    latency_clips: int = 8  # clips timed one at a time, per system (0: no latency)
    plot_clips: int = 3  # clips whose CIF is drawn, per CFormer speech system
    max_audio_seconds: float | None = DEFAULT_MAX_SECONDS  # longer clips are skipped and reported (data/audio.py)
    log_dir: Path | None = None  # a training run folder whose log.jsonl is plotted
    group_by: str | None = None  # a manifest field: the generation tasks are also scored per value of it
    train_manifests: tuple[Path, ...] = ()  # the training data: alignment's token accuracy per training count
    progress: bool = True


# --------------------------------------------------------------------------------------------------- systems


class SpeechSystem:
    """A BLSP-KD model hearing the clip (free inference: the CIF's own n̂ = max(1, round(Σα)) vectors)."""

    def __init__(self, model: BlspKdModel):
        self.model = model

    def response_ids(self, clips: list[Clip], instructions: list[str], max_new_tokens: int,
                     streamer=None) -> list[list[int]]:
        # The clips were loaded under the evaluation's own length limit.
        return self.model.generate_ids([clip.audio for clip in clips], instructions, max_new_tokens, streamer,
                                       max_audio_seconds=None)


class TextSystem:
    """The base LLM of `model` reading the gold transcript where the speech would be (adapters off)."""

    def __init__(self, model: BlspKdModel):
        self.model = model

    def response_ids(self, clips: list[Clip], instructions: list[str], max_new_tokens: int,
                     streamer=None) -> list[list[int]]:
        return self.model.generate_ids_from_text([clip.record.text for clip in clips], instructions,
                                                 max_new_tokens, streamer)


class CascadeSystem:
    """Whisper's own ASR, then the base LLM of `model` reading the ASR transcript where the speech would
    be."""

    def __init__(self, model: BlspKdModel, whisper, processor):
        self.model, self.whisper, self.processor = model, whisper, processor

    def transcribe(self, clips: list[Clip], batch_size: int = 1, progress: bool = False) -> list[str]:
        return transcribe(self.whisper, self.processor, [clip.audio for clip in clips], batch_size,
                          progress=progress)

    def response_ids(self, clips: list[Clip], instructions: list[str], max_new_tokens: int, streamer=None,
                     transcripts: list[str] | None = None) -> list[list[int]]:
        """transcripts: these clips' ASR transcripts when already known; None runs Whisper now (as timed)."""
        transcripts = self.transcribe(clips) if transcripts is None else transcripts
        # Whisper may hear nothing; with no transcript there is no prompt to send, so the answer stays empty.
        heard = [index for index, transcript in enumerate(transcripts) if transcript.strip()]
        responses = [[] for _ in clips]
        if heard:
            answers = self.model.generate_ids_from_text([transcripts[index] for index in heard],
                                                        [instructions[index] for index in heard],
                                                        max_new_tokens, streamer)
            for index, answer in zip(heard, answers, strict=True):
                responses[index] = answer
        return responses


System = SpeechSystem | TextSystem | CascadeSystem


# --------------------------------------------------------------------------------------------- inputs, tasks


def load_clips(records: list[ManifestRecord], min_samples: int, max_seconds: float | None = None,
               progress: bool = True) -> tuple[list[Clip], list[Problem]]:
    """Every record's audio; a record whose audio cannot be used (unreadable, shorter than `min_samples`, longer
    than `max_seconds`) becomes a problem (logged), never a silent gap."""
    clips, problems = [], []
    for record in tqdm(records, desc="loading audio", disable=not progress):
        try:
            audio = load_record_audio(record, max_seconds, min_samples=min_samples).samples
        except AudioError as error:
            problems.append(record_problem(record, error.reason))
            continue
        clips.append(Clip(record, audio))
    for problem in problems:
        logger.warning("skipped %s", problem)
    return clips, problems


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(base_language(code), code)


def task_instruction(task: str, record: ManifestRecord, language: str) -> str | None:
    """The instruction of `task` for this record, or None when the task does not apply to it."""
    if task == "translation":
        if not record.translation or not record.target_lang:
            return None
        return INSTRUCTIONS[task].format(source=language_name(language),
                                         target=language_name(record.target_lang))
    return INSTRUCTIONS[task]


def task_inputs(task: str, clips: list[Clip], language: str) -> tuple[list[Clip], list[str]]:
    """The clips a task applies to and their instructions."""
    pairs = [(clip, task_instruction(task, clip.record, language)) for clip in clips]
    pairs = [(clip, instruction) for clip, instruction in pairs if instruction is not None]
    return [clip for clip, _ in pairs], [instruction for _, instruction in pairs]


def respond(system: System, clips: list[Clip], instructions: list[str], options: EvaluationOptions, desc: str,
            asr_transcripts: dict[str, str] | None = None) -> list[str]:
    """Decoded answers in batches; the cascade reuses its ASR transcripts (by record id) instead of
    rerunning Whisper."""
    answers = []
    for start in tqdm(range(0, len(clips), options.batch_size), desc=desc, disable=not options.progress):
        batch = clips[start : start + options.batch_size]
        batch_instructions = instructions[start : start + options.batch_size]
        known = {}
        if isinstance(system, CascadeSystem):
            known["transcripts"] = [asr_transcripts[clip.record.id] for clip in batch]
        ids = system.response_ids(batch, batch_instructions, options.max_new_tokens, **known)
        answers += [system.model.tokenizer.decode(row, skip_special_tokens=True).strip() for row in ids]
    return answers


# ---------------------------------------------------------------------------------------------------- latency


class FirstTokenClock(BaseStreamer):
    """A `transformers` streamer that notes when `generate` hands over its first new token. `generate` puts
    the prompt ids first, then every new token as soon as it is chosen (on the host: the device has caught
    up)."""

    def __init__(self):
        self.num_puts = 0
        self.first_token_at: float | None = None

    def put(self, value) -> None:
        self.num_puts += 1
        if self.num_puts == 2:
            self.first_token_at = time.perf_counter()

    def end(self) -> None:
        pass


def measure_latency(system: System, clips: list[Clip], instructions: list[str], max_new_tokens: int,
                    bar: tqdm) -> dict[str, float]:
    """Mean seconds from the clip in memory to the first response token and to the whole response, one clip
    at a time (batch size 1). One untimed run first, so one-off start-up costs are not counted."""
    system.response_ids(clips[:1], instructions[:1], max_new_tokens)
    first_token, total, tokens = [], [], []
    for clip, instruction in zip(clips, instructions, strict=True):
        clock = FirstTokenClock()
        start = time.perf_counter()
        response = system.response_ids([clip], [instruction], max_new_tokens, streamer=clock)[0]
        total.append(time.perf_counter() - start)
        if clock.first_token_at is not None:  # a cascade whose ASR heard nothing answers nothing
            first_token.append(clock.first_token_at - start)
        tokens.append(len(response))
        bar.update(1)
    latency = {"total_s": float(np.mean(total)), "response_tokens": float(np.mean(tokens)),
               "num_clips": len(clips)}
    if first_token:
        latency = {"first_token_s": float(np.mean(first_token)), **latency}
    return latency


# -------------------------------------------------------------------------------------------------- alignment


def read_training_records(paths: tuple[Path, ...]) -> tuple[list[ManifestRecord], list[Problem]]:
    """The records of the training manifests, for their transcripts' token counts, and the records the manifests
    reject: those are not counted, as training skips them, and the report says so."""
    records, rejected = [], []
    for path in paths:
        accepted, problems = read_manifest(path)
        records += accepted
        rejected += problems
    return records, rejected


def alignment_results(model: BlspKdModel, clips: list[Clip], options: EvaluationOptions,
                      training: list[ManifestRecord] = ()) -> dict[str, dict[str, float]]:
    """Result name → metrics: "alignment", `held_out_alignment` of the clips' records (their own instruction and
    stored response ids) with the shuffled-audio floor; given the training records, also "alignment (train
    count=BAND)": the token accuracy of the vectors whose token the training transcripts hold that often."""
    counts = training_token_counts(model, training) if training else None
    metrics = held_out_alignment(model, [clip.record for clip in clips], max(2, options.batch_size),
                                 with_shuffled=True, token_counts=counts, progress=options.progress)
    results = {"alignment": {name: value for name, value in metrics.items() if "_train_" not in name}}
    for band in TRAINING_COUNT_BANDS:  # present with training records and per-token speech vectors (CFormer)
        if f"num_vectors_train_{band}" in metrics:
            results[f"alignment (train count={band})"] = {
                name: metrics[f"{name}_train_{band}"] for name in ("token_accuracy", "num_vectors")}
    return results


# ---------------------------------------------------------------------------------------------------- scores


def score_task(task: str, clips: list[Clip], answers: dict[str, list[str]], systems: dict[str, System],
               language: str) -> dict[str, dict[str, float]]:
    """system → metrics of one generation task (text's continuation is the reference, so it gets none)."""
    scores = {}
    if task == "repeat":
        transcripts = [clip.record.text for clip in clips]
        for name in systems:
            scores[name] = error_rate(transcripts, answers[name], language)
        text_name = text_system(systems)
        if text_name is not None and any(normalize(answer, language) for answer in answers[text_name]):
            for name in systems:
                if name != text_name:
                    against_text = error_rate(answers[text_name], answers[name], language)
                    scores[name] |= {f"{metric}_vs_text": value for metric, value in against_text.items()}
            for name, carried in words_where_text_repeats(transcripts, answers, text_name, language).items():
                scores[name] |= carried
        cascade_name = cascade_system(systems)
        if cascade_name is not None:  # how sure "better or worse than the cascade" is: paired bootstrap, 95 %
            metric = error_rate_name(language)
            for name in systems:
                if name != cascade_name:
                    difference = error_rate_difference(transcripts, answers[name], answers[cascade_name], language)
                    scores[name] |= {f"{metric}_minus_cascade": difference["difference"],
                                     f"{metric}_minus_cascade_low": difference["low"],
                                     f"{metric}_minus_cascade_high": difference["high"]}
    elif task == "continuation":
        text_name = reference_system(systems)
        for name in systems:
            if name != text_name:
                scores[name] = {"bleu": corpus_bleu(answers[name], answers[text_name]),
                                "chrf": corpus_chrf(answers[name], answers[text_name])}
    elif task == "translation":
        by_language = {}
        for index, clip in enumerate(clips):
            by_language.setdefault(clip.record.target_lang, []).append(index)
        for name in systems:
            scores[name] = {}
            for target, indices in by_language.items():
                metric = "bleu" if len(by_language) == 1 else f"bleu_{target}"
                hypotheses = [answers[name][index] for index in indices]
                references = [clips[index].record.translation for index in indices]
                scores[name][metric] = corpus_bleu(hypotheses, references, target)
    for metrics in scores.values():
        metrics["num_utterances"] = len(clips)
    return scores


def words_where_text_repeats(transcripts: list[str], answers: dict[str, list[str]], text_name: str,
                             language: str) -> dict[str, dict[str, float]]:
    """The repeat scores on the clips whose transcript the text system repeats exactly (after normalisation):
    there the LLM neither answers nor rambles, so what is left is the words each system carries. Per system but
    the text one: its error rate on those clips (wer_where_text_repeats), the share of them it repeats exactly too
    (exact_where_text_repeats) and their number (num_text_repeats); nothing where the text system repeats none."""
    repeated = [index for index, (transcript, answer) in enumerate(zip(transcripts, answers[text_name], strict=True))
                if normalize(transcript, language) and normalize(answer, language) == normalize(transcript, language)]
    if not repeated:
        return {}
    metric = error_rate_name(language)
    carried = {}
    for name, outputs in answers.items():
        if name != text_name:
            counts = utterance_errors([transcripts[index] for index in repeated],
                                      [outputs[index] for index in repeated], language)
            carried[name] = {f"{metric}_where_text_repeats": corpus_rate(counts),
                             "exact_where_text_repeats": float((counts[:, 0] == 0).mean()),
                             "num_text_repeats": len(repeated)}
    return carried


def record_field(record: ManifestRecord, name: str) -> str:
    """A record's value of a manifest field (a known one or an extra one) as text; "none" where it has none."""
    value = getattr(record, name) if name in ManifestRecord.__dataclass_fields__ else record.extra.get(name)
    return "none" if value is None else str(value)


def grouped_scores(task: str, clips: list[Clip], answers: dict[str, list[str]], systems: dict[str, System],
                   options: EvaluationOptions) -> dict[str, dict[str, dict[str, float]]]:
    """"TASK (FIELD=VALUE)" → `score_task` on the clips whose record has that value of options.group_by."""
    groups = {}
    for index, clip in enumerate(clips):
        groups.setdefault(record_field(clip.record, options.group_by), []).append(index)
    return {f"{task} ({options.group_by}={value})":
            score_task(task, [clips[index] for index in indices],
                       {name: [answers[name][index] for index in indices] for name in systems}, systems,
                       options.language)
            for value, indices in sorted(groups.items())}


def text_system(systems: dict[str, System]) -> str | None:
    """The name of the text system, or None when there is none."""
    return next((name for name, system in systems.items() if isinstance(system, TextSystem)), None)


def cascade_system(systems: dict[str, System]) -> str | None:
    """The name of the cascade system, or None when there is none."""
    return next((name for name, system in systems.items() if isinstance(system, CascadeSystem)), None)


def reference_system(systems: dict[str, System]) -> str:
    """The name of the text system: the continuation task is scored against its answers."""
    name = text_system(systems)
    if name is None:
        raise ValueError("the continuation task is scored against the text system's answers: "
                         "include a text system")
    return name


def task_references(task: str, clips: list[Clip], answers: dict[str, list[str]],
                    systems: dict[str, System]) -> list[str]:
    """What each answer is compared with, for utterances.jsonl."""
    if task == "continuation":
        return answers[reference_system(systems)]
    if task == "translation":
        return [clip.record.translation for clip in clips]
    return [clip.record.text for clip in clips]


# -------------------------------------------------------------------------------------------------------- run


def utterance_row(clip: Clip, task: str, system: str, output: str, reference: str, **extra) -> dict:
    return {"id": clip.record.id, "task": task, "system": system, "output": output, "reference": reference,
            **extra}


def run_latency(systems: dict[str, System], clips: list[Clip], task: str,
                options: EvaluationOptions) -> dict[str, dict]:
    """system → latency on the first `options.latency_clips` clips that `task` applies to."""
    clips, instructions = task_inputs(task, clips, options.language)
    clips, instructions = clips[: options.latency_clips], instructions[: options.latency_clips]
    with tqdm(total=len(systems) * len(clips), desc="latency (batch size 1)",
              disable=not options.progress) as bar:
        return {name: measure_latency(system, clips, instructions, options.max_new_tokens, bar)
                for name, system in systems.items()}


def run_asr(name: str, cascade: CascadeSystem, clips: list[Clip],
            options: EvaluationOptions) -> tuple[dict[str, str], dict, list[dict]]:
    """The cascade's Whisper transcripts (by record id), their error rate and their utterance rows."""
    transcripts = cascade.transcribe(clips, options.batch_size, options.progress)
    references = [clip.record.text for clip in clips]
    metrics = {**error_rate(references, transcripts, options.language), "num_utterances": len(clips),
               "num_empty": sum(not transcript.strip() for transcript in transcripts)}
    rows = [utterance_row(clip, "asr", name, transcript, clip.record.text)
            for clip, transcript in zip(clips, transcripts, strict=True)]
    return {clip.record.id: text for clip, text in zip(clips, transcripts, strict=True)}, metrics, rows


def run_task(task: str, systems: dict[str, System], clips: list[Clip], asr_transcripts: dict[str, dict],
             options: EvaluationOptions) -> tuple[dict[str, dict[str, dict]], list[dict]]:
    """Every system's answers to one generation task on the clips it applies to: (result name → system →
    metrics, rows). The result names are the task and, with options.group_by, "TASK (FIELD=VALUE)"."""
    clips, instructions = task_inputs(task, clips, options.language)
    if not clips:
        return {}, []
    answers = {name: respond(system, clips, instructions, options, f"{name} {task}",
                             asr_transcripts.get(name))
               for name, system in systems.items()}
    references = task_references(task, clips, answers, systems)
    rows = []
    for name in systems:
        for clip, answer, reference in zip(clips, answers[name], references, strict=True):
            heard = {"asr": asr_transcripts[name][clip.record.id]} if name in asr_transcripts else {}
            rows.append(utterance_row(clip, task, name, answer, reference, **heard))
    scores = {task: score_task(task, clips, answers, systems, options.language)}
    if options.group_by is not None:
        scores |= grouped_scores(task, clips, answers, systems, options)
    return scores, rows


def draw_plots(speech_systems: dict[str, SpeechSystem], clips: list[Clip], out_dir: Path,
               options: EvaluationOptions) -> tuple[list[tuple[str, str]], list[str]]:
    """CIF figures of the first clips for every CFormer speech system, and the training curves when a run is
    given. Returns (caption, path relative to out_dir) pairs and notes."""
    plots, notes = [], []
    for name, system in speech_systems.items():
        if not system.model.adapter.aligned_to_tokens:
            notes.append(f"{name}: the {system.model.config.architecture.adapter!r} adapter has no CIF to plot")
            continue
        for index, clip in enumerate(clips[: options.plot_clips]):
            path = Path("plots") / f"cif_{name}_{index}.png"
            alignment = cif_alignment(system.model, clip.audio, clip.record.id, clip.record.text)
            plot_cif_alignment(alignment, out_dir / path)
            plots.append((f"{name}: CIF weights and firing points, {clip.record.id}", path.as_posix()))
    if options.log_dir is not None:
        log_file = Path(options.log_dir) / "log.jsonl"
        entries, problems = read_training_log(log_file)
        notes += [f"training log: {problem} (line skipped)" for problem in problems]
        path = Path("plots") / "training_curves.png"
        curves = plot_training_curves(entries, out_dir / path)
        plots.append((f"training curves ({log_file}): {', '.join(curves)}", path.as_posix()))
    return plots, notes


def evaluate(records: list[ManifestRecord], systems: dict[str, System], out_dir: str | Path,
             options: EvaluationOptions, skipped: list[Problem] = (), notes: list[str] = (),
             settings: dict[str, str] | None = None) -> dict[str, dict[str, dict]]:
    """Evaluate `systems` (name → system) on `records`; write results.json, results.md, utterances.jsonl,
    plots/ and report.md into out_dir. skipped: records already rejected (e.g. by `read_manifest`), reported
    with those whose audio fails here. Returns the results: system → task → metric → value."""
    out_dir = Path(out_dir)
    unknown = set(options.tasks) - set(EVALUATION_TASKS)
    if unknown:
        raise ValueError(f"unknown tasks {sorted(unknown)}; choose from {list(EVALUATION_TASKS)}")
    if "continuation" in options.tasks:
        reference_system(systems)
    if options.log_dir is not None and not (Path(options.log_dir) / "log.jsonl").is_file():
        raise FileNotFoundError(f"log dir {options.log_dir}: no log.jsonl there")
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    for system in systems.values():
        system.model.eval()  # no dropout in the adapter
    min_samples = max(min_clip_samples(system.model.feature_extractor) for system in systems.values())
    clips, audio_problems = load_clips(records, min_samples, options.max_audio_seconds, options.progress)
    skipped, notes = [*skipped, *audio_problems], list(notes)
    require_records(clips, skipped, ", ".join(sorted({str(record.origin_file) for record in records})) or "records")

    results, rows = {name: {} for name in systems}, []
    generation_tasks = [task for task in options.tasks if task in INSTRUCTIONS]
    if generation_tasks and options.latency_clips > 0:
        for name, latency in run_latency(systems, clips, generation_tasks[0], options).items():
            results[name]["latency"] = latency
        notes.append(f"latency: clips one at a time with the {generation_tasks[0]} instruction, up to "
                     f"{options.max_new_tokens} new tokens, after one untimed run")
    asr_transcripts = {}
    for name, system in systems.items():
        if isinstance(system, CascadeSystem) and generation_tasks:
            asr_transcripts[name], results[name]["asr"], asr_rows = run_asr(name, system, clips, options)
            rows += asr_rows
    for task in generation_tasks:
        scores, task_rows = run_task(task, systems, clips, asr_transcripts, options)
        if not scores:
            notes.append(f"{task}: no record applies (translation needs 'translation' and 'target_lang')")
        for result_name, by_system in scores.items():
            for name, metrics in by_system.items():
                results[name][result_name] = metrics
        rows += task_rows
    speech_systems = {name: system for name, system in systems.items() if isinstance(system, SpeechSystem)}
    if "alignment" in options.tasks:
        if not speech_systems:
            notes.append("alignment: no speech system to measure")
        training, rejected = read_training_records(options.train_manifests)
        if rejected:
            notes.append(f"alignment by training count: {len(rejected)} record(s) of the training manifests "
                         f"rejected and not counted, as training skips them (first: {rejected[0]})")
        for name, system in speech_systems.items():
            results[name] |= alignment_results(system.model, clips, options, training)
    plots, plot_notes = draw_plots(speech_systems, clips, out_dir, options)

    results = {name: tasks for name, tasks in results.items() if tasks}
    settings = {**(settings or {}), "systems": ", ".join(systems), "tasks": ", ".join(options.tasks),
                "language": options.language, "max new tokens": str(options.max_new_tokens)}
    context = ReportContext(settings, num_clips=len(clips), skipped=[str(problem) for problem in skipped],
                            notes=notes + plot_notes, plots=plots, examples=example_rows(rows))
    write_outputs(out_dir, results, rows, context)
    return results


def evaluate_manifest(manifest: str | Path, out_dir: str | Path, model: str | Path | None = None,
                      systems: tuple[str, ...] = EVALUATION_SYSTEMS, compare: dict[str, str] | None = None,
                      options: EvaluationOptions | None = None, limit: int | None = None,
                      whisper: str | None = None, llm: str | None = None, device: str | None = None,
                      precision: str | None = None, reading: Reading = OWN_READING) -> dict[str, dict[str, dict]]:
    """`blsp-kd evaluate` as a function: the manifest's records (the first `limit`) through `evaluate`, with the
    systems `build_systems` makes. model: a checkpoint folder or a shipped model's name; None evaluates the base
    models (`whisper`, `llm`; default the embedded ones) without a speech system. compare: name → checkpoint,
    more speech systems. device: cuda, cpu, ... (default: cuda when available). precision: the base models'
    precision (default: each checkpoint's own; fp32 for the base models alone). reading: how every checkpoint
    reads its speech vectors where that should differ from its own config (`Reading`)."""
    options = options or EvaluationOptions()
    manifest, out_dir = Path(manifest), Path(out_dir)
    if not manifest.is_file():
        raise FileNotFoundError(f"manifest {manifest} not found")
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"out {out_dir} is a file; give a folder to write the results into")
    if options.log_dir is not None and not (Path(options.log_dir) / "log.jsonl").is_file():
        raise FileNotFoundError(f"log dir {options.log_dir}: no log.jsonl there")
    for path in options.train_manifests:
        if not Path(path).is_file():
            raise FileNotFoundError(f"training manifest {path} not found")
    records, skipped = read_manifest(manifest)
    require_records(records, skipped, manifest)
    records = records[:limit]
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    built, notes = build_systems(model, systems, compare or {}, options.tasks, whisper, llm, device, precision,
                                 reading)
    base = next(system.model for system in built.values())
    settings = {"manifest": str(manifest), "model": str(model or "none (base models only)"),
                "base models": f"Whisper {base.config.architecture.whisper}, LLM {base.config.architecture.llm}",
                "device": str(device)}
    for label, symbol, value in (("vocabulary readout", "T", reading.readout),
                                 ("decoder readout", "λ", reading.decoder_readout),
                                 ("readout prior", "γ", reading.readout_prior)):
        if value is not None:
            settings[label] = f"{symbol} = {value:g} for every checkpoint" if value else "none (overridden)"
    if reading.readout_rounds is not None:
        settings["readout rounds"] = f"{reading.readout_rounds} for every checkpoint"
    settings |= {f"compare {name}": checkpoint for name, checkpoint in (compare or {}).items()}
    return evaluate(records, built, out_dir, options, skipped=skipped, notes=notes, settings=settings)


def build_systems(model: str | Path | None, names: tuple[str, ...], compare: dict[str, str], tasks: tuple[str, ...],
                  whisper: str | None = None, llm: str | None = None, device: torch.device | None = None,
                  precision: str | None = None, reading: Reading = OWN_READING) -> tuple[dict[str, System], list[str]]:
    """The systems `names` (from EVALUATION_SYSTEMS) and `compare` (name → checkpoint) on `device` in `precision`
    (None: each checkpoint's own), each checkpoint read as `reading` says (`Reading`), and notes on the systems left
    out (speech without a model) or added (text, when the continuation task needs its answers)."""
    if model is not None and (whisper or llm):
        raise ValueError("whisper/llm name the base models only without a model (a checkpoint names its own)")
    names, notes = list(names), []
    if model is not None:
        base = BlspKdModel.from_pretrained(model, precision, **asdict(reading))
    else:
        base = BlspKdModel.from_config(BlspKdConfig(ArchitectureConfig(whisper=whisper or EMBEDDED,
                                                                       llm=llm or EMBEDDED),
                                                    precision=precision or BlspKdConfig.precision))
        if "speech" in names:
            names.remove("speech")
            notes.append("speech: skipped, no model given (text and cascade use the base models)")
    if "continuation" in tasks and "text" not in names:
        names.append("text")
        notes.append("text: added, the continuation task is scored against its answers")
    base.to(device)
    systems = {}
    if "speech" in names:
        systems["speech"] = SpeechSystem(base)
    for name, checkpoint in compare.items():
        other = BlspKdModel.from_pretrained(checkpoint, precision, **asdict(reading))
        problem = tokenizer_mismatch(other.tokenizer, base.tokenizer)
        if problem:
            raise ValueError(f"compare {name}={checkpoint}: its LLM's tokenizer differs from the base model's "
                             f"({problem}); the manifest's response_ids would be misread. Evaluate it in a run of "
                             "its own (as the model).")
        systems[name] = SpeechSystem(other.to(device))
    if "text" in names:
        systems["text"] = TextSystem(base)
    if "cascade" in names:
        whisper_model, processor = load_whisper(base.config.architecture.whisper, dtype=base.dtype)
        systems["cascade"] = CascadeSystem(base, whisper_model.to(device), processor)
    if not systems:
        raise ValueError("nothing to evaluate (the speech system needs a model)")
    return systems, notes


def tokenizer_mismatch(tokenizer, reference) -> str | None:
    """Why `tokenizer` would read token ids differently from `reference` (vocabulary or chat template), or None."""
    if tokenizer.get_vocab() != reference.get_vocab():
        return f"vocabularies of {len(tokenizer.get_vocab())} and {len(reference.get_vocab())} tokens differ"
    if tokenizer.chat_template != reference.chat_template:
        return "chat templates differ"
    return None


def example_rows(rows: list[dict]) -> list[dict]:
    """Every system's answer for the first few clips of each task, for the report."""
    shown = {}
    for row in rows:
        shown.setdefault(row["task"], [])
        if row["id"] not in shown[row["task"]] and len(shown[row["task"]]) < EXAMPLE_CLIPS_PER_TASK:
            shown[row["task"]].append(row["id"])
    return [row for row in rows if row["id"] in shown[row["task"]]]


def write_outputs(out_dir: Path, results: dict, rows: list[dict], context: ReportContext) -> None:
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out_dir / "results.md").write_text(results_tables(results, RESULT_ORDER), encoding="utf-8")
    with open(out_dir / "utterances.jsonl", "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out_dir / "report.md").write_text(render_report(results, context, RESULT_ORDER), encoding="utf-8")
