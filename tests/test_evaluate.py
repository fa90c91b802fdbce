"""`blsp-kd evaluate` end to end: on tiny random models in seconds, and on the embedded default with espeak
speech (real Whisper decoder in the cascade)."""

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from blsp_kd.cli import evaluate as evaluate_cli
from blsp_kd.data.dataset import batch_index_lists
from blsp_kd.data.manifest import ManifestRecord, NoUsableRecords, read_manifest
from blsp_kd.demo import results_table
from blsp_kd.eval.alignment import held_out_alignment, nearest_token_matches, training_token_counts
from blsp_kd.eval.evaluate import (
    CascadeSystem,
    Clip,
    EvaluationOptions,
    FirstTokenClock,
    SpeechSystem,
    TextSystem,
    evaluate,
    load_clips,
    score_task,
    task_instruction,
    tokenizer_mismatch,
)
from blsp_kd.eval.metrics import error_rate, error_rate_difference
from blsp_kd.eval.plots import firing_times, read_training_log, token_centres
from blsp_kd.layout.tasks import EVALUATION_SYSTEMS
from blsp_kd.models.adapters import CFormerConfig, ConvSubsamplerConfig
from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.config import ArchitectureConfig, BlspKdConfig
from blsp_kd.models.encoder import min_clip_samples
from tiny import STYLES, OracleAdapter, tiny_chat_tokenizer, tiny_llama, tiny_whisper

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RESPONSE = " and the dog sat on the log"


def tiny_model(adapter: str = "cformer", seed: int = 0) -> BlspKdModel:
    tokenizer = tiny_chat_tokenizer(STYLES["smollm2"])
    encoder, feature_extractor = tiny_whisper(seed)
    adapter_config = CFormerConfig(num_heads=4, dropout=0.0) if adapter == "cformer" else ConvSubsamplerConfig(
        bottleneck_dim=32)
    config = BlspKdConfig(ArchitectureConfig(whisper="tiny", llm="tiny", adapter=adapter, **{adapter: adapter_config}))
    torch.manual_seed(seed)
    return BlspKdModel(config, encoder, feature_extractor, tiny_llama(tokenizer, seed), tokenizer).eval()


def write_wav(path: Path, seconds: float, seed: int) -> str:
    samples = np.random.default_rng(seed).standard_normal(int(16000 * seconds)).astype(np.float32) * 0.1
    soundfile.write(path, samples, 16000)
    return path.name


def write_manifest(folder: Path, lines: list) -> Path:
    path = folder / "test.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000, path
    assert path.read_bytes()[:8] == PNG_MAGIC


# -------------------------------------------------------------------------------------------- pure helpers


def test_firing_times_and_token_centres_on_the_worked_example():
    # METHOD §2: α = [.5, .5, .5, .5], n = 3 → α' = .75 each, C = [.75, 1.5, 2.25, 3] at the ends of the
    # 20 ms frames.
    weights = np.array([[0.75, 0.25, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 0.25, 0.75]])
    # C reaches 1 a third into frame 1 (0.02 + 0.25/0.75 · 0.02 s) and 2 two thirds into frame 2.
    assert firing_times(weights) == pytest.approx([0.02 + 0.02 / 3, 0.04 + 0.04 / 3])
    # weighted mean of frame centres (0.01, 0.03, 0.05, 0.07 s)
    assert token_centres(weights) == pytest.approx([0.015, 0.04, 0.065])


def test_batches_never_end_with_a_single_clip():
    assert batch_index_lists(5, 2) == [[0, 1], [2, 3, 4]]
    assert batch_index_lists(4, 2) == [[0, 1], [2, 3]]
    assert batch_index_lists(1, 8) == [[0]]


def test_translation_applies_only_to_records_with_a_reference(tmp_path):
    lines = [{"id": "t", "audio": "t.wav", "text": "hello", "translation": "hallo", "target_lang": "de"},
             {"id": "p", "audio": "p.wav", "text": "hello"}]
    translated, plain = read_manifest(write_manifest(tmp_path, lines))[0]
    expected = "Translate the following English text into German:"
    assert task_instruction("translation", translated, "en") == expected
    assert task_instruction("translation", plain, "en") is None
    assert task_instruction("repeat", plain, "en") == "Repeat what was said."


