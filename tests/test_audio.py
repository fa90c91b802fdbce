import json

import numpy as np
import pytest
import soundfile

from blsp_kd.data.audio import AudioError, check_records, load_audio, load_record_audio
from blsp_kd.data.manifest import read_manifest
from blsp_kd.layout.clips import as_clip


def sine(frequency, seconds, sample_rate, amplitude=0.5):
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def peak_frequency(samples, sample_rate):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.fft.rfftfreq(len(samples), 1 / sample_rate)[np.argmax(spectrum)]


def make_truncated_wav(path):
    soundfile.write(path, sine(440, 1.0, 16000), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def make_zero_length_wav(path):
    soundfile.write(path, np.zeros(0, np.float32), 16000)


def make_nan_wav(path):
    samples = sine(440, 0.5, 16000)
    samples[100] = np.nan
    soundfile.write(path, samples, 16000, subtype="FLOAT")


def make_non_audio(path):
    path.write_text("this is a text file that happens to be called .wav\n" * 20)


def make_long_wav(path):
    soundfile.write(path, sine(440, 3.0, 16000), 16000)


def make_ten_ms_wav(path):
    soundfile.write(path, sine(440, 0.01, 16000), 16000)


def make_nothing(path):
    pass


BAD_AUDIO = {
    "missing file": (make_nothing, "file not found"),
    "truncated wav": (make_truncated_wav, "truncated WAV"),
    "zero-length": (make_zero_length_wav, "zero-length audio"),
    "nan samples": (make_nan_wav, "1 NaN/inf samples"),
    "non-audio bytes": (make_non_audio, "not decodable as audio"),
    "too long": (make_long_wav, "audio is 3.00 s, longer than the maximum 2.0 s"),
    "too short": (make_ten_ms_wav, "audio too short: 160 samples (10.0 ms) at 16000 Hz, Whisper's features need "
                                   "at least 201"),
}


@pytest.mark.parametrize("case", list(BAD_AUDIO))
def test_bad_audio_names_the_record_and_batch_goes_on(tmp_path, case):
    make_bad, reason = BAD_AUDIO[case]
    soundfile.write(tmp_path / "good.wav", sine(440, 1.0, 16000), 16000)
    make_bad(tmp_path / "bad.wav")
    lines = [
        {"id": "good1", "audio": "good.wav", "text": "fine"},
        {"id": "bad7", "audio": "bad.wav", "text": "broken"},
        {"id": "good2", "audio": "good.wav", "text": "fine too"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    records, read_problems = read_manifest(manifest)
    assert read_problems == []

    with pytest.raises(AudioError) as raised:
        load_record_audio(records[1], max_seconds=2.0, min_samples=201)
    message = str(raised.value)
    assert message.startswith(f"{manifest}, line 2, id 'bad7': audio {tmp_path / 'bad.wav'}: ")
    assert reason in message

    usable, problems = check_records(records, max_seconds=2.0, min_samples=201)
    assert [record.id for record in usable] == ["good1", "good2"]
    [problem] = problems
    assert (problem.file, problem.line, problem.record_id) == (str(manifest), 2, "bad7")
    assert reason in str(problem)


def test_truncated_flac_is_rejected(tmp_path):
    soundfile.write(tmp_path / "a.flac", sine(440, 3.0, 16000), 16000)
    data = (tmp_path / "a.flac").read_bytes()
    (tmp_path / "a.flac").write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="truncated"):
        load_audio(tmp_path / "a.flac")


@pytest.mark.parametrize("sample_rate", [8000, 44100])
def test_other_sample_rates_are_resampled_with_a_note(tmp_path, sample_rate):
    soundfile.write(tmp_path / "a.wav", sine(440, 1.0, sample_rate), sample_rate)

    audio = load_audio(tmp_path / "a.wav")

    assert audio.notes == [f"resampled from {sample_rate} Hz to 16000 Hz"]
    assert audio.sample_rate == 16000 and audio.samples.dtype == np.float32
    assert abs(len(audio.samples) - 16000) <= 1
    assert peak_frequency(audio.samples, 16000) == pytest.approx(440, abs=2)
    assert np.abs(audio.samples).max() == pytest.approx(0.5, abs=0.02)


def test_stereo_is_downmixed_with_a_note(tmp_path):
    left, right = sine(440, 1.0, 16000), sine(1000, 1.0, 16000, amplitude=0.2)
    soundfile.write(tmp_path / "a.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")

    audio = load_audio(tmp_path / "a.wav")

    assert audio.notes == ["downmixed 2 channels to mono"]
    assert audio.samples.shape == (16000,)
    np.testing.assert_allclose(audio.samples, (left + right) / 2, atol=1e-6)


def test_all_silence_is_accepted_with_a_warning(tmp_path):
    soundfile.write(tmp_path / "a.wav", np.zeros(8000, np.float32), 16000)
    audio = load_audio(tmp_path / "a.wav")
    assert audio.samples.shape == (8000,) and audio.notes == []
    assert len(audio.warnings) == 1 and audio.warnings[0].startswith("all silence")


def write_one_record_manifest(tmp_path, audio_name: str):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"id": "rec1", "audio": audio_name, "text": "hello"}) + "\n")
    return read_manifest(manifest)[0][0]


