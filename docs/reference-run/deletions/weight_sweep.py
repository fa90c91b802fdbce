"""Issue #13, thirty-second session: the share of transcript words the decoder readout's argmax
transcript gets right (CIF's own count; `probe.readout_transcripts`, `bands.matched`) on the first LIMIT clips of a
manifest, for `default` read with each decoder weight λ given (`decoder_readout`; shipped: 2). A lab probe, not part
of the package.

    PYTHONPATH=src:docs/reference-run/deletions python weight_sweep.py MANIFEST LIMIT λ [λ …]
"""

import sys

import torch
from bands import matched
from probe import readout_transcripts

from blsp_kd.data.audio import load_record_audio
from blsp_kd.data.manifest import read_manifest
from blsp_kd.models.blsp_kd import BlspKdModel


@torch.inference_mode()
def words_right(model: BlspKdModel, records: list, audios: list, batch_size: int = 16) -> tuple[int, int]:
    right = total = 0
    for start in range(0, len(records), batch_size):
        texts, _, _ = readout_transcripts(model, audios[start:start + batch_size], None)
        for record, text in zip(records[start:start + batch_size], texts, strict=True):
            words, hits = matched(record.text, text)
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