def test_training_log_with_a_cut_last_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"split": "train", "step": 1, "total": 2.0}\n{"split": "valid", "step": 1, "kl": 1.0}\n'
                   '{"split": "train", "st')
    entries, problems = read_training_log(log)
    assert [entry["split"] for entry in entries] == ["train", "valid"]
    assert len(problems) == 1 and "line 3" in problems[0]


def test_cascade_sends_nothing_to_the_llm_when_whisper_heard_nothing():
    model = tiny_model()
    cascade = CascadeSystem(model, whisper=None, processor=None)  # transcripts given: Whisper is not run
    clips = [Clip(record=None, audio=np.zeros(16000, np.float32))] * 2
    instruction = "Repeat what was said."
    responses = cascade.response_ids(clips, [instruction] * 2, 4, transcripts=["  ", "hello world"])
    assert responses[0] == []
    assert responses[1] == model.generate_ids_from_text(["hello world"], instruction, 4)[0]


def test_first_token_clock_skips_the_prompt():
    # The clock relies on generate putting the prompt first and then one put per new token.
    model = tiny_model()
    clock = FirstTokenClock()
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    response = model.generate_ids([audio], "Repeat what was said.", max_new_tokens=5, streamer=clock)[0]
    assert clock.num_puts == 1 + len(response) and clock.first_token_at is not None


def test_cli_parsing():
    parser = argparse.ArgumentParser()
    evaluate_cli.add_evaluate_parser(parser.add_subparsers())
    args = parser.parse_args(["evaluate", "--manifest", "m.jsonl", "--out", "o", "--systems", "cascade,text",
                              "--tasks", "repeat", "--compare", "a=runs/a", "b=runs/b"])
    assert args.systems == ["cascade", "text"] and args.tasks == ["repeat"]
    assert evaluate_cli.parse_compare(args.compare) == {"a": "runs/a", "b": "runs/b"}
    with pytest.raises(argparse.ArgumentTypeError, match="speech, text, cascade"):
        evaluate_cli.parse_choices("speech,asr", EVALUATION_SYSTEMS, "systems")
    for bad in (["nameless"], ["text=runs/a"], ["a=x", "a=y"], ["a/b=x"]):
        with pytest.raises(argparse.ArgumentTypeError, match="--compare"):
            evaluate_cli.parse_compare(bad)


