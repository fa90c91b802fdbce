import json
import os
import stat
from collections import Counter

import numpy as np
import pytest
import soundfile

from blsp_kd.data import responses
from blsp_kd.data.audio import check_records
from blsp_kd.data.manifest import (
    ManifestRecord,
    NoUsableRecords,
    filter_by_text_tokens,
    mix_manifests,
    read_manifest,
    require_records,
    words,
    write_manifest,
)


def write_wav(path, seconds=0.5, sample_rate=16000):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), sample_rate)


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def good_line(record_id, audio="a.wav", text="hello world"):
    return json.dumps({"id": record_id, "audio": audio, "text": text})


def read_and_load(manifest):
    """A batch run: read the manifest, load every record's audio; all problems come back at the end."""
    records, problems = read_manifest(manifest)
    usable, audio_problems = check_records(records)
    return [record.id for record in usable], problems + audio_problems


def test_roundtrip_keeps_fields_and_relative_paths(tmp_path):
    (tmp_path / "wavs").mkdir()
    write_wav(tmp_path / "wavs" / "a.wav")
    line = {
        "id": "utt1",
        "audio": "wavs/a.wav",
        "text": "hello world",
        "offset": 0.1,
        "duration": 0.2,
        "response": "Hi!",
        "response_ids": [5, 6, 7],
        "early_stop": False,
        "task": "continuation",
        "speaker": "spk9",
        "scores": {"snr": 30},
    }
    write_lines(tmp_path / "in.jsonl", [json.dumps(line)])

    records, problems = read_manifest(tmp_path / "in.jsonl")

    assert problems == []
    [record] = records
    assert record.audio == str(tmp_path / "wavs" / "a.wav")  # resolved against the manifest's folder
    assert record.response_ids == [5, 6, 7] and record.early_stop is False and record.duration == 0.2
    assert record.extra == {"speaker": "spk9", "scores": {"snr": 30}}
    assert (record.origin_file, record.origin_line) == (str(tmp_path / "in.jsonl"), 1)

    write_manifest(tmp_path / "out.jsonl", records)
    assert json.loads((tmp_path / "out.jsonl").read_text()) == line
    # A manifest elsewhere: relative to its own folder when below it, else absolute.
    write_manifest(tmp_path / "wavs" / "out.jsonl", records)
    assert json.loads((tmp_path / "wavs" / "out.jsonl").read_text())["audio"] == "a.wav"
    write_manifest(tmp_path / "other" / "out.jsonl", records)
    assert json.loads((tmp_path / "other" / "out.jsonl").read_text())["audio"] == str(
        tmp_path / "wavs" / "a.wav"
    )


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "m.jsonl"
    write_manifest(path, [ManifestRecord(id="a", audio=str(tmp_path / "a.wav"), text="one")])
    before = path.read_text()
    unserialisable = ManifestRecord(
        id="b", audio=str(tmp_path / "b.wav"), text="two", extra={"bad": object()}
    )
    with pytest.raises(TypeError):
        write_manifest(
            path, [ManifestRecord(id="c", audio=str(tmp_path / "c.wav"), text="x"), unserialisable]
        )
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.jsonl"]


def test_invalid_json_line_is_reported_and_good_lines_still_load(tmp_path):
    write_wav(tmp_path / "a.wav")
    write_lines(
        tmp_path / "m.jsonl", [good_line("u1"), '{"id": "u2", "audio": "a.wav", "text": ', good_line("u3")]
    )

    loaded_ids, problems = read_and_load(tmp_path / "m.jsonl")

    assert loaded_ids == ["u1", "u3"]
    [problem] = problems
    assert problem.line == 2 and problem.file == str(tmp_path / "m.jsonl")
    assert str(problem).startswith(f"{tmp_path / 'm.jsonl'}, line 2: invalid JSON")


def test_missing_required_field_is_reported_with_id_and_line(tmp_path):
    write_wav(tmp_path / "a.wav")
    write_lines(
        tmp_path / "m.jsonl", [good_line("u1"), json.dumps({"id": "u2", "audio": "a.wav"}), good_line("u3")]
    )

    loaded_ids, problems = read_and_load(tmp_path / "m.jsonl")

    assert loaded_ids == ["u1", "u3"]
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'm.jsonl'}, line 2, id 'u2': missing required field 'text'"
    ]


