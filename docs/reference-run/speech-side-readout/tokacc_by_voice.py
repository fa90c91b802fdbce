"""Issue #13, twenty-third session: a model's token accuracy, CIF count error and KL (the product's
held_out_alignment) by engine and base voice on the first N records of each manifest (tokacc_by_voice.txt: the
shipped model, 256 validation and 256 test records, run from the work folder's data/c80).
usage: python tokacc_by_voice.py MODEL N MANIFEST...   (FULL_VOICE=1: by the whole voice name, espeak-ng variant included)"""
import collections, os, sys

import torch

from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.data.manifest import read_manifest
from blsp_kd.eval.alignment import held_out_alignment
torch.set_num_threads(1)
model = BlspKdModel.from_pretrained(sys.argv[1]); model.eval()
n = int(sys.argv[2])
for path in sys.argv[3:]:
    records = read_manifest(path)[0][:n]
    groups = collections.defaultdict(list)
    for r in records:
        voice = r.extra.get("voice", "?")
        groups[r.extra.get("engine", "?") + "/" + (voice if os.environ.get("FULL_VOICE") else voice.split("+")[0])].append(r)
    for name, rs in sorted(groups.items()):
        with torch.no_grad():
            m = held_out_alignment(model, rs, batch_size=8)
        print(f"{path.split('/')[-1]:28s} {name:28s} {len(rs):4d}  token_accuracy {m['token_accuracy']:.3f}  cif_count_error {m['cif_count_error']:.3f}  kl {m['kl']:.3f}", flush=True)
