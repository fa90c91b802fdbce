"""Issue #13, thirty-third session: build.py's probe read by each model — how often the readout's argmax transcript
(deletions/probe.py, the CIF's own count) gets the probe clip's target word right, and every other word. A lab script.

    PYTHONPATH=src:docs/reference-run/deletions python analyze.py WORDS.txt NAME=PROBE.jsonl …
"""
import json
import sys

from bands import matched  # deletions/bands.py

targets = {line.split("\t")[0] for line in open(sys.argv[1])}
print("| model | target words right | the other words right |")
print("|---|---|---|")
for argument in sys.argv[2:]:
    name, _, path = argument.partition("=")
    rows = [json.loads(line) for line in open(path)]
    target_right = target_total = other_right = other_total = 0
    for row in rows:  # every target word in a probe clip counts as one (its own clip's and any other's)
        words, right = matched(row["text"], row["readout_own_count"])
        for word, is_right in zip(words, right, strict=True):
            if word in targets:
                target_total, target_right = target_total + 1, target_right + is_right
            else:
                other_total, other_right = other_total + 1, other_right + is_right
    print(f"| {name} | {target_right / target_total:.1%} ({target_total}) | {other_right / other_total:.1%} "
          f"({other_total}) |")