def test_cli_refuses_limit_0_and_an_out_that_is_a_file(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    evaluate_cli.add_evaluate_parser(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["evaluate", "--manifest", "m.jsonl", "--out", "o", "--limit", "0"])
    assert "--limit: must be at least 1, got 0" in capsys.readouterr().err
    manifest = write_manifest(tmp_path, [{"id": "a", "audio": write_wav(tmp_path / "a.wav", 1.0, 0), "text": "hi"}])
    (tmp_path / "out.txt").write_text("not a folder")
    args = parser.parse_args(["evaluate", "--manifest", str(manifest), "--out", str(tmp_path / "out.txt")])
    assert args.func(args) == 2
    assert "out.txt is a file" in capsys.readouterr().err and (tmp_path / "out.txt").read_text() == "not a folder"


def test_a_manifest_without_usable_records_is_a_one_line_error(tmp_path, capsys):
    from blsp_kd import cli

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert cli.main(["evaluate", "--manifest", str(empty), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: {empty}: no usable records (it is empty)\n"
    assert cli.main(["prepare", "responses", "--manifest", str(empty), "--out", str(tmp_path / "r.jsonl")]) == 2
    assert capsys.readouterr().err == f"error: {empty}: no usable records (it is empty)\n"

    short = write_manifest(tmp_path, [{"id": "s", "audio": write_wav(tmp_path / "s.wav", 0.01, 0), "text": "hi"}])
    records, problems = read_manifest(short)
    with pytest.raises(NoUsableRecords, match=f"{short}: no usable records .*id 's': audio .* too short"):
        evaluate(records, {"text": TextSystem(tiny_model())}, tmp_path / "out", EvaluationOptions(progress=False))


# ------------------------------------------------------------------------------------------ tiny end to end


def test_compare_refuses_a_checkpoint_whose_llm_reads_the_response_ids_differently(tmp_path, monkeypatch, capsys):
    """Responses are stored as token ids of the base LLM; a compared checkpoint with another tokenizer is refused."""
    base, other = tiny_model(), tiny_model()
    other.tokenizer = tiny_chat_tokenizer(STYLES["qwen2"])
    assert tokenizer_mismatch(base.tokenizer, tiny_model(seed=1).tokenizer) is None
    assert tokenizer_mismatch(other.tokenizer, base.tokenizer) == "chat templates differ"
    extended = tiny_chat_tokenizer(STYLES["smollm2"])
    extended.add_tokens(["<|audio|>"])
    assert "vocabularies" in tokenizer_mismatch(extended, base.tokenizer)

    monkeypatch.setattr(BlspKdModel, "from_pretrained", classmethod(
        lambda cls, directory, precision, readout, decoder_readout, readout_prior, readout_rounds: base
        if str(directory).endswith("base")
        else other))
    manifest = write_manifest(tmp_path, [{"id": "a", "audio": write_wav(tmp_path / "a.wav", 1.0, 0), "text": "hi"}])
    parser = argparse.ArgumentParser()
    evaluate_cli.add_evaluate_parser(parser.add_subparsers())
    args = parser.parse_args(["evaluate", "--manifest", str(manifest), "--out", str(tmp_path / "out"), "--model",
                              str(tmp_path / "base"), "--compare", f"qwen={tmp_path / 'other'}", "--no-progress"])
    assert args.func(args) == 2
    assert "compare qwen=" in capsys.readouterr().err and not (tmp_path / "out" / "results.json").exists()


def test_evaluate_reads_every_checkpoint_through_the_readout_it_is_given(tmp_path, monkeypatch, capsys):
    """--readout T, --decoder-readout λ, --readout-prior γ and --readout-rounds N reach the model and every
    --compare checkpoint (from_pretrained applies them: test_chat_cli, test_decoder_readout)."""
    loaded = []

    def from_pretrained(cls, directory, precision, readout, decoder_readout, readout_prior, readout_rounds):
        loaded.append((Path(directory).name, readout, decoder_readout, readout_prior, readout_rounds))
        return tiny_model()

    monkeypatch.setattr(BlspKdModel, "from_pretrained", classmethod(from_pretrained))
    manifest = write_manifest(tmp_path, [{"id": "a", "audio": write_wav(tmp_path / "a.wav", 1.0, 0), "text": "hi"}])
    parser = argparse.ArgumentParser()
    evaluate_cli.add_evaluate_parser(parser.add_subparsers())
    for readout, expected in (([], (None, None, None, None)), (["--readout", "0.05"], (0.05, None, None, None)),
                              (["--readout", "0"], (0.0, None, None, None)),
                              (["--readout", "0.02", "--decoder-readout", "2"], (0.02, 2.0, None, None)),
                              (["--decoder-readout", "2", "--readout-prior", "0"], (None, 2.0, 0.0, None)),
                              (["--readout-rounds", "3"], (None, None, None, 3))):
        loaded.clear()
        args = parser.parse_args(["evaluate", "--manifest", str(manifest), "--out", str(tmp_path / "out"), "--model",
                                  str(tmp_path / "base"), "--compare", f"b={tmp_path / 'other'}", "--systems",
                                  "speech", "--tasks", "repeat", "--latency-clips", "0", "--plot-clips", "0",
                                  "--max-new-tokens", "2", "--no-progress", *readout])
        assert args.func(args) == 0
        assert loaded == [("base", *expected), ("other", *expected)]
        settings = (tmp_path / "out" / "report.md").read_text()
        assert ("vocabulary readout" in settings) == (expected[0] is not None)
        assert ("decoder readout" in settings) == (expected[1] is not None)
        assert ("readout prior" in settings) == (expected[2] is not None)
        assert ("readout rounds" in settings) == (expected[3] is not None)
    for flag, problem in (("--readout", "a temperature > 0"), ("--decoder-readout", "a weight > 0"),
                          ("--readout-prior", "a weight > 0")):
        with pytest.raises(SystemExit):
            parser.parse_args(["evaluate", "--manifest", "m", "--out", "o", flag, "-1"])
        assert f"{flag}: must be {problem}, or 0 for none" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["evaluate", "--manifest", "m", "--out", "o", "--readout-rounds", "0"])
    assert "--readout-rounds: must be at least 1" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A manifest of 3 good clips, a missing file, a too-short clip, a clip over the length limit and a broken line;
    a training log."""
    tmp_path = tmp_path_factory.mktemp("tiny_run")
    speech, conv = tiny_model(), tiny_model("conv", seed=1)
    response_ids = speech.tokenizer.encode(RESPONSE, add_special_tokens=False)
    lines = [
        {"id": "a", "audio": write_wav(tmp_path / "a.wav", 1.2, 0), "text": "the cat sat on the mat",
         "response_ids": response_ids, "source": "fortune"},
        {"id": "b", "audio": write_wav(tmp_path / "b.wav", 0.8, 1), "text": "hello world",
         "translation": "hallo welt", "target_lang": "de", "response_ids": response_ids, "source": "question"},
        {"id": "c", "audio": write_wav(tmp_path / "c.wav", 1.5, 2), "text": "the weather is nice today",
         "source": "fortune"},
        {"id": "missing", "audio": "nowhere.wav", "text": "hello"},
        {"id": "short", "audio": write_wav(tmp_path / "short.wav", 0.01, 3), "text": "hi"},
        {"id": "long", "audio": write_wav(tmp_path / "long.wav", 2.5, 4), "text": "hi"},
        '{"id": "broken", "audio": ',
    ]
    manifest = write_manifest(tmp_path, lines)
    records, problems = read_manifest(manifest)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = [{"split": "train", "step": step, "total": 3.0 / step, "input_kl": 2.0 / step, "lr": 1e-4}
           for step in range(1, 6)]
    log.append({"split": "valid", "step": 5, "kl": 1.1, "num_input_tokens": 9})
    (run_dir / "log.jsonl").write_text("".join(json.dumps(entry) + "\n" for entry in log))
    systems = {"speech": SpeechSystem(speech), "conv": SpeechSystem(conv), "text": TextSystem(speech)}
    options = EvaluationOptions(max_new_tokens=4, batch_size=8, latency_clips=2, plot_clips=1,
                                log_dir=run_dir, progress=False, max_audio_seconds=2.0, group_by="source",
                                train_manifests=(manifest,))  # as if trained on these clips
    out = tmp_path / "out"
    results = evaluate(records, systems, out, options, skipped=problems, settings={"manifest": "test.jsonl"})
    return results, out, records, systems


def test_tiny_evaluation_results(tiny_run):
    results, out, _, systems = tiny_run
    assert json.loads((out / "results.json").read_text()) == results
    assert list(results) == ["speech", "conv", "text"]
    tasks = {"latency", "repeat", "continuation", "translation", "alignment"}
    grouped = {"repeat (source=fortune)", "repeat (source=question)", "continuation (source=fortune)",
               "continuation (source=question)", "translation (source=question)"}  # only b has a translation
    # --train-manifest names these clips' own manifest: every token of theirs was seen 1-9 times
    assert set(results["speech"]) == tasks | grouped | {"alignment (train count=1-9)"}
    assert set(results["conv"]) == tasks | grouped  # no per-token vectors
    assert set(results["text"]) == {"latency", "repeat", "translation", "repeat (source=fortune)",
                                    "repeat (source=question)", "translation (source=question)"}
    assert set(results["speech"]["continuation"]) == {"bleu", "chrf", "num_utterances"}
    assert results["speech"]["repeat (source=fortune)"]["num_utterances"] == 2
    assert results["speech"]["repeat"]["num_utterances"] == 3 and "wer" in results["speech"]["repeat"]
    assert results["conv"]["translation"]["num_utterances"] == 1
    alignment = results["speech"]["alignment"]
    for name in ("input_kl", "response_kl", "kl", "cif_count_error", "shuffled_input_kl", "shuffled_kl"):
        assert np.isfinite(alignment[name]) and alignment[name] >= 0, name
    assert 0 <= alignment["token_accuracy"] <= 1 and "token_accuracy" not in results["conv"]["alignment"]
    seen = results["speech"]["alignment (train count=1-9)"]
    assert seen["token_accuracy"] == alignment["token_accuracy"]
    assert seen["num_vectors"] == sum(len(systems["speech"].model.prompts.transcript_ids(text))
                                      for text in ("the cat sat on the mat", "hello world", "the weather is nice today"))
    response_length = len(systems["speech"].model.tokenizer.encode(RESPONSE, add_special_tokens=False))
    assert alignment["num_response_tokens"] == 2 * (response_length + 1)  # records a and b, + end of turn
    assert "input_kl" not in results["conv"]["alignment"]  # the conv baseline has no per-token speech vectors
    for latency in (results[name]["latency"] for name in results):
        assert 0 < latency["first_token_s"] <= latency["total_s"] and latency["num_clips"] == 2


def test_tiny_evaluation_utterances_are_the_systems_own_answers(tiny_run):
    results, out, records, systems = tiny_run
    rows = [json.loads(line) for line in (out / "utterances.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * (3 + 3 + 1)  # systems × (repeat + continuation + translation clips)
    assert {row["id"] for row in rows} == {"a", "b", "c"}
    clips, _ = load_clips(records, min_clip_samples(systems["speech"].model.feature_extractor), 2.0, progress=False)
    instruction = "Repeat what was said."
    speech = systems["speech"].model
    heard = speech.generate([clip.audio for clip in clips], instruction, max_new_tokens=4)
    read_ids = speech.generate_ids_from_text([clip.record.text for clip in clips], instruction, 4)
    read = speech.tokenizer.batch_decode(read_ids, skip_special_tokens=True)
    repeat = {(row["system"], row["id"]): row for row in rows if row["task"] == "repeat"}
    assert [repeat["speech", clip.record.id]["output"] for clip in clips] == [text.strip() for text in heard]
    assert [repeat["text", clip.record.id]["output"] for clip in clips] == [text.strip() for text in read]
    scored = error_rate([clip.record.text for clip in clips], [repeat["speech", clip.record.id]["output"]
                                                             for clip in clips])
    assert results["speech"]["repeat"]["wer"] == pytest.approx(scored["wer"])
    text_answers = [repeat["text", clip.record.id]["output"] for clip in clips]
    against_text = error_rate(text_answers, [repeat["speech", clip.record.id]["output"] for clip in clips])
    assert results["speech"]["repeat"]["wer_vs_text"] == pytest.approx(against_text["wer"])
    assert "wer_vs_text" not in results["text"]["repeat"]
    fortunes = [clip for clip in clips if clip.record.extra["source"] == "fortune"]
    scored = error_rate([clip.record.text for clip in fortunes], [repeat["conv", clip.record.id]["output"]
                                                                 for clip in fortunes])
    assert results["conv"]["repeat (source=fortune)"]["wer"] == pytest.approx(scored["wer"])
    text_continuations = {row["id"]: row["output"] for row in rows
                          if row["task"] == "continuation" and row["system"] == "text"}
    for row in rows:
        if row["task"] == "continuation":
            assert row["reference"] == text_continuations[row["id"]]
        if row["task"] == "translation":
            assert row["reference"] == "hallo welt"


def test_repeat_scores_carry_the_difference_to_the_cascade_with_its_interval():
    """With a cascade among the systems, every other system's repeat WER comes with its difference to the
    cascade's and the paired bootstrap interval of that difference; without a cascade there is none."""
    records = [ManifestRecord(id=str(index), audio="unused.wav", text=text)
               for index, text in enumerate(["the cat sat", "hello world", "good morning to you", "it rains"])]
    clips = [Clip(record, np.zeros(16000, dtype=np.float32)) for record in records]
    systems = {"speech": SpeechSystem(None), "text": TextSystem(None), "cascade": CascadeSystem(None, None, None)}
    answers = {"speech": ["the cat sat", "hello", "good morning to you all day long", "it rains"],
               "text": [record.text for record in records],
               "cascade": ["the cat sad", "hello world", "good morning to you", "it rains"]}
    scores = score_task("repeat", clips, answers, systems, "en")
    expected = error_rate_difference([r.text for r in records], answers["speech"], answers["cascade"])
    assert scores["speech"]["wer_minus_cascade"] == pytest.approx(
        scores["speech"]["wer"] - scores["cascade"]["wer"]) == pytest.approx(expected["difference"])
    assert scores["speech"]["wer_minus_cascade_low"] == expected["low"] < expected["high"]
    assert scores["text"]["wer_minus_cascade"] == pytest.approx(-scores["cascade"]["wer"])
    assert not any(name.startswith("wer_minus") for name in scores["cascade"])
    del systems["cascade"], answers["cascade"]
    assert not any("minus" in name for name in score_task("repeat", clips, answers, systems, "en")["speech"])


def test_repeat_scores_on_the_clips_the_text_system_repeats_carry_the_words_alone():
    """On the clips whose transcript the text system repeats exactly (after normalisation), each other system's
    error rate and share of exact repeats: clip 1, which the text system answers instead, does not count, so the
    speech system's rambling there does not hide that it lost a word on clip 2."""
    records = [ManifestRecord(id=str(index), audio="unused.wav", text=text)
               for index, text in enumerate(["The cat sat.", "What is two plus two?", "good morning to you"])]
    clips = [Clip(record, np.zeros(16000, dtype=np.float32)) for record in records]
    systems = {"speech": SpeechSystem(None), "text": TextSystem(None)}
    answers = {"text": ["the cat sat", "Two plus two is four.", "Good morning to you!"],
               "speech": ["The cat sat.", "two plus two is four and so on and so on", "good morning you"]}
    speech = score_task("repeat", clips, answers, systems, "en")["speech"]
    assert speech["num_text_repeats"] == 2
    assert speech["wer_where_text_repeats"] == pytest.approx(1 / 7)  # one deletion in 3 + 4 words
    assert speech["exact_where_text_repeats"] == 0.5
    assert speech["wer"] > 5 * speech["wer_where_text_repeats"]  # over all clips the answered question dominates
    answers["text"] = ["I don't know."] * 3  # a text system that repeats nothing: no such scores
    assert not any("where_text" in name for name in score_task("repeat", clips, answers, systems, "en")["speech"])


def test_tiny_evaluation_report_and_plots(tiny_run):
    results, out, _, _ = tiny_run
    for name in ("plots/cif_speech_0.png", "plots/training_curves.png"):
        assert_png(out / name)
    assert not (out / "plots" / "cif_conv_0.png").exists()
    report = (out / "report.md").read_text()
    for link in ("(results.json)", "(results.md)", "(utterances.jsonl)", "(plots/cif_speech_0.png)",
                 "(plots/training_curves.png)"):
        assert link in report
    assert "## Skipped records (4)" in report
    for reason in ("id 'missing'", "file not found", "id 'short'", "audio too short: 160 samples (10.0 ms)",
                   "id 'long'", "audio is 2.50 s, longer than the maximum 2.0 s", "line 7"):
        assert reason in report
    assert "the 'conv' adapter has no CIF to plot" in report
    # the training manifest (here the same file) holds the broken line 7: its tokens are not counted, and it says so
    assert "1 record(s) of the training manifests rejected and not counted" in report
    assert "line 7" in report.split("1 record(s) of the training manifests")[1].splitlines()[0]
    tables = (out / "results.md").read_text()
    assert tables in report
    table, grouped = tables.split("\nPer group:\n\n")
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:]] == ["speech", "conv", "text"]
    assert "(source=" not in table and "repeat (source=fortune) wer" in grouped.splitlines()[0]


