"""Speech manifests: JSONL files with one utterance record per line.

A line looks like
    {"id": "1089-134686-0000", "audio": "audio/1089-134686-0000.flac", "text": "he hoped there would be stew"}
Required: `id` (str), `audio` (path; a relative path is relative to the manifest's folder), `text`
(transcript with at least one word: `words`). Optional: `offset`, `duration` (seconds into the audio file), `instruction`,
`audio_instruction`, `response` (text), `response_ids` (list of int), `early_stop` (bool), `task`
("continuation", "repeat", "translation", ...), `translation` + `target_lang`. Any other field is kept as it
is in `ManifestRecord.extra`.

A manifest is UTF-8; a line that is not is reported (file:line) and skipped, the others are read. When the audio
is loaded, a transcript with more than MAX_WORDS_PER_SECOND words per second of audio is rejected: it belongs to
another (longer) clip, and its made-up response would drive the corpus metrics without a flag.

After `read_manifest`, `record.audio` is an absolute path; `write_manifest` writes it relative to the new
manifest's folder when the file lies below that folder, absolute otherwise.
"""

import json
import os
import random
import re
import tempfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from blsp_kd.store import as_if_created_plainly

REQUIRED_STRING_FIELDS = ("id", "audio", "text")
OPTIONAL_STRING_FIELDS = (
    "instruction",
    "audio_instruction",
    "response",
    "task",
    "translation",
    "target_lang",
)
OPTIONAL_SECONDS_FIELDS = ("offset", "duration")
# Fast read speech is ~5 words/s; clips under a second may hold up to this many words in all.
MAX_WORDS_PER_SECOND = 10


def words(text: str) -> list[str]:
    """Lowercase \\w+ runs: what counts as a word for every rule on transcripts and responses."""
    return re.findall(r"\w+", text.lower())


def speech_rate_problem(text: str, seconds: float) -> str | None:
    """Why `text` cannot be the transcript of `seconds` of audio (too many words per second), or None."""
    num_words = len(words(text))
    if num_words > MAX_WORDS_PER_SECOND * max(seconds, 1.0):
        return (f"transcript has {num_words} words for {seconds:.2f} s of audio (more than {MAX_WORDS_PER_SECOND} "
                "words per second): not this clip's transcript?")
    return None


def describe_location(file: str | None, line: int | None, record_id: str | None) -> str:
    """'train.jsonl, line 12, id 'abc'', leaving out the parts that are not known."""
    parts = [str(file)] if file is not None else []
    if line is not None:
        parts.append(f"line {line}")
    if record_id is not None:
        parts.append(f"id {record_id!r}")
    return ", ".join(parts) or "<unknown>"


@dataclass
class ManifestRecord:
    """One utterance. `origin_file`/`origin_line` say where it was read (for messages); never written."""

    id: str
    audio: str
    text: str
    offset: float | None = None
    duration: float | None = None
    instruction: str | None = None
    audio_instruction: str | None = None
    response: str | None = None
    response_ids: list[int] | None = None
    early_stop: bool | None = None
    task: str | None = None
    translation: str | None = None
    target_lang: str | None = None
    extra: dict = field(default_factory=dict)
    origin_file: str | None = field(default=None, compare=False, repr=False)
    origin_line: int | None = field(default=None, compare=False, repr=False)

    def where(self) -> str:
        """Where the record was read ('train.jsonl, line 12, id 'abc''), for messages."""
        return describe_location(self.origin_file, self.origin_line, self.id)

    def to_dict(self) -> dict:
        """The JSON object of this record: set fields only, extra fields at the top level."""
        record = {}
        for name in KNOWN_FIELDS:
            value = getattr(self, name)
            if value is not None:
                record[name] = value
        record.update(self.extra)
        return record


KNOWN_FIELDS = tuple(
    f.name for f in fields(ManifestRecord) if f.name not in ("extra", "origin_file", "origin_line")
)


