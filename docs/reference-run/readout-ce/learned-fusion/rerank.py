"""Issue #13, thirty-sixth session: a learned fusion per candidate — score_k = log p_c(k) + 2 log p_d(k) +
MLP([the position's confidences, log p_c(k), log p_d(k), log(1 + count_k), each term's gap to its top]) — the most a
fusion of the two terms at one position can learn here (it may trust the decoder on the tokens training heard
rarely). Adam on 2,048 positions a step, 600 steps, fitted on dump.py's positions; SEED the initialisation and the
batches; DROP feature columns zeroed (0–7 the position's, 10 the count) for the ablations. A lab probe.

    PYTHONPATH=src python rerank.py TRAIN.pt[,…] EVAL.pt [HIDDEN [SAVE.pt]]
"""
import os
import sys

import torch
from fit import BANDS, COUNTS, load, report


def candidate_features(data):
    c, d = data["c"], data["d"]
    count = torch.log1p(COUNTS[data["ids"]].float())
    pos = data["x"][:, None, :].expand(-1, c.shape[1], -1)
    feats = torch.cat([pos, c[..., None], d[..., None], count[..., None],
                       (c - c.max(-1, keepdim=True).values)[..., None], (d - d.max(-1, keepdim=True).values)[..., None]],
                      -1)
    drop = [int(i) for i in os.environ.get("DROP", "").split(",") if i]
    if drop:
        feats[..., drop] = 0
    return feats


class Reranker(torch.nn.Module):
    def __init__(self, inputs, hidden):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))
        self.register_buffer("mean", torch.zeros(inputs))
        self.register_buffer("std", torch.ones(inputs))

    def forward(self, data):
        x = candidate_features(data)
        return data["c"] + 2 * data["d"] + self.net((x - self.mean) / self.std)[..., 0]


def main(train_paths, eval_path, hidden="32", save=None):
    torch.manual_seed(int(os.environ.get("SEED", "0")))
    train, held = load(train_paths), load(eval_path)
    x = candidate_features(train).flatten(0, 1)
    model = Reranker(x.shape[1], int(hidden))
    model.mean, model.std = x.mean(0), x.std(0).clamp_min(1e-3)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(600):
        batch = torch.randint(len(train["target"]), (2048,))
        batch = batch[train["reachable"][batch]]
        part = {k: v[batch] for k, v in train.items()}
        loss = torch.nn.functional.cross_entropy(model(part), part["label"])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        print("| fusion | " + " | ".join(n for n, _, _ in BANDS) + " | all | NLL |")
        report("shipped (1, 2)", held["c"] + 2 * held["d"], held)
        report("reranker (train)", model(train), train)
        report("reranker", model(held), held)
    if save:
        torch.save(model.state_dict(), save)


if __name__ == "__main__":
    main(*sys.argv[1:])
