"""`prepare responses`: the LLM's own greedy responses on the training prompt (teacher forcing reproduces them, on
the real SmolLM2 and on a tiny Llama whose generation config asks for penalties), kill-and-resume of the real CLI
process, torn-line recovery, the refusal/degenerate filters, the task mix and the shards."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from blsp_kd.cli import main
from blsp_kd.data.dataset import text_example
from blsp_kd.data.manifest import ManifestRecord, read_manifest, write_manifest
from blsp_kd.data.responses import (
    DEFAULT_INSTRUCTIONS,
    assign_instruction,
    choose_task,
    degenerate_reason,
    generate_responses,
    parse_mix,
    parse_shard,
    prepare_responses,
    recover_output,
    refusal_reason,
    response_problem,
    shard_path,
    shard_records,
)
from blsp_kd.layout.batch import collate_text
from blsp_kd.layout.prompt import PromptBuilder
from blsp_kd.losses import response_logit_mask
from tiny import STYLES, TRAINING_TEXT, tiny_chat_tokenizer, tiny_llama

WORDS = " ".join(TRAINING_TEXT).replace(",", "").replace(".", "").split()


def make_records(count: int, audio_dir: Path) -> list[ManifestRecord]:
    """Records with short transcripts from the tiny tokenizer's training words (the audio is never read)."""
    return [ManifestRecord(id=f"utt-{index:03d}", audio=str(audio_dir / f"utt-{index:03d}.wav"),
                           text=" ".join(WORDS[(index * 7 + k) % len(WORDS)] for k in range(2 + index % 5)))
            for index in range(count)]


def teacher_forced_argmax_matches(llm, prompts: PromptBuilder, examples: list[dict]) -> bool:
    """One forward of the LLM over [prefix][transcript][suffix][response][end-of-turn unless early_stop]: its argmax
    at the response-predicting positions equals the response targets."""
    batch = collate_text(examples, prompts)
    with torch.no_grad():
        logits = llm(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                     position_ids=batch.position_ids).logits
    predicted = logits[response_logit_mask(batch.response_mask)].argmax(-1)
    return torch.equal(predicted, batch.input_ids[batch.response_mask])


@pytest.fixture(scope="module")
def tiny_llm_dir(tmp_path_factory) -> Path:
    """A tiny random Llama + SmolLM2-style chat tokenizer saved like any checkpoint (for `--llm DIR`)."""
    directory = tmp_path_factory.mktemp("tiny-llm")
    tokenizer = tiny_chat_tokenizer(STYLES["smollm2"])
    tiny_llama(tokenizer).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def reported_ids(stdout: str) -> set[str]:
    """Record ids of the problems a summary lists ("  FILE, line N, id 'ID': reason")."""
    return set(re.findall(r"^  .*, id '([^']+)': ", stdout, flags=re.MULTILINE))


# ------------------------------------------------------------------------------------- teacher forcing


@pytest.mark.real
def test_real_smollm2_reproduces_its_stored_responses(embedded_llm, tmp_path):
    llm, tokenizer = embedded_llm
    texts = ["he hoped there would be stew for dinner", "the quick brown fox jumps over the lazy dog",
             "I would like to visit Paris next summer", "what is the capital of France"]
    records = [ManifestRecord(id=f"r{index}", audio=str(tmp_path / f"r{index}.wav"), text=text)
               for index, text in enumerate(texts)]
    max_new_tokens = 16
    summary = prepare_responses(records, llm, tokenizer, tmp_path / "out.jsonl", max_new_tokens=max_new_tokens,
                                batch_size=4, progress=False)
    assert not summary.problems and len(summary.written) == 4
    written, problems = read_manifest(tmp_path / "out.jsonl")
    assert not problems
    assert {record.task for record in written} == {"continuation", "repeat"}
    assert any(not record.early_stop for record in written)
    prompts = PromptBuilder(tokenizer)
    for record in written:
        assert record.instruction == DEFAULT_INSTRUCTIONS[record.task]
        assert record.response == tokenizer.decode(record.response_ids, skip_special_tokens=True)
        assert prompts.end_of_turn_id not in record.response_ids
        assert record.early_stop == (len(record.response_ids) == max_new_tokens)
    examples = [text_example(record) for record in written]
    assert teacher_forced_argmax_matches(llm, prompts, examples)


