"""Issue #13, thirty-second session: where do the speech path's lost words go? A lab probe, not part of the package.

The thirty-first note's hypothesis: the CIF count n̂ = round(Σα) decides how many vectors the LLM reads, so clips
where the CIF undercounts are where the repeat answers lose words. For the first LIMIT clips of a manifest, this runs
the model's speech side twice — with the CIF's own count (what generation uses) and with the transcript's true count
(what training uses) — and writes, per clip, the counts, Σα and the transcript the decoder readout names (the argmax
of q at each vector), for `table.py` to set beside the repeat answers' errors.

    PYTHONPATH=src python docs/reference-run/deletions/probe.py MANIFEST LIMIT MODEL OUT.jsonl
"""

import json
import sys

import torch
from tqdm import tqdm

from blsp_kd.data.audio import load_record_audio
from blsp_kd.data.manifest import read_manifest
from blsp_kd.models.blsp_kd import BlspKdModel


def readout_transcripts(model: BlspKdModel, audios: list,
                        counts: torch.Tensor | None) -> tuple[list[str], list[int], list[float]]:
    """The decoder readout's argmax tokens decoded, the number of vectors and Σα, per clip."""
    features, lengths = model.features(audios)
    hidden, frame_mask = model.encode(features, lengths)
    speech = model.speech(hidden, frame_mask, num_tokens=counts)
    ids = speech.readout_log_probs.argmax(-1)
    texts = [model.tokenizer.decode(row[:n].tolist()) for row, n in zip(ids, speech.num_tokens.tolist(), strict=True)]
    return texts, speech.num_tokens.tolist(), speech.alpha_sum.tolist()


@torch.inference_mode()
def main(manifest: str, limit: int, model_name: str, out: str, batch_size: int = 16) -> None:
    model = BlspKdModel.from_pretrained(model_name, precision="fp32")
    records = read_manifest(manifest)[0][:limit]
    with open(out, "w") as sink:
        for start in tqdm(range(0, len(records), batch_size), desc="probing"):
            batch = records[start:start + batch_size]
            audios = [load_record_audio(record).samples for record in batch]
            true_counts = [len(model.prompts.transcript_ids(record.text)) for record in batch]
            free, n_free, alpha_sum = readout_transcripts(model, audios, None)
            forced, _, _ = readout_transcripts(model, audios, torch.tensor(true_counts))
            for record, *row in zip(batch, true_counts, n_free, alpha_sum, free, forced, strict=True):
                keys = ("true_count", "own_count", "alpha_sum", "readout_own_count", "readout_true_count")
                fields = dict(zip(keys, row, strict=True))
                sink.write(json.dumps({"id": record.id, "text": record.text, **fields}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
