"""`blsp-kd prepare responses`: the LLM writes its own training targets (METHOD §5).

For every transcript the chat LLM is prompted with exactly the segment ids the training prompt uses,

    [prefix(instruction)][transcript ids][suffix]      (PromptBuilder + collate_text, left-padded)

and greedy-decodes up to `max_new_tokens`. Stored per record: `instruction`, `task`, `response` (text),
`response_ids` (WITHOUT the end-of-turn token: the collator appends it) and `early_stop` (true when cut at
`max_new_tokens`, i.e. no end-of-turn token was generated). Because the ids are the LLM's own greedy choices on
the training prompt, the LLM teacher-forced on them reproduces them as its argmax.

Each record gets one task (instruction), drawn deterministically from its id and a seed with the mix weights;
a record that already has an `instruction` keeps it (and its `task`, "custom" when it has none).
Refusals ("I'm sorry", "As an AI", ...) and degenerate responses (empty, or a repeated n-gram covering most of
it) are reported as problems and not written.

The output is append-only and resumable: records are appended batch by batch (flushed and synced), ids already
in the output are skipped on a re-run, and a torn last line (the process was killed mid-write) is truncated away
first. Filtered records are not in the output, so a re-run generates and reports them again. One process per
output file: shards (`--shard i/N`) write `OUT.shard-i-of-N.jsonl`; their ids are disjoint, so
`cat OUT.shard-*-of-N.jsonl > OUT.jsonl` gives the whole manifest.
"""

import hashlib
import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from blsp_kd.data.audio import header_seconds
from blsp_kd.data.manifest import (
    ManifestRecord,
    Problem,
    audio_path_for,
    read_manifest,
    record_problem,
    require_records,
    speech_rate_problem,
    words,
)
from blsp_kd.layout.batch import collate_text
from blsp_kd.layout.prompt import DEFAULT_USER_TEMPLATE, PromptBuilder, cut_at_end_of_turn
from blsp_kd.layout.tasks import INSTRUCTIONS
from blsp_kd.models.blsp_kd import greedy_generation_config
from blsp_kd.models.pretrained import EMBEDDED

DEFAULT_MIX = {"continuation": 0.5, "repeat": 0.5}
DEFAULT_INSTRUCTIONS = {task: INSTRUCTIONS[task] for task in DEFAULT_MIX}
CUSTOM_TASK = "custom"  # the task of a record that brought its own instruction

# Checked at the start of the response and of each of its sentences, case-insensitively.
REFUSAL_PHRASES = (
    "I'm sorry",
    "I am sorry",
    "I apologize",
    "I apologise",
    "As an AI",
    "As a language model",
    "I cannot",
    "I can't",
    "I can not",
    "I'm unable",
    "I am unable",
    "I'm not able",
    "I am not able",
)
REFUSAL_PATTERN = re.compile(
    r"(?:^|[.!?]\s+)(" + "|".join(re.escape(phrase) for phrase in REFUSAL_PHRASES) + r")", re.IGNORECASE
)
# A response is degenerate when one n-gram, repeated at least MIN_REPEATS times, covers at least this share of its
# words, and it occurs more often than in the transcript (so repeating "no, no, no" is not degenerate).
MAX_REPEATED_SHARE = 0.5
MIN_REPEATS = 3


# ----------------------------------------------------------------------------------------------- task mix


def load_instructions(path: str | Path) -> dict[str, str]:
    """A YAML mapping task name → instruction, e.g. `repeat: "Repeat what was said."`."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a non-empty YAML mapping of task name to instruction")
    for task, instruction in data.items():
        if not isinstance(task, str) or not isinstance(instruction, str) or not instruction.strip():
            raise ValueError(f"{path}: task {task!r} must map to a non-empty instruction string, got {instruction!r}")
    return data


def parse_mix(text: str) -> dict[str, float]:
    """'continuation=0.5,repeat=0.5' → {'continuation': 0.5, 'repeat': 0.5} (weights need not sum to 1)."""
    mix = {}
    for item in text.split(","):
        task, separator, weight = item.partition("=")
        task = task.strip()
        try:
            value = float(weight)
        except ValueError:
            value = None
        if not separator or not task or value is None or not (math.isfinite(value) and value >= 0):
            raise ValueError(f"--mix: expected TASK=WEIGHT with WEIGHT >= 0, got {item!r} in {text!r}")
        mix[task] = value
    if sum(mix.values()) <= 0:
        raise ValueError(f"--mix: the weights must not all be 0, got {text!r}")
    return mix


def choose_task(record_id: str, mix: dict[str, float], seed: int) -> str:
    """The task of a record: u = sha256(seed, id) as a number in [0, 1), placed on the cumulative weights of the
    tasks in name order. Deterministic, independent of the other records and of the order of `mix`."""
    digest = hashlib.sha256(f"{seed}\0{record_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    total = sum(mix.values())
    cumulative = 0.0
    tasks = [task for task in sorted(mix) if mix[task] > 0]
    for task in tasks:
        cumulative += mix[task] / total
        if u < cumulative:
            return task
    return tasks[-1]  # u just below 1 with rounding in the cumulative sum


def assign_instruction(
    record: ManifestRecord, instructions: dict[str, str], mix: dict[str, float], seed: int
) -> tuple[str, str]:
    """(task, instruction): the record's own instruction if it has one, else a task drawn from the mix."""
    if record.instruction is not None:
        return record.task or CUSTOM_TASK, record.instruction
    task = choose_task(record.id, mix, seed)
    return task, instructions[task]


