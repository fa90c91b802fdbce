"""Manifest builders for common corpus layouts. Each returns (records, problems) and writes the manifest.

Audio paths are written relative to the output manifest when the audio lies below its folder (see
`write_manifest`). Missing audio and empty transcripts are reported with file and line, and skipped.
"""

from pathlib import Path

from blsp_kd.data.manifest import ManifestRecord, Problem, write_manifest


class NotUtf8(ValueError):
    """A text input that is not UTF-8: the message names the file, `reason` is the message without it."""

    def __init__(self, path: Path, error: UnicodeDecodeError):
        self.reason = f"not UTF-8 (byte 0x{error.object[error.start]:02x} at offset {error.start})"
        super().__init__(f"{path}: {self.reason}")


def _read_utf8(path: Path) -> str:
    """The text of a transcript or TSV file; NotUtf8 (a ValueError naming the file) when it is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise NotUtf8(path, error) from error


def _records_with_audio(
    candidates: list[tuple[ManifestRecord, str, int]],
) -> tuple[list[ManifestRecord], list[Problem]]:
    """Keep candidates whose audio file exists. Each is (record, source file, line) for the messages."""
    records, problems = [], []
    for record, source, line in candidates:
        if Path(record.audio).is_file():
            records.append(record)
        else:
            problems.append(Problem(source, line, record.id, f"audio file not found: {record.audio}"))
    return records, problems


def _finish(
    out_manifest: str | Path, records: list[ManifestRecord], problems: list[Problem]
) -> tuple[list[ManifestRecord], list[Problem]]:
    """Write the manifest; problems in file and line order."""
    write_manifest(out_manifest, records)
    return records, sorted(problems, key=lambda problem: (problem.file or "", problem.line or 0))


def build_librispeech(
    root: str | Path, out_manifest: str | Path
) -> tuple[list[ManifestRecord], list[Problem]]:
    """LibriSpeech layout: ROOT/SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt with lines "ID WORDS...",
    and ROOT/SPEAKER/CHAPTER/ID.flac beside it. Transcripts are kept as written (upper case)."""
    root = Path(root).absolute()
    transcript_files = sorted(root.glob("*/*/*.trans.txt"))
    if not transcript_files:
        raise FileNotFoundError(f"no */*/*.trans.txt files under {root}: not a LibriSpeech split folder")
    candidates, problems = [], []
    for transcript_file in transcript_files:
        try:
            lines = _read_utf8(transcript_file).splitlines()
        except NotUtf8 as error:
            problems.append(Problem(str(transcript_file), None, None, f"{error.reason}; its utterances are skipped"))
            continue
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            utterance_id, _, words = line.strip().partition(" ")
            if not words.strip():
                problems.append(Problem(str(transcript_file), line_number, utterance_id, "empty transcript"))
                continue
            audio = transcript_file.parent / f"{utterance_id}.flac"
            record = ManifestRecord(id=utterance_id, audio=str(audio), text=" ".join(words.split()))
            candidates.append((record, str(transcript_file), line_number))
    records, missing = _records_with_audio(candidates)
    return _finish(out_manifest, records, problems + missing)


def _read_tsv(
    path: Path, required_columns: tuple[str, ...]
) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
    """Rows of a tab-separated file with a header line, as (line number, {column: value}); a row with the
    wrong number of fields is a problem. Common Voice / CoVoST TSVs are not quoted (sentences contain bare
    quotes), so no csv quoting rules apply."""
    lines = _read_utf8(path).splitlines()
    if not lines:
        raise ValueError(f"{path}: empty TSV file")
    header = lines[0].split("\t")
    missing_columns = [column for column in required_columns if column not in header]
    if missing_columns:
        raise ValueError(
            f"{path}: missing column(s) {', '.join(missing_columns)} (header: {', '.join(header)})"
        )
    rows, problems = [], []
    for line_number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        values = line.split("\t")
        if len(values) != len(header):
            reason = f"expected {len(header)} tab-separated fields, got {len(values)}"
            problems.append(Problem(str(path), line_number, None, reason))
            continue
        rows.append((line_number, dict(zip(header, values, strict=True))))
    return rows, problems


def _build_from_tsv(
    tsv: Path, clips_dir: Path, out_manifest: str | Path, target_lang: str | None
) -> tuple[list[ManifestRecord], list[Problem]]:
    """Common Voice (target_lang None: `path` + `sentence`) or CoVoST-2 (also `translation`) TSV."""
    required = ("path", "sentence") if target_lang is None else ("path", "sentence", "translation")
    rows, problems = _read_tsv(tsv, required)
    candidates = []
    for line_number, row in rows:
        clip = row["path"].strip()
        if not clip:
            problems.append(Problem(str(tsv), line_number, None, "empty 'path'"))
            continue
        utterance_id = Path(clip).stem
        sentence = " ".join(row["sentence"].split())
        if not sentence:
            problems.append(Problem(str(tsv), line_number, utterance_id, "empty transcript ('sentence')"))
            continue
        record = ManifestRecord(id=utterance_id, audio=str(clips_dir / clip), text=sentence)
        if target_lang is not None:
            translation = " ".join(row["translation"].split())
            if not translation:
                problems.append(Problem(str(tsv), line_number, utterance_id, "empty 'translation'"))
                continue
            record.task, record.translation, record.target_lang = "translation", translation, target_lang
        candidates.append((record, str(tsv), line_number))
    records, missing = _records_with_audio(candidates)
    return _finish(out_manifest, records, problems + missing)


def build_commonvoice(
    root: str | Path,
    out_manifest: str | Path,
    tsv: str = "validated.tsv",
    clips_dir: str | Path | None = None,
) -> tuple[list[ManifestRecord], list[Problem]]:
    """Common Voice layout: ROOT/<tsv> with `path` and `sentence` columns, audio in ROOT/clips/ (mp3 is fine:
    libsndfile >= 1.1 decodes it). The record id is the clip's file name without extension."""
    root = Path(root).absolute()
    clips = Path(clips_dir).absolute() if clips_dir is not None else root / "clips"
    return _build_from_tsv(root / tsv, clips, out_manifest, target_lang=None)


