"""The model shipped with the package (`--model default`, the reference run's): it loads on the embedded base
models, within its size budget, and answers a held-out clip closer to the text path's answer to that clip's
transcript than to the text path's answer to another clip.

The clips are the reference run's held-out test clips test-000000 and test-000002 (espeak-ng voice en-029+m6, not
heard in training; sentences not in training), chosen as the first test clip on which the text path's "repeat"
answer is exactly the transcript, and a second one of the same voice. Measure: word error rate against the text
path's answer. On test-000000 the shipped model answers "It is when we are able to make a difference." (WER 0.57
against "It is easy when we are in prosperity to give advice to the afflicted."); an answer about another sentence
scores ≥ 0.9 (docs/RESULTS.md, "The reference run")."""

from pathlib import Path

import pytest
import soundfile

from blsp_kd.eval.metrics import error_rate
from blsp_kd.models.blsp_kd import SHIPPED_MODELS, WEIGHTS_FILE, BlspKdModel

DATA = Path(__file__).parent / "data"
CLIPS = {"test-000000": "It is easy when we are in prosperity to give advice to the afflicted.",
         "test-000002": "There are no surfaces."}
INSTRUCTION = "Repeat what was said."


def test_the_shipped_model_is_half_precision_within_30_mb():
    weights = SHIPPED_MODELS["default"] / WEIGHTS_FILE
    assert weights.stat().st_size <= 30e6
    from safetensors import safe_open

    with safe_open(weights, "pt") as tensors:
        assert {tensors.get_slice(name).get_dtype() for name in tensors.keys()} == {"F16"}


@pytest.mark.real
def test_the_shipped_model_answers_a_held_out_clip_like_the_text_path():
    model = BlspKdModel.from_pretrained("default")
    audios = [soundfile.read(DATA / f"held-out-{clip_id}.flac", dtype="float32")[0] for clip_id in CLIPS]
    speech_answers = model.generate(audios, INSTRUCTION, max_new_tokens=48)
    text_answers = [model.tokenizer.decode(ids, skip_special_tokens=True)
                    for ids in model.generate_ids_from_text(list(CLIPS.values()), INSTRUCTION, 48)]
    assert text_answers[0] == CLIPS["test-000000"]  # the text path repeats this transcript exactly
    own = error_rate([text_answers[0]], [speech_answers[0]])["wer"]
    other = error_rate([text_answers[1]], [speech_answers[0]])["wer"]
    assert own <= 0.6, speech_answers[0]
    assert other >= 0.9, speech_answers[0]