# ---------------------------------------------------------------------------------------------- shards


def parse_shard(text: str) -> tuple[int, int]:
    """'i/N' → (i, N) with 0 <= i < N."""
    index, separator, count = text.partition("/")
    if not (separator and index.strip().isdigit() and count.strip().isdigit()):
        raise ValueError(f"--shard: expected i/N (e.g. 0/4), got {text!r}")
    index, count = int(index), int(count)
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard: need 0 <= i < N, got {text!r}")
    return index, count


def shard_records(records: list, index: int, count: int) -> list:
    """The records whose position in the manifest is index mod count."""
    return records[index::count]


def shard_path(out: str | Path, index: int, count: int) -> Path:
    """OUT.jsonl → OUT.shard-i-of-N.jsonl."""
    out = Path(out)
    return out.with_name(f"{out.stem}.shard-{index}-of-{count}{out.suffix}")


# --------------------------------------------------------------------------------------------- filters


def refusal_reason(response: str, transcript: str) -> str | None:
    """Why the response is a refusal, or None. A phrase the transcript itself contains does not count (repeating
    "I'm sorry I'm late" is not a refusal)."""
    normalised = response.replace("\u2019", "'").strip().lstrip("\"'")
    match = REFUSAL_PATTERN.search(normalised)
    if match is None or match.group(1).lower() in transcript.replace("\u2019", "'").lower():
        return None
    return f"refusal: {match.group(1)!r} in {response[:80]!r}"


