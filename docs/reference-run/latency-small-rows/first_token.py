"""First-token time of the 5-round readout with rows · tableᵀ against `against_table` (change.diff applied), the two
interleaved in one process on 6 clips, with the vector count K of each clip.

    python first_token.py default   # the shipped model on validation clips of data/c100b (from /work/ref)
    python first_token.py bench     # bench_latency.py's untrained model (readouts on, 5 rounds) on its clips
"""

import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

import blsp_kd.losses as losses
import blsp_kd.models.blsp_kd as blsp_kd
import blsp_kd.models.decoder_readout as decoder_readout
from blsp_kd.data.audio import load_record_audio
from blsp_kd.data.manifest import read_manifest
from blsp_kd.models.config import BlspKdConfig

REPO = Path(__file__).resolve().parents[3]


def plain(rows, table):
    return rows @ table.T


def main():
    torch.set_num_threads(1)
    if sys.argv[1] == "default":
        model = blsp_kd.BlspKdModel.from_pretrained("default", precision="fp32").eval()
        records = read_manifest("/work/ref/data/c100b/valid.responses.jsonl")[0][:6]
        instruction = "Repeat what was said."
    else:
        sys.path.insert(0, str(REPO / "benchmarks"))
        from common import synth_records

        config = BlspKdConfig()
        architecture = replace(config.architecture, vocabulary_readout=0.02, decoder_readout=2.0, readout_rounds=5)
        model = blsp_kd.BlspKdModel.from_config(replace(config, architecture=architecture)).eval()
        records = synth_records(12, model.tokenizer, split="test")[:6]
        instruction = "Continue the following text in a coherent style:"
    fused = decoder_readout.fused_log_probs
    counts = []

    def counting(*args, **kwargs):
        counts.append(int(args[1].sum()))
        return fused(*args, **kwargs)

    blsp_kd.fused_log_probs = counting
    forms = {"plain": plain, "against_table": losses.against_table}
    with torch.inference_mode():
        for record in records:
            audio = load_record_audio(record).samples
            seconds = {name: [] for name in forms}
            for name in list(forms) * 3:
                decoder_readout.against_table = losses.against_table = forms[name]
                start = time.perf_counter()
                model.generate_ids([audio], instruction, max_new_tokens=1)
                seconds[name].append(time.perf_counter() - start)
            best = {name: f"{1000 * min(values):.1f} ms" for name, values in seconds.items()}
            print(f"{len(audio) / 16000:.1f} s, K {counts[-1]}: {best}")


if __name__ == "__main__":
    main()