def build_covost(
    root: str | Path,
    out_manifest: str | Path,
    tsv: str,
    target_lang: str,
    clips_dir: str | Path | None = None,
) -> tuple[list[ManifestRecord], list[Problem]]:
    """CoVoST-2 layout: ROOT/<tsv> (e.g. covost_v2.en_de.test.tsv) with `path`, `sentence`, `translation`
    columns; audio is the Common Voice clips, by default in ROOT/clips/. Records get task "translation"."""
    root = Path(root).absolute()
    clips = Path(clips_dir).absolute() if clips_dir is not None else root / "clips"
    return _build_from_tsv(root / tsv, clips, out_manifest, target_lang=target_lang)


def build_folder(root: str | Path, out_manifest: str | Path) -> tuple[list[ManifestRecord], list[Problem]]:
    """Every ROOT/**/x.wav with a transcript ROOT/**/x.txt beside it (extensions in any case: x.WAV, x.Txt). The id
    is the path below ROOT without extension ("speaker1/x"). A wav without txt, a txt without wav, an empty txt or
    one that is not UTF-8 is a problem."""
    root = Path(root).absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory")
    files = sorted(path for path in root.rglob("*") if path.is_file())
    wavs = {path.with_suffix(""): path for path in files if path.suffix.lower() == ".wav"}
    transcripts = {path.with_suffix(""): path for path in files if path.suffix.lower() == ".txt"}
    records, problems = [], []
    for stem, wav in wavs.items():
        utterance_id = stem.relative_to(root).as_posix()
        transcript_file = transcripts.get(stem)
        if transcript_file is None:
            problems.append(Problem(str(wav), None, utterance_id, f"no transcript file {stem.name}.txt"))
            continue
        try:
            text = " ".join(_read_utf8(transcript_file).split())
        except NotUtf8 as error:
            problems.append(Problem(str(transcript_file), None, utterance_id, error.reason))
            continue
        if not text:
            problems.append(Problem(str(transcript_file), None, utterance_id, "empty transcript"))
            continue
        records.append(ManifestRecord(id=utterance_id, audio=str(wav), text=text))
    for stem, transcript_file in transcripts.items():
        if stem not in wavs:
            utterance_id = stem.relative_to(root).as_posix()
            reason = f"audio file not found: {stem}.wav"
            problems.append(Problem(str(transcript_file), None, utterance_id, reason))
    return _finish(out_manifest, records, problems)