def most_repeated_ngram(text: str) -> tuple[float, tuple[str, ...], int]:
    """(share of the words it covers, n-gram, occurrences) of the repeated n-gram covering the most words.

    Words are lowercase \\w+ runs. Only n-grams occurring at least MIN_REPEATS times count; their covered word
    positions are the union of their occurrences. (0.0, (), 0) when no n-gram repeats that often.
    """
    text_words = words(text)
    best = (0.0, (), 0)
    for n in range(1, len(text_words) // MIN_REPEATS + 1):
        starts_by_ngram: dict[tuple[str, ...], list[int]] = {}
        for start in range(len(text_words) - n + 1):
            starts_by_ngram.setdefault(tuple(text_words[start : start + n]), []).append(start)
        for ngram, starts in starts_by_ngram.items():
            if len(starts) < MIN_REPEATS:
                continue
            # words covered by the union of the occurrences [start, start + n); starts are increasing
            covered = n + sum(min(n, start - previous) for previous, start in pairwise(starts))
            if covered / len(text_words) > best[0]:
                best = (covered / len(text_words), ngram, len(starts))
    return best


def count_ngram(text: str, ngram: tuple[str, ...]) -> int:
    text_words = words(text)
    return sum(tuple(text_words[start : start + len(ngram)]) == ngram for start in range(len(text_words)))


def degenerate_reason(response: str, transcript: str) -> str | None:
    """Why the response is degenerate (empty, no words, or highly repetitive), or None."""
    if not response.strip():
        return "degenerate: empty response"
    if not words(response):
        return f"degenerate: no words in {response!r}"
    share, ngram, occurrences = most_repeated_ngram(response)
    if share >= MAX_REPEATED_SHARE and occurrences > count_ngram(transcript, ngram):
        return (f"degenerate: {' '.join(ngram)!r} repeated {occurrences} times over {share:.0%} of the response "
                f"{response[:80]!r}")
    return None


def response_problem(response: str, response_ids: list[int], transcript: str, special_ids: set[int]) -> str | None:
    """Why a generated response must not become a training target, or None."""
    special = sorted(set(response_ids) & special_ids)
    if special:
        return f"degenerate: contains special token ids {special}"
    return refusal_reason(response, transcript) or degenerate_reason(response, transcript)


# ------------------------------------------------------------------------------------------ generation


@dataclass
class GeneratedResponse:
    ids: list[int]  # without the end-of-turn token
    early_stop: bool  # cut at max_new_tokens: no end-of-turn token was generated


@torch.inference_mode()
def generate_responses(llm, prompts: PromptBuilder, examples: list[dict], max_new_tokens: int
                       ) -> list[GeneratedResponse]:
    """Greedy responses to a batch of examples ({"text", "instruction"}, optional "id").

    The prompt rows are collate_text's [pad…][prefix][transcript ids][suffix] with its attention mask and
    position ids (cumsum of the mask − 1), i.e. exactly the training prompt; decoding stops at the end-of-turn
    token.
    """
    batch = collate_text(examples, prompts).to(llm.device)
    config = greedy_generation_config(max_new_tokens, prompts.end_of_turn_id, prompts.pad_id)
    output_ids = llm.generate(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                              position_ids=batch.position_ids, generation_config=config)
    responses = []
    for row in output_ids[:, batch.input_ids.shape[1] :].tolist():
        response_ids, ended = cut_at_end_of_turn(row, prompts.end_of_turn_id)
        responses.append(GeneratedResponse(response_ids, early_stop=not ended))
    return responses


# ------------------------------------------------------------------------------------------ output file


def recover_output(path: str | Path) -> tuple[dict[str, str | None], bool]:
    """(id → transcript of each record already in the output, whether a torn last line was truncated away).

    Every record is written as one line ending in a newline, so a last line without one was cut by a kill
    mid-write: it is removed and that record is generated again. A complete line that is not a JSON record
    with an id is an error (the file is not an output of this command, or was edited).
    """
    path = Path(path)
    if not path.exists():
        return {}, False
    done, complete_bytes = {}, 0
    with open(path, "r+b") as f:
        for line_number, line in enumerate(f, start=1):
            if not line.endswith(b"\n"):
                break
            complete_bytes += len(line)
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                done[record["id"]] = record.get("text")
            except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(f"{path}, line {line_number}: not a JSON record with an id ({error}); "
                                 "cannot resume appending to it") from error
        torn = complete_bytes < f.seek(0, os.SEEK_END)
        if torn:
            f.truncate(complete_bytes)
    return done, torn


def record_line(record: ManifestRecord, manifest_dir: Path) -> str:
    """One JSONL line; the audio path relative to the manifest's folder when below it (as write_manifest)."""
    data = record.to_dict()
    data["audio"] = audio_path_for(record, manifest_dir)
    return json.dumps(data, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------- the job


@dataclass
class ResponsesSummary:
    out: Path
    already_done: int  # records skipped because their id was already in the output
    torn_line_truncated: bool
    written: list[ManifestRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary: counts, then every problem."""
        tasks = Counter(record.task for record in self.written)
        early_stops = sum(bool(record.early_stop) for record in self.written)
        kinds = Counter(problem.reason.split(":")[0] if problem.reason.startswith(("refusal:", "degenerate:"))
                        else "input" for problem in self.problems)
        lines = []
        if self.torn_line_truncated:
            lines.append(f"truncated a torn last line in {self.out} (a killed run); its record was generated again")
        lines.append(f"wrote {len(self.written)} records to {self.out} ({self.already_done} already there)")
        lines.append("  tasks: " + (", ".join(f"{task} {count}" for task, count in sorted(tasks.items())) or "-"))
        lines.append(f"  cut at max_new_tokens (early_stop): {early_stops}")
        lines.append(f"{len(self.problems)} problem(s)"
                     + (" (" + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())) + "):"
                        if self.problems else ""))
        lines.extend(f"  {problem}" for problem in self.problems)
        return lines


def prepare_responses(
    records: list[ManifestRecord],
    llm,
    tokenizer,
    out: str | Path,
    instructions: dict[str, str] = DEFAULT_INSTRUCTIONS,
    mix: dict[str, float] = DEFAULT_MIX,
    seed: int = 0,
    max_new_tokens: int = 48,
    batch_size: int = 16,
    user_template: str = DEFAULT_USER_TEMPLATE,
    system_prompt: str | None = None,
    progress: bool = True,
) -> ResponsesSummary:
    """Generate a response for every record not yet in `out` and append the accepted ones to it."""
    if max_new_tokens < 1 or batch_size < 1:
        raise ValueError(f"max_new_tokens and batch_size must be >= 1, got {max_new_tokens} and {batch_size}")
    unknown = sorted(set(mix) - set(instructions))
    if unknown:
        raise ValueError(f"--mix names tasks without an instruction: {unknown} (known: {sorted(instructions)})")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done, torn = recover_output(out)
    # Resuming goes by id: an id answered for another transcript means the manifest changed under the output
    # (e.g. a corpus planned again with other sources), and its old answer would be silently wrong.
    changed = [record for record in records if record.id in done and done[record.id] != record.text]
    if changed:
        raise ValueError(f"{out} answers {len(changed)} of these ids for another transcript, e.g. id "
                         f"{changed[0].id!r}: {done[changed[0].id]!r} there, {changed[0].text!r} in the manifest; "
                         "the manifest changed since: write the responses to a new file")
    pending = [record for record in records if record.id not in done]
    summary = ResponsesSummary(out, already_done=len(records) - len(pending), torn_line_truncated=torn)
    plausible = []  # a transcript far too long for its clip would get an answer to words nobody said
    for record in pending:
        seconds = header_seconds(record)
        implausible = speech_rate_problem(record.text, seconds) if seconds is not None else None
        if implausible:
            summary.problems.append(record_problem(record, implausible))
        else:
            plausible.append(record)
    pending = plausible
    prompts = PromptBuilder(tokenizer, user_template, system_prompt)
    special_ids = set(tokenizer.all_special_ids)
    manifest_dir = out.parent.absolute()
    bar = tqdm(total=len(pending), desc="responses", unit="record", disable=not progress)
    with open(out, "a", encoding="utf-8") as f:
        for start in range(0, len(pending), batch_size):
            batch_records = pending[start : start + batch_size]
            assigned = [assign_instruction(record, instructions, mix, seed) for record in batch_records]
            examples = [{"id": record.id, "text": record.text, "instruction": instruction}
                        for record, (_, instruction) in zip(batch_records, assigned, strict=True)]
            generated = generate_responses(llm, prompts, examples, max_new_tokens)
            for record, (task, instruction), response in zip(batch_records, assigned, generated, strict=True):
                text = tokenizer.decode(response.ids, skip_special_tokens=True)
                reason = response_problem(text, response.ids, record.text, special_ids)
                if reason is not None:
                    summary.problems.append(record_problem(record, reason))
                    continue
                result = replace(record, instruction=instruction, task=task, response=text,
                                 response_ids=response.ids, early_stop=response.early_stop, extra=dict(record.extra))
                f.write(record_line(result, manifest_dir))
                summary.written.append(result)
            f.flush()
            os.fsync(f.fileno())
            bar.update(len(batch_records))
    bar.close()
    return summary


def prepare_manifest_responses(manifest: str | Path, out: str | Path, llm: str = EMBEDDED,
                               instructions: dict[str, str] | None = None, mix: dict[str, float] | None = None,
                               seed: int = 0, max_new_tokens: int = 48, batch_size: int = 16,
                               user_template: str | None = None, system_prompt: str | None = None,
                               shard: tuple[int, int] | None = None, limit: int | None = None, device: str = "auto",
                               precision: str = "auto", progress: bool = True) -> ResponsesSummary:
    """`blsp-kd prepare responses` as a function: `prepare_responses` for the records of a manifest (shard i of N
    when given, then the first `limit`) with the LLM `llm` loaded at `precision` on `device` (auto: cuda when
    available). instructions: task → instruction (default DEFAULT_INSTRUCTIONS); mix: task → weight (default: the
    default mix, or every given task equally). The manifest's unreadable lines come first in the problems."""
    from blsp_kd.models.pretrained import load_llm, resolve_precision

    if mix is None:
        mix = DEFAULT_MIX if instructions is None else dict.fromkeys(instructions, 1.0)
    instructions = instructions or DEFAULT_INSTRUCTIONS
    records, problems = read_manifest(manifest)
    require_records(records, problems, manifest)
    if shard is not None:
        records, out = shard_records(records, *shard), shard_path(out, *shard)
    records = records[:limit]
    device = device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model, tokenizer = load_llm(llm, dtype=resolve_precision(precision, device))
    summary = prepare_responses(records, model.to(device), tokenizer, out, instructions, mix, seed, max_new_tokens,
                                batch_size, user_template or DEFAULT_USER_TEMPLATE, system_prompt, progress)
    summary.problems[:0] = problems  # unreadable manifest lines first
    return summary
