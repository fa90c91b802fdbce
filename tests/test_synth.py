import argparse
import json
import shutil

import numpy as np
import pytest
import soundfile

from blsp_kd.data import synth
from blsp_kd.data.commands import add_prepare_parser
from blsp_kd.data.synth import (
    ESPEAK_VOICES,
    FESTIVAL_VOICE,
    FORTUNES_DIR,
    HELD_OUT_ESPEAK_VOICES,
    collect_sentences,
    is_natural_sentence,
    plan_utterances,
    read_fortunes,
    split_sentences,
)

FORTUNES_TEXT = """A banker is a fellow who lends you his umbrella when the sun is shining.
		-- Mark Twain
%
Roses are red
Violets are blue
Sugar is sweet
%
Mr. Smith went to Washington with a plan. It failed, as plans do! Did anyone notice it?
%
a banker is a fellow who lends you his umbrella when the sun is shining.
%
FORTUNE: You will meet a TALL stranger today.  Quote "this" please.
"""


@pytest.mark.parametrize(
    "sentence, natural",
    [
        ("The family that slays together stays together.", True),
        ("Don't lose your head to gain a minute.", True),
        ("Is this the real life, or is it fantasy?", True),
        ("Too short here.", False),  # three words
        (" ".join(["word"] * 21) + ".", False),  # too long
        ("You will meet a TALL stranger today.", False),  # ALL-CAPS word
        ('He said "hello" to the crowd.', False),  # quotes
        ("There are 10 kinds of people in the world.", False),  # digits
        ("Q: Why did the chicken cross the road?", False),  # dialogue debris
        ("it starts with a lower case letter.", False),
        ("This sentence has no end mark at all", False),
        ("Adde parvum parvo manus acervus erit.", False),  # not English
        ("And then -- the thing happened to us.", False),
    ],
)
def test_is_natural_sentence(sentence, natural):
    assert is_natural_sentence(sentence) is natural


def test_split_sentences_keeps_abbreviations_and_initials():
    paragraph = "Mr. Smith met J. R. Jones at noon. They talked! Did it help? No."
    assert split_sentences(paragraph) == [
        "Mr. Smith met J. R. Jones at noon.",
        "They talked!",
        "Did it help?",
        "No.",
    ]


def test_collect_sentences_strips_attribution_verse_and_duplicates(tmp_path):
    (tmp_path / "wisdom").write_text(FORTUNES_TEXT)
    (tmp_path / "wisdom.dat").write_bytes(b"\x00\x01binary index")
    paragraphs = read_fortunes(tmp_path / "wisdom")
    assert paragraphs[0] == "A banker is a fellow who lends you his umbrella when the sun is shining."
    assert not any("Roses" in paragraph for paragraph in paragraphs)
    # "Mr. Smith went ..." is one sentence (the split keeps "Mr."), dropped for its inner period: no
    # fragment "Smith went to Washington with a plan." may appear.
    assert collect_sentences(tmp_path) == [
        "A banker is a fellow who lends you his umbrella when the sun is shining.",
        "It failed, as plans do!",
        "Did anyone notice it?",
    ]


def test_collect_sentences_without_fortunes_says_what_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="install the Debian package 'fortunes'"):
        collect_sentences(tmp_path)


def test_plan_is_disjoint_by_sentence_and_voice_and_stable():
    sentences = [f"This is sentence number {word} of the list." for word in map(str, range(3000))]
    plan = plan_utterances(sentences, num=5000, seed=7)

    by_split = {split: [u for u in plan if u.split == split] for split in ("train", "valid", "test")}
    assert {split: len(us) for split, us in by_split.items()} == {"train": 4000, "valid": 500, "test": 500}
    texts = {split: {u.text for u in us} for split, us in by_split.items()}
    voices = {split: {u.voice for u in us} for split, us in by_split.items()}
    assert not texts["train"] & texts["valid"] and not texts["train"] & texts["test"]
    assert not texts["valid"] & texts["test"]
    assert not voices["train"] & voices["valid"] and not voices["train"] & voices["test"]
    assert not voices["valid"] & voices["test"]
    assert voices["test"] == set(voices["test"] & set(ESPEAK_VOICES)) | {FESTIVAL_VOICE}
    assert len(voices["test"]) == HELD_OUT_ESPEAK_VOICES["test"] + 1
    assert len(voices["valid"]) == HELD_OUT_ESPEAK_VOICES["valid"]
    assert sum(u.engine == "festival" for u in by_split["test"]) == 250
    assert all(130 <= u.rate <= 190 and 30 <= u.pitch <= 70 for u in plan)
    # The same seed gives the same plan, and a smaller corpus is a prefix of a larger one, split by split.
    assert plan_utterances(sentences, num=5000, seed=7) == plan
    small = plan_utterances(sentences, num=200, seed=7)
    assert all(u in plan for u in small)
    assert plan_utterances(sentences, num=200, seed=8) != small