# ------------------------------------------------------------------------------------------ real end to end

SENTENCES = [
    "The weather is nice today.",
    "She opened the window and looked outside.",
    "Please bring me a cup of coffee.",
]


@pytest.mark.real
@pytest.mark.espeak
def test_embedded_default_evaluation(tmp_path, espeak, capsys):
    """Untrained adapter on the embedded default, through the CLI: every system and task, the report, the
    plots, and a cascade whose Whisper decoder really transcribes the espeak clips."""
    from blsp_kd.data.synth import speak

    checkpoint = tmp_path / "untrained"
    model = BlspKdModel.from_config(BlspKdConfig())
    model.save_pretrained(checkpoint)
    response_ids = model.prompts.response_ids("It is a good day for a walk.")
    lines = []
    for index, sentence in enumerate(SENTENCES):
        soundfile.write(tmp_path / f"{index}.wav", speak(sentence), 16000)
        lines.append({"id": f"u{index}", "audio": f"{index}.wav", "text": sentence,
                      "response_ids": response_ids})
    lines[0] |= {"translation": "Das Wetter ist heute schön.", "target_lang": "de"}
    (tmp_path / "broken.wav").write_bytes(b"not audio at all")
    lines.append({"id": "broken", "audio": "broken.wav", "text": "nothing"})
    manifest = write_manifest(tmp_path, lines)
    out = tmp_path / "out"

    parser = argparse.ArgumentParser()
    evaluate_cli.add_evaluate_parser(parser.add_subparsers())
    args = parser.parse_args(["evaluate", "--manifest", str(manifest), "--out", str(out),
                              "--model", str(checkpoint), "--max-new-tokens", "8", "--latency-clips", "0",
                              "--plot-clips", "2", "--device", "cpu", "--no-progress"])
    assert args.func(args) == 0

    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"speech", "text", "cascade"}
    # latency is left out here (--latency-clips 0) to keep the test short; the tiny run measures it
    assert set(results["speech"]) == {"repeat", "continuation", "translation", "alignment"}
    assert set(results["text"]) == {"repeat", "translation"}
    assert set(results["cascade"]) == {"asr", "repeat", "continuation", "translation"}
    assert results["cascade"]["asr"]["wer"] <= 0.4  # Whisper's own decoder, 30 s-padded, really ran
    alignment = results["speech"]["alignment"]
    assert alignment["kl"] > 0 and alignment["num_input_tokens"] > 0 and alignment["num_response_tokens"] > 0
    rows = [json.loads(line) for line in (out / "utterances.jsonl").read_text().splitlines()]
    assert all("asr" in row for row in rows if row["system"] == "cascade" and row["task"] != "asr")
    for index in range(2):
        assert_png(out / "plots" / f"cif_speech_{index}.png")
    report = (out / "report.md").read_text()
    assert "id 'broken'" in report and "(plots/cif_speech_1.png)" in report
    assert "| cascade |" in capsys.readouterr().out  # the table is printed


