"""Issue #13, thirty-third session: a uniform weight average ("model soup") of checkpoints fine-tuned from the same
initial weights — here `default` (the pre-readout_ce weights trained on chain25's clips) and run.sh's two seeds (the
same weights trained on the new sentences' clips). A lab script, not part of the package.

    python soup.py OUT FOLDER …

Every folder must hold the same tensors (names and shapes); they are averaged in float32 and written as OUT's
model.safetensors, with the first folder's config and token counts.
"""
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

out, folders = Path(sys.argv[1]), [Path(folder) for folder in sys.argv[2:]]
weights = [load_file(folder / "model.safetensors") for folder in folders]
if any(w.keys() != weights[0].keys() for w in weights):
    raise SystemExit("the checkpoints hold different tensors")
soup = {name: torch.stack([w[name].float() for w in weights]).mean(0) for name in weights[0]}
out.mkdir(parents=True, exist_ok=True)
save_file(soup, out / "model.safetensors")
for name in ("blsp_kd_config.json", "token_counts.safetensors"):
    shutil.copy(folders[0] / name, out / name)
print(f"{out}: the mean of {len(folders)} checkpoints, {len(soup)} tensors")
