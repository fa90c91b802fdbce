"""Issue #13, twenty-sixth session: how much would fusing the CIF token classifier with the LLM's own text prior
name more transcript tokens? (Shallow fusion, as ASR decoders add a language model.)

Per clip, the CFormer forced to the transcript's length (as token accuracy is measured), readout scores
cos(v_j, E_k) / T (T = 0.02, the shipped readout's temperature), and the base LLM's log-prob of each token given the
prompt ("Repeat what was said." before the speech) and the transcript tokens before it. Prints:
- the classifier's top-k accuracy and the LLM alone (true previous tokens);
- teacher-forced fusion: argmax_k cos/T + λ log p_LLM(k | true previous tokens): an upper bound;
- greedy fusion, what an inference-time decoder could do: left to right with a KV cache, each position's prior reads
  the fused readouts chosen before it (the mean embedding under softmax(cos/T + λ log p), as the LLM would read
  them).

usage: PYTHONPATH=src python fusion_probe.py MANIFEST LIMIT   (the shipped `default`, fp32)
"""
import json
import sys

import soundfile as sf
import soxr
import torch

from blsp_kd.layout.batch import collate_text
from blsp_kd.losses import token_cosines
from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.plora import adapters_disabled

T = 0.02
LAMBDAS = [0.0, 0.25, 0.5, 0.75, 1.25, 2.0]
GREEDY_LAMBDAS = [0.25, 0.5, 0.75]


def forced_speech(model, records, root):
    """The text batch of the records' transcripts under the repeat instruction, and the CFormer's vectors (not read
    out) forced to each transcript's length."""
    audios = []
    for record in records:
        samples, rate = sf.read(f"{root}/{record['audio']}", dtype="float32")
        audios.append(soxr.resample(samples, rate, 16000) if rate != 16000 else samples)
    examples = [{"text": record["text"], "instruction": "Repeat what was said."} for record in records]
    batch = collate_text(examples, model.prompts)
    hidden, frame_mask = model.encode(*model.features(audios))
    return batch, model.speech(hidden, frame_mask, batch.num_tokens, read_out=False)


def greedy_fusion(model, batch, scores, lam):
    """Token ids chosen left to right at the speech positions (the rest of input_ids unchanged)."""
    embeddings = model.llm.get_input_embeddings().weight
    embeds, chosen = embeddings[batch.input_ids].clone(), batch.input_ids.clone()
    first = int(batch.speech_mask.int().argmax(-1).min())
    last = batch.speech_mask.shape[1] - 1 - int(batch.speech_mask.flip(-1).int().argmax(-1).min())
    counter = torch.zeros(len(batch.input_ids), dtype=torch.long)
    decoder = model.llm.get_decoder()
    with adapters_disabled():
        out = decoder(inputs_embeds=embeds[:, :first], attention_mask=batch.attention_mask[:, :first],
                      position_ids=batch.position_ids[:, :first], use_cache=True)
        cache, hidden = out.cache, out.last_hidden_state[:, -1]
        for column in range(first, last + 1):
            rows = batch.speech_mask[:, column].nonzero().squeeze(-1)
            if len(rows):
                fused = scores[rows, counter[rows]] + lam * torch.log_softmax(model.lm_head(hidden[rows]).float(), -1)
                embeds[rows, column] = (torch.softmax(fused, -1) @ embeddings.float()).to(embeds.dtype)
                chosen[rows, column] = fused.argmax(-1)
                counter[rows] += 1
            step = slice(column, column + 1)
            out = decoder(inputs_embeds=embeds[:, step], attention_mask=batch.attention_mask[:, :column + 1],
                          position_ids=batch.position_ids[:, step], cache=cache, use_cache=True)
            hidden = out.last_hidden_state[:, -1]
    return chosen


def main(manifest: str, limit: int) -> None:
    root = manifest.rsplit("/", 1)[0]
    model = BlspKdModel.from_pretrained("default", precision="fp32", readout=0).eval()
    embeddings = model.llm.get_input_embeddings().weight
    records = [json.loads(line) for line in open(manifest)][:limit]
    topk = {k: 0 for k in (1, 2, 5, 10)}
    forced = {lam: 0 for lam in LAMBDAS}
    greedy = {lam: 0 for lam in GREEDY_LAMBDAS}
    lm_alone = total = 0
    with torch.inference_mode():
        for start in range(0, len(records), 16):
            chunk = records[start:start + 16]
            batch, speech = forced_speech(model, chunk, root)
            scores = token_cosines(speech.embeds, embeddings) / T  # [B, N, V]
            ids = batch.input_ids[batch.speech_mask]  # [K], row-major, as the vectors of speech.mask
            forced_scores = scores[speech.mask]  # [K, V]
            # the text teacher's logits one position before each transcript token predict it
            prior = torch.log_softmax(model.teacher_logits(batch, batch.speech_mask.roll(-1, dims=1)).float(), -1)
            best = forced_scores.topk(10, -1).indices
            for k in topk:
                topk[k] += (best[:, :k] == ids[:, None]).any(-1).sum().item()
            lm_alone += (prior.argmax(-1) == ids).sum().item()
            for lam in LAMBDAS:
                forced[lam] += ((forced_scores + lam * prior).argmax(-1) == ids).sum().item()
            total += len(ids)
            for lam in GREEDY_LAMBDAS:
                chosen = greedy_fusion(model, batch, scores, lam)
                greedy[lam] += (chosen[batch.speech_mask] == ids).sum().item()
            print(f"{start + len(chunk)} clips", flush=True)

    def percent(counts):
        return {key: round(100 * value / total, 1) for key, value in counts.items()}

    print(f"{manifest}: {len(records)} clips, {total} transcript tokens")
    print("classifier top-k accuracy %:", percent(topk))
    print("LLM alone, true previous tokens %:", round(100 * lm_alone / total, 1))
    print("teacher-forced fusion by λ (cos/T + λ log p) %:", percent(forced))
    print("greedy fusion by λ %:", percent(greedy))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
