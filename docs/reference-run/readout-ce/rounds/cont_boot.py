"""Paired bootstrap over clips of the continuations' corpus BLEU and chrF against the text path's continuations (the
evaluation's reference: system "text"), system A minus system B (usage: cont_boot.py UTTERANCES A B [resamples]).
Prints each system's point scores first, to check them against the evaluation's results.md."""

import json
import random
import sys

import sacrebleu

path, a, b = sys.argv[1:4]
resamples = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
outputs: dict[str, dict[str, str]] = {}
for line in open(path):
    row = json.loads(line)
    if row["task"] == "continuation":
        outputs.setdefault(row["system"], {})[row["id"]] = row["output"]
references = outputs["text"]
ids = sorted(set(outputs[a]) & set(outputs[b]) & set(references))


def scores(system: str, chosen: list[str]) -> tuple[float, float]:
    hypotheses, refs = [outputs[system][i] for i in chosen], [[references[i] for i in chosen]]
    return sacrebleu.corpus_bleu(hypotheses, refs).score, sacrebleu.corpus_chrf(hypotheses, refs).score


for system in (a, b):
    print(f"{system}: BLEU %.2f, chrF %.2f over {len(ids)} clips" % scores(system, ids))
random.seed(0)
point = [x - y for x, y in zip(scores(a, ids), scores(b, ids), strict=True)]
draws = []
for _ in range(resamples):
    chosen = [random.choice(ids) for _ in ids]
    draws.append([x - y for x, y in zip(scores(a, chosen), scores(b, chosen), strict=True)])
for k, name in enumerate(("BLEU", "chrF")):
    values = sorted(d[k] for d in draws)
    low, high = values[int(0.025 * resamples)], values[int(0.975 * resamples) - 1]
    print(f"{name} {a} − {b} over {len(ids)} clips: {point[k]:+.2f} [{low:+.2f}, {high:+.2f}] (95 %, {resamples} resamples)")
