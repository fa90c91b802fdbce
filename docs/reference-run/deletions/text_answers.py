"""Issue #13, thirty-second session: the text path's repeat answers to the transcript the decoder readout names
(`probe.py`'s argmax transcripts) — a cascade through our own CFormer instead of Whisper's decoder. A lab probe, not
part of the package: if these answers lose as few words as the cascade's, the words are lost between the readout's
distribution and the LLM (the soft vectors), not in the readout. Rows as `blsp-kd evaluate` writes them.

    PYTHONPATH=src python docs/reference-run/deletions/text_answers.py PROBE.jsonl KEY MODEL OUT_FOLDER

KEY: `readout_own_count` or `readout_true_count`. Greedy, 48 new tokens, fp32, batches of 16.
"""

import json
import sys
from pathlib import Path

from tqdm import tqdm

from blsp_kd.layout.tasks import INSTRUCTIONS
from blsp_kd.models.blsp_kd import BlspKdModel


def main(probe: str, key: str, model_name: str, out: str, batch_size: int = 16) -> None:
    model = BlspKdModel.from_pretrained(model_name, precision="fp32")
    rows = [json.loads(line) for line in open(probe)]
    Path(out).mkdir(parents=True, exist_ok=True)
    with open(Path(out) / "utterances.jsonl", "w") as sink:
        for start in tqdm(range(0, len(rows), batch_size), desc=f"answering {key}"):
            batch = rows[start:start + batch_size]
            ids = model.generate_ids_from_text([row[key] for row in batch], INSTRUCTIONS["repeat"], 48)
            for row, answer in zip(batch, ids, strict=True):
                output = model.tokenizer.decode(answer, skip_special_tokens=True).strip()
                sink.write(json.dumps({"id": row["id"], "task": "repeat", "system": "speech", "output": output,
                                       "reference": row["text"]}) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:5])