def test_greedy_ignores_the_checkpoints_generation_settings():
    """A checkpoint whose generation config asks for penalties: the stored responses are still the plain argmax
    (plain `generate` would apply the penalties, so this test can tell)."""
    tokenizer = tiny_chat_tokenizer(STYLES["qwen2"])
    llm = tiny_llama(tokenizer)
    llm.generation_config.repetition_penalty = 2.0
    llm.generation_config.no_repeat_ngram_size = 1
    prompts = PromptBuilder(tokenizer)
    examples = [{"id": str(index), "text": text, "instruction": "repeat what was said."}
                for index, text in enumerate(["the cat sat on the mat", "hello", "the sun is out today"])]
    responses = generate_responses(llm, prompts, examples, max_new_tokens=12)
    for example, response in zip(examples, responses, strict=True):
        example["response_ids"], example["early_stop"] = response.ids, response.early_stop
    assert teacher_forced_argmax_matches(llm, prompts, examples)
    prompt_batch = collate_text([{"text": e["text"], "instruction": e["instruction"]} for e in examples], prompts)
    penalised = llm.generate(input_ids=prompt_batch.input_ids, attention_mask=prompt_batch.attention_mask,
                             do_sample=False, max_new_tokens=12, eos_token_id=prompts.end_of_turn_id,
                             pad_token_id=prompts.pad_id)
    penalised_ids = penalised[:, prompt_batch.input_ids.shape[1] :].tolist()
    assert [row[: len(response.ids)] for row, response in zip(penalised_ids, responses, strict=True)] != [
        response.ids for response in responses]


# ------------------------------------------------------------------------------------- resume and shards


def test_killed_run_resumes_with_every_id_once(tiny_llm_dir, tmp_path):
    records = make_records(32, tmp_path / "audio")
    write_manifest(tmp_path / "in.jsonl", records)
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "blsp_kd.cli", "prepare", "responses", "--manifest", str(tmp_path / "in.jsonl"),
               "--out", str(out), "--llm", str(tiny_llm_dir), "--batch-size", "4", "--max-new-tokens", "4",
               "--device", "cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out.exists() and out.read_bytes().count(b"\n") >= 1):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no batch was written in 120 s"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    killed_ids = [record["id"] for record in read_lines(out)] if out.read_bytes().endswith(b"\n") else None
    assert killed_ids is None or len(killed_ids) < len(records), "the run finished before it was killed"

    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    written_ids = [record["id"] for record in read_lines(out)]
    assert len(written_ids) == len(set(written_ids))  # every id at most once ...
    problem_ids = reported_ids(finished.stdout)
    assert set(written_ids) | problem_ids == {record.id for record in records}  # ... and none lost silently
    assert not set(written_ids) & problem_ids


def test_torn_last_line_is_truncated_and_its_record_regenerated(tiny_llm_dir, tmp_path):
    from blsp_kd.models.pretrained import load_llm

    llm, tokenizer = load_llm(str(tiny_llm_dir))
    records = make_records(5, tmp_path / "audio")
    out = tmp_path / "out.jsonl"
    summary = prepare_responses(records[:3], llm, tokenizer, out, max_new_tokens=3, batch_size=2, progress=False)
    complete = out.read_bytes()
    assert complete.count(b"\n") == len(summary.written) >= 2
    out.write_bytes(complete + b'{"id": "utt-003", "audio": "audio/utt-003.wav", "te')  # killed mid-write

    done, torn = recover_output(out)
    assert torn and done == {record.id: record.text for record in summary.written}
    assert out.read_bytes() == complete
    assert recover_output(out) == (done, False)

    resumed = prepare_responses(records, llm, tokenizer, out, max_new_tokens=3, batch_size=2, progress=False)
    assert resumed.already_done == len(done)
    written, problems = read_manifest(out)  # every line a valid record, each id once
    assert not problems
    expected = {record.id for record in records} - {problem.record_id for problem in resumed.problems}
    assert [record.id for record in written] == sorted(expected)
    assert written[0].audio == records[0].audio  # relative path written, read back as the same file


def test_a_transcript_far_too_long_for_its_clip_is_reported_not_answered(tiny_llm_dir, tmp_path):
    from blsp_kd.models.pretrained import load_llm

    llm, tokenizer = load_llm(str(tiny_llm_dir))
    records = make_records(3, tmp_path / "audio")  # the first two have no readable audio: not checked here
    one_second = tmp_path / "one-second.wav"
    soundfile.write(one_second, np.zeros(16000, dtype=np.float32), 16000)
    records += [ManifestRecord(id="long", audio=str(one_second), text=" ".join(WORDS[:3] * 700)),
                ManifestRecord(id="fits", audio=str(one_second), text=" ".join(WORDS[:3])),
                ManifestRecord(id="segment", audio=str(one_second), text=" ".join(WORDS[:3] * 5), duration=0.5)]
    summary = prepare_responses(records, llm, tokenizer, tmp_path / "out.jsonl", max_new_tokens=4, progress=False)
    reported = {problem.record_id: problem.reason for problem in summary.problems}
    assert reported["long"].startswith("transcript has 2100 words for 1.00 s of audio")
    assert reported["segment"].startswith("transcript has 15 words for 0.50 s of audio")  # its duration, not the file's
    written_ids = {record.id for record in summary.written}
    assert "long" not in written_ids and "segment" not in written_ids
    assert written_ids | set(reported) == {record.id for record in records}  # nothing dropped silently


