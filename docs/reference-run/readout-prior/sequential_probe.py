"""Issue #13, twenty-ninth session: lever 1 of the twenty-eighth note in a stronger form — instead of a second
parallel round, the decoder readout run one token at a time. Does Whisper's decoder name more of the words when its
previous tokens are the fused choices (one pass per position, as an autoregressive decoder runs) rather than the
classifier's guesses (one parallel pass, `decoder_readout` in src)?

Per clip, the CIF forced to the transcript's count n (token accuracy as `decoder-refiner/refine_probe.py`, the same
bands), on the frames the CFormer reads, with the shipped model's own `readout_decoder` and `shared_vocabulary`:
- `parallel`: q ∝ p_c · p_d^λ with p_d from one pass over the classifier's soft guesses (the shipped computation);
- `sequential`: for i = 1 … n, p_d,i from a pass over [prompt, w_1 … w_{i−1}], w_j the Whisper token of the fused
  choice argmax q_j (a clip's first with Whisper's leading space; a choice Whisper cannot spell: its soft guess);
- `beam` (BEAM=k): the same, keeping the k best sequences by Σ_i log q_i(w_i).

usage: [BEAM=k] PYTHONPATH=src python sequential_probe.py PROBE_DIR SPLIT MANIFEST LAMBDAS   (comma-separated)
"""
import json
import os
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from blsp_kd.data.audio import load_audio
from blsp_kd.losses import token_cosines
from blsp_kd.models.blsp_kd import BlspKdModel

probe_dir, name, manifest = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
LAMBDAS = [float(x) for x in sys.argv[4].split(",")]
BEAM = int(os.environ.get("BEAM", "1"))
BANDS = [("≥100", 100, None), ("10–99", 10, 100), ("1–9", 1, 10), ("never", 0, 1)]
T = 0.02  # the shipped readout's
model = BlspKdModel.from_pretrained("default", precision="fp32").eval()
decoder, vocabulary = model.readout_decoder, model.shared_vocabulary
W = decoder.embed_tokens.weight
E = model.llm.get_input_embeddings().weight.float()
shared = vocabulary.to_whisper >= 0
counts = torch.bincount(torch.load(probe_dir / "train.pt", mmap=True)["llm_ids"], minlength=len(E))


def next_logp(prefix: torch.Tensor, frames: torch.Tensor, first: bool) -> torch.Tensor:
    """[V_llm] the decoder's log-probability of each LLM token (by spelling) after `prefix` [L, D]."""
    hidden = decoder(inputs_embeds=prefix[None], encoder_hidden_states=frames[None]).last_hidden_state[0, -1]
    logp = (hidden @ W.T).log_softmax(-1)
    table = vocabulary.to_whisper_first if first else vocabulary.to_whisper
    return torch.where(table >= 0, logp[table.clamp_min(0)], logp.min())


def sequential(classifier, frames, soft, weight, beam):
    """The best sequence of fused choices, k = beam kept per step (1: greedy)."""
    kept = [(0.0, [])]
    for i in range(len(classifier)):
        candidates = []
        for score, chosen in kept:
            prefix = [W[vocabulary.prompt]]
            for j, choice in enumerate(chosen):
                spelled = int((vocabulary.to_whisper_first if j == 0 else vocabulary.to_whisper)[choice])
                prefix.append(W[spelled][None] if spelled >= 0 else soft[j][None])
            fused = (classifier[i] + weight * next_logp(torch.cat(prefix), frames, i == 0)).log_softmax(-1)
            top = fused.topk(beam)
            candidates += [(score + float(value), chosen + [int(token)])
                           for value, token in zip(top.values, top.indices, strict=True)]
        kept = sorted(candidates, key=lambda candidate: -candidate[0])[:beam]
    return torch.tensor(kept[0][1])


data = torch.load(probe_dir / f"{name}.pt")
audio_of = {}
for line in open(manifest):
    record = json.loads(line)
    audio_of[record["id"]] = Path(manifest).parent / record["audio"]
results, targets, bands = {}, [], []
with torch.inference_mode():
    vectors = model.adapter.out_proj(model.adapter.out_norm(data["states"].float()))
    for clip in tqdm(range(len(data["ids"])), mininterval=30):
        where = (data["clip"] == clip).nonzero().flatten()
        hidden, frame_mask = model.encode(*model.features([load_audio(audio_of[data["ids"][clip]]).samples]))
        frames = hidden[0][frame_mask[0]].float()
        classifier = (token_cosines(vectors[where], E) / T).log_softmax(-1)
        guess = classifier.exp()[:, shared]
        guess = guess / guess.sum(-1, keepdim=True).clamp_min(1e-12)
        soft = torch.zeros(len(guess), len(W)).index_add_(1, vocabulary.to_whisper[shared], guess) @ W
        states = decoder(inputs_embeds=torch.cat([W[vocabulary.prompt], soft[:-1]])[None],
                         encoder_hidden_states=frames[None]).last_hidden_state[0, 1:]
        parallel = vocabulary.as_llm((states @ W.T).log_softmax(-1))
        results.setdefault(("classifier", 0.0), []).append(classifier.argmax(-1))
        for weight in LAMBDAS:
            results.setdefault(("parallel", weight), []).append((classifier + weight * parallel).argmax(-1))
            results.setdefault(("sequential", weight), []).append(sequential(classifier, frames, soft, weight, 1))
            if BEAM > 1:
                results.setdefault((f"beam {BEAM}", weight), []).append(
                    sequential(classifier, frames, soft, weight, BEAM))
        targets.append(data["llm_ids"][where])
target = torch.cat(targets)
count = counts[target]
print(f"{name}: {len(data['ids'])} clips, {len(target)} tokens")
print("| readout | " + " | ".join(band for band, _, _ in BANDS) + " | all |")
print("|---" * (len(BANDS) + 2) + "|")
for (condition, weight), chosen in results.items():
    right = torch.cat(chosen) == target
    cells = [f"{right[(count >= low) & (count < (high or 10**12))].float().mean():.1%}" for _, low, high in BANDS]
    print(f"| {condition}, λ = {weight:g} | " + " | ".join(cells) + f" | {right.float().mean():.1%} |")
