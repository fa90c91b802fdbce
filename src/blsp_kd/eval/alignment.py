"""The two numbers that measure what BLSP-KD optimises (METHOD §4 "Metrics"):

- speech-vs-text KL(teacher ‖ student) at τ = 1, computed with the true n, summed over every transcript position
  ("input") and every response target ("response") of the set and divided by the token counts (a token mean over
  the whole set, not a mean of batch means);
- the CIF token-count error mean_u |n̂_u − n_u| / n_u with the CIF's own estimate n̂ = max(1, round(Σα)).

With `shuffle_audio=True` every clip's transcript is paired with the encoder output of the previous clip in its
batch (the CIF is still forced to the transcript's n): the KL of a student that hears the wrong speech, i.e. the
floor an adapter reaches by learning only the style of the corpus. A trained adapter must be clearly below it.
"""

from collections.abc import Iterable

import torch
from tqdm import tqdm

from blsp_kd.losses import kd_kl
from blsp_kd.models.blsp_kd import BlspKdModel, cif_count_error


@torch.no_grad()
def alignment_metrics(model: BlspKdModel, batches: Iterable, shuffle_audio: bool = False,
                      progress: bool = False) -> dict[str, float]:
    """batches: SpeechBatch objects (`blsp_kd.data.dataset`). Returns input_kl, response_kl, kl (all positions),
    cif_count_error (CFormer, own audio) and the token/utterance counts behind them."""
    was_training = model.training
    model.eval()
    sums, counts = {"input_kl": 0.0, "response_kl": 0.0}, {"input_kl": 0, "response_kl": 0}
    count_error_sum, num_utterances = 0.0, 0
    for batch in tqdm(batches, desc="alignment metrics", disable=not progress, leave=False):
        batch = batch.to(model.device)
        hidden, frame_mask = model.encoder_outputs(batch)
        if shuffle_audio:
            if hidden.shape[0] < 2:
                raise ValueError("shuffled-audio metrics need batches of at least 2 clips")
            hidden, frame_mask = hidden.roll(1, dims=0), frame_mask.roll(1, dims=0)
        logits = model.kd_logits(batch.text, hidden, frame_mask)
        positions = {"input_kl": logits.input_positions, "response_kl": logits.response_positions}
        for name, mask in positions.items():
            num_positions = 0 if mask is None else int(mask.sum())
            if num_positions:
                kl = kd_kl(logits.teacher, logits.student, mask, temperature=1.0)
                sums[name] += kl.item() * num_positions
                counts[name] += num_positions
        if logits.speech.alpha_sum is not None and not shuffle_audio:
            size = batch.text.num_tokens.shape[0]
            count_error_sum += cif_count_error(logits.speech.alpha_sum, batch.text.num_tokens) * size
            num_utterances += size
    model.train(was_training)
    metrics = {name: sums[name] / counts[name] for name in sums if counts[name]}
    if sum(counts.values()):
        metrics["kl"] = sum(sums.values()) / sum(counts.values())
    metrics |= {"num_input_tokens": counts["input_kl"], "num_response_tokens": counts["response_kl"]}
    if num_utterances:
        metrics["cif_count_error"] = count_error_sum / num_utterances
    return metrics