def test_resuming_into_answers_for_other_transcripts_is_an_error(tiny_llm_dir, tmp_path):
    """Resuming goes by id; when the manifest changed under the output (a corpus planned again with other sources
    reuses its ids for other sentences), the old answers would be wrong: a clear error, and the output untouched."""
    from blsp_kd.models.pretrained import load_llm

    llm, tokenizer = load_llm(str(tiny_llm_dir))
    records = make_records(3, tmp_path / "audio")
    out = tmp_path / "out.jsonl"
    prepare_responses(records, llm, tokenizer, out, max_new_tokens=3, progress=False)
    before = out.read_bytes()
    replanned = [replace(records[0], text=records[0].text + " again"), *records[1:]]
    with pytest.raises(ValueError, match=rf"answers 1 of these ids for another transcript, e.g. id '{records[0].id}'"):
        prepare_responses(replanned, llm, tokenizer, out, max_new_tokens=3, progress=False)
    assert out.read_bytes() == before
    assert prepare_responses(records, llm, tokenizer, out, max_new_tokens=3, progress=False).already_done == 3  # all answered


def test_a_corrupt_complete_line_is_an_error(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(ValueError, match=r"out.jsonl, line 2: not a JSON record"):
        recover_output(out)


def test_shards_are_disjoint_and_cover_everything(tiny_llm_dir, tmp_path, capsys):
    records = make_records(10, tmp_path / "audio")
    shards = [shard_records(records, index, 3) for index in range(3)]
    ids = [record.id for shard in shards for record in shard]
    assert sorted(ids) == [record.id for record in records] and len(ids) == len(set(ids))
    assert all(shard for shard in shards)

    write_manifest(tmp_path / "in.jsonl", records[:6])
    out_ids, problem_ids = [], set()
    for index in range(2):
        shard_file = shard_path(tmp_path / "out.jsonl", index, 2)
        arguments = ["prepare", "responses", "--manifest", str(tmp_path / "in.jsonl"), "--out",
                     str(tmp_path / "out.jsonl"), "--llm", str(tiny_llm_dir), "--shard", f"{index}/2",
                     "--max-new-tokens", "3", "--device", "cpu"]
        assert main(arguments) in (0, 1)  # 1: every response of the shard was filtered
        stdout = capsys.readouterr().out
        assert f"records to {shard_file} (0 already there)" in stdout
        problem_ids |= reported_ids(stdout)
        out_ids += [record["id"] for record in read_lines(shard_file)] if shard_file.exists() else []
    assert len(out_ids) == len(set(out_ids)) and not set(out_ids) & problem_ids
    assert set(out_ids) | problem_ids == {record.id for record in records[:6]}


def test_limit_and_argument_errors(tiny_llm_dir, tmp_path, capsys):
    write_manifest(tmp_path / "in.jsonl", make_records(5, tmp_path / "audio"))
    common = ["prepare", "responses", "--manifest", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "out.jsonl"),
              "--llm", str(tiny_llm_dir), "--max-new-tokens", "2", "--device", "cpu"]
    main([*common, "--limit", "2"])
    stdout = capsys.readouterr().out
    written = int(re.search(r"^wrote (\d+) records", stdout, flags=re.MULTILINE).group(1))
    assert written + len(reported_ids(stdout)) == 2
    assert len(read_lines(tmp_path / "out.jsonl")) == written
    assert main([*common, "--mix", "repeat=1,translate=1"]) == 2
    assert "translate" in capsys.readouterr().err
    assert main([*common, "--shard", "2/2"]) == 2
    assert "0 <= i < N" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- filters


@pytest.mark.parametrize("response", [
    "I'm sorry, but I can't help with that.",
    "As an AI language model, I do not have opinions.",
    "I cannot continue this text.",
    "Sure. I\u2019m unable to repeat that, though.",
    "\"I apologize for the confusion.",
])
def test_refusals_are_caught(response):
    reason = refusal_reason(response, transcript="the cat sat on the mat")
    assert reason is not None and reason.startswith("refusal:")
    assert response_problem(response, [5, 6], "the cat sat on the mat", special_ids={0, 1, 2}) == reason


