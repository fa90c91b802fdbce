"""Issue #13, thirty-second session: the speech path's repeat answers with the CIF count replaced — by the
transcript's true count (an oracle: what would a perfect count give?) or by round(Σα + BIAS). A lab probe, not part of
the package; it writes `utterances.jsonl` rows as `blsp-kd evaluate` does, for `table.py`.

    PYTHONPATH=src python docs/reference-run/deletions/answers.py MANIFEST LIMIT MODEL COUNT OUT_FOLDER

COUNT: `true`, or a float BIAS added to Σα before rounding. Greedy, 48 new tokens, fp32, batches of 16, as the
evaluations in `readout-ce/run.sh`.
"""

import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from blsp_kd.data.audio import load_record_audio
from blsp_kd.data.manifest import read_manifest
from blsp_kd.layout.tasks import INSTRUCTIONS
from blsp_kd.models.blsp_kd import BlspKdModel


def main(manifest: str, limit: int, model_name: str, count: str, out: str, batch_size: int = 16) -> None:
    model = BlspKdModel.from_pretrained(model_name, precision="fp32")
    records = read_manifest(manifest)[0][:limit]
    speech = model.speech
    counts = None

    def speech_with_count(hidden, frame_mask, num_tokens=None, read_out=True):
        if count != "true":  # the CIF's Σα, shifted, instead of its own rounding
            alpha_sum = model.adapter(hidden.float(), frame_mask, None).alpha_sum
            return speech(hidden, frame_mask, (alpha_sum + float(count)).round().clamp(min=1).long(), read_out)
        return speech(hidden, frame_mask, counts, read_out)

    model.speech = speech_with_count  # generate_ids asks for the CIF's own count; this answers with another
    Path(out).mkdir(parents=True, exist_ok=True)
    with open(Path(out) / "utterances.jsonl", "w") as sink:
        for start in tqdm(range(0, len(records), batch_size), desc=f"answering, count {count}"):
            batch = records[start:start + batch_size]
            counts = torch.tensor([len(model.prompts.transcript_ids(record.text)) for record in batch])
            audios = [load_record_audio(record).samples for record in batch]
            ids = model.generate_ids(audios, INSTRUCTIONS["repeat"], 48, max_audio_seconds=None)
            for record, row in zip(batch, ids, strict=True):
                output = model.tokenizer.decode(row, skip_special_tokens=True).strip()
                sink.write(json.dumps({"id": record.id, "task": "repeat", "system": "speech", "output": output,
                                       "reference": record.text}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
