"""Issue #13, twenty-seventh session, lever 1 of the twenty-sixth note (Whisper's decoder knowledge), step 2 of a
probe: would naming each speech vector's token through Whisper's own output embedding reach the words our corpus
rarely or never let the adapter hear?

The shipped classifier names a token by the nearest LLM input embedding (cosine). SmolLM2's embeddings are a
language model's: nothing in their geometry says how a word sounds, so a token heard < 10 times is named ~1 % of the
time (RESULTS.md "Where the words get lost"). Whisper tiny.en's decoder names every token through its (tied) token
embedding from states computed out of the same encoder frames, trained on 680k hours. If that geometry is one that
sound maps onto smoothly, a head fitted on our states towards it would also name tokens it saw rarely or never.

Measured with the same inputs and the same head for every target, on two inputs (`extract_states.py`; 384-dim,
one per transcript token, training clips and held-out clips): `states`, the shipped model's post-CIF states (shaped
by training towards the LLM's embeddings: a bias for the `llm` target), and `pooled`, the Whisper encoder frames
under each vector's CIF weights (Whisper's own frame space, no bias either way); the head is a linear map + a cosine
classifier with a learned scale, fitted by cross-entropy on the training clips' states, over the same candidates:
the 36,961 token strings both vocabularies share (transcript tokens outside them are left out and counted). The
candidate embeddings are frozen:
- `llm`: SmolLM2's (what the shipped classifier uses, refitted on these states: the same states, the same head);
- `whisper`: Whisper tiny.en's decoder token embeddings;
- `random`: Gaussian vectors of Whisper's width (a control: no geometry at all; tokens unseen in training must
  score ~0).
Accuracy (the argmax is the token) by how often the token occurs among the training clips' transcript tokens.

usage (PYTHONPATH=src):
    python head_probe.py PROBE_DIR INPUT TARGET [EPOCHS]   fit one head: INPUT states or pooled, TARGET llm, whisper
                                                           or random (one process each)
    python head_probe.py PROBE_DIR report                  the tables
(PROBE_DIR holds train.pt and the held-out splits' *.pt from extract_states.py.)
"""
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import AutoTokenizer

from blsp_kd.models.pretrained import blsp_home

WHISPER, LLM = blsp_home() / "whisper-tiny.en", blsp_home() / "smollm2-135m-instruct"  # `blsp-kd convert`'s
BANDS = [("≥ 100", 100, None), ("10–99", 10, 100), ("1–9", 1, 10), ("never", 0, 1)]
BATCH, LR = 4096, 2e-3


def candidates() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """llm_to_candidate [V_llm] (−1 where the string is not Whisper's too) and the candidates' embeddings, by
    target."""
    whisper_vocab = AutoTokenizer.from_pretrained(WHISPER).get_vocab()
    llm_vocab = AutoTokenizer.from_pretrained(LLM).get_vocab()
    shared = sorted(set(whisper_vocab) & set(llm_vocab))
    llm_ids = torch.tensor([llm_vocab[token] for token in shared])
    whisper_ids = torch.tensor([whisper_vocab[token] for token in shared])
    llm_to_candidate = torch.full((max(llm_vocab.values()) + 1,), -1)
    llm_to_candidate[llm_ids] = torch.arange(len(shared))
    whisper_embedding = load_file(WHISPER / "model.safetensors")["model.decoder.embed_tokens.weight"].float()
    llm_embedding = load_file(LLM / "model.safetensors")["lm_head.weight"].float()  # tied with the input embedding
    generator = torch.Generator().manual_seed(0)
    targets = {"llm": llm_embedding[llm_ids], "whisper": whisper_embedding[whisper_ids],
               "random": torch.randn(len(shared), whisper_embedding.shape[1], generator=generator)}
    return llm_to_candidate, targets


class CosineHead(torch.nn.Module):
    def __init__(self, in_dim: int, embeddings: torch.Tensor):
        super().__init__()
        self.proj = torch.nn.Linear(in_dim, embeddings.shape[1])
        self.register_buffer("embeddings", F.normalize(embeddings, dim=-1))
        self.log_scale = torch.nn.Parameter(torch.tensor(2.3))  # e^2.3 ≈ 10

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cosines = F.normalize(self.proj(states), dim=-1) @ self.embeddings.T
        return cosines.float() * self.log_scale.exp()


