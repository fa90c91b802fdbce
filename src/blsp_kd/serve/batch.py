"""`blsp-kd generate`: answers for every record of a manifest, in length-bucketed batches, into a JSONL file.

Resumable: ids already in the output are skipped. Each record's line is appended with one `write` of the whole
line on an O_APPEND descriptor, so a killed run leaves complete lines plus at most one partial line at the end
(a write larger than a page can be cut by SIGKILL); the next run drops that partial line before appending. Every
id is then written exactly once.
"""

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import soundfile
from tqdm import tqdm

from blsp_kd.data.audio import AudioError, load_record_audio
from blsp_kd.data.manifest import ManifestRecord, Problem, read_manifest, record_problem
from blsp_kd.layout.clips import DEFAULT_MAX_SECONDS
from blsp_kd.models.encoder import min_clip_samples


@dataclass
class GenerateSummary:
    generated: int
    skipped_done: int
    bad: int
    seconds: float

    def line(self) -> str:
        rate = self.generated / self.seconds if self.seconds > 0 else 0.0
        return (f"generated {self.generated} answers in {self.seconds:.1f} s ({rate:.2f} utterances/s); "
                f"{self.skipped_done} already in the output, {self.bad} bad records skipped")


def done_ids(out: Path) -> set[str]:
    """Ids already answered in `out`; a partial last line (a killed write) is cut off first."""
    if not out.exists():
        return set()
    data = out.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with open(out, "r+b") as f:
            f.truncate(len(complete))
    ids = set()
    for number, line in enumerate(complete.decode("utf-8").splitlines(), start=1):
        try:
            ids.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{out}, line {number}: not an output line of blsp-kd generate ({error!r}); "
                             "give another --out") from error
    return ids


def audio_seconds(record: ManifestRecord) -> float:
    """The clip's length for bucketing (0 when unreadable: loading it reports the problem)."""
    if record.duration is not None:
        return record.duration
    try:
        return soundfile.info(record.audio).duration
    except (soundfile.LibsndfileError, OSError, RuntimeError):
        return 0.0


def report(problem: Problem) -> None:
    tqdm.write(f"skipped: {problem}", file=sys.stderr)  # on its own line, also while the progress bar shows


def generate_manifest(model, manifest: str | Path, out: str | Path, instruction: str | None = None,
                      batch_size: int = 8, max_new_tokens: int = 128,
                      max_audio_seconds: float | None = DEFAULT_MAX_SECONDS, progress: bool = True) -> GenerateSummary:
    """Answer every record not yet in `out` (greedy). The instruction is `instruction` if given, else the record's.
    A record whose clip cannot be used (`load_record_audio`: unreadable, too short or long, …) is reported and
    skipped."""
    out = Path(out)
    records, problems = read_manifest(manifest)
    done = done_ids(out)
    todo, already_done = [], 0
    for record in records:
        if record.id in done:
            already_done += 1
            continue
        if instruction is None and not record.instruction:
            problems.append(record_problem(record, "no instruction (give --instruction or an 'instruction' field)"))
            continue
        todo.append(record)
    for problem in problems:
        report(problem)
    bad = len(problems)
    todo.sort(key=audio_seconds)  # similar lengths share a batch: less padding
    started, generated, min_samples = time.perf_counter(), 0, min_clip_samples(model.feature_extractor)
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with tqdm(total=len(todo), desc="generate", unit="utt", disable=not progress, file=sys.stderr) as bar:
            for start in range(0, len(todo), batch_size):
                batch = todo[start : start + batch_size]
                loaded = []
                for record in batch:
                    try:
                        loaded.append((record, load_record_audio(record, max_audio_seconds, min_samples=min_samples)))
                    except AudioError as error:
                        report(record_problem(record, error.reason))
                        bad += 1
                if loaded:
                    instructions = [instruction or record.instruction for record, _ in loaded]
                    answers = model.generate([audio.samples for _, audio in loaded], instructions, max_new_tokens,
                                             max_audio_seconds=max_audio_seconds)
                    for (record, _), record_instruction, answer in zip(loaded, instructions, answers, strict=True):
                        line = json.dumps({"id": record.id, "instruction": record_instruction, "response": answer},
                                          ensure_ascii=False) + "\n"
                        os.write(descriptor, line.encode("utf-8"))
                    generated += len(loaded)
                bar.update(len(batch))
    finally:
        os.close(descriptor)
    return GenerateSummary(generated, already_done, bad, time.perf_counter() - started)
