"""The numbers that measure what BLSP-KD optimises (METHOD §4 "Metrics"):

- speech-vs-text KL(teacher ‖ student) at τ = 1, computed with the true n, summed over every transcript position
  ("input") and every response target ("response") of the set and divided by the token counts (a token mean over
  the whole set, not a mean of batch means);
- the CIF token-count error mean_u |n̂_u − n_u| / n_u with the CIF's own estimate n̂ = max(1, round(Σα));
- the token accuracy of the CFormer's vectors: the share whose nearest LLM input embedding (cosine, over the whole
  vocabulary) is the transcript token the vector stands for — token_ce's classifier read off as a count. It says
  whether the words themselves reach the LLM (a vector can carry the sentence's frame and still name the wrong
  word). With a decoder readout, readout_token_accuracy is the same count for the token the readout's q names
  (its argmax): the one the LLM reads most of.

Given how often each token occurs in the training transcripts (`training_token_counts`), the token accuracy is
also split by that count (`TRAINING_COUNT_BANDS`): whether the adapter names the words it has seen often, and how
far that carries to the words it has seen a few times or never (docs/RESULTS.md, "Where the words get lost").

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

# Bands of how often a token occurs in the training transcripts: name → lowest count, highest band first.
TRAINING_COUNT_BANDS = {"100+": 100, "10-99": 10, "1-9": 1, "0": 0}


def training_count_band(counts: Tensor) -> Tensor:
    """The index into TRAINING_COUNT_BANDS of each count."""
    band = torch.zeros_like(counts)
    for lowest in list(TRAINING_COUNT_BANDS.values())[:-1]:
        band += counts < lowest
    return band


def training_token_counts(model: BlspKdModel, records: Iterable[ManifestRecord]) -> Tensor:
    """[V] how often each token id occurs in the records' transcripts, tokenised as at the speech positions."""
    ids = [token for record in records for token in model.prompts.transcript_ids(record.text)]
    return torch.bincount(torch.tensor(ids, dtype=torch.long),
                          minlength=model.llm.get_input_embeddings().weight.shape[0])


@torch.no_grad()
def alignment_metrics(model: BlspKdModel, batches: Iterable, with_shuffled: bool = False,
                      token_counts: Tensor | None = None, progress: bool = False) -> dict[str, float]:
    """batches: SpeechBatch objects (`blsp_kd.data.dataset`). Returns input_kl, response_kl, kl (all positions),
    cif_count_error (CFormer, own audio) and the token/utterance counts behind them. with_shuffled adds
    shuffled_input_kl, shuffled_response_kl and shuffled_kl from the same pass: each clip's encoder output swapped
    for the previous clip's in its batch (batches of at least 2 clips). token_counts ([V], `training_token_counts`)
    adds, per band B of TRAINING_COUNT_BANDS that holds vectors, token_accuracy_train_B and num_vectors_train_B."""
    was_training = model.training
    model.eval()
    own, shuffled = KlSums(), KlSums()
    count_error_sum, num_utterances = 0.0, 0
    # nearest-token hits and vectors per band of TRAINING_COUNT_BANDS (all in band 0 without token_counts)
    band_hits = torch.zeros(len(TRAINING_COUNT_BANDS), dtype=torch.long)
    band_vectors = torch.zeros(len(TRAINING_COUNT_BANDS), dtype=torch.long)
    readout_hits = 0  # tokens the decoder readout's q names (its argmax), where the model has one
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
            hits = nearest_token_matches(logits.speech.adapter_vectors[logits.speech.mask], targets, token_embeddings,
                                         inverse_norms).cpu()
            band = (training_count_band(token_counts[targets.cpu()]) if token_counts is not None
                    else torch.zeros_like(hits, dtype=torch.long))
            band_hits += torch.bincount(band[hits], minlength=band_hits.numel())
            band_vectors += torch.bincount(band, minlength=band_vectors.numel())
            if logits.speech.readout_log_probs is not None:
                readout = logits.speech.readout_log_probs[logits.speech.mask].argmax(-1)
                readout_hits += int((readout == targets).sum())
        if with_shuffled:
            if hidden.shape[0] < 2:
                raise ValueError("shuffled-audio metrics need batches of at least 2 clips")
            shuffled.add(model.kd_logits(batch.text, hidden.roll(1, dims=0), frame_mask.roll(1, dims=0)))
    model.train(was_training)
    metrics = own.means() | {"num_input_tokens": own.counts["input_kl"],
                             "num_response_tokens": own.counts["response_kl"]}
    if num_utterances:
        metrics["cif_count_error"] = count_error_sum / num_utterances
    if band_vectors.sum():
        metrics["token_accuracy"] = int(band_hits.sum()) / int(band_vectors.sum())
        if model.readout_decoder is not None:
            metrics["readout_token_accuracy"] = readout_hits / int(band_vectors.sum())
    if token_counts is not None and band_vectors.sum():
        for name, hits, vectors in zip(TRAINING_COUNT_BANDS, band_hits.tolist(), band_vectors.tolist(), strict=True):
            if vectors:
                metrics |= {f"token_accuracy_train_{name}": hits / vectors, f"num_vectors_train_{name}": vectors}
    if with_shuffled:
        metrics |= {f"shuffled_{name}": value for name, value in shuffled.means().items()}
    return metrics


KL_NAMES = ("kl", "input_kl", "response_kl")  # KlSums' means: all positions, transcript positions, response positions


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


def nearest_token_matches(vectors: Tensor, target_ids: Tensor, token_embeddings: Tensor,
                          inverse_norms: Tensor | None = None) -> Tensor:
    """[K] bool: whether each speech vector [K, H] has the input embedding of its target token [K] as the nearest,
    by cosine, of all rows of token_embeddings [V, H]. inverse_norms: 1 / |E_k| [V] when already at hand (the ranking
    of v·E_k / |E_k| is the cosine's: |v| is the same for every k, so no normalised copy of E is made)."""
    if inverse_norms is None:
        inverse_norms = token_embeddings.float().norm(dim=-1).clamp(min=1e-12).reciprocal()
    scores = (vectors.to(token_embeddings.dtype) @ token_embeddings.T).float() * inverse_norms
    return scores.argmax(dim=-1) == target_ids


def cif_count_error(alpha_sum: Tensor, num_tokens: Tensor) -> Tensor:
    """Mean |n̂ − n| / n with the CIF's own estimate n̂ = max(1, round(Σα)), a 0-d tensor."""
    predicted = alpha_sum.detach().round().clamp(min=1)
    return ((predicted - num_tokens).abs() / num_tokens).mean()


def held_out_alignment(model: BlspKdModel, records: list[ManifestRecord], batch_size: int, feature_cache=None,
                       default_instruction: str = DEFAULT_INSTRUCTION, max_seconds: float | None = None,
                       max_text_tokens: int | None = None, with_shuffled: bool = False,
                       token_counts: Tensor | None = None, progress: bool = False) -> dict[str, float]:
    """`alignment_metrics` of `records` in consecutive batches (`speech_loader`: encoder outputs from
    `feature_cache` when given, else from the audio). with_shuffled adds the same KL with every clip's encoder
    output swapped for another clip's of its batch (shuffled_input_kl, shuffled_response_kl, shuffled_kl).
    token_counts: see `alignment_metrics`."""
    batches = batch_index_lists(len(records), batch_size)
    loader = speech_loader(model, records, batches, feature_cache, default_instruction=default_instruction,
                           max_seconds=max_seconds, max_text_tokens=max_text_tokens)
    return alignment_metrics(model, loader, with_shuffled=with_shuffled and len(records) >= 2,
                             token_counts=token_counts, progress=progress)