def test_a_silent_record_is_loaded_with_a_logged_warning_naming_it(tmp_path, caplog):
    soundfile.write(tmp_path / "quiet.wav", np.zeros(8000, np.float32), 16000)
    record = write_one_record_manifest(tmp_path, "quiet.wav")
    with caplog.at_level("INFO", logger="blsp_kd.data.audio"):
        load_record_audio(record)
    [entry] = caplog.records
    assert entry.levelname == "WARNING"
    assert entry.getMessage().startswith(f"{tmp_path / 'm.jsonl'}, line 1, id 'rec1': all silence")


def test_resampling_and_downmixing_are_logged_naming_the_record(tmp_path, caplog):
    stereo = np.stack([sine(440, 1.0, 44100)] * 2, axis=1)
    soundfile.write(tmp_path / "cd.wav", stereo, 44100)
    record = write_one_record_manifest(tmp_path, "cd.wav")
    with caplog.at_level("INFO", logger="blsp_kd.data.audio"):
        load_record_audio(record)
    where = f"{tmp_path / 'm.jsonl'}, line 1, id 'rec1'"
    assert [(entry.levelname, entry.getMessage()) for entry in caplog.records] == [
        ("INFO", f"{where}: downmixed 2 channels to mono"), ("INFO", f"{where}: resampled from 44100 Hz to 16000 Hz")]
    caplog.clear()
    with caplog.at_level("INFO", logger="blsp_kd.data.audio"):
        load_record_audio(record, report=False)  # re-read every epoch: reported once, where the records are checked
    assert caplog.records == []


def test_clean_audio_has_no_notes_or_warnings(tmp_path):
    soundfile.write(tmp_path / "a.wav", sine(440, 1.0, 16000), 16000)
    audio = load_audio(tmp_path / "a.wav")
    assert audio.notes == [] and audio.warnings == [] and audio.seconds == 1.0


def test_offset_and_duration_select_a_segment(tmp_path):
    samples = np.arange(16000, dtype=np.float32) / 16000
    soundfile.write(tmp_path / "a.wav", samples, 16000, subtype="FLOAT")

    audio = load_audio(tmp_path / "a.wav", offset=0.25, duration=0.5)
    np.testing.assert_array_equal(audio.samples, samples[4000:12000])

    with pytest.raises(AudioError, match="ends past the audio"):
        load_audio(tmp_path / "a.wav", offset=0.75, duration=0.5)
    with pytest.raises(AudioError, match="past the end"):
        load_audio(tmp_path / "a.wav", offset=1.0)
    # max_seconds applies to the segment, not the file.
    assert len(load_audio(tmp_path / "a.wav", offset=0.5, max_seconds=0.5).samples) == 8000


def test_mp3_is_decoded(tmp_path):
    soundfile.write(tmp_path / "a.mp3", sine(440, 1.0, 48000), 48000, format="MP3")
    audio = load_audio(tmp_path / "a.mp3")
    assert peak_frequency(audio.samples, 16000) == pytest.approx(440, abs=2)


def test_api_inputs_become_float32_clips():
    wave = sine(440, 0.5, 16000)
    pcm16 = np.round(wave * 32767).astype(np.int16)
    np.testing.assert_allclose(as_clip(pcm16, 0, 201), wave, atol=1 / 32767)
    pcm32 = (wave.astype(np.float64) * 2**31).clip(-(2**31), 2**31 - 1).astype(np.int32)
    np.testing.assert_allclose(as_clip(pcm32, 0, 201), wave, atol=1e-6)
    assert as_clip(wave.tolist(), 0, 201).dtype == np.float32
    np.testing.assert_array_equal(as_clip(wave.tolist(), 0, 201), wave)
    assert as_clip(wave.astype(np.float64), 0, 201).dtype == np.float32


@pytest.mark.parametrize("audio, message", [
    (np.array([0.1] * 500 + [np.nan]), "audio 3: 1 NaN/inf samples"),
    (np.zeros((8000, 2), np.float32), r"audio 3: expected a 1-D mono clip at 16 kHz, got shape \(8000, 2\) \(several "
                                      r"channels\? pass one, or their mean: audio.mean\(axis=1\)\)"),
    ([], "audio 3: 0 samples, too short"),
    (np.zeros(200, np.float32), r"audio 3: 200 samples, too short \(Whisper's features need at least 201\)"),
    (np.zeros(16000 * 3, np.float32), r"audio 3: 3.00 s, longer than the maximum 2.0 s"),
    (np.ones(500, np.int64), "audio 3: expected float or int16/int32 samples, got dtype int64"),
    ("hello", "audio 3: expected float or int16/int32 samples, got dtype <U5"),
])
def test_bad_api_inputs_are_value_errors_naming_the_input(audio, message):
    with pytest.raises(ValueError, match=message):
        as_clip(audio, 3, 201, max_seconds=2.0)
