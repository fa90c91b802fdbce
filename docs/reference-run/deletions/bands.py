"""Issue #13, thirty-second session: which words the decoder readout's transcript misses that Whisper's gets, by how
often each word occurs in the training transcripts. A lab script, not part of the package.

    PYTHONPATH=src python docs/reference-run/deletions/bands.py PROBE.jsonl CASCADE_EVAL TRAIN_MANIFEST

PROBE: `probe.py`'s rows (the readout's transcript with the CIF's own count); CASCADE_EVAL: an evaluation folder with
the cascade's `asr` transcripts of the same clips. A transcript word is right when the alignment matches it.
"""

import json
import sys
from collections import Counter

import jiwer

from blsp_kd.eval.metrics import normalize

BANDS = ((100, "≥ 100"), (10, "10–99"), (1, "1–9"), (0, "never"))


def band(count: int) -> str:
    return next(name for lowest, name in BANDS if count >= lowest)


def matched(reference: str, hypothesis: str) -> tuple[list[str], list[bool]]:
    """The normalised reference's words and, for each, whether the hypothesis matches it in the alignment."""
    reference, hypothesis = normalize(reference), normalize(hypothesis)
    words, right = reference.split(), [False] * len(reference.split())
    if words:
        for chunk in jiwer.process_words(reference, hypothesis).alignments[0]:
            if chunk.type == "equal":
                right[chunk.ref_start_idx:chunk.ref_end_idx] = [True] * (chunk.ref_end_idx - chunk.ref_start_idx)
    return words, right


def word_counts(manifest: str) -> Counter:
    """How often each (normalised) word occurs in a manifest's transcripts."""
    return Counter(word for line in open(manifest) for word in normalize(json.loads(line)["text"]).split())


def main(probe: str, cascade_eval: str, train_manifest: str) -> None:
    counts = word_counts(train_manifest)
    rows = (json.loads(line) for line in open(f"{cascade_eval}/utterances.jsonl"))
    asr = {row["id"]: row["output"] for row in rows if row["task"] == "asr"}
    table = {name: [0, 0, 0] for _, name in BANDS}  # words, Whisper right, readout right
    for row in map(json.loads, open(probe)):
        if row["id"] not in asr:
            continue
        words, whisper_right = matched(row["text"], asr[row["id"]])
        _, readout_right = matched(row["text"], row["readout_own_count"])
        for word, by_whisper, by_readout in zip(words, whisper_right, readout_right, strict=True):
            cell = table[band(counts[word])]
            cell[0], cell[1], cell[2] = cell[0] + 1, cell[1] + by_whisper, cell[2] + by_readout
    total = sum(cell[0] for cell in table.values())
    print("| word's count in the training transcripts | share of words | Whisper's right | readout's right |")
    print("|---|---|---|---|")
    table["all"] = [sum(column) for column in zip(*table.values(), strict=True)]
    for name, (words, whisper, readout) in table.items():
        print(f"| {name} | {words / total:.1%} | {whisper / words:.1%} | {readout / words:.1%} |")


if __name__ == "__main__":
    main(*sys.argv[1:4])
