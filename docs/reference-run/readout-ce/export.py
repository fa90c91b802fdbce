"""Issue #13, thirty-first session: the shipped model's export — a run's final weights in float16, its config as the
run saved it (vocabulary readout T = 0.02, decoder readout λ = 2), its token counts (`default`'s plus this run's
transcripts'), as src/blsp_kd/checkpoints/default/. Shipped: RUN = runs/rce-s1/final (chosen over rce-s0 by the rule
in run.sh: validation S + D 0.418 vs 0.425). usage: python export.py RUN OUT"""
import sys

import torch

from blsp_kd.models.blsp_kd import BlspKdModel

run, out = sys.argv[1:3]
model = BlspKdModel.from_pretrained(run, precision="fp32")
model.save_pretrained(out, dtype=torch.float16)
