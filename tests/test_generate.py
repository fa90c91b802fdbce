"""`blsp-kd generate`: every good record answered exactly once (also across a kill -9 and a rerun), bad records
reported and skipped, answers equal to batch-1 `generate`; and batch invariance at batch 8 on the real models."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from blsp_kd.cli import main
from blsp_kd.data.audio import load_audio
from blsp_kd.serve.batch import done_ids, generate_manifest
from blsp_kd.serve.model import load_model
from test_serve import INSTRUCTION, noise, save_seeded_model, tiny_model_dir  # noqa: F401 - a fixture

SRC = str(Path(__file__).parents[1] / "src")


def write_manifest(folder: Path, count: int, seed: int = 0) -> Path:
    """`count` noise clips of 0.4–2 s with ids u0, u1, …; every third record has its own instruction."""
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for index in range(count):
        soundfile.write(folder / "audio" / f"u{index}.wav", noise(rng.uniform(0.4, 2.0), seed + index), 16000)
        record = {"id": f"u{index}", "audio": f"audio/u{index}.wav", "text": "hello world"}
        if index % 3 == 0:
            record["instruction"] = "continue the text"
        lines.append(json.dumps(record))
    manifest = folder / "in.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def read_out(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):  # noqa: F811 - the fixture imported above
    return load_model(str(tiny_model_dir))


def test_every_record_once_with_the_batch_1_answer_and_bad_records_reported(tiny, tiny_model_dir, tmp_path,  # noqa: F811
                                                                             capsys):
    manifest = write_manifest(tmp_path, 7)
    (tmp_path / "audio" / "junk.wav").write_bytes(b"not audio, just text" * 20)
    with open(manifest, "a") as f:
        f.write(json.dumps({"id": "missing", "audio": "audio/none.wav", "text": "x"}) + "\n")
        f.write(json.dumps({"id": "junk", "audio": "audio/junk.wav", "text": "x"}) + "\n")
        f.write("{this line is not json\n")
        f.write(json.dumps({"id": "u1", "audio": "audio/u1.wav", "text": "duplicate id"}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["generate", "--model", str(tiny_model_dir), "--manifest", str(manifest), "--out", str(out),
                 "--instruction", INSTRUCTION, "--batch-size", "3", "--max-new-tokens", "8"]) == 0
    captured = capsys.readouterr()
    skipped = re.findall(r"skipped: [^\r\n]*", captured.err)  # the progress bar shares stderr
    assert len(skipped) == 4
    for name, reason in (("id 'missing'", "file not found"), ("id 'junk'", "not decodable as audio"),
                         ("line 10", "invalid JSON"), ("id 'u1'", "duplicate id")):
        assert any(name in line and reason in line for line in skipped), (name, skipped)
    assert "generated 7 answers" in captured.out and "utterances/s" in captured.out
    answers = read_out(out)
    assert sorted(answer["id"] for answer in answers) == sorted(f"u{index}" for index in range(7))
    for answer in answers:
        samples = load_audio(tmp_path / "audio" / f"{answer['id']}.wav").samples
        assert answer["instruction"] == INSTRUCTION
        assert answer["response"] == tiny.generate([samples], INSTRUCTION, max_new_tokens=8)[0]


def test_a_rerun_skips_done_ids_and_drops_a_partial_last_line(tiny, tmp_path, capsys):
    manifest = write_manifest(tmp_path, 5)
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": "u0", "instruction": "x", "response": "kept"}) + "\n" + '{"id": "u1", "resp')
    assert done_ids(out) == {"u0"} and out.read_text().endswith("}\n")  # the partial line is cut off
    summary = generate_manifest(tiny, manifest, out, max_new_tokens=4, progress=False)  # each record's instruction
    assert (summary.generated, summary.skipped_done, summary.bad) == (1, 1, 3)
    assert capsys.readouterr().err.count("no instruction (give --instruction") == 3  # u1, u2, u4 have none
    answers = read_out(out)
    assert [answer["id"] for answer in answers] == ["u0", "u3"] and answers[0]["response"] == "kept"
    assert answers[1]["instruction"] == "continue the text"


def test_kill_9_then_a_rerun_writes_each_id_exactly_once(tiny, tiny_model_dir, tmp_path):  # noqa: F811
    count = 60
    manifest = write_manifest(tmp_path, count)
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "blsp_kd.cli", "generate", "--model", str(tiny_model_dir), "--manifest",
               str(manifest), "--out", str(out), "--instruction", INSTRUCTION, "--batch-size", "1",
               "--max-new-tokens", "48", "--no-progress"]
    process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": SRC}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    while not (out.exists() and out.read_bytes().count(b"\n") >= 3) and process.poll() is None:
        time.sleep(0.005)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]  # still running: the kill lands mid-run
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written_before = out.read_bytes().count(b"\n")
    assert 3 <= written_before < count
    summary = generate_manifest(tiny, manifest, out, INSTRUCTION, batch_size=4, max_new_tokens=48, progress=False)
    ids = [answer["id"] for answer in read_out(out)]
    assert sorted(ids) == sorted(f"u{index}" for index in range(count))  # each id exactly once
    assert summary.skipped_done == len(done_ids(out)) - summary.generated and summary.generated <= count - 3


@pytest.mark.real
def test_batch_8_gives_the_batch_1_answers_on_the_real_models(tmp_path_factory, espeak):
    root = tmp_path_factory.mktemp("real-generate")
    model = load_model(str(save_seeded_model(root / "model", "embedded", "embedded")))
    sentences = ["the weather is nice today", "hello world", "the cat sat on the mat and looked at the dog",
                 "what is the capital of france", "please repeat after me", "one two three four five six",
                 "a quick brown fox", "speech goes in and text comes out of the model"]
    clips = []
    for index, sentence in enumerate(sentences):
        path = root / f"{index}.wav"
        subprocess.run([espeak, "-w", str(path), sentence], check=True)
        clips.append(load_audio(path).samples)
    batched = model.generate(clips, INSTRUCTION, max_new_tokens=12)
    alone = [model.generate([samples], INSTRUCTION, max_new_tokens=12)[0] for samples in clips]
    assert batched == alone and len(set(alone)) > 1
