"""Shared fixtures. Real-model fixtures load the embedded default once per test session (converted into the
user cache on first use, so CI converts once)."""

import shutil

import pytest


@pytest.fixture(scope="session")
def embedded_whisper():
    """(WhisperForConditionalGeneration, WhisperProcessor) — the converted Whisper tiny.en."""
    from blsp_kd.models.pretrained import load_whisper

    return load_whisper()


@pytest.fixture(scope="session")
def embedded_llm():
    """(LlamaForCausalLM, tokenizer) — the converted SmolLM2-135M-Instruct."""
    from blsp_kd.models.pretrained import load_llm

    return load_llm()


@pytest.fixture(scope="session")
def espeak():
    """Path of espeak-ng; tests that need it fail loudly in CI (where it must be installed) and skip elsewhere."""
    import os

    path = shutil.which("espeak-ng")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is not installed; .ci/run must install it (apt-get install espeak-ng)")
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    return path
