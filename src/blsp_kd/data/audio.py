"""Audio loading: any soundfile-readable file → float32 mono samples at 16 kHz, or a clear error.

Outcomes of `load_audio`:
- rejected (raises `AudioError`): missing file, unreadable/non-audio bytes, truncated or corrupt data,
  zero-length audio, NaN/inf samples, a segment past the end of the file, longer than `max_seconds`, shorter than
  `min_samples` (the feature extractor's minimum, `blsp_kd.models.encoder.min_clip_samples`);
- transformed, with a note: another sample rate (resampled with soxr), several channels (averaged to mono);
- accepted with a warning: all-silence audio.
`load_record_audio` logs a record's notes (INFO, shown with `blsp-kd -v`) and warnings (WARNING), naming the record.

Long audio is rejected by a stated limit, not cut (`blsp_kd.layout.clips` says why).
"""

import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
import soxr

from blsp_kd.data.manifest import ManifestRecord, Problem, speech_rate_problem
from blsp_kd.layout.clips import SAMPLE_RATE

logger = logging.getLogger(__name__)

# Peak amplitude below which audio counts as silence: about -80 dBFS, a few 16-bit quantisation steps.
SILENCE_PEAK = 1e-4
# A segment may end this far past the end of the file (rounding of offset/duration); the rest is an error.
SEGMENT_END_TOLERANCE_SECONDS = 0.01
# Tools that write WAV to a pipe cannot know the size and put a huge placeholder there instead.
STREAMED_WAV_SIZE = 0x7FFF0000


@dataclass
class LoadedAudio:
    samples: np.ndarray  # (num_samples,) float32, mono, at sample_rate
    sample_rate: int
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


class AudioError(Exception):
    """Audio that cannot be used. `source` is a path or a record's location, `reason` what is wrong."""

    def __init__(self, source: str | os.PathLike, reason: str):
        super().__init__(f"{source}: {reason}")
        self.source = str(source)
        self.reason = reason


def _missing_wav_data_bytes(path: Path) -> int:
    """How many bytes the RIFF/WAVE 'data' chunk declares beyond the end of the file (0 if none or unknown).

    libsndfile silently shortens a truncated WAV to what is present, so truncation is detected here.
    Streamed WAVs (placeholder size 0 or >= 0x7FFF0000, e.g. `espeak-ng --stdout`) and non-RIFF files
    give 0."""
    file_size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return 0
        while True:
            chunk_header = f.read(8)
            if len(chunk_header) < 8:
                return 0
            chunk_id, chunk_size = chunk_header[:4], struct.unpack("<I", chunk_header[4:])[0]
            if chunk_id == b"data":
                if chunk_size == 0 or chunk_size >= STREAMED_WAV_SIZE:
                    return 0
                return max(0, chunk_size - (file_size - f.tell()))
            f.seek(chunk_size + (chunk_size & 1), os.SEEK_CUR)  # chunks are padded to an even size


