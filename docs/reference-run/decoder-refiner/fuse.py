"""Issue #13, twenty-eighth session: the shipped classifier and Whisper's decoder (`refine_probe.py`'s "shipped,
soft" pass) fused per token, score(w) = log p_classifier(w) + λ · log p_decoder(w), over the union of each one's 32
best candidates (a candidate missing from one list gets that list's 32nd log-probability). The classifier's
distribution is the shipped readout's (softmax of cosines / 0.02) over SmolLM2's vocabulary, its candidates as the
Whisper tokens of the same strings (a clip's first token with Whisper's leading space). λ = 0 is the classifier
alone, λ = ∞ the decoder alone. Accuracy by the bands of `refine_probe.py`; λ is chosen on SPLITS[0].

usage: PYTHONPATH=src python fuse.py PROBE_DIR SPLIT [SPLIT …]   (refine-SPLIT.pt and SPLIT.pt in PROBE_DIR)
"""
import sys
from pathlib import Path

import torch
from refine_probe import BANDS, Vocabularies

LAMBDAS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, float("inf"))


def candidate_scores(flat: dict, clip: torch.Tensor, vocab: Vocabularies) -> tuple[torch.Tensor, ...]:
    """Per token: the candidates [N, 64] (Whisper ids; −1 not a Whisper string) and their two log-probabilities."""
    first = torch.ones_like(clip, dtype=torch.bool)
    first[1:] = clip[1:] != clip[:-1]
    classifier = vocab.to_whisper[flat["classifier top"]]
    spaced = torch.tensor([vocab.spaced[int(i)] for i in flat["classifier top"][first].flatten()])
    classifier[first] = torch.where(spaced.view(-1, classifier.shape[1]) >= 0,
                                    spaced.view(-1, classifier.shape[1]), classifier[first])
    candidates = torch.cat([classifier, flat["decoder top"]], dim=1)

    def lookup(ids: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
        hit = candidates[:, :, None] == ids[:, None, :]  # [N, 64, 32]
        found = torch.where(hit, logp[:, None, :], torch.tensor(-torch.inf)).amax(-1)
        return torch.where(hit.any(-1), found, logp[:, -1:].expand_as(found))

    return (candidates, lookup(classifier, flat["classifier top logp"].float()),
            lookup(flat["decoder top"], flat["decoder top logp"].float()))


def accuracy(right: torch.Tensor, count: torch.Tensor) -> list[float]:
    bands = [right[(count >= low) & (count < (high or 10**12))].float().mean().item() for _, low, high in BANDS]
    return bands + [right.float().mean().item()]


def main(probe_dir: Path, splits: list[str]) -> None:
    vocab = Vocabularies()
    best = None
    for split in splits:
        flat = torch.load(probe_dir / f"refine-{split}.pt")
        clip = torch.load(probe_dir / f"{split}.pt")["clip"]
        candidates, classifier, decoder = candidate_scores(flat, clip, vocab)
        target = flat["target"]
        print(f"\n{split}: {len(target)} tokens; accuracy by the token's count in the training clips")
        print("| λ | " + " | ".join(band for band, _, _ in BANDS) + " | all |")
        print("|---" * (len(BANDS) + 2) + "|")
        results = {}
        for weight in LAMBDAS:
            score = decoder if weight == float("inf") else classifier + weight * decoder
            choice = candidates.gather(1, score.argmax(1, keepdim=True)).squeeze(1)
            results[weight] = accuracy((choice == target) & (target >= 0), flat["count"])
            print(f"| {weight} | " + " | ".join(f"{value:.1%}" for value in results[weight]) + " |")
        if best is None:
            best = max(results, key=lambda weight: results[weight][-1])
            print(f"chosen on {split}: λ = {best}")
        else:
            print(f"at λ = {best} (chosen on {splits[0]}): {results[best][-1]:.1%} overall")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
