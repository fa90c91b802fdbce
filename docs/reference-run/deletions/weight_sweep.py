"""Issue #13, thirty-second session: the share of transcript words the decoder readout's argmax transcript gets right
(CIF's own count; `bands.matched`) on the first LIMIT clips of a manifest, for `default` read with each decoder weight
λ given (`decoder_readout`; shipped: 2). A lab probe, not part of the package.

    PYTHONPATH=src:docs/reference-run/deletions python weight_sweep.py MANIFEST LIMIT λ [λ …]
"""

import sys

import torch
from bands import matched

from blsp_kd.data.audio import load_record_audio
from blsp_kd.data.manifest import read_manifest
from blsp_kd.models.blsp_kd import BlspKdModel


@torch.inference_mode()
def words_right(model: BlspKdModel, records: list, audios: list, batch_size: int = 16) -> tuple[int, int]:
    right = total = 0
    for start in range(0, len(records), batch_size):
        hidden, frame_mask = model.encode(*model.features(audios[start:start + batch_size]))
        speech = model.speech(hidden, frame_mask, num_tokens=None)
        ids = speech.readout_log_probs.argmax(-1)
        for record, row, count in zip(records[start:start + batch_size], ids, speech.num_tokens.tolist(), strict=True):
            words, hits = matched(record.text, model.tokenizer.decode(row[:count].tolist()))
            right, total = right + sum(hits), total + len(words)
    return right, total


def main(manifest: str, limit: int, weights: list[float]) -> None:
    records = read_manifest(manifest)[0][:limit]
    audios = [load_record_audio(record).samples for record in records]
    print("| λ | words right |\n|---|---|")
    for weight in weights:
        right, total = words_right(BlspKdModel.from_pretrained("default", precision="fp32", decoder_readout=weight),
                                   records, audios)
        print(f"| {weight:g} | {right / total:.1%} of {total} |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), [float(weight) for weight in sys.argv[3:]])
