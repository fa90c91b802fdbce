"""Issue #13, thirty-fourth session: which frames Whisper's decoder reads in the decoder readout. A lab probe, not
part of the package.

The decoder readout (src/blsp_kd/models/decoder_readout.py) gives Whisper's decoder the encoder states the CFormer
reads: the encoder on the clip's real length. Whisper was trained on 30 s-padded input, and its decoder, left to
itself on real-length states, loops (docs/RESULTS.md); the readout feeds it the classifier's guesses instead, but the
frames may still cost it words. Here the same readout (the model's own vectors, CIF count, λ, T) with the decoder
reading (a) the real-length states (as shipped), (b) stock Whisper's states, the clip padded to 30 s with silence
and all 1500 frames kept, (c) the same cut to the clip's frames. Scored as `gated_probe.py` scores its variants.

    PYTHONPATH=src:docs/reference-run/deletions:docs/reference-run/readout-ce/inference \
        python frames_probe.py MANIFEST LIMIT MODEL TRAIN_MANIFEST OUT
"""

import sys

import torch
from gated_probe import probe, score

from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.decoder_readout import fused_log_probs


def variants(model: BlspKdModel, audios: list) -> dict[str, list[str]]:
    features, lengths = model.features(audios)
    hidden, frame_mask = model.encode(features, lengths)
    speech = model.speech(hidden, frame_mask, read_out=False)
    encoder = model.encoder
    padded = encoder.encode_padded(features, lengths, encoder.silence_features(features, lengths))
    architecture = model.config.architecture
    frames = {"real length (shipped)": (hidden, frame_mask),
              "padded, 1500 frames": (padded, torch.ones(padded.shape[:2], dtype=torch.bool)),
              "padded, cut to the clip": (padded[:, :hidden.shape[1]] * frame_mask[..., None], frame_mask)}
    counts = speech.num_tokens.tolist()
    transcripts = {}
    for name, (states, mask) in frames.items():
        ids = fused_log_probs(speech.embeds, speech.mask, states, mask, model.llm.get_input_embeddings().weight,
                              model.readout_decoder, model.shared_vocabulary, architecture.vocabulary_readout,
                              architecture.decoder_readout).argmax(-1)
        transcripts[name] = [model.tokenizer.decode(row[:n].tolist()) for row, n in zip(ids, counts, strict=True)]
    return transcripts


if __name__ == "__main__":
    score(probe(variants, sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[5]), sys.argv[4])