def fit(head: CosineHead, states: torch.Tensor, labels: torch.Tensor, epochs: int) -> None:
    optimizer = torch.optim.AdamW(head.parameters(), lr=LR, weight_decay=0.0)
    steps = epochs * ((len(labels) + BATCH - 1) // BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=steps, pct_start=0.05)
    generator = torch.Generator().manual_seed(0)
    for epoch in range(epochs):
        order, total = torch.randperm(len(labels), generator=generator), 0.0
        for start in range(0, len(labels), BATCH):
            rows = order[start : start + BATCH]
            loss = F.cross_entropy(head(states[rows]), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(rows)
        print(f"  epoch {epoch + 1}: train CE {total / len(labels):.3f}", flush=True)


def load(path: Path, llm_to_candidate: torch.Tensor, key: str, mean: torch.Tensor | None = None,
         std: torch.Tensor | None = None):
    data = torch.load(path)
    labels = llm_to_candidate[data["llm_ids"]]
    keep = labels >= 0
    states = data[key].float()
    if mean is None:
        mean, std = states[keep].mean(0), states[keep].std(0)
    return {"states": (states[keep] - mean) / std, "labels": labels[keep], "shipped": data["shipped"][keep],
            "llm_ids": data["llm_ids"][keep], "share": keep.float().mean().item()}, mean, std


def fit_and_predict(probe_dir: Path, key: str, target: str, epochs: int) -> None:
    """Fit the head on one input towards one target's embeddings; its choices on every split go to
    pred-INPUT-TARGET.pt."""
    llm_to_candidate, targets = candidates()
    train, splits = load_splits(probe_dir, llm_to_candidate, key)
    print(f"head from {key} towards the {target} embeddings ({targets[target].shape[1]} dims), "
          f"{len(train['labels']):,} training tokens:", flush=True)
    torch.manual_seed(0)
    head = CosineHead(train["states"].shape[1], targets[target])
    fit(head, train["states"], train["labels"], epochs)
    with torch.no_grad():
        predictions = {split: torch.cat([head(data["states"][start : start + BATCH]).argmax(-1)
                                         for start in range(0, len(data["labels"]), BATCH)])
                       for split, data in splits.items()}
    torch.save(predictions, probe_dir / f"pred-{key}-{target}.pt")


def load_splits(probe_dir: Path, llm_to_candidate: torch.Tensor, key: str = "states"):
    train, mean, std = load(probe_dir / "train.pt", llm_to_candidate, key)
    held_out = [path for path in sorted(probe_dir.glob("*.pt")) if not path.stem.startswith("pred-")]
    return train, {path.stem: load(path, llm_to_candidate, key, mean, std)[0] for path in held_out}


def report(probe_dir: Path) -> None:
    llm_to_candidate, targets = candidates()
    train, splits = load_splits(probe_dir, llm_to_candidate)
    counts = torch.bincount(train["labels"], minlength=len(targets["llm"]))
    print(f"training tokens {len(train['labels']):,} ({train['share']:.1%} of them in the shared vocabulary), "
          f"{int((counts > 0).sum()):,} distinct")
    files = {f"{key} → {name}": probe_dir / f"pred-{key}-{name}.pt"
             for key in ("states", "pooled") for name in targets}
    predictions = {label: torch.load(path) for label, path in files.items() if path.exists()}
    for split, data in splits.items():
        band_of = counts[data["labels"]]
        in_band = [(band_of >= low) & (band_of < (high or 10**9)) for _, low, high in BANDS]
        print(f"\n{split}: {len(data['labels']):,} tokens in the shared vocabulary ({data['share']:.1%} of its "
              f"transcript tokens); accuracy by the token's count in the training clips (share of tokens)")
        print("| head | " + " | ".join(f"{label} ({band.float().mean():.0%})" for (label, _, _), band
                                      in zip(BANDS, in_band, strict=True)) + " | all |")
        print("|" + "---|" * (len(BANDS) + 2))
        rows = {"shipped classifier (whole LLM vocabulary)": data["shipped"] == data["llm_ids"]}
        rows.update({f"fitted: {name}": chosen[split] == data["labels"] for name, chosen in predictions.items()})
        for label, hit in rows.items():
            print(f"| {label} | " + " | ".join(f"{hit[band].float().mean():.1%}" for band in in_band)
                  + f" | {hit.float().mean():.1%} |")


if __name__ == "__main__":
    if sys.argv[2] == "report":
        report(Path(sys.argv[1]))
    else:
        fit_and_predict(Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 2)
