"""Issue #13, thirty-sixth session: does leaning on Whisper's decoder help where the classifier's training voices
end? The readout's argmax transcript at the CIF's own count on the 11 human clips (human-probe/), by fusion: the
classifier alone (λ ≈ 0), the shipped λ 2, λ 4, λ 8, the decoder alone (λ 1000) and the per-candidate fusion
(rerank_eval.py; RERANKER its weights); scored as gated_probe.py scores. A diagnostic on 95 words, not a choice.

    PYTHONPATH=src:deletions:readout-ce/inference:THIS_FOLDER RERANKER=… python human_probe.py MANIFEST LIMIT TRAIN OUT
"""
import sys

import rerank_eval
from gated_probe import probe, score

from blsp_kd.models.decoder_readout import fused_log_probs


def variants(model, audios):
    features, lengths = model.features(audios)
    hidden, frame_mask = model.encode(features, lengths)
    speech = model.speech(hidden, frame_mask, read_out=False)
    counts = speech.num_tokens.tolist()
    embeddings = model.llm.get_input_embeddings().weight
    a = model.config.architecture
    out = {}
    for name, weight in (("classifier", 1e-6), ("λ 2", 2.0), ("λ 4", 4.0), ("λ 8", 8.0), ("decoder", 1000.0)):
        ids = fused_log_probs(speech.embeds, speech.mask, hidden, frame_mask, embeddings, model.readout_decoder,
                              model.shared_vocabulary, a.vocabulary_readout, weight).argmax(-1)
        out[name] = [model.tokenizer.decode(r[:n].tolist()) for r, n in zip(ids, counts, strict=True)]
    ids = rerank_eval.readout_log_probs(model, speech, hidden, frame_mask).argmax(-1)
    out["per-candidate"] = [model.tokenizer.decode(r[:n].tolist()) for r, n in zip(ids, counts, strict=True)]
    return out


if __name__ == "__main__":
    score(probe(variants, sys.argv[1], int(sys.argv[2]), "default", sys.argv[4]), sys.argv[3])