def test_shuffled_alignment_comes_from_the_same_pass(tmp_path):
    """The own-audio and shuffled-audio KL share one pass over the clips: one encoder run per batch, and the own
    numbers equal those of a run without the shuffled floor."""
    model = tiny_model()
    response_ids = model.tokenizer.encode(RESPONSE, add_special_tokens=False)
    records, _ = read_manifest(write_manifest(tmp_path, [
        {"id": f"r{index}", "audio": write_wav(tmp_path / f"{index}.wav", 0.6 + 0.2 * index, index),
         "text": "the cat sat on the mat"[: 5 + 3 * index], "response_ids": response_ids[: 2 + index]}
        for index in range(5)]))
    encoder_runs = []
    encoder_outputs = model.encoder_outputs
    model.encoder_outputs = lambda speech: encoder_runs.append(1) or encoder_outputs(speech)
    both = held_out_alignment(model, records, batch_size=2, with_shuffled=True)
    assert len(encoder_runs) == len(batch_index_lists(len(records), 2)) == 2  # 5 clips: batches of 2 and 3
    own = held_out_alignment(model, records, batch_size=2)
    assert {name: value for name, value in both.items() if not name.startswith("shuffled_")} == own
    assert both["shuffled_input_kl"] > 0 and both["shuffled_response_kl"] > 0


