"""Issue #13, thirty-second session: the lost-words table from `probe.py`'s rows and the evaluations' answers. A lab
script, not part of the package.

    PYTHONPATH=src python docs/reference-run/deletions/table.py PROBE.jsonl CASCADE_EVAL SPEECH_EVAL

CASCADE_EVAL: an evaluation folder with the cascade's `asr` transcripts and `repeat` answers; SPEECH_EVAL: one with
the speech path's `repeat` answers, on the same clips. Prints S, D, I per reference word for each transcript and
answer, and the answers' deletions split by the CIF count's error.
"""

import json
import sys
from pathlib import Path

import jiwer
import numpy as np

from blsp_kd.eval.metrics import normalize


def operations(reference: str, hypothesis: str) -> np.ndarray:
    """[S, D, I, reference words] of one hypothesis, both normalised as the evaluation does."""
    reference, hypothesis = normalize(reference), normalize(hypothesis)
    if not reference:
        return np.array([0, 0, len(hypothesis.split()), 0])
    words = jiwer.process_words(reference, hypothesis)
    return np.array([words.substitutions, words.deletions, words.insertions, len(reference.split())])


def answers(folder: str, task: str, system: str) -> dict[str, str]:
    rows = (json.loads(line) for line in open(Path(folder) / "utterances.jsonl"))
    return {row["id"]: row["output"] for row in rows if row["task"] == task and row["system"] == system}


def rates(counts: np.ndarray) -> str:
    s, d, i, n = counts.sum(0)
    return f"| {s / n:.3f} | {d / n:.3f} | {i / n:.3f} | {(s + d) / n:.3f} |"


def main(probe: str, cascade_eval: str, speech_eval: str) -> None:
    rows = [json.loads(line) for line in open(probe)]
    speech = answers(speech_eval, "repeat", "speech")
    asr, cascade = answers(cascade_eval, "asr", "cascade"), answers(cascade_eval, "repeat", "cascade")
    rows = [row for row in rows if row["id"] in speech and row["id"] in asr]
    own, true = "readout argmax, the CIF's own count (what the LLM reads at inference)", \
        "readout argmax, the transcript's true count (as in training)"
    hypotheses = {"Whisper's transcript (the cascade's ASR)": asr,
                  own: {row["id"]: row["readout_own_count"] for row in rows},
                  true: {row["id"]: row["readout_true_count"] for row in rows},
                  "repeat answer, cascade": cascade, "repeat answer, speech path": speech}
    print(f"{len(rows)} clips\n\n| words against the transcript | S | D | I | S + D |\n|---|---|---|---|---|")
    counts = {}
    for name, texts in hypotheses.items():
        counts[name] = np.stack([operations(row["text"], texts[row["id"]]) for row in rows])
        print(f"| {name} " + rates(counts[name]))
    error = np.array([row["own_count"] - row["true_count"] for row in rows])
    print(f"\nCIF count minus the true count: mean {error.mean():+.2f} tokens, "
          f"under {np.mean(error < 0):.0%} of clips, "
          f"over {np.mean(error > 0):.0%}, exact {np.mean(error == 0):.0%}\n")
    print("| clips by count error | clips | readout D (own count) | readout D (true count) | speech answer D "
          "| cascade answer D |\n|---|---|---|---|---|---|")
    for name, chosen in (("under (n̂ < n)", error < 0), ("exact", error == 0), ("over (n̂ > n)", error > 0)):
        if not chosen.any():
            continue
        cells = []
        for key in (own, true, "repeat answer, speech path", "repeat answer, cascade"):
            part = counts[key][chosen].sum(0)
            cells.append(f"{part[1] / part[3]:.3f}")
        print(f"| {name} | {chosen.sum()} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:4])
