import os

import numpy as np
import pytest
import soundfile

from blsp_kd.data.engines import (
    FESTIVAL_VOICE,
    FLITE_VOICES,
    PIPER_VOICE,
    Prosody,
    TtsError,
    missing_engines,
    render,
)
from blsp_kd.data.synth import Utterance, synthesize

SENTENCE = "The quick brown fox jumps over the lazy dog."
VOICES = [("piper", PIPER_VOICE), *(("flite", name) for name in FLITE_VOICES), ("espeak-ng", "en-us+f3"),
          ("festival", FESTIVAL_VOICE)]


def needs(engine: str):
    """Skip where the engine is absent, except in CI, which must install every engine (make setup)."""
    missing = missing_engines([engine])
    return pytest.mark.skipif(bool(missing) and not os.environ.get("CI"),
                              reason=f"{engine} not installed ({missing.get(engine)})")


@pytest.mark.parametrize("engine, voice", [pytest.param(*v, marks=needs(v[0]), id="/".join(v)) for v in VOICES])
def test_each_engine_speaks_a_sentence_as_16khz_mono(engine, voice, tmp_path):
    samples = render(engine, voice, SENTENCE)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert 1.0 < len(samples) / 16000 < 6.0
    assert np.abs(samples).max() == pytest.approx(0.9, abs=1e-3)
    slower = render(engine, voice, SENTENCE, Prosody(rate=120))
    assert len(slower) > 1.15 * len(samples)  # the rate is honoured (160 → 120 words per minute)

    utterance = Utterance("train-000000", "train", "fortunes", SENTENCE, engine, voice, Prosody())
    path, seconds = synthesize(utterance, tmp_path)
    info = soundfile.info(str(path))
    assert (path.suffix, info.format, info.samplerate, info.channels) == (".flac", "FLAC", 16000, 1)
    assert seconds == pytest.approx(info.duration, abs=1e-3)


@pytest.mark.parametrize("engine, voice", [pytest.param(*v, marks=needs(v[0]), id="/".join(v)) for v in VOICES])
def test_nothing_to_say_is_a_one_line_error_not_audio(engine, voice):
    with pytest.raises(TtsError, match=r"nothing to say in '\.\.\. !' \(no letter or digit\)"):
        render(engine, voice, "... !")


@needs("flite")
def test_an_unknown_flite_voice_is_an_error_not_flites_silent_default():
    with pytest.raises(TtsError, match="unknown flite voice 'kal8'"):
        render("flite", "kal8", SENTENCE)


@needs("piper")
def test_piper_noises_reach_the_model():
    # Without noise the voice is deterministic; with its noises each rendition differs (one speaker, many takes).
    quiet = Prosody(noise_scale=0.0, noise_w=0.0)
    assert np.array_equal(render("piper", PIPER_VOICE, SENTENCE, quiet), render("piper", PIPER_VOICE, SENTENCE, quiet))
    lively = Prosody(noise_scale=0.9, noise_w=1.0)
    first, second = render("piper", PIPER_VOICE, SENTENCE, lively), render("piper", PIPER_VOICE, SENTENCE, lively)
    assert len(first) != len(second) or not np.array_equal(first, second)
