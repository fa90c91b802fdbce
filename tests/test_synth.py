import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile

from blsp_kd.cli.prepare import add_prepare_parser
from blsp_kd.data import engines, synth
from blsp_kd.data.engines import missing_engines
from blsp_kd.data.synth import (
    HELD_OUT_ESPEAK_VOICES,
    HELD_OUT_VOICES,
    SPLITS,
    VOICE_WEIGHTS,
    plan_utterances,
    voice_group,
)
from blsp_kd.data.texts import FORTUNES_DIR

SRC = Path(__file__).resolve().parents[1] / "src"


def sources(count: int = 3000) -> dict[str, list[str]]:
    return {
        "fortunes": [f"This is sentence number {n} of the list." for n in range(count)],
        "questions": [f"What is question number {n} about?" for n in range(count // 2)],
        "numbers": [f"Meet me on day {n}." for n in range(count // 3)],
    }


def test_plan_is_disjoint_by_sentence_and_voice_holds_speakers_out_and_is_stable():
    plan = plan_utterances(sources(), num=5000, seed=7)

    by_split = {split: [u for u in plan if u.split == split] for split in ("train", "valid", "test")}
    assert {split: len(us) for split, us in by_split.items()} == {"train": 4000, "valid": 500, "test": 500}
    texts = {split: {u.text for u in us} for split, us in by_split.items()}
    voices = {split: {f"{u.engine}/{u.voice}" for u in us} for split, us in by_split.items()}
    for first, second in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not texts[first] & texts[second] and not voices[first] & voices[second]
    # Each held-out split has its own held-out speakers and unseen espeak-ng voices, nothing else.
    for split in ("valid", "test"):
        espeak = {voice for voice in voices[split] if voice.startswith("espeak-ng/")}
        assert voices[split] - espeak == set(HELD_OUT_VOICES[split])
        assert len(espeak) <= HELD_OUT_ESPEAK_VOICES[split]
    assert {u.engine for u in by_split["train"]} == {"piper", "flite", "espeak-ng"}
    left_out = {group for group, weight in VOICE_WEIGHTS.items() if weight == 0}
    assert left_out and not any(voice_group(u.engine, u.voice) in left_out for u in plan)
    # Sources and voices follow their weights (train: piper has 0.20 of the weights of the voices train has).
    assert Counter(u.source for u in plan)["questions"] / len(plan) == pytest.approx(0.4, abs=0.03)
    train_groups = ("piper/en_US-joe-medium", "flite/rms", "flite/slt")
    train_weight = sum(w for g, w in VOICE_WEIGHTS.items() if g in train_groups or g.startswith("espeak-ng/"))
    assert Counter(u.engine for u in by_split["train"])["piper"] / 4000 == pytest.approx(0.20 / train_weight, abs=0.03)
    # Half the training utterances are augmented, no held-out one.
    assert sum(u.augmentation is not None for u in by_split["train"]) / 4000 == pytest.approx(0.5, abs=0.03)
    assert all(u.augmentation is None for u in by_split["valid"] + by_split["test"])
    assert all(130 <= u.prosody.rate <= 190 and 30 <= u.prosody.pitch <= 70 for u in plan)
    # The same seed gives the same plan, and a smaller corpus is a prefix of a larger one, split by split.
    assert plan_utterances(sources(), num=5000, seed=7) == plan
    small = plan_utterances(sources(), num=200, seed=7)
    assert all(u in plan for u in small)
    assert plan_utterances(sources(), num=200, seed=8) != small


def test_a_fourth_source_leaves_the_plans_without_it_as_they_were():
    """SOURCE_WEIGHTS names wordnet, but a corpus planned without it (corpus8k) keeps its exact plan; with it, the
    new source takes its share and its sentences too are split disjointly."""
    before_wordnet = {"fortunes": 0.4, "questions": 0.4, "numbers": 0.2}
    plan = plan_utterances(sources(), num=2000, seed=3)
    assert plan == plan_utterances(sources(), num=2000, seed=3, source_weights=before_wordnet)
    with_wordnet = sources() | {"wordnet": [f"The word {n} has a sense." for n in range(3000)]}
    wider = plan_utterances(with_wordnet, num=2000, seed=3)
    assert Counter(u.source for u in wider)["wordnet"] / 2000 == pytest.approx(0.4 / 1.4, abs=0.03)
    texts = {split: {u.text for u in wider if u.split == split and u.source == "wordnet"} for split in SPLITS}
    assert all(texts.values()) and not (texts["train"] & texts["valid"] or texts["train"] & texts["test"])


def test_a_source_too_small_for_a_split_is_named():
    with pytest.raises(ValueError, match="too few numbers sentences"):
        plan_utterances({"fortunes": sources()["fortunes"], "numbers": ["Only one."]}, num=100, seed=0)


ENGINES_MISSING = missing_engines(["piper", "flite", "espeak-ng", "festival"])
needs_engines = pytest.mark.skipif(  # not in CI, which must install them all (make setup)
    (bool(ENGINES_MISSING) or not FORTUNES_DIR.is_dir()) and not os.environ.get("CI"),
    reason=f"missing {', '.join(f'{e} ({p})' for e, p in ENGINES_MISSING.items()) or 'Debian package fortunes'}",
)


def small_fortunes(tmp_path: Path) -> Path:
    fortunes_dir = tmp_path / "fortunes"
    fortunes_dir.mkdir()
    names = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen".split()
    (fortunes_dir / "numbers").write_text("\n%\n".join(f"This is the sentence called {name}." for name in names))
    return fortunes_dir


@needs_engines
def test_failures_are_reported_one_line_each_and_the_batch_goes_on(tmp_path, monkeypatch):
    fortunes_dir = small_fortunes(tmp_path)
    questions = tmp_path / "questions.txt"
    # One unsayable line (empty once the engine's text is normalised) among real questions.
    questions.write_text("\n".join(["... !"] + [f"Where is the station number {n}?" for n in range(30)]))
    plan = plan_utterances(synth.load_sources(fortunes_dir, questions), num=30, seed=0)
    unsayable = [u.id for u in plan if u.text == "... !"]
    assert unsayable, "the plan should speak the unsayable line at least once"
    # And one engine failure: the engine exits with an error on one utterance.
    broken = next(u for u in plan if u.engine != "piper" and u.id not in unsayable)
    real_command = engines._subprocess_command

    def failing_command(engine, voice, text, prosody, wav_path):
        if text == broken.text and voice == broken.voice:
            return ["sh", "-c", "echo voice exploded >&2; exit 3"], ""
        return real_command(engine, voice, text, prosody, wav_path)

    monkeypatch.setattr(engines, "_subprocess_command", failing_command)

    records, problems = synth.prepare_synth(tmp_path / "out", num=30, seed=0, fortunes_dir=fortunes_dir,
                                            questions=questions, progress=False)

    expected = {u.id: f"{u.engine} voice {u.voice} failed on '... !': nothing to say in '... !' (no letter or digit)"
                for u in plan if u.id in unsayable}
    expected[broken.id] = (f"{broken.engine} voice {broken.voice} failed on {broken.text!r}: "
                           f"{broken.engine} exited with 3: voice exploded")
    assert {problem.record_id: problem.reason for problem in problems} == expected
    assert all("\n" not in str(problem) for problem in problems)
    written = [record.id for split in records.values() for record in split]
    assert sorted(written) == sorted(u.id for u in plan if u.id not in expected)
    assert not [path for path in (tmp_path / "out" / "audio").iterdir() if path.name.startswith(".")]


@needs_engines
def test_speak_utterances_keeps_the_order_marks_failures_and_reuses_spoken_clips(tmp_path):
    # What lab scripts speak: a slice of a plan, some of it re-voiced, one line unsayable.
    plan = plan_utterances(synth.load_sources(small_fortunes(tmp_path)), num=30, seed=0)
    chosen = [u for u in plan if u.split == "train"][:5]
    chosen[2] = dataclasses.replace(chosen[2], id="odd-one", text="... !")
    records, problems = synth.speak_utterances(chosen, tmp_path / "audio", workers=2, progress=False)

    assert [record and record.id for record in records] == [u.id if u.id != "odd-one" else None for u in chosen]
    assert [(problem.record_id, "nothing to say in '... !'" in problem.reason) for problem in problems] == [
        ("odd-one", True)]
    for record, utterance in zip(records, chosen, strict=True):
        if record is not None:
            assert record.text == utterance.text and (tmp_path / "audio" / utterance.audio_name()).exists()
    spoken = {path: path.stat().st_mtime_ns for path in (tmp_path / "audio").iterdir()}
    (tmp_path / "audio" / ".half-written.flac").write_bytes(b"")  # as a killed run leaves it

    again, _ = synth.speak_utterances(chosen, tmp_path / "audio", workers=1, progress=False)
    assert again == records
    assert {path: path.stat().st_mtime_ns for path in (tmp_path / "audio").iterdir()} == spoken


def manifest_lines(folder: Path) -> dict[str, list[dict]]:
    return {split: [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]
            for split in ("train", "valid", "test")}


@needs_engines
def test_a_run_killed_mid_way_resumes_and_writes_each_id_once(tmp_path):
    out = tmp_path / "corpus"
    command = [sys.executable, "-m", "blsp_kd.cli", "prepare", "synth", "--out", str(out), "--num", "80",
               "--workers", "1"]
    environment = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while process.poll() is None and len(list((out / "audio").glob("*.flac"))) < 10:
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed; make it longer"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "train.jsonl").exists()
    # Finished files only: a partial one (".name.flac") of the killed run is removed by the resumed run.
    spoken_before = {path.name: path.stat().st_mtime_ns for path in (out / "audio").glob("*.flac")
                     if not path.name.startswith(".")}

    resumed = subprocess.run(command, env=environment, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    ids = [line["id"] for lines in manifest_lines(out).values() for line in lines]
    assert len(ids) == len(set(ids)) == 80
    audio = sorted(path.name for path in (out / "audio").iterdir())
    assert audio == sorted(line["audio"].removeprefix("audio/") for lines in manifest_lines(out).values()
                           for line in lines)  # one file per id, no partial file left
    for name, mtime in spoken_before.items():  # what the killed run finished was not spoken again
        assert (out / "audio" / name).stat().st_mtime_ns == mtime


@needs_engines
def test_prepare_synth_200(tmp_path, capsys):
    questions = tmp_path / "questions.txt"
    questions.write_text("\n".join(f"Could you tell me about the city number {n}?" for n in range(100)))
    parser = argparse.ArgumentParser(prog="blsp-kd")
    add_prepare_parser(parser.add_subparsers(dest="command", required=True))

    def prepare(out):
        args = parser.parse_args(["prepare", "synth", "--out", str(out), "--num", "200", "--seed", "0",
                                  "--questions", str(questions)])
        return args.func(args)

    assert prepare(tmp_path / "a") == 0
    summary = capsys.readouterr().out.splitlines()
    assert f"wrote 160 records to {tmp_path / 'a' / 'train.jsonl'}" in summary
    assert summary[-1] == "0 problem(s)"

    manifests = manifest_lines(tmp_path / "a")
    assert {split: len(lines) for split, lines in manifests.items()} == {"train": 160, "valid": 20, "test": 20}
    voices = {split: {(line["engine"], line["voice"]) for line in lines} for split, lines in manifests.items()}
    texts = {split: {line["text"] for line in lines} for split, lines in manifests.items()}
    for held_out in ("valid", "test"):
        assert not voices[held_out] & voices["train"]
        assert not texts[held_out] & texts["train"]
    assert not texts["valid"] & texts["test"]
    everything = [line for lines in manifests.values() for line in lines]
    assert {line["source"] for line in everything} == {"fortunes", "questions", "numbers"}
    assert {line["engine"] for line in manifests["train"]} == {"piper", "flite", "espeak-ng"}

    for line in everything:
        assert {"source", "engine", "voice", "rate", "seconds"} <= line.keys()
        assert ("noise_scale" in line) == (line["engine"] == "piper")
        assert ("speed" in line) == ("snr_db" in line) == ("gain_db" in line)
        samples, sample_rate = soundfile.read(tmp_path / "a" / line["audio"], always_2d=True)
        assert line["audio"].endswith(".flac") and sample_rate == 16000 and samples.shape[1] == 1
        assert np.abs(samples).max() > 0.05, f"{line['id']} is silent"
        assert 0.5 < len(samples) / 16000 < 15

    # Same seed, fresh folder: the same plan; the same audio from the engines whose output is deterministic
    # (all but Piper, whose noise is drawn inside its ONNX graph), augmentation included.
    assert prepare(tmp_path / "b") == 0
    again = manifest_lines(tmp_path / "b")
    for split in manifests:
        assert [{k: v for k, v in line.items() if k != "seconds"} for line in again[split]] == [
            {k: v for k, v in line.items() if k != "seconds"} for line in manifests[split]]
    augmented = next(line for line in manifests["train"] if line["engine"] == "flite" and "speed" in line)
    assert (tmp_path / "a" / augmented["audio"]).read_bytes() == (tmp_path / "b" / augmented["audio"]).read_bytes()

    # Resume: existing audio files are kept, not spoken again.
    kept = tmp_path / "a" / manifests["train"][0]["audio"]
    before = kept.stat().st_mtime_ns
    assert prepare(tmp_path / "a") == 0
    assert kept.stat().st_mtime_ns == before
