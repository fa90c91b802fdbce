"""Issue #13, twenty-first session (sweep.sh runs it): a model with its speech vectors changed at inference, the
repeat task on the first 160 clips of MANIFEST (speech path only, fp32, <= 48 new tokens).
modes: none (control); snap (each vector -> its nearest LLM input embedding, cosine); mix:A (A*snap + (1-A)*vector);
soft:T (softmax(cos/T)-weighted mean of the embeddings); conf:C (snap where the best cosine >= C, else unchanged);
a mode ending in +nop also turns PLoRA off (the base LLM reads the changed vectors).
usage: python snap_eval.py MODE MODEL OUT [MANIFEST]"""
import sys, torch, torch.nn.functional as F
from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.adapters import AdapterOutput
from blsp_kd.eval.evaluate import evaluate_manifest, EvaluationOptions
mode, model, out = sys.argv[1:4]
manifest = sys.argv[4] if len(sys.argv) > 4 else "/work/ref/data/c80/test.responses.jsonl"
nop = mode.endswith("+nop")
kind, _, arg = mode.removesuffix("+nop").partition(":")
orig = BlspKdModel.speech
def speech(self, hidden, frame_mask, num_tokens=None):
    o = orig(self, hidden, frame_mask, num_tokens)
    if kind == "none":
        return o
    W = self.llm.get_input_embeddings().weight.float()
    cos = F.normalize(o.embeds.float(), dim=-1) @ F.normalize(W, dim=-1).T
    best, near = cos.max(-1)
    snapped = W[near]
    if kind == "mix":
        new = float(arg) * snapped + (1 - float(arg)) * o.embeds.float()
    elif kind == "soft":
        new = torch.softmax(cos / float(arg), dim=-1) @ W
    elif kind == "conf":
        new = torch.where((best >= float(arg))[..., None], snapped, o.embeds.float())
    else:
        new = snapped
    new = (new * o.mask[..., None]).to(o.embeds.dtype)
    return AdapterOutput(new, o.mask, o.num_tokens, o.alpha_sum, o.cif_weights)
BlspKdModel.speech = speech
if nop:  # PLoRA off everywhere: the base LLM reads the (changed) vectors
    from blsp_kd.models.plora import adapters_disabled
    BlspKdModel.plora_scope = lambda self, mask: adapters_disabled()
opts = EvaluationOptions(tasks=("repeat",), max_new_tokens=48, latency_clips=0, plot_clips=0, progress=False)
evaluate_manifest(manifest, out, model=model, systems=("speech",), options=opts, limit=160, precision="fp32")
