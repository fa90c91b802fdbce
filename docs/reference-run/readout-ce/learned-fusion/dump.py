"""Issue #13, thirty-sixth session: the decoder readout's two terms (`readout_terms`: log p_c, the classifier, and
log p_d, Whisper's decoder reading its guesses; both over the LLM's vocabulary) at every transcript position of
`default`, the CIF forced to the transcript's count (token i ↔ vector i), kept at the candidates — the union of
each term's top 32 — and the target as a 65th slot (fit.py drops it: kept as a candidate it would leak the target),
with each position's confidences (both terms' entropies and top two log-probabilities). For fitting a fusion of the
two offline (fit.py, rerank.py). A lab probe, not part of the package.

    PYTHONPATH=src python dump.py MANIFEST START STOP OUT.pt [MODEL]
"""
import sys

import torch
from tqdm import tqdm

from blsp_kd.data.audio import load_record_audio
from blsp_kd.data.manifest import read_manifest
from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.decoder_readout import readout_terms

TOP = 32


def candidates(c, d):
    """[K, 2 · TOP] each term's top TOP tokens, the classifier's first (a token in both lists appears twice): what a
    fusion ranks."""
    return torch.cat([c.topk(TOP, -1).indices, d.topk(TOP, -1).indices], -1)


def confidences(c, d):
    """[K, 6] each position's confidences: both terms' entropies, then each term's top two log-probabilities."""
    def entropy(log_probs):
        return -(log_probs.exp() * log_probs).sum(-1)

    top_c, top_d = c.topk(2, -1).values, d.topk(2, -1).values
    return torch.stack([entropy(c), entropy(d), top_c[:, 0], top_c[:, 1], top_d[:, 0], top_d[:, 1]], -1)


@torch.inference_mode()
def main(manifest, start, stop, out, model_name="default"):
    model = BlspKdModel.from_pretrained(model_name, precision="fp32")
    architecture = model.config.architecture
    embeddings = model.llm.get_input_embeddings().weight
    records = read_manifest(manifest)[0][int(start):int(stop)]
    rows = {"ids": [], "c": [], "d": [], "target": [], "feat": [], "clip": [], "pos": []}
    for first in tqdm(range(0, len(records), 16), desc="dumping"):
        batch = records[first:first + 16]
        transcripts = [model.prompts.transcript_ids(record.text) for record in batch]
        audios = [load_record_audio(record).samples for record in batch]
        features, lengths = model.features(audios)
        hidden, frame_mask = model.encode(features, lengths)
        speech = model.speech(hidden, frame_mask, torch.tensor([len(t) for t in transcripts]), read_out=False)
        c, d = readout_terms(speech.embeds, speech.mask, hidden, frame_mask, embeddings, model.readout_decoder,
                             model.shared_vocabulary, architecture.vocabulary_readout)
        target = torch.cat([torch.tensor(t) for t in transcripts])
        ids = torch.cat([candidates(c, d), target[:, None]], -1)
        rows["ids"].append(ids)
        rows["c"].append(c.gather(-1, ids))
        rows["d"].append(d.gather(-1, ids))
        rows["target"].append(target)
        rows["feat"].append(confidences(c, d))
        rows["clip"].append(torch.cat([torch.full((len(t),), int(start) + first + i) for i, t in
                                       enumerate(transcripts)]))
        rows["pos"].append(torch.cat([torch.arange(len(t)) for t in transcripts]))
    torch.save({k: torch.cat(v) for k, v in rows.items()}, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
