"""The numbers that measure what BLSP-KD optimises (METHOD §4 "Metrics"):

- speech-vs-text KL(teacher ‖ student) at τ = 1, computed with the true n, summed over every transcript position
  ("input") and every response target ("response") of the set and divided by the token counts (a token mean over
  the whole set, not a mean of batch means);
- the CIF token-count error mean_u |n̂_u − n_u| / n_u with the CIF's own estimate n̂ = max(1, round(Σα));
- the token accuracy of the CFormer's vectors: the share whose nearest LLM input embedding (cosine, over the whole
  vocabulary) is the transcript token the vector stands for — token_ce's classifier read off as a count. It says
  whether the words themselves reach the LLM (a vector can carry the sentence's frame and still name the wrong
  word).

With `with_shuffled=True` the same KL is also measured with every clip's transcript paired with the encoder output
of the previous clip in its batch (the CIF is still forced to the transcript's n): the KL of a student that hears
the wrong speech, i.e. the floor an adapter reaches by learning only the style of the corpus. A trained adapter must
be clearly below it.
"""

from collections.abc import Iterable

import torch
from torch import Tensor
from tqdm import tqdm

from blsp_kd.data.dataset import batch_index_lists, speech_loader
from blsp_kd.data.manifest import ManifestRecord
from blsp_kd.layout.tasks import DEFAULT_INSTRUCTION
from blsp_kd.losses import kd_kl
from blsp_kd.models.blsp_kd import BlspKdModel


@torch.no_grad()
def alignment_metrics(model: BlspKdModel, batches: Iterable, with_shuffled: bool = False,
                      progress: bool = False) -> dict[str, float]:
    """batches: SpeechBatch objects (`blsp_kd.data.dataset`). Returns input_kl, response_kl, kl (all positions),
    cif_count_error (CFormer, own audio) and the token/utterance counts behind them. with_shuffled adds
    shuffled_input_kl, shuffled_response_kl and shuffled_kl from the same pass: each clip's encoder output swapped
    for the previous clip's in its batch (batches of at least 2 clips)."""
    was_training = model.training
    model.eval()
    own, shuffled = KlSums(), KlSums()
    count_error_sum, num_utterances, token_hits, num_vectors = 0.0, 0, 0, 0
    token_embeddings = model.llm.get_input_embeddings().weight
    inverse_norms = token_embeddings.float().norm(dim=-1).clamp(min=1e-12).reciprocal()
    for batch in tqdm(batches, desc="alignment metrics", disable=not progress, leave=False):
        batch = batch.to(model.device)
        hidden, frame_mask = model.encoder_outputs(batch.speech)
        logits = model.kd_logits(batch.text, hidden, frame_mask)
        own.add(logits)
        if logits.speech.alpha_sum is not None:
            size = batch.text.num_tokens.shape[0]
            count_error_sum += cif_count_error(logits.speech.alpha_sum, batch.text.num_tokens).item() * size
            num_utterances += size
        if logits.input_positions is not None:  # vector i stands for transcript token i
            targets = batch.text.input_ids[batch.text.speech_mask]
            token_hits += nearest_token_hits(logits.speech.embeds[logits.speech.mask], targets, token_embeddings,
                                             inverse_norms)
            num_vectors += targets.numel()
        if with_shuffled:
            if hidden.shape[0] < 2:
                raise ValueError("shuffled-audio metrics need batches of at least 2 clips")
            shuffled.add(model.kd_logits(batch.text, hidden.roll(1, dims=0), frame_mask.roll(1, dims=0)))
    model.train(was_training)
    metrics = own.means() | {"num_input_tokens": own.counts["input_kl"],
                             "num_response_tokens": own.counts["response_kl"]}
    if num_utterances:
        metrics["cif_count_error"] = count_error_sum / num_utterances
    if num_vectors:
        metrics["token_accuracy"] = token_hits / num_vectors
    if with_shuffled:
        metrics |= {f"shuffled_{name}": value for name, value in shuffled.means().items()}
    return metrics


class KlSums:
    """KL(teacher ‖ student) at τ = 1 summed over the transcript ("input_kl") and response positions of many
    batches, for token means over the whole set."""

    def __init__(self):
        self.sums, self.counts = {"input_kl": 0.0, "response_kl": 0.0}, {"input_kl": 0, "response_kl": 0}

    def add(self, logits) -> None:
        positions = {"input_kl": logits.input_positions, "response_kl": logits.response_positions}
        for name, mask in positions.items():
            num_positions = 0 if mask is None else int(mask.sum())
            if num_positions:
                kl = kd_kl(logits.teacher, logits.student, mask, temperature=1.0)
                self.sums[name] += kl.item() * num_positions
                self.counts[name] += num_positions

    def means(self) -> dict[str, float]:
        """input_kl, response_kl and kl (over both), each where it has positions."""
        means = {name: self.sums[name] / self.counts[name] for name in self.sums if self.counts[name]}
        if sum(self.counts.values()):
            means["kl"] = sum(self.sums.values()) / sum(self.counts.values())
        return means


def nearest_token_hits(vectors: Tensor, target_ids: Tensor, token_embeddings: Tensor,
                       inverse_norms: Tensor | None = None) -> int:
    """How many of the speech vectors [K, H] have the input embedding of their target token [K] as the nearest, by
    cosine, of all rows of token_embeddings [V, H]. inverse_norms: 1 / |E_k| [V] when already at hand (the ranking
    of v·E_k / |E_k| is the cosine's: |v| is the same for every k, so no normalised copy of E is made)."""
    if inverse_norms is None:
        inverse_norms = token_embeddings.float().norm(dim=-1).clamp(min=1e-12).reciprocal()
    scores = (vectors.to(token_embeddings.dtype) @ token_embeddings.T).float() * inverse_norms
    return int((scores.argmax(dim=-1) == target_ids).sum())


def cif_count_error(alpha_sum: Tensor, num_tokens: Tensor) -> Tensor:
    """Mean |n̂ − n| / n with the CIF's own estimate n̂ = max(1, round(Σα)), a 0-d tensor."""
    predicted = alpha_sum.detach().round().clamp(min=1)
    return ((predicted - num_tokens).abs() / num_tokens).mean()


def held_out_alignment(model: BlspKdModel, records: list[ManifestRecord], batch_size: int, feature_cache=None,
                       default_instruction: str = DEFAULT_INSTRUCTION, max_seconds: float | None = None,
                       max_text_tokens: int | None = None, with_shuffled: bool = False,
                       progress: bool = False) -> dict[str, float]:
    """`alignment_metrics` of `records` in consecutive batches (`speech_loader`: encoder outputs from
    `feature_cache` when given, else from the audio). with_shuffled adds the same KL with every clip's encoder
    output swapped for another clip's of its batch (shuffled_input_kl, shuffled_response_kl, shuffled_kl)."""
    batches = batch_index_lists(len(records), batch_size)
    loader = speech_loader(model, records, batches, feature_cache, default_instruction=default_instruction,
                           max_seconds=max_seconds, max_text_tokens=max_text_tokens)
    return alignment_metrics(model, loader, with_shuffled=with_shuffled and len(records) >= 2, progress=progress)
