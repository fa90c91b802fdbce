import numpy as np
import pytest

from blsp_kd.eval.intelligibility import REPORT_SENTENCES, group_voices, report_markdown, round_trip


def test_flac_round_trip_is_lossless_up_to_16_bit_and_opus_is_smaller_and_lossy():
    time = np.arange(16000) / 16000
    samples = (0.5 * np.sin(2 * np.pi * 330 * time)).astype(np.float32)
    flac, flac_bytes = round_trip(samples, "flac")
    assert np.abs(flac - samples).max() <= 1 / 32768
    opus, opus_bytes = round_trip(samples, "opus")
    assert opus_bytes < flac_bytes < 4 * len(samples)
    assert abs(len(opus) - len(samples)) < 1000 and np.abs(opus - samples).max() > 1 / 32768
    assert round_trip(samples, "wav")[0] is samples


def test_an_espeak_accent_cycles_its_variants_and_other_voices_repeat():
    voices = group_voices("espeak-ng/en-us")
    assert len(voices) == len(REPORT_SENTENCES) and voices[0] == ("espeak-ng", "en-us+m1")
    assert len(set(voices)) == 12
    assert set(group_voices("flite/rms")) == {("flite", "rms")}


def test_the_report_says_which_split_uses_each_voice_and_which_are_left_out():
    rows = [{"voice": voice, "wer_wav": wer, "wer_flac": wer, "wer_opus": wer + 0.01, "opus_kbps": 30.0,
             "seconds_per_utterance": 0.1}
            for voice, wer in (("piper/en_US-joe-medium", 0.02), ("flite/kal16", 0.064),
                               ("flite/awb", 0.034), ("espeak-ng/en-gb-scotland", 0.289))]
    lines = report_markdown(rows).splitlines()
    table = {line.split("|")[1].strip(): line for line in lines if line.startswith("| ") and "/" in line}
    assert "| train | 2.0 % | 2.0 % | 3.0 % |" in table["piper/en_US-joe-medium"]
    assert "| test |" in table["flite/kal16"] and "| valid |" in table["flite/awb"]
    assert "| 0 | left out | 28.9 % |" in table["espeak-ng/en-gb-scotland"]


@pytest.mark.parametrize("audio_format", ["flac", "opus"])
def test_round_trip_keeps_the_sample_rate_scale(audio_format):
    samples = np.zeros(8000, np.float32)
    samples[4000] = 0.5
    decoded, _ = round_trip(samples, audio_format)
    assert np.abs(decoded).max() == pytest.approx(0.5, abs=0.2)