def test_empty_transcript_is_reported_with_id_and_line(tmp_path):
    write_wav(tmp_path / "a.wav")
    write_lines(tmp_path / "m.jsonl", [good_line("u1", text="  "), good_line("u2"), good_line("u3")])

    loaded_ids, problems = read_and_load(tmp_path / "m.jsonl")

    assert loaded_ids == ["u2", "u3"]
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'm.jsonl'}, line 1, id 'u1': empty transcript ('text')"
    ]


def test_a_transcript_without_words_is_rejected_by_the_rule_responses_use(tmp_path):
    write_wav(tmp_path / "a.wav")
    write_lines(tmp_path / "m.jsonl", [good_line("u1", text="..."), good_line("u2"), good_line("u3", text="?!")])

    loaded_ids, problems = read_and_load(tmp_path / "m.jsonl")

    assert loaded_ids == ["u2"]
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'm.jsonl'}, line 1, id 'u1': transcript has no words ('text' is '...')",
        f"{tmp_path / 'm.jsonl'}, line 3, id 'u3': transcript has no words ('text' is '?!')",
    ]
    assert responses.words is words and responses.degenerate_reason("...", "") == "degenerate: no words in '...'"


def test_a_transcript_far_too_long_for_its_clip_is_rejected_when_the_audio_loads(tmp_path):
    write_wav(tmp_path / "a.wav", seconds=2.0)
    lines = [good_line("long", text=" ".join(["word"] * 2000)), good_line("ok", text=" ".join(["word"] * 20)),
             good_line("over", text=" ".join(["word"] * 21))]
    write_lines(tmp_path / "m.jsonl", lines)

    loaded_ids, problems = read_and_load(tmp_path / "m.jsonl")

    assert loaded_ids == ["ok"]  # 10 words per second of audio at most
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'm.jsonl'}, line {line}, id {name!r}: transcript has {count} words for 2.00 s of audio (more "
        "than 10 words per second): not this clip's transcript?" for line, name, count in ((1, "long", 2000),
                                                                                          (3, "over", 21))]


def test_a_line_that_is_not_utf8_is_reported_and_the_others_read(tmp_path):
    write_wav(tmp_path / "a.wav")
    latin1 = json.dumps({"id": "u2", "audio": "a.wav", "text": "café"}, ensure_ascii=False).encode("latin-1")
    (tmp_path / "m.jsonl").write_bytes(good_line("u1").encode() + b"\n" + latin1 + b"\n" + good_line("u3").encode())

    loaded_ids, problems = read_and_load(tmp_path / "m.jsonl")

    assert loaded_ids == ["u1", "u3"]
    column = latin1.index(b"\xe9") + 1
    assert [str(p) for p in problems] == [f"{tmp_path / 'm.jsonl'}, line 2: not UTF-8 (byte 0xe9 at column {column})"]


def test_no_usable_records_names_the_source_and_the_first_problems(tmp_path):
    write_lines(tmp_path / "m.jsonl", ["{", good_line("u2", text="...")])
    records, problems = read_manifest(tmp_path / "m.jsonl")
    with pytest.raises(NoUsableRecords) as raised:
        require_records(records, problems, tmp_path / "m.jsonl")
    assert str(raised.value) == (
        f"{tmp_path / 'm.jsonl'}: no usable records (2 record(s) skipped, the first: {tmp_path / 'm.jsonl'}, line 1: "
        f"invalid JSON: Expecting property name enclosed in double quotes; {tmp_path / 'm.jsonl'}, line 2, id 'u2': "
        "transcript has no words ('text' is '...'))")
    with pytest.raises(NoUsableRecords, match="no usable records \\(it is empty\\)"):
        require_records([], [], "empty.jsonl")