@dataclass
class Problem:
    """Something wrong with one input item: where it is (file, line, record id) and what is wrong."""

    file: str | None
    line: int | None
    record_id: str | None
    reason: str

    def __str__(self) -> str:
        return f"{describe_location(self.file, self.line, self.record_id)}: {self.reason}"


def record_problem(record: ManifestRecord, reason: str) -> Problem:
    return Problem(record.origin_file, record.origin_line, record.id, reason)


def _type_error(name: str, value: object) -> str | None:
    """Why `value` is not valid for field `name`, or None when it is."""
    if name in REQUIRED_STRING_FIELDS or name in OPTIONAL_STRING_FIELDS:
        if not isinstance(value, str):
            return f"field {name!r} must be a string, got {type(value).__name__}"
    elif name in OPTIONAL_SECONDS_FIELDS:
        # bool is an int subclass; `true` as a duration is a mistake, not 1 second.
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"field {name!r} must be a number of seconds, got {type(value).__name__}"
        if value < 0 or (name == "duration" and value == 0):
            return f"field {name!r} must be {'> 0' if name == 'duration' else '>= 0'}, got {value}"
    elif name == "response_ids":
        if not isinstance(value, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in value):
            return "field 'response_ids' must be a list of integers"
    elif name == "early_stop":
        if not isinstance(value, bool):
            return f"field 'early_stop' must be true or false, got {type(value).__name__}"
    return None


def parse_record(data: object, manifest_dir: Path | None = None) -> tuple[ManifestRecord | None, str | None]:
    """Validate one decoded JSON value. Returns (record, None) or (None, reason)."""
    if not isinstance(data, dict):
        return None, f"expected a JSON object, got {type(data).__name__}"
    for name in REQUIRED_STRING_FIELDS:
        if name not in data or data[name] is None:
            return None, f"missing required field {name!r}"
    for name, value in data.items():
        if name in KNOWN_FIELDS and value is not None:
            error = _type_error(name, value)
            if error is not None:
                return None, error
    if not data["id"].strip():
        return None, "empty id"
    if not data["audio"].strip():
        return None, "empty audio path"
    if not data["text"].strip():
        return None, "empty transcript ('text')"
    if not words(data["text"]):
        return None, f"transcript has no words ('text' is {data['text']!r})"
    if data.get("task") == "translation" and not (data.get("translation") or "").strip():
        return None, "task 'translation' needs a non-empty 'translation'"
    known = {name: data[name] for name in KNOWN_FIELDS if name in data}
    extra = {name: value for name, value in data.items() if name not in KNOWN_FIELDS}
    record = ManifestRecord(**known, extra=extra)
    if manifest_dir is not None:
        record.audio = os.path.abspath(os.path.join(manifest_dir, record.audio))
    return record, None


class NoUsableRecords(ValueError):
    """A manifest (or a job's input) left no record to work on; the message lists the first problems."""

    def __init__(self, source: str | os.PathLike, problems: list[Problem]):
        if problems:
            shown = "; ".join(str(problem) for problem in problems[:3])
            reason = f"{len(problems)} record(s) skipped, the first: {shown}"
        else:
            reason = "it is empty"
        super().__init__(f"{source}: no usable records ({reason})")


def require_records(records: list, problems: list[Problem], source: str | os.PathLike) -> None:
    """Raise NoUsableRecords when `records` is empty."""
    if not records:
        raise NoUsableRecords(source, problems)


