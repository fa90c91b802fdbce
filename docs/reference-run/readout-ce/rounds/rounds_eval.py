"""Issue #13, thirty-seventh session: `blsp-kd` with the decoder readout run for ROUNDS rounds (env; 2 and 5 as run):
round r + 1's decoder reads round r's fused q (soft: its mean Whisper input embedding over the shared strings) as
its previous tokens; the classifier term stays. Patched into `BlspKdModel.readout_log_probs`. A lab probe, written
before `--readout-rounds` (src, since 2f6d25c: the same answers on the 16 validation clips compared).

    PYTHONPATH=src:THIS_FOLDER ROUNDS=2 python rounds_eval.py evaluate ARGS…
"""
import os
import sys

import torch

from blsp_kd.models import blsp_kd as module
from blsp_kd.models.decoder_readout import decoder_log_probs, readout_terms, whisper_inputs

ROUNDS = int(os.environ.get("ROUNDS", "2"))


def readout_log_probs(self, speech, hidden, frame_mask):
    architecture = self.config.architecture
    mask = speech.mask
    embeddings = self.llm.get_input_embeddings().weight
    out = torch.zeros(*mask.shape, embeddings.shape[0], device=hidden.device)
    if not mask.any():
        return out
    c, d = readout_terms(speech.embeds, mask, hidden, frame_mask, embeddings, self.readout_decoder,
                         self.shared_vocabulary, architecture.vocabulary_readout)
    fused = (c + architecture.decoder_readout * d).log_softmax(-1)
    for _ in range(ROUNDS - 1):
        guesses = whisper_inputs(fused.exp(), self.shared_vocabulary, self.readout_decoder.embed_tokens.weight)
        d = decoder_log_probs(guesses, mask.sum(-1).tolist(), hidden, frame_mask, self.readout_decoder,
                              self.shared_vocabulary)
        fused = (c + architecture.decoder_readout * d).log_softmax(-1)
    return out.index_put((mask,), fused)


module.BlspKdModel.readout_log_probs = readout_log_probs

if __name__ == "__main__":
    from blsp_kd.cli import main
    sys.exit(main())
