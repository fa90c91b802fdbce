"""Issue #13, twenty-seventh session, lever 1 of the twenty-sixth note (Whisper's decoder knowledge), step 1 of a
probe: the shipped model's post-CIF states, one per transcript token, for the head probe (`head_probe.py`).

For every record of a manifest: the CFormer of `--model default` (eval mode) forced to the transcript's
length in LLM tokens (as token accuracy is measured), and per speech vector
- `states`: the 384-dim output of the post-CIF layers, before the CFormer's out_norm + out_proj (fp16);
- `llm_ids`: the transcript token it stands for (the ids at the repeat prompt's speech positions);
- `shipped`: the shipped classifier's choice, argmax_k cos(out_proj(out_norm(state)), E_k) over the LLM vocabulary;
- `pooled`: the Whisper encoder frames the CIF integrated into it, their mean under the vector's CIF weights
  (384-dim, fp16): the same speech in Whisper's own frame space, untouched by what our layers were trained towards;
- `clip`: the record's index in the manifest.
Encoder outputs come from the training feature cache (~/.cache/blsp-kd/cache/features; missing clips are encoded
and added). The cache is keyed on the encoder's weights: PRECISION bf16 (training's) reads the training clips' cached
outputs, fp32 (evaluation's) encodes as `blsp-kd evaluate` does; the CFormer runs in fp32 either way.

usage: PYTHONPATH=src python extract_states.py MANIFEST OUT.pt PRECISION [START STOP]   (records START..STOP-1)
"""
import sys

import torch
from tqdm import tqdm

from blsp_kd.data.features import FeatureCache
from blsp_kd.data.manifest import read_manifest
from blsp_kd.layout.batch import collate_text, pad_hidden
from blsp_kd.losses import token_cosines
from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.pretrained import blsp_home

BATCH = 64


def main(manifest: str, out: str, precision: str, start: int, stop: int | None) -> None:
    model = BlspKdModel.from_pretrained("default", precision=precision, readout=0).eval()
    records, problems = read_manifest(manifest)  # the manifest's bad lines, then the clips that cannot be encoded
    cache = FeatureCache(blsp_home() / "cache" / "features", model)
    records, unreadable = cache.build(records[start:stop])
    for problem in problems + unreadable:
        print(f"skipped {problem}")
    captured = []
    model.adapter.out_norm.register_forward_hook(lambda module, args, output: captured.append(args[0]))
    embeddings = model.llm.get_input_embeddings().weight
    parts = {"states": [], "pooled": [], "llm_ids": [], "shipped": [], "clip": []}
    with torch.inference_mode():
        for first in tqdm(range(0, len(records), BATCH), desc="states", unit="batch"):
            chunk = records[first : first + BATCH]
            examples = [{"text": record.text, "instruction": "Repeat what was said."} for record in chunk]
            batch = collate_text(examples, model.prompts)
            hidden, frame_mask = pad_hidden([cache.load(record) for record in chunk])
            captured.clear()
            speech = model.speech(hidden, frame_mask, batch.num_tokens, read_out=False)
            states = captured[0][speech.mask]
            vectors = speech.embeds[speech.mask]
            weights = speech.cif_weights / speech.cif_weights.sum(-1, keepdim=True).clamp_min(1e-6)
            parts["states"].append(states.half())
            parts["pooled"].append((weights @ hidden.float())[speech.mask].half())
            parts["llm_ids"].append(batch.input_ids[batch.speech_mask])
            parts["shipped"].append(token_cosines(vectors, embeddings).argmax(-1))
            clips = torch.arange(start + first, start + first + len(chunk))
            parts["clip"].append(clips.repeat_interleave(batch.num_tokens))
    result = {name: torch.cat(values) for name, values in parts.items()}
    result["ids"] = [record.id for record in records]
    torch.save(result, out)
    accuracy = (result["shipped"] == result["llm_ids"]).float().mean()
    print(f"{out}: {len(records)} clips, {len(result['llm_ids'])} tokens, shipped classifier {accuracy:.1%}")


if __name__ == "__main__":
    start, stop = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else (0, None)
    main(sys.argv[1], sys.argv[2], sys.argv[3], start, stop)