def test_token_accuracy_counts_the_vectors_whose_nearest_embedding_is_their_token():
    """Vectors equal to the transcript's own embeddings are each nearest to their token; scaled ones too (cosine);
    the next token's vectors are nearest to that token, not to their target."""
    model = tiny_model()
    embeddings = model.llm.get_input_embeddings().weight.detach()
    ids = torch.tensor(model.prompts.transcript_ids("the cat sat on the mat"))
    assert nearest_token_matches(embeddings[ids], ids, embeddings).all()
    assert nearest_token_matches(3.0 * embeddings[ids], ids, embeddings).all()
    shifted = ids.roll(1)
    matches = nearest_token_matches(embeddings[shifted], ids, embeddings)
    assert torch.equal(matches, shifted == ids) and not matches.all()


def test_token_accuracy_by_training_count_splits_the_vectors_by_how_often_training_saw_their_token(tmp_path):
    """training_token_counts counts the transcript tokens as the speech positions hold them; an adapter that names
    exactly the tokens seen 100+ times scores 1 there and 0 in the other bands, and the bands partition the vectors."""
    model = tiny_model()
    training = [ManifestRecord(id=f"t{i}", audio="-", text="the cat sat") for i in range(100)]
    training += [ManifestRecord(id=f"u{i}", audio="-", text="on the mat") for i in range(12)]
    training += [ManifestRecord(id="v", audio="-", text="a dog")]
    counts = training_token_counts(model, training)
    expected = Counter(i for record in training for i in model.prompts.transcript_ids(record.text))
    assert counts.sum() == sum(expected.values()) and all(counts[i] == n for i, n in expected.items())
    texts = ["the cat sat on the mat", "a dog sat", "the log ran"]
    records, _ = read_manifest(write_manifest(tmp_path, [
        {"id": f"r{index}", "audio": write_wav(tmp_path / f"{index}.wav", 1.0, index), "text": text}
        for index, text in enumerate(texts)]))
    transcripts = [model.prompts.transcript_ids(text) for text in texts]
    known = {i for i, n in expected.items() if n >= 100}
    other = next(i for i in range(counts.numel()) if counts[i] == 0 and all(i not in t for t in transcripts))
    model.adapter = OracleAdapter(model.llm.get_input_embeddings(), transcripts, known, other)  # some words only
    metrics = held_out_alignment(model, records, batch_size=3, token_counts=counts)
    bands = Counter("100+" if expected[i] >= 100 else "10-99" if expected[i] >= 10 else "1-9" if expected[i] else "0"
                    for transcript in transcripts for i in transcript)
    assert {band: metrics[f"num_vectors_train_{band}"] for band in bands} == bands and len(bands) == 4
    assert metrics["token_accuracy_train_100+"] == 1.0
    assert metrics["token_accuracy_train_10-99"] == metrics["token_accuracy_train_1-9"] == 0.0
    assert metrics["token_accuracy_train_0"] == 0.0
    assert metrics["token_accuracy"] == pytest.approx(bands["100+"] / sum(bands.values()))
    assert "token_accuracy_train_0" not in held_out_alignment(model, records, batch_size=3)


def test_the_demo_table_reads_what_held_out_alignment_returns(tmp_path):
    """`make demo` ends its training with this table: every number it shows is one held_out_alignment returns."""
    model = tiny_model()
    response_ids = model.tokenizer.encode(RESPONSE, add_special_tokens=False)
    records, _ = read_manifest(write_manifest(tmp_path, [
        {"id": f"r{index}", "audio": write_wav(tmp_path / f"{index}.wav", 0.8, index), "text": "the cat sat",
         "response_ids": response_ids} for index in range(4)]))
    before = held_out_alignment(model, records, batch_size=2)
    after = held_out_alignment(model, records, batch_size=2, with_shuffled=True)
    table = results_table(before, after)
    assert f"{after['token_accuracy']:.1%}" in table and f"{after['shuffled_kl']:.3f}" in table
    assert len([line for line in table.splitlines() if line.startswith("| ")]) == 6  # header + 5 metrics
