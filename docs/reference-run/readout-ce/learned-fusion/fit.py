"""Issue #13, thirty-sixth session: fusions of the decoder readout's two terms, fitted offline on dump.py's
positions by the transcript token's cross-entropy over the candidates, scored on another dump: tokens named by band
of how often `default`'s training heard them (its token counts, halved: they hold its transcripts twice), and the
cross-entropy at the positions whose target is a candidate. Fixed q ∝ p_c^a · p_d^b (the shipped a = 1, b = λ = 2),
a learned global (a, b), and (a, b) per position from a small MLP over the two terms' confidences (the gate the last
note proposed: λ from the classifier's entropy, and more). A lab probe, not part of the package.

    PYTHONPATH=src python fit.py TRAIN.pt[,TRAIN2.pt] EVAL.pt
"""
import sys

import torch
from dump import TOP

from blsp_kd.models.blsp_kd import SHIPPED_MODELS, read_token_counts

BANDS = (("≥ 100", 100, 10**9), ("10–99", 10, 100), ("1–9", 1, 10), ("never", 0, 1))
COUNTS = read_token_counts(SHIPPED_MODELS["default"]) // 2


def position_inputs(confidences, ids, first):
    """[K, 8] what a learned fusion reads of a position: dump.py's `confidences`, whether the two terms' argmaxes
    agree (ids: `candidates`), whether it is a clip's first token (first [K] bool)."""
    agree = ids[:, 0] == ids[:, TOP]
    return torch.cat([confidences, agree.float()[:, None], first.float()[:, None]], -1)


def load(paths):
    parts = [torch.load(p) for p in paths.split(",")]
    data = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    data["x"] = position_inputs(data["feat"], data["ids"], data["pos"] == 0)
    # candidates: the two top-32 lists only (the dump's last slot, the target, would leak it)
    data["ids"], data["c"], data["d"] = (data[k][:, :2 * TOP] for k in ("ids", "c", "d"))
    hit = data["ids"] == data["target"][:, None]
    data["label"] = hit.float().argmax(-1)  # first slot holding the target
    data["reachable"] = hit.any(-1)
    return data


class Gate(torch.nn.Module):
    def __init__(self, inputs, hidden=16, mode="mlp"):
        super().__init__()
        self.mode = mode
        self.base = torch.nn.Parameter(torch.tensor([0.5413, 1.8546]))  # softplus⁻¹ of (1, 2)
        self.net = torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 2))
        torch.nn.init.zeros_(self.net[2].weight)
        torch.nn.init.zeros_(self.net[2].bias)
        self.register_buffer("mean", torch.zeros(inputs))
        self.register_buffer("std", torch.ones(inputs))

    def forward(self, data):
        ab = self.base.expand(len(data["c"]), 2)
        if self.mode == "mlp":
            ab = ab + self.net((data["x"] - self.mean) / self.std)
        ab = torch.nn.functional.softplus(ab)
        return ab[:, :1] * data["c"] + ab[:, 1:] * data["d"]


def fixed(data, a, b):
    return a * data["c"] + b * data["d"]


def report(name, scores, data):
    chosen = data["ids"].gather(-1, scores.argmax(-1, keepdim=True))[:, 0]
    right = chosen == data["target"]
    heard = COUNTS[data["target"]]
    cells = [right[(heard >= lo) & (heard < hi)].float().mean().item() for _, lo, hi in BANDS] + [right.float().mean().item()]
    reach = data["reachable"]
    nll = torch.nn.functional.cross_entropy(scores[reach], data["label"][reach]).item()
    print(f"| {name} | " + " | ".join(f"{100 * c:.1f} %" for c in cells) + f" | {nll:.3f} |")


def fit(train, mode, steps=400, hidden=16):
    gate = Gate(train["x"].shape[1], hidden, mode)
    gate.mean, gate.std = train["x"].mean(0), train["x"].std(0).clamp_min(1e-3)
    optimiser = torch.optim.LBFGS(gate.parameters(), max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        reach = train["reachable"]
        loss = torch.nn.functional.cross_entropy(gate(train)[reach], train["label"][reach])
        loss.backward()
        return loss

    optimiser.step(closure)
    return gate


def main(train_paths, eval_path):
    torch.manual_seed(0)
    train, held = load(train_paths), load(eval_path)
    print(f"train {len(train['target'])} tokens, eval {len(held['target'])} tokens")
    print("| fusion | " + " | ".join(n for n, _, _ in BANDS) + " | all | NLL |")
    for name, (a, b) in {"classifier alone": (1, 0), "shipped (1, 2)": (1, 2), "decoder alone": (0, 1),
                         "(1, 3)": (1, 3), "(1, 4)": (1, 4), "(0.5, 2)": (0.5, 2)}.items():
        report(name, fixed(held, a, b), held)
    c_right = held["ids"][:, 0] == held["target"]
    d_right = held["ids"][:, TOP] == held["target"]
    print(f"oracle: either argmax right {100 * (c_right | d_right).float().mean():.1f} %, "
          f"classifier only {100 * (c_right & ~d_right).float().mean():.1f} %, decoder only "
          f"{100 * (d_right & ~c_right).float().mean():.1f} %")
    for mode in ("global", "mlp"):
        gate = fit(train, mode)
        with torch.no_grad():
            report(f"learned {mode} (train)", gate(train), train)
            report(f"learned {mode}", gate(held), held)
            if mode == "global":
                print("  a, b =", torch.nn.functional.softplus(gate.base).tolist())


if __name__ == "__main__":
    main(*sys.argv[1:])