def read_manifest(path: str | Path) -> tuple[list[ManifestRecord], list[Problem]]:
    """Read a JSONL manifest. Bad lines (not UTF-8, invalid JSON, missing/wrongly typed field, transcript without
    words, duplicate id) are skipped and returned as problems; blank lines are ignored."""
    path = Path(path)
    manifest_dir = path.parent.absolute()
    records, problems, seen_ids = [], [], {}
    with open(path, "rb") as f:
        for line_number, raw_line in enumerate(f, start=1):
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as error:
                reason = f"not UTF-8 (byte 0x{raw_line[error.start]:02x} at column {error.start + 1})"
                problems.append(Problem(str(path), line_number, None, reason))
                continue
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(Problem(str(path), line_number, None, f"invalid JSON: {error.msg}"))
                continue
            record, reason = parse_record(data, manifest_dir)
            if record is None:
                record_id = (
                    data.get("id") if isinstance(data, dict) and isinstance(data.get("id"), str) else None
                )
                problems.append(Problem(str(path), line_number, record_id, reason))
                continue
            if record.id in seen_ids:
                reason = f"duplicate id (first on line {seen_ids[record.id]})"
                problems.append(Problem(str(path), line_number, record.id, reason))
                continue
            seen_ids[record.id] = line_number
            record.origin_file, record.origin_line = str(path), line_number
            records.append(record)
    return records, problems


def audio_path_for(record: ManifestRecord, manifest_dir: Path) -> str:
    audio = os.path.abspath(record.audio)
    relative = os.path.relpath(audio, manifest_dir)
    is_outside = relative == os.pardir or relative.startswith(os.pardir + os.sep)
    return audio if is_outside else relative


def write_manifest(path: str | Path, records: list[ManifestRecord]) -> None:
    """Write records as JSONL atomically (temporary file in the same folder, then rename).
    Audio paths are written relative to the manifest's folder when below it, absolute otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest_dir = path.parent.absolute()
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        as_if_created_plainly(temporary)
        with os.fdopen(descriptor, "w", encoding="utf-8") as f:
            for record in records:
                data = record.to_dict()
                data["audio"] = audio_path_for(record, manifest_dir)
                f.write(json.dumps(data, ensure_ascii=False) + "\n")
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def mix_manifests(
    sources: list[tuple[str | Path, float]], seed: int
) -> tuple[list[ManifestRecord], list[Problem]]:
    """Mix manifests with repetition weights, shuffled with `seed`.

    A source with N records and weight w contributes round(w · N) records: every record floor(w) times, plus
    a random subset (without replacement) of round(frac(w) · N) records once more. So w = 1 takes each record
    once, 0.5 a random half, 2.5 each record twice plus a random half. Repeated copies get the id "<id>@<k>"
    (k = 1, 2, ...) so the mix still has unique ids; an id found in two sources is a problem (second skipped).
    """
    rng = random.Random(seed)
    mixed, problems, source_of_id = [], [], {}
    for path, weight in sources:
        if weight < 0:
            raise ValueError(f"{path}: mixing weight must be >= 0, got {weight}")
        records, read_problems = read_manifest(path)
        problems.extend(read_problems)
        unique = []
        for record in records:
            if record.id in source_of_id:
                problems.append(
                    record_problem(record, f"id also in {source_of_id[record.id]}; skipped in mix")
                )
                continue
            source_of_id[record.id] = str(path)
            unique.append(record)
        whole_copies = int(weight)
        partial = rng.sample(unique, round((weight - whole_copies) * len(unique)))
        copies = [record for _ in range(whole_copies) for record in unique] + partial
        copy_count = {}
        for record in copies:
            k = copy_count.get(record.id, 0)
            copy_count[record.id] = k + 1
            mixed.append(
                record if k == 0 else replace(record, id=f"{record.id}@{k}", extra=dict(record.extra))
            )
    rng.shuffle(mixed)
    return mixed, problems


def filter_by_text_tokens(
    records: list[ManifestRecord], tokenizer, max_tokens: int
) -> tuple[list[ManifestRecord], list[Problem]]:
    """Keep records whose transcript has at most `max_tokens` tokens (`tokenizer.encode(text,
    add_special_tokens=False)`, i.e. the transcript segment alone); the others come back as problems."""
    kept, dropped = [], []
    for record in records:
        num_tokens = len(tokenizer.encode(record.text, add_special_tokens=False))
        if num_tokens > max_tokens:
            dropped.append(record_problem(record, f"transcript has {num_tokens} tokens > max {max_tokens}"))
        else:
            kept.append(record)
    return kept, dropped
