"""Issue #13, twenty-ninth session: the decoder readout with the classifier divided by its training prior.

Trained with cross-entropy on a long-tailed vocabulary, the shipped classifier's distribution p_c carries its
training prior: it names pieces heard ≥ 100 times in training 84 % of the time and those heard < 10 times 2 %. In the
decoder readout (src/blsp_kd/models/decoder_readout.py) Whisper's decoder supplies a prior of its own, in context.
Here the classifier's log-probabilities get − γ · log(1 + c) before everything else (the guesses the decoder reads
included), c: how often each token is a transcript token among the training clips (`probe/wh/train.pt`, the
speech-side stage's 24,000), and the fusion q ∝ p_c · p_d^λ is scored as token accuracy with the CIF forced to the
transcript's count (as `decoder-refiner/refine_probe.py`), by the same bands. γ = 1: posterior / prior, the scaled
likelihood of hybrid ASR. The whole vocabulary, the shipped model's own `readout_decoder` and `shared_vocabulary`, the
frames the CFormer reads (real length): the computation of `decoder_readout` in src.

usage: PYTHONPATH=src python prior_probe.py PROBE_DIR SPLIT MANIFEST LAMBDAS GAMMAS   (comma-separated lists)
"""
import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from blsp_kd.data.audio import load_audio
from blsp_kd.losses import token_cosines
from blsp_kd.models.blsp_kd import BlspKdModel

probe_dir, name, manifest = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
LAMBDAS = [float(x) for x in sys.argv[4].split(",")]
GAMMAS = [float(x) for x in sys.argv[5].split(",")]
BANDS = [("≥100", 100, None), ("10–99", 10, 100), ("1–9", 1, 10), ("never", 0, 1)]
model = BlspKdModel.from_pretrained("default", precision="fp32").eval()
dec, voc = model.readout_decoder, model.shared_vocabulary
W = dec.embed_tokens.weight
E = model.llm.get_input_embeddings().weight.float()
T = 0.02
counts = torch.bincount(torch.load(probe_dir / "train.pt", mmap=True)["llm_ids"], minlength=len(E))
logprior = torch.log1p(counts.float())
data = torch.load(probe_dir / f"{name}.pt")
audio_of = {}
for line in open(manifest):
    record = json.loads(line)
    audio_of[record["id"]] = Path(manifest).parent / record["audio"]
shared = voc.to_whisper >= 0
res = {}
targets, cnts = [], []
with torch.inference_mode():
    vectors = model.adapter.out_proj(model.adapter.out_norm(data["states"].float()))
    for clip in tqdm(range(len(data["ids"])), mininterval=30):
        w = (data["clip"] == clip).nonzero().flatten()
        ids = data["llm_ids"][w]
        audio = load_audio(audio_of[data["ids"][clip]]).samples
        hidden, fm = model.encode(*model.features([audio]))
        frames = hidden[0][fm[0]].float()
        cl = (token_cosines(vectors[w], E) / T).log_softmax(-1)
        for g in GAMMAS:  # the guesses, the decoder pass and the fusion, as `decoder_readout` computes them
            cla = (cl - g * logprior).log_softmax(-1)
            guess = cla.exp()[:, shared]
            guess = guess / guess.sum(-1, keepdim=True).clamp_min(1e-12)
            prev = torch.zeros(len(cl), len(W)).index_add_(1, voc.to_whisper[shared], guess) @ W
            inputs = torch.cat([W[voc.prompt], prev[:-1]])
            hid = dec(inputs_embeds=inputs[None], encoder_hidden_states=frames[None]).last_hidden_state[0, 1:]
            dl = voc.as_llm((hid @ W.T).log_softmax(-1))
            for weight in LAMBDAS:
                res.setdefault((g, weight), []).append((cla + weight * dl).argmax(-1))
        targets.append(ids)
        cnts.append(counts[ids])
tgt, cnt = torch.cat(targets), torch.cat(cnts)
print(f"{name}: {len(tgt)} tokens")
for key, v in res.items():
    right = torch.cat(v) == tgt
    cells = [f"{right[(cnt >= lo) & (cnt < (hi or 10**12))].float().mean():.1%}" for _, lo, hi in BANDS]
    print(f"| γ={key[0]} λ={key[1]} | " + " | ".join(cells) + f" | {right.float().mean():.1%} |")
