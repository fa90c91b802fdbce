"""Issue #13, thirty-sixth session: the readout's argmax transcript at the CIF's own count (as generation reads
it), the shipped fusion against the reranked one (rerank_eval.py), scored as gated_probe.py scores (S, D, I per
reference word; words right by how often TRAIN's transcripts hold them). A lab probe, not part of the package.

    PYTHONPATH=src:deletions:readout-ce/inference:THIS_FOLDER RERANKER=… python rerank_probe.py MANIFEST LIMIT TRAIN OUT
"""
import sys

from blsp_kd.models import blsp_kd as module

ORIGINAL_READOUT = module.BlspKdModel.__dict__["readout_log_probs"]

import rerank_eval  # noqa: E402  (patches the class)
from gated_probe import probe, score  # noqa: E402


def variants(model, audios):
    features, lengths = model.features(audios)
    hidden, frame_mask = model.encode(features, lengths)
    speech = model.speech(hidden, frame_mask, read_out=False)
    counts = speech.num_tokens.tolist()
    out = {}
    for name, function in (("shipped", ORIGINAL_READOUT), ("reranked", rerank_eval.readout_log_probs)):
        chosen = function(model, speech, hidden, frame_mask).argmax(-1)
        out[name] = [model.tokenizer.decode(row[:n].tolist()) for row, n in zip(chosen, counts, strict=True)]
    return out


if __name__ == "__main__":
    score(probe(variants, sys.argv[1], int(sys.argv[2]), "default", sys.argv[4]), sys.argv[3])
