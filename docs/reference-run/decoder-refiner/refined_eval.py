"""Issue #13, twenty-eighth session: the repeat task with the shipped model's readout replaced by the classifier
fused with Whisper's decoder (`refine_probe.py`, `fuse.py`), end to end: does naming more of the words carry them
into the answers?

Per clip, on the CIF's n vectors (free inference: the CIF's own count): the classifier's distribution over SmolLM2's
vocabulary, p_c = softmax(cos(v, E) / 0.02) (the shipped readout's); one parallel pass of Whisper tiny.en's decoder
over [<|startoftranscript|>, <|notimestamps|>, g_1, …, g_{n−1}], g_i the mean of Whisper's token embeddings under
p_c_i over the strings both vocabularies share, naming token i at position i (p_d, as a SmolLM2 token of the same
string; a clip's first token with Whisper's leading space; strings Whisper lacks get p_d's smallest value); the
LLM reads Σ_k q_k E_k with q ∝ (p_c · p_d^λ)^(1/τ) (λ = 0: the shipped model as it is; τ < 1 sharpens q
towards its best token, as the shipped readout's 0.02 does p_c). ROUNDS 2 feeds the fused choices
back as the previous tokens and fuses again. FIRST_SPACED=1 feeds a clip's first guess as Whisper spells a
transcript's first token (with its leading space), as the outputs are already looked up. The decoder's cross-attention reads FRAMES: `real`, the frames the
CFormer reads (no second encoder pass), or `padded`, stock Whisper's 30 s-padded encoder states.

usage: PYTHONPATH=src python refined_eval.py LAMBDA FRAMES ROUNDS TAU OUT MANIFEST [LIMIT]   (speech path, fp32, ≤ 48
new tokens, as `readout/snap_eval.py`)
"""
import os
import sys
from dataclasses import replace

import torch
from refine_probe import WHISPER, Vocabularies, decoder_pass
from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

from blsp_kd.eval.evaluate import EvaluationOptions, evaluate_manifest
from blsp_kd.losses import token_cosines
from blsp_kd.models.blsp_kd import BlspKdModel

TEMPERATURE = 0.02  # the shipped readout's
FIRST_SPACED = os.environ.get("FIRST_SPACED") == "1"  # see fused()
weight, frames, rounds, sharpness = float(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
out, manifest = sys.argv[5], sys.argv[6]
limit = int(sys.argv[7]) if len(sys.argv) > 7 else None
vocab = Vocabularies()
whisper = WhisperForConditionalGeneration.from_pretrained(WHISPER).eval()
whisper_embed = whisper.model.decoder.embed_tokens.weight
stock_features = WhisperFeatureExtractor.from_pretrained(WHISPER)
shared = vocab.to_whisper >= 0
spaced = torch.tensor([vocab.spaced.get(k, -1) for k in range(len(vocab.to_whisper))])
padded_frames = []  # stock Whisper's encoder states of the batch being generated (FRAMES padded)


def decoder_logp(logits: torch.Tensor) -> torch.Tensor:
    """[n, V_whisper] logits → [n, V_llm] log-probabilities of the same strings (first row: with a leading space)."""
    logp = logits.log_softmax(-1)
    mapped = torch.where(shared, logp[:, vocab.to_whisper.clamp_min(0)], logp.min(-1, keepdim=True).values)
    mapped[0] = torch.where(spaced >= 0, logp[0, spaced.clamp_min(0)], mapped[0])
    return mapped


def fused(vectors: torch.Tensor, encoded: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    """One clip's n vectors → the LLM's n input vectors under q ∝ p_c · p_d^λ."""
    classifier = (token_cosines(vectors, embeddings) / TEMPERATURE).log_softmax(-1)
    if weight == 0:
        return (classifier / sharpness).softmax(-1) @ embeddings
    guess = classifier.softmax(-1) * shared
    previous = (guess / guess.sum(-1, keepdim=True)).clone()
    score = classifier
    for _ in range(rounds):
        soft = previous[:, shared] @ whisper_embed[vocab.to_whisper[shared]]
        if FIRST_SPACED:  # the first guess as Whisper spells a transcript's first token (leading space, else plain)
            first = torch.where(spaced >= 0, spaced, vocab.to_whisper)
            usable = first >= 0
            guess = previous[0] * usable
            soft[0] = (guess / guess.sum().clamp_min(1e-12))[usable] @ whisper_embed[first[usable]]
        logits = decoder_pass(whisper, [encoded], [soft[:-1]], vocab.start)[0]
        score = classifier + weight * decoder_logp(logits)
        previous = torch.nn.functional.one_hot(score.argmax(-1), len(shared)).float()
    return (score / sharpness).softmax(-1) @ embeddings


original_speech, original_features = BlspKdModel.speech, BlspKdModel.features


def features(self, audios):
    if frames == "padded":
        mel = stock_features(audios, sampling_rate=16000, return_tensors="pt").input_features
        padded_frames[:] = list(whisper.model.encoder(mel).last_hidden_state)
    return original_features(self, audios)


def speech(self, hidden, frame_mask, num_tokens=None, read_out=True):
    own = original_speech(self, hidden, frame_mask, num_tokens, read_out=False)
    embeddings = self.llm.get_input_embeddings().weight.float()
    embeds = torch.zeros_like(own.embeds, dtype=torch.float)
    for row in range(len(own.embeds)):
        n = int(own.num_tokens[row])
        encoded = padded_frames[row] if frames == "padded" else hidden[row][frame_mask[row]].float()
        embeds[row, :n] = fused(own.embeds[row, :n].float(), encoded, embeddings)
    return replace(own, embeds=embeds.to(own.embeds.dtype), vectors=own.embeds)


BlspKdModel.speech, BlspKdModel.features = speech, features
options = EvaluationOptions(tasks=("repeat",), max_new_tokens=48, latency_clips=0, plot_clips=0, progress=False)
with torch.inference_mode():
    evaluate_manifest(manifest, out, model="default", systems=("speech",), options=options, limit=limit,
                      precision="fp32")
