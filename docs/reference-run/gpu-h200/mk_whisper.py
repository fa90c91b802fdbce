"""The embedded Whisper tiny.en for travel: fp16 (exact: the embedded weights come from CTranslate2's fp16), the
decoder zeroed (BLSP-KD reads only its first layers' shapes to build the post-CIF layers, which init_from overwrites),
so it compresses to the encoder's size."""
import shutil, sys
from pathlib import Path
import torch
from safetensors.torch import load_file, save_file
src = Path.home() / ".cache/blsp-kd/whisper-tiny.en"; out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
sd = load_file(src / "model.safetensors")
new = {}
for k, v in sd.items():
    h = v.half()
    assert torch.equal(h.float(), v), k
    new[k] = h if ".encoder." in k or k.startswith("encoder.") else torch.zeros_like(h)
save_file(new, out / "model.safetensors", metadata={"format": "pt"})
for f in src.iterdir():
    if f.name != "model.safetensors": shutil.copy(f, out / f.name)
print(sorted({k.split(".")[1] if k.startswith("model.") else k.split(".")[0] for k in sd}))
