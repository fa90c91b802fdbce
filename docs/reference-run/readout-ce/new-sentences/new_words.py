"""Issue #13, thirty-third session: did the new sentences teach the recogniser their words? A lab script, not part of
the package. For the same clips probed under several models (deletions/probe.py), each transcript word is put in a
band by its count in the transcripts the initial weights were trained on (OLD) and marked by how often the new
training set (NEW) has it; the table gives, per band, the share of words each model's readout transcript gets right
(deletions/bands.py's alignment).

    PYTHONPATH=src python new_words.py OLD_MANIFEST NEW_MANIFEST NAME=PROBE.jsonl …
"""
import json
import sys

from bands import band, matched, word_counts  # deletions/bands.py, on PYTHONPATH


def main(old_manifest: str, new_manifest: str, probes: list[str]) -> None:
    old, new = word_counts(old_manifest), word_counts(new_manifest)
    names = [argument.partition("=")[0] for argument in probes]
    table: dict[tuple[str, str], list[int]] = {}  # (old band, new band) → words, then each model's right
    for position, argument in enumerate(probes):
        for row in map(json.loads, open(argument.partition("=")[2])):
            words, right = matched(row["text"], row["readout_own_count"])
            for word, is_right in zip(words, right, strict=True):
                cell = table.setdefault((band(old[word]), band(new[word])), [0] * (len(probes) + 1))
                cell[0] += position == 0  # words counted once, from the first probe (all probe the same clips)
                cell[position + 1] += is_right
    total = sum(cell[0] for cell in table.values())
    print("| count in OLD | count in NEW | share of words | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for (old_band, new_band), (words, *right) in sorted(table.items(), key=lambda item: -item[1][0]):
        cells = " | ".join(f"{r / words:.1%}" for r in right)
        print(f"| {old_band} | {new_band} | {words / total:.1%} ({words}) | {cells} |")
    everything = [sum(column) for column in zip(*table.values(), strict=True)]
    print("| all | all | 100 % | " + " | ".join(f"{r / everything[0]:.1%}" for r in everything[1:]) + " |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
