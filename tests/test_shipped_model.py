"""The model shipped with the package (`--model default`, the reference run's): it loads on the embedded base
models, within its size budget, and answers held-out clips closer to the text path's answers to their own
transcripts than to the other clip's.

The clips are held-out test clips of the reference run's corpus (`make corpus CORPUS_NUM=8000`): test-000001 (the
first test clip on which the text path's "repeat" answer is exactly the transcript; espeak-ng voice en-us+f2) and
test-000005 (the next such clip of another voice, en-us-nyc+f1); voices and sentences not heard in training. Measure:
word error rate of the speech answer against the text path's answer. Measured (fp32, the shipped config's precision,
through its vocabulary readout, T = 0.02, and since the twenty-eighth session its decoder readout, λ = 2): "We need
six hundred and ninety seven boxes by Saturday." (0.00 against its own text answer, 1.20 against the other clip's) and
"Eel was born in nineteen twenty eight." (0.20, 1.00); the model shipped since the thirty-first session (that one
trained further on the speech side with readout_ce): "We need six hundred and ninety seven boxes by Saturday." (0.00,
1.20) and "Eel was born in nineteen twenty-eight." (0.20, 1.00); through the vocabulary readout alone (the speech-side
model shipped in the twenty-fourth session; the twenty-third session's, which it continues, answered the same): "We
need six hundred and ninety-seven books by Saturday." (0.17, 1.20) and "Elen was born in nineteen twenty-eight."
(0.20, 1.00); the model shipped before those (seventeenth session), through its readout at T = 0.01: "We need six
hundred and and ninety-seven books by Saturday." (0.67, 1.60) and "E in was born in nineteen twenty eight." (0.40,
1.00), and reading its vectors as they are: "We need six hundred and eighty-seven boxes by Saturday." (0.17, 1.20) and
"Elin was born in nineteen twenty-eight." (0.20, 1.00); the models shipped before those answered "We need six hundred
and ninety-seven boxes by Saturday." (0.00, 1.20), "We need six hundred and ninety-seven bottles by Saturday." (0.17,
1.20), "We need six hundred and ninety-nine bottles by Saturday." (0.33, 1.20), "We need six hundred and nine thousand
seven hundred and nine to Saturday." (0.50, 1.00) and "We need six hundred and nine hundred bottles of wine by
Saturday." (0.67, 1.60), all "… born in nineteen twenty-eight." with Elin or Liam (0.20, 1.00). Both sentences are in
the test split of the WordNet corpora the shipped model was last trained on too (not in their training splits, nor in
the 24,000 new sentences of its speech-side training; those have the same templates with other names and numbers, such
as "James was born in nineteen twenty eight.", "Evelyn was born in nineteen sixty two." and "We need ninety seven
boxes by Saturday."). With `--readout-prior 1` (the twenty-ninth session's option) it gives the same two answers.
docs/RESULTS.md, "The reference run on the multi-engine corpus"."""

from pathlib import Path

import pytest
import soundfile

from blsp_kd.eval.metrics import error_rate
from blsp_kd.models.blsp_kd import SHIPPED_MODELS, WEIGHTS_FILE, BlspKdModel

DATA = Path(__file__).parent / "data"
CLIPS = {"test-000001": "We need six hundred and ninety seven boxes by Saturday.",
         "test-000005": "Evelyn was born in nineteen twenty eight."}
INSTRUCTION = "Repeat what was said."


def test_the_shipped_model_is_half_precision_within_30_mb():
    weights = SHIPPED_MODELS["default"] / WEIGHTS_FILE
    assert weights.stat().st_size <= 30e6
    from safetensors import safe_open

    with safe_open(weights, "pt") as tensors:
        assert {tensors.get_slice(name).get_dtype() for name in tensors.keys()} == {"F16"}


@pytest.mark.real
def test_the_shipped_model_answers_held_out_clips_like_the_text_path():
    model = BlspKdModel.from_pretrained("default")
    audios = [soundfile.read(DATA / f"corpus8k-{clip_id}.flac", dtype="float32")[0] for clip_id in CLIPS]
    speech_answers = model.generate(audios, INSTRUCTION, max_new_tokens=48)
    text_answers = [model.tokenizer.decode(ids, skip_special_tokens=True)
                    for ids in model.generate_ids_from_text(list(CLIPS.values()), INSTRUCTION, 48)]
    assert text_answers == list(CLIPS.values())  # the text path repeats both transcripts exactly
    for answer, own_text, other_text in zip(speech_answers, text_answers, text_answers[::-1], strict=True):
        own = error_rate([own_text], [answer])["wer"]
        other = error_rate([other_text], [answer])["wer"]
        assert own <= 0.7 and other - own >= 0.5, (answer, own, other)
