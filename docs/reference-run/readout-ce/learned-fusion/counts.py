"""Issue #13, thirty-sixth session: the CIF's Σα against the transcript's token count on clips `default` never
trained on — is the count it rounds at inference biased, and would an offset or a scale on Σα fix it? A lab probe,
not part of the package.

    PYTHONPATH=src python counts.py MANIFEST START STOP OUT.pt     the clips' Σα and true counts
    PYTHONPATH=src python counts.py --table OUT.pt                 the count rounded from s · Σα + b against them
"""
import sys

import torch
from tqdm import tqdm

from blsp_kd.data.audio import load_record_audio
from blsp_kd.data.manifest import read_manifest
from blsp_kd.models.blsp_kd import BlspKdModel


@torch.inference_mode()
def dump(manifest: str, start: int, stop: int, out: str) -> None:
    model = BlspKdModel.from_pretrained("default", precision="fp32")
    records = read_manifest(manifest)[0][start:stop]
    sums, counts = [], []
    for first in tqdm(range(0, len(records), 16), desc="counting"):
        batch = records[first:first + 16]
        counts.append(torch.tensor([len(model.prompts.transcript_ids(record.text)) for record in batch]))
        features, lengths = model.features([load_record_audio(record).samples for record in batch])
        hidden, frame_mask = model.encode(features, lengths)
        sums.append(model.adapter(hidden, frame_mask).alpha_sum)
    torch.save({"alpha_sum": torch.cat(sums), "n": torch.cat(counts)}, out)


def table(path: str) -> None:
    data = torch.load(path)
    alpha_sum, n = data["alpha_sum"], data["n"].float()
    print(f"{len(n)} clips, {int(n.sum())} tokens: Σα / n {alpha_sum.sum() / n.sum():.4f}")
    print("| count | exact | under | over | |error| per token | net per token |")
    print("|---|---|---|---|---|---|")
    for scale, offset in ((1, 0), (1, 0.1), (1, 0.2), (1, 0.3), (1, 0.4), (1.02, 0), (1.03, 0), (1.04, 0)):
        error = (alpha_sum * scale + offset).round().clamp(min=1) - n
        print(f"| round({scale:g} · Σα + {offset:g}) | {(error == 0).float().mean():.3f} | "
              f"{(error < 0).float().mean():.3f} | {(error > 0).float().mean():.3f} | "
              f"{error.abs().sum() / n.sum():.4f} | {error.sum() / n.sum():+.4f} |")


if __name__ == "__main__":
    if sys.argv[1] == "--table":
        table(sys.argv[2])
    else:
        dump(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