def test_atomic_writes_honour_the_umask_like_plain_ones(tmp_path):
    """Manifests, cache files and checkpoint folders go through tempfile names (0600 / 0700), and safetensors writes
    0600; what lands must have the mode a plain open() / mkdir() would give it."""
    import torch

    from blsp_kd.store import TensorStore, save_tensors
    from blsp_kd.train.checkpoint import save_atomically

    previous = os.umask(0o022)
    try:
        write_manifest(tmp_path / "m.jsonl", [ManifestRecord(id="a", audio=str(tmp_path / "a.wav"), text="one")])
        store = TensorStore(tmp_path / "cache")
        store.save("ab12", {"x": torch.zeros(2)})
        save_atomically(tmp_path / "checkpoint",
                        lambda folder: save_tensors({"x": torch.zeros(2)}, folder / "weights.safetensors"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "m.jsonl").stat().st_mode) == 0o644
    assert stat.S_IMODE(store.path("ab12").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "checkpoint").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "checkpoint" / "weights.safetensors").stat().st_mode) == 0o644


@pytest.mark.parametrize(
    "field_value, message",
    [
        ({"response_ids": ["7"]}, "'response_ids' must be a list of integers"),
        ({"early_stop": "yes"}, "'early_stop' must be true or false"),
        ({"duration": -1.0}, "'duration' must be > 0"),
        ({"offset": True}, "'offset' must be a number of seconds"),
        ({"text": 5}, "'text' must be a string"),
        ({"task": "translation"}, "task 'translation' needs a non-empty 'translation'"),
    ],
)
def test_wrong_types_are_reported(tmp_path, field_value, message):
    bad = {"id": "bad", "audio": "a.wav", "text": "hi", **field_value}
    write_lines(tmp_path / "m.jsonl", [good_line("u1"), json.dumps(bad)])

    records, problems = read_manifest(tmp_path / "m.jsonl")

    assert [r.id for r in records] == ["u1"]
    [problem] = problems
    assert (problem.line, problem.record_id) == (2, "bad")
    assert message in problem.reason


def test_duplicate_id_is_reported(tmp_path):
    write_lines(tmp_path / "m.jsonl", [good_line("u1"), "", good_line("u1", text="other")])
    records, problems = read_manifest(tmp_path / "m.jsonl")
    assert [r.text for r in records] == ["hello world"]
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'm.jsonl'}, line 3, id 'u1': duplicate id (first on line 1)"
    ]


def test_mix_manifests_repeats_by_weight(tmp_path):
    write_lines(tmp_path / "a.jsonl", [good_line(f"a{i}") for i in range(10)])
    write_lines(tmp_path / "b.jsonl", [good_line(f"b{i}") for i in range(4)])
    write_lines(tmp_path / "c.jsonl", [good_line(f"c{i}") for i in range(6)] + [good_line("a0")])
    sources = [(tmp_path / "a.jsonl", 0.5), (tmp_path / "b.jsonl", 2.5), (tmp_path / "c.jsonl", 1)]

    mixed, problems = mix_manifests(sources, seed=3)

    # round(0.5·10) = 5 of a, 2·4 + round(0.5·4) = 10 of b, all 6 of c (its "a0" clashes with a's).
    base_ids = Counter(record.id.split("@")[0][0] for record in mixed)
    assert base_ids == {"a": 5, "b": 10, "c": 6}
    assert len({record.id for record in mixed}) == len(mixed)
    assert (
        len({record.id for record in mixed if record.id.startswith("a")}) == 5
    )  # a sampled without replacement
    assert {record.id for record in mixed if record.id.startswith("b") and "@" not in record.id} == {
        f"b{i}" for i in range(4)
    }
    [problem] = problems
    assert (problem.line, problem.record_id) == (7, "a0") and "also in" in problem.reason
    assert [r.id for r in mix_manifests(sources, seed=3)[0]] == [r.id for r in mixed]
    assert [r.id for r in mix_manifests(sources, seed=4)[0]] != [r.id for r in mixed]


class WordTokenizer:
    def encode(self, text, add_special_tokens=True):
        return text.split() + (["<s>"] if add_special_tokens else [])


def test_filter_by_text_tokens_drops_long_transcripts_with_reason():
    records = [
        ManifestRecord(id="short", audio="a.wav", text="one two three"),
        ManifestRecord(id="long", audio="b.wav", text="one two three four five"),
    ]
    kept, dropped = filter_by_text_tokens(records, WordTokenizer(), max_tokens=3)
    assert [r.id for r in kept] == ["short"]
    assert [(p.record_id, p.reason) for p in dropped] == [("long", "transcript has 5 tokens > max 3")]
