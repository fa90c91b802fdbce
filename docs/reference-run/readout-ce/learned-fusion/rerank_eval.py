"""Issue #13, thirty-sixth session: `blsp-kd` with the decoder readout's fusion replaced by a fitted reranker
(rerank.py; RERANKER its weights) at each term's top 32 — the rest of the vocabulary keeps p_c · p_d^λ — patched
into `BlspKdModel.readout_log_probs` (SHARPEN: q^s renormalised; 1 as run). A lab probe, not part of the package.

    PYTHONPATH=src:THIS_FOLDER RERANKER=reranker.pt python rerank_eval.py evaluate ARGS…
"""
import os
import sys

import torch
from dump import candidates, confidences
from fit import position_inputs
from rerank import Reranker

from blsp_kd.models import blsp_kd as module
from blsp_kd.models.decoder_readout import first_rows, readout_terms

STATE = torch.load(os.environ["RERANKER"])
SHARPEN = float(os.environ.get("SHARPEN", "1"))
RERANKER = Reranker(STATE["mean"].numel(), STATE["net.0.weight"].shape[0])
RERANKER.load_state_dict(STATE)


def readout_log_probs(self, speech, hidden, frame_mask):
    architecture = self.config.architecture
    mask = speech.mask
    out = torch.zeros(*mask.shape, self.llm.get_input_embeddings().weight.shape[0], device=hidden.device)
    if not mask.any():
        return out
    c, d = readout_terms(speech.embeds, mask, hidden, frame_mask, self.llm.get_input_embeddings().weight,
                         self.readout_decoder, self.shared_vocabulary, architecture.vocabulary_readout)
    ids = candidates(c, d)
    first = torch.zeros(len(c), dtype=torch.bool)
    first[first_rows(mask.sum(-1).tolist())] = True
    data = {"c": c.gather(-1, ids), "d": d.gather(-1, ids), "ids": ids, "x": position_inputs(confidences(c, d), ids,
                                                                                             first)}
    fused = c + architecture.decoder_readout * d
    fused = fused.scatter(-1, ids, RERANKER(data))
    return out.index_put((mask,), (SHARPEN * fused).log_softmax(-1))


module.BlspKdModel.readout_log_probs = readout_log_probs

if __name__ == "__main__":
    from blsp_kd.cli import main
    sys.exit(main())