@pytest.mark.parametrize(("response", "transcript"), [
    ("The cat sat on the mat, and then it slept.", "the cat sat on the mat"),
    ("I'm sorry I'm late, the train was delayed.", "I'm sorry I'm late, the train was delayed"),  # a repeat
    ("She said that she cannot sleep at night.", "she could not sleep"),  # not at a sentence start
])
def test_ordinary_responses_are_not_refusals(response, transcript):
    assert refusal_reason(response, transcript) is None


@pytest.mark.parametrize(("response", "expected"), [
    ("", "empty response"),
    ("   \n", "empty response"),
    ("... !!! ...", "no words"),
    ("the the the the the the", "'the' repeated 6 times"),
    ("and the dog sat. and the dog sat. and the dog sat. and the dog sat.", "'and the dog sat' repeated 4 times"),
    ("It is nice. It is nice. It is nice. It is nice. It is nice. Yes", "repeated 5 times"),
])
def test_degenerate_responses_are_caught(response, expected):
    reason = degenerate_reason(response, transcript="the cat sat on the mat")
    assert reason is not None and reason.startswith("degenerate:") and expected in reason


@pytest.mark.parametrize(("response", "transcript"), [
    ("The cat sat on the mat, and the dog sat on the log.", "the cat sat on the mat"),
    ("no no no no no", "no no no no no"),  # repeating a repetitive transcript is faithful, not degenerate
    ("It was a day like any other: the sun rose, the birds sang and the town woke up.", "it was a day"),
])
def test_ordinary_responses_are_not_degenerate(response, transcript):
    assert degenerate_reason(response, transcript) is None


def test_looping_on_a_repetitive_transcript_is_degenerate():
    assert degenerate_reason("no " * 40, "no no no no no") is not None


def test_special_tokens_in_a_response_are_a_problem():
    reason = response_problem("hello there", [7, 1, 8], "hi", special_ids={0, 1, 2})
    assert reason == "degenerate: contains special token ids [1]"


# ------------------------------------------------------------------------------------------- task mix


def test_task_mix_is_deterministic_and_follows_the_weights():
    ids = [f"utt-{index}" for index in range(4000)]
    mix = {"continuation": 0.7, "repeat": 0.3}
    tasks = [choose_task(record_id, mix, seed=0) for record_id in ids]
    assert tasks == [choose_task(record_id, {"repeat": 0.3, "continuation": 0.7}, seed=0) for record_id in ids]
    assert Counter(tasks)["continuation"] / len(ids) == pytest.approx(0.7, abs=0.03)
    other_seed = [choose_task(record_id, mix, seed=1) for record_id in ids]
    assert other_seed != tasks and Counter(other_seed)["repeat"] / len(ids) == pytest.approx(0.3, abs=0.03)
    assert {choose_task(record_id, {"continuation": 0.0, "repeat": 2.0}, 0) for record_id in ids} == {"repeat"}


def test_a_record_with_its_own_instruction_keeps_it():
    mix = {"continuation": 1.0, "repeat": 1.0}
    record = ManifestRecord(id="a", audio="a.wav", text="hello", instruction="Translate into German:", task="st")
    assert assign_instruction(record, DEFAULT_INSTRUCTIONS, mix, seed=0) == ("st", "Translate into German:")
    record.task = None
    assert assign_instruction(record, DEFAULT_INSTRUCTIONS, mix, seed=0) == ("custom", "Translate into German:")
    record.instruction = None
    task = choose_task("a", mix, seed=0)
    assert assign_instruction(record, DEFAULT_INSTRUCTIONS, mix, seed=0) == (task, DEFAULT_INSTRUCTIONS[task])


@pytest.mark.parametrize("text", ["repeat", "repeat=-1", "=1", "repeat=x", "repeat=nan", "repeat=0,continuation=0"])
def test_bad_mix_is_refused(text):
    with pytest.raises(ValueError, match="--mix"):
        parse_mix(text)


def test_parse_mix_and_shard():
    assert parse_mix("continuation=0.5, repeat=1.5") == {"continuation": 0.5, "repeat": 1.5}
    assert parse_shard("1/4") == (1, 4)
    assert shard_path("data/out.jsonl", 1, 4) == Path("data/out.shard-1-of-4.jsonl")
    for text in ["4/4", "1", "a/b", "-1/2", "0/0"]:
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(text)