TTS_MISSING = [tool for tool in ("espeak-ng", "text2wave") if shutil.which(tool) is None]
needs_tts = pytest.mark.skipif(
    bool(TTS_MISSING),
    reason=f"{', '.join(TTS_MISSING)} not installed (Debian packages espeak-ng, festival, festvox-kallpc16k)",
)


@pytest.mark.espeak
@needs_tts
def test_a_tts_failure_is_reported_and_skipped(tmp_path, monkeypatch):
    fortunes_dir = tmp_path / "fortunes"
    fortunes_dir.mkdir()
    names = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split()
    (fortunes_dir / "numbers").write_text(
        "\n%\n".join(f"This is the sentence called {name}." for name in names)
    )
    real_command = synth._tts_command

    def failing_command(utterance, wav_path):
        if utterance.id == "train-000003":
            return ["sh", "-c", "echo voice exploded >&2; exit 3"]
        return real_command(utterance, wav_path)

    monkeypatch.setattr(synth, "_tts_command", failing_command)

    records, problems = synth.prepare_synth(tmp_path / "out", num=10, seed=0, fortunes_dir=fortunes_dir)

    failed = planned_utterance(fortunes_dir, "train-000003")
    assert [str(problem) for problem in problems] == [
        f"id 'train-000003': espeak-ng voice {failed.voice} failed on {failed.text!r}:"
        " espeak-ng exited with 3: voice exploded"
    ]
    train_ids = [
        line["id"] for line in map(json.loads, (tmp_path / "out" / "train.jsonl").read_text().splitlines())
    ]
    assert train_ids == [f"train-{i:06d}" for i in range(8) if i != 3]
    assert len(records["valid"]) == 1 and len(records["test"]) == 1
    work_files = [path for path in (tmp_path / "out" / "audio").iterdir() if path.name.startswith(".")]
    assert work_files == []


def planned_utterance(fortunes_dir, utterance_id):
    plan = synth.plan_utterances(synth.collect_sentences(fortunes_dir), num=10, seed=0)
    return next(u for u in plan if u.id == utterance_id)


@pytest.mark.espeak
@needs_tts
@pytest.mark.skipif(not FORTUNES_DIR.is_dir(), reason="Debian package fortunes not installed")
def test_prepare_synth_200(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="blsp-kd")
    add_prepare_parser(parser.add_subparsers(dest="command", required=True))

    def prepare(out):
        args = parser.parse_args(["prepare", "synth", "--out", str(out), "--num", "200", "--seed", "0"])
        return args.func(args)

    assert prepare(tmp_path / "a") == 0
    summary = capsys.readouterr().out.splitlines()
    assert f"wrote 160 records to {tmp_path / 'a' / 'train.jsonl'}" in summary
    assert summary[-1] == "0 problem(s)"

    manifests = {
        split: [json.loads(line) for line in (tmp_path / "a" / f"{split}.jsonl").read_text().splitlines()]
        for split in ("train", "valid", "test")
    }
    assert {split: len(lines) for split, lines in manifests.items()} == {
        "train": 160,
        "valid": 20,
        "test": 20,
    }
    voices = {split: {line["voice"] for line in lines} for split, lines in manifests.items()}
    texts = {split: {line["text"] for line in lines} for split, lines in manifests.items()}
    for held_out in ("valid", "test"):
        assert not voices[held_out] & voices["train"]
        assert not texts[held_out] & texts["train"]
    assert not texts["valid"] & texts["test"]
    assert {line["engine"] for line in manifests["test"]} == {"espeak-ng", "festival"}
    assert {line["engine"] for line in manifests["train"] + manifests["valid"]} == {"espeak-ng"}

    for line in manifests["train"] + manifests["valid"] + manifests["test"]:
        assert {"voice", "engine", "rate", "pitch"} <= line.keys()
        assert line["audio"].startswith("audio/")
        samples, sample_rate = soundfile.read(tmp_path / "a" / line["audio"], always_2d=True)
        assert sample_rate == 16000 and samples.shape[1] == 1
        assert np.abs(samples).max() > 0.05, f"{line['id']} is silent"
        assert 0.5 < len(samples) / 16000 < 15

    # Same seed, fresh folder: the same manifests and the same audio.
    assert prepare(tmp_path / "b") == 0
    for split in ("train", "valid", "test"):
        assert (tmp_path / "a" / f"{split}.jsonl").read_text() == (
            tmp_path / "b" / f"{split}.jsonl"
        ).read_text()
    first = manifests["test"][1]["audio"]  # a Festival utterance
    assert (tmp_path / "a" / first).read_bytes() == (tmp_path / "b" / first).read_bytes()

    # Resume: existing wav files are kept, not spoken again.
    kept = tmp_path / "a" / manifests["train"][0]["audio"]
    before = kept.stat().st_mtime_ns
    assert prepare(tmp_path / "a") == 0
    assert kept.stat().st_mtime_ns == before
