"""convert_llm.py S: SmolLM2's GGUF (S/gguf) dequantised to float32 as the embedded default does, its weights checked
against the fingerprint of this project's conversion (gpu/LLM_FINGERPRINT), then S/llm/model.safetensors."""
import os, sys, tempfile
from pathlib import Path
from safetensors.torch import load_file
from blsp_kd.models.pretrained import _convert_smollm2
from blsp_kd.store import tensor_fingerprint
S = Path(sys.argv[1])
tmp = Path(tempfile.mkdtemp(dir=S))
_convert_smollm2(S / "gguf", tmp)
got = tensor_fingerprint(load_file(tmp / "model.safetensors"))
want = (Path(__file__).parent / "LLM_FINGERPRINT").read_text().strip()
print("LLM weights", "identical to the embedded conversion" if got == want else f"DIFFER: {got} != {want}")
if got == want:
    os.replace(tmp / "model.safetensors", S / "llm" / "model.safetensors")
