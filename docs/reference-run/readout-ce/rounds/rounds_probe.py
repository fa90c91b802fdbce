"""Issue #13, thirty-seventh session: the decoder readout run for more than one round on `default` — round r + 1's
decoder reads round r's fused choices as its previous tokens (soft: q's mean Whisper embedding; hard: its argmax).
A lab probe, not part of the package. The readout's argmax transcript per clip (the CIF's own count), scored as
gated_probe.py scores (S, D, I per reference word; words right by training count).

    PYTHONPATH=src:docs/reference-run/deletions:docs/reference-run/readout-ce/inference MAX_ROUNDS=5 HARD=0 \
      python rounds_probe.py MANIFEST LIMIT MODEL TRAIN_MANIFEST OUT

MAX_ROUNDS: rounds 2 … MAX_ROUNDS are read besides the shipped one; HARD=1 also feeds each round's argmax instead
of its distribution.
"""
import os
import sys

import torch
from gated_probe import probe, score

from blsp_kd.models.decoder_readout import decoder_log_probs, readout_terms, whisper_inputs

MAX_ROUNDS = int(os.environ.get("MAX_ROUNDS", "3"))
HARD = int(os.environ.get("HARD", "1"))


def variants(model, audios: list) -> dict[str, list[str]]:
    """The readout's argmax per clip after 1 … MAX_ROUNDS rounds, each round's decoder reading the round before's
    fused q, soft (its mean Whisper embedding) and, with HARD=1, hard (its argmax)."""
    features, lengths = model.features(audios)
    hidden, frame_mask = model.encode(features, lengths)
    speech = model.speech(hidden, frame_mask, read_out=False)
    architecture = model.config.architecture
    weight = architecture.decoder_readout
    lengths = speech.mask.sum(-1).tolist()
    c, d = readout_terms(speech.embeds, speech.mask, hidden, frame_mask, model.llm.get_input_embeddings().weight,
                         model.readout_decoder, model.shared_vocabulary, architecture.vocabulary_readout)
    ids = {"1 round (shipped)": (c + weight * d).argmax(-1)}
    for kind in ("soft", "hard")[:1 + HARD]:
        fused = (c + weight * d).log_softmax(-1)
        for rounds in range(2, MAX_ROUNDS + 1):
            q = fused.exp() if kind == "soft" else torch.nn.functional.one_hot(fused.argmax(-1), c.shape[-1]).float()
            guesses = whisper_inputs(q, model.shared_vocabulary, model.readout_decoder.embed_tokens.weight)
            d_next = decoder_log_probs(guesses, lengths, hidden, frame_mask, model.readout_decoder,
                                       model.shared_vocabulary)
            fused = (c + weight * d_next).log_softmax(-1)
            ids[f"{rounds} rounds, {kind}"] = fused.argmax(-1)
    return {name: [model.tokenizer.decode(row.tolist()) for row in flat.split(lengths)] for name, flat in ids.items()}


if __name__ == "__main__":
    score(probe(variants, sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[5]), sys.argv[4])