def load_audio(
    path: str | os.PathLike,
    offset: float | None = None,
    duration: float | None = None,
    target_sr: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    min_samples: int | None = None,
) -> LoadedAudio:
    """Load `duration` seconds from `offset` (default: the whole file) as float32 mono at `target_sr`."""
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file not found")
    if not path.is_file():
        raise AudioError(path, "not a regular file")
    try:
        info = soundfile.info(str(path))
    except soundfile.LibsndfileError as error:
        raise AudioError(path, f"not decodable as audio ({error.error_string})") from error
    sample_rate = info.samplerate
    if info.frames == 0:
        raise AudioError(path, "zero-length audio (no samples)")
    missing_bytes = _missing_wav_data_bytes(path)
    if missing_bytes:
        raise AudioError(
            path, f"truncated WAV: the header declares {missing_bytes} more data bytes than the file has"
        )

    start = round((offset or 0.0) * sample_rate)
    if start >= info.frames:
        raise AudioError(
            path, f"offset {offset} s is at or past the end of the audio ({info.duration:.2f} s)"
        )
    stop = info.frames if duration is None else start + round(duration * sample_rate)
    if stop > info.frames + SEGMENT_END_TOLERANCE_SECONDS * sample_rate:
        raise AudioError(
            path,
            f"segment offset {offset or 0} s + duration {duration} s ends past the audio"
            f" ({info.duration:.2f} s)",
        )
    stop = min(stop, info.frames)
    seconds = (stop - start) / sample_rate
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(path, f"audio is {seconds:.2f} s, longer than the maximum {max_seconds} s")

    try:
        with soundfile.SoundFile(str(path)) as f:
            f.seek(start)
            samples = f.read(stop - start, dtype="float32", always_2d=True)  # (frames, channels)
    except soundfile.LibsndfileError as error:
        raise AudioError(path, f"corrupt or truncated audio ({error.error_string})") from error
    if len(samples) < stop - start:
        raise AudioError(path, f"truncated audio: expected {stop - start} samples, could read {len(samples)}")
    num_bad = int((~np.isfinite(samples)).sum())
    if num_bad:
        raise AudioError(path, f"{num_bad} NaN/inf samples")

    notes, warnings = [], []
    if samples.shape[1] > 1:
        notes.append(f"downmixed {samples.shape[1]} channels to mono")
    samples = samples.mean(axis=1)
    if sample_rate != target_sr:
        samples = soxr.resample(samples, sample_rate, target_sr)
        notes.append(f"resampled from {sample_rate} Hz to {target_sr} Hz")
    if min_samples is not None and len(samples) < min_samples:
        raise AudioError(path, f"audio too short: {len(samples)} samples ({len(samples) / target_sr * 1000:.1f} ms)"
                               f" at {target_sr} Hz, Whisper's features need at least {min_samples}")
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak < SILENCE_PEAK:
        warnings.append(f"all silence (peak amplitude {peak:.1e})")
    return LoadedAudio(np.ascontiguousarray(samples, dtype=np.float32), target_sr, notes, warnings)


def load_record_audio(
    record: ManifestRecord, max_seconds: float | None = None, target_sr: int = SAMPLE_RATE,
    min_samples: int | None = None, report: bool = True,
) -> LoadedAudio:
    """`load_audio` for a manifest record, also rejecting a transcript implausibly long for the clip
    (`speech_rate_problem`); errors name the record (manifest, line, id) and the audio path. With
    `report`, its notes and warnings are logged naming the record (off where a record is read again each epoch)."""
    try:
        loaded = load_audio(record.audio, record.offset, record.duration, target_sr, max_seconds, min_samples)
    except AudioError as error:
        raise AudioError(record.where(), f"audio {error.source}: {error.reason}") from error
    implausible = speech_rate_problem(record.text, loaded.seconds)
    if implausible:
        raise AudioError(record.where(), implausible)
    if report:
        for note in loaded.notes:
            logger.info("%s: %s", record.where(), note)
        for warning in loaded.warnings:
            logger.warning("%s: %s", record.where(), warning)
    return loaded


def header_seconds(record: ManifestRecord) -> float | None:
    """The clip's length from the audio file's header (its `duration`, or the file from `offset` on), without
    reading samples; None when the header cannot be read (the stages that load the audio report why)."""
    if record.duration is not None:
        return record.duration
    try:
        return soundfile.info(str(record.audio)).duration - (record.offset or 0.0)
    except (soundfile.LibsndfileError, OSError):
        return None


def check_records(
    records: list[ManifestRecord], max_seconds: float | None = None, min_samples: int | None = None
) -> tuple[list[ManifestRecord], list[Problem]]:
    """Read every record's audio once (reporting notes and warnings) and keep the usable records; the others become
    problems. For paths that read audio later, batch by batch (no feature cache), so a bad clip never stops them."""
    usable, problems = [], []
    for record in records:
        try:
            load_record_audio(record, max_seconds, min_samples=min_samples)
        except AudioError as error:
            problems.append(Problem(record.origin_file, record.origin_line, record.id, error.reason))
            continue
        usable.append(record)
    return usable, problems
