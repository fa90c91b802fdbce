"""`blsp-kd chat`: one streamed answer, and an interactive conversation of text lines and clip paths."""

import io

import pytest
import soundfile
import torch

from blsp_kd.cli import build_parser, main
from blsp_kd.cli.evaluate import reading_from_args
from blsp_kd.data.audio import load_audio
from blsp_kd.models.blsp_kd import COUNTS_FILE, Reading
from blsp_kd.serve.model import load_model
from blsp_kd.store import save_tensors
from test_serve import INSTRUCTION, noise, tiny_model_dir  # noqa: F401 - a fixture

# Every command that loads a trained model, with the arguments it requires besides the model.
LOADING_COMMANDS = {"chat": [], "generate": ["--manifest", "m", "--out", "o"], "serve": [],
                    "evaluate": ["--manifest", "m", "--out", "o"]}


def speech_turn(samples, text=None):
    return {"role": "user", "content": ([{"type": "text", "text": text}] if text else [])
            + [{"type": "audio", "audio": samples}]}


def test_one_answer_to_a_clip_and_an_instruction(tiny_model_dir, tmp_path, capsys):  # noqa: F811
    wav = tmp_path / "clip.wav"
    soundfile.write(wav, noise(1.1, 0), 16000)
    assert main(["chat", "--model", str(tiny_model_dir), "--audio", str(wav), "--max-new-tokens", "10",
                 INSTRUCTION]) == 0
    model = load_model(str(tiny_model_dir))
    expected = model.chat([speech_turn(load_audio(wav).samples, INSTRUCTION)], max_new_tokens=10)
    assert expected and capsys.readouterr().out == expected + "\n"


def test_precision_overrides_the_models_own_in_every_command_that_loads_one(tiny_model_dir, tmp_path,  # noqa: F811
                                                                              capsys):
    wav = tmp_path / "clip.wav"
    soundfile.write(wav, noise(1.1, 0), 16000)
    assert main(["chat", "--model", str(tiny_model_dir), "--audio", str(wav), "--max-new-tokens", "10",
                 "--precision", "bf16", INSTRUCTION]) == 0
    model = load_model(str(tiny_model_dir), "bf16")
    assert model.dtype == torch.bfloat16 and load_model(str(tiny_model_dir)).dtype == torch.float32
    assert capsys.readouterr().out == model.chat([speech_turn(load_audio(wav).samples, INSTRUCTION)],
                                                 max_new_tokens=10) + "\n"
    for command, arguments in LOADING_COMMANDS.items():
        assert build_parser().parse_args([command, *arguments]).precision is None  # the model's own
        assert build_parser().parse_args([command, *arguments, "--precision", "auto"]).precision == "auto"


def test_readout_overrides_the_models_own_in_every_command_that_loads_one(tiny_model_dir, tmp_path,  # noqa: F811
                                                                            capsys):
    """--readout T: the LLM reads the speech vectors through the vocabulary at T; --readout 0: the adapter's own
    vectors; without it: the model's own setting (the tiny model's: none)."""
    assert load_model(str(tiny_model_dir)).config.architecture.vocabulary_readout is None
    through = load_model(str(tiny_model_dir), reading=Reading(readout=0.05))
    assert through.config.architecture.vocabulary_readout == 0.05
    through.save_pretrained(tmp_path / "with-readout")
    assert load_model(str(tmp_path / "with-readout")).config.architecture.vocabulary_readout == 0.05
    without = load_model(str(tmp_path / "with-readout"), reading=Reading(readout=0))
    assert without.config.architecture.vocabulary_readout is None

    wav = tmp_path / "clip.wav"
    soundfile.write(wav, noise(1.1, 0), 16000)
    assert main(["chat", "--model", str(tiny_model_dir), "--audio", str(wav), "--max-new-tokens", "10",
                 "--readout", "0.05", INSTRUCTION]) == 0
    turn = [speech_turn(load_audio(wav).samples, INSTRUCTION)]
    answer = through.chat(turn, max_new_tokens=10)
    assert capsys.readouterr().out == answer + "\n"
    assert answer != load_model(str(tiny_model_dir)).chat(turn, max_new_tokens=10)  # the readout was read
    for command, arguments in LOADING_COMMANDS.items():
        assert build_parser().parse_args([command, *arguments]).readout is None  # the model's own
        assert build_parser().parse_args([command, *arguments, "--readout", "0.02"]).readout == 0.02
        assert build_parser().parse_args([command, *arguments, "--readout", "0"]).readout == 0
        parsed = build_parser().parse_args([command, *arguments, "--decoder-readout", "2", "--readout-prior", "1",
                                            "--readout-rounds", "3"])
        assert reading_from_args(parsed) == Reading(readout=None, decoder_readout=2, readout_prior=1, readout_rounds=3)
    with pytest.raises(ValueError, match="readout_prior"):  # the prior belongs to a decoder readout
        load_model(str(tiny_model_dir), reading=Reading(readout=0.05, readout_prior=1.0))
    with pytest.raises(ValueError, match="readout_rounds"):  # so do rounds
        load_model(str(tiny_model_dir), reading=Reading(readout=0.05, readout_rounds=2))
    capsys.readouterr()
    assert main(["chat", "--model", str(tiny_model_dir), "--readout-prior", "1", "hi"]) == 2  # one line, no trace
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: --model '{tiny_model_dir}': readout_prior 1.0: a weight > 0 on top of a decoder_readout (it is "
        "None), or null for none")
    # counts that do not fit the LLM's vocabulary are refused by name
    save_tensors({"counts": torch.zeros(3, dtype=torch.int32)}, tmp_path / "with-readout" / COUNTS_FILE)
    with pytest.raises(ValueError, match="token_counts.safetensors holds \\(3,\\) counts"):
        load_model(str(tmp_path / "with-readout"))


def test_a_bad_clip_is_one_error_line(tiny_model_dir, tmp_path, capsys):  # noqa: F811
    (tmp_path / "bad.wav").write_bytes(b"no audio here" * 10)
    assert main(["chat", "--model", str(tiny_model_dir), "--audio", str(tmp_path / "bad.wav"), "hi"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # not the loading bars
    assert len(errors) == 1 and errors[0].startswith("error: ") and "not decodable as audio" in errors[0]


def test_an_interactive_conversation_keeps_its_history(tiny_model_dir, tmp_path, capsys, monkeypatch):  # noqa: F811
    wav = tmp_path / "clip.wav"
    soundfile.write(wav, noise(0.8, 1), 16000)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"hello world\n{wav}\n{tmp_path / 'missing.wav'}x\nexit\n"))
    assert main(["chat", "--model", str(tiny_model_dir), "--max-new-tokens", "8"]) == 0
    answers = capsys.readouterr().out.splitlines()
    model = load_model(str(tiny_model_dir))
    messages = [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]
    first = model.chat(messages, max_new_tokens=8)
    messages += [{"role": "assistant", "content": first}, speech_turn(load_audio(wav).samples)]
    second = model.chat(messages, max_new_tokens=8)
    messages += [{"role": "assistant", "content": second},
                 {"role": "user", "content": [{"type": "text", "text": f"{tmp_path / 'missing.wav'}x"}]}]
    third = model.chat(messages, max_new_tokens=8)
    assert answers == [first, second, third]
    assert second != model.chat([speech_turn(load_audio(wav).samples)], max_new_tokens=8)  # the history mattered
