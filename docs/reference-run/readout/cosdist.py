"""Best cosine of each speech vector (true n) to the LLM's input embeddings, and whether that nearest token is the
transcript token; on the first LIMIT records of a manifest. usage: cosdist.py MODEL MANIFEST [LIMIT]"""
import sys, torch, torch.nn.functional as F
from blsp_kd.data.dataset import batch_index_lists, speech_loader
from blsp_kd.data.manifest import read_manifest
from blsp_kd.models.blsp_kd import BlspKdModel
torch.set_num_threads(1)
model = BlspKdModel.from_pretrained(sys.argv[1]).eval()
records, _ = read_manifest(sys.argv[2]); records = records[: int(sys.argv[3]) if len(sys.argv) > 3 else 64]
E = F.normalize(model.llm.get_input_embeddings().weight.float(), dim=-1)
bests, hits, margins = [], [], []
with torch.no_grad():
    for batch in speech_loader(model, records, batch_index_lists(len(records), 8)):
        sp = model.speech(*model.encoder_outputs(batch.speech), batch.text.num_tokens)
        cos = F.normalize(sp.adapter_vectors[sp.mask].float(), dim=-1) @ E.T
        top = cos.topk(2, dim=-1)
        bests.append(top.values[:, 0]); margins.append(top.values[:, 0] - top.values[:, 1])
        hits.append(top.indices[:, 0] == batch.text.input_ids[batch.text.speech_mask])
b, h, m = torch.cat(bests), torch.cat(hits), torch.cat(margins)
q = torch.tensor([0.1, 0.5, 0.9])
print(f"{b.numel()} vectors; best cosine quantiles 10/50/90%: {b.quantile(q).tolist()}; >= 0.5: {(b >= 0.5).float().mean():.3f}")
print(f"top1-top2 margin quantiles: {m.quantile(q).tolist()}; token accuracy {h.float().mean():.3f}")
print(f"accuracy where margin > 0.05: {h[m > 0.05].float().mean():.3f} ({(m > 0.05).float().mean():.2f} of vectors); margin <= 0.02: {h[m <= 0.02].float().mean():.3f} ({(m <= 0.02).float().mean():.2f})")
