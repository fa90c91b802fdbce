"""Issue #13, thirty-fourth session: the words-lost measure's difference between two systems on the same clips.
A lab script, not part of the package.

Substitutions + deletions per transcript word (the repeat answers' words lost or changed, not the rambling the
insertions count) of A minus that of B over the clips both answered, with a 95 % paired bootstrap interval (clips
drawn with replacement 2,000 times, both systems' answers to a drawn clip together), as the package's
`error_rate_difference` does for the WER.

    PYTHONPATH=src python sd_boot.py A[:SYSTEM] B[:SYSTEM]     (evaluation folders; SYSTEM defaults to speech)
"""

import json
import sys

import jiwer
import numpy as np

from blsp_kd.eval.metrics import normalize


def repeats(argument: str) -> dict[str, dict]:
    folder, _, system = argument.partition(":")
    answers = map(json.loads, open(f"{folder}/utterances.jsonl"))
    return {a["id"]: a for a in answers if a["task"] == "repeat" and a["system"] == (system or "speech")}


def lost_and_length(answer: dict) -> tuple[int, int]:
    """(substitutions + deletions, reference words) of one repeat answer."""
    output = jiwer.process_words(normalize(answer["reference"]), normalize(answer["output"]) or "<empty>")
    return output.substitutions + output.deletions, output.substitutions + output.deletions + output.hits


if __name__ == "__main__":
    a, b = repeats(sys.argv[1]), repeats(sys.argv[2])
    ids = sorted(set(a) & set(b))
    lost_a = np.array([lost_and_length(a[i]) for i in ids])
    lost_b = np.array([lost_and_length(b[i]) for i in ids])
    difference = (lost_a[:, 0].sum() - lost_b[:, 0].sum()) / lost_a[:, 1].sum()
    draws = np.random.default_rng(0).integers(0, len(ids), size=(2000, len(ids)))
    drawn = (lost_a[draws, 0].sum(1) - lost_b[draws, 0].sum(1)) / lost_a[draws, 1].sum(1)
    low, high = np.percentile(drawn, [2.5, 97.5])
    print(f"{len(ids)} clips: S + D of {sys.argv[1]} {lost_a[:, 0].sum() / lost_a[:, 1].sum():.3f} − "
          f"{sys.argv[2]} {lost_b[:, 0].sum() / lost_b[:, 1].sum():.3f} = {difference:+.3f} [{low:+.3f}, {high:+.3f}]")
