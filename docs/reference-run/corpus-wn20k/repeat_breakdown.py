"""Issue #13: where the repeat WER goes, from `blsp-kd evaluate`'s utterances.jsonl records (the repeat task).

Per clip, after Whisper's English normaliser: the WER of the answer's first sentence (the words carried) and the
words after it per reference word (the rambling); and the answer's shape: "repeat" (first sentence within WER 0.5 of
the transcript), "answer" (it answers or declines instead: starts "I'm", "Sure", "Here", "To ", a list, ... or its
length is off by more than 2x) or "garbled" (a sentence of about the transcript's length that is not it).

    python repeat_breakdown.py eval-cascade-fallback/utterances.jsonl eval-wn-cont2-s0/utterances.jsonl
"""
import collections
import json
import re
import statistics
import sys

import jiwer

from blsp_kd.eval.metrics import normalize


def first_sentence(text):
    parts = re.split(r"(?<=[.!?])\s+|\n+", text.strip())
    return parts[0] if parts else ""


def load(path, task="repeat"):
    rows = collections.defaultdict(dict)
    for line in open(path):
        r = json.loads(line)
        if r["task"] == task:
            rows[r["system"]][r["id"]] = r
    return rows


def summary(name, rows):
    first, full, extra, is_repeat, shape = [], [], [], [], []
    for r in rows.values():
        ref = normalize(r["reference"])
        fs = normalize(first_sentence(r["output"])) or "-"
        out = normalize(r["output"]) or "-"
        w_first = jiwer.wer(ref, fs)
        first.append(w_first)
        full.append(jiwer.wer(ref, out))
        extra.append(max(0, len(out.split()) - len(fs.split())) / max(1, len(ref.split())))
        is_repeat.append(w_first <= 0.5)
        ratio = len(fs.split()) / max(1, len(ref.split()))
        answered = re.match(r"(i m|i am|sure|here|to |yes|no |1 )", fs) is not None
        shape.append("repeat" if w_first <= 0.5 else "answer" if answered or not 0.5 <= ratio <= 2 else "garbled")
    repeats = [f for f, k in zip(first, is_repeat, strict=True) if k]
    print(f"{name:28s} clips {len(first):3d} | full WER {statistics.mean(full):.3f} | first-sentence WER "
          f"{statistics.mean(first):.3f} (median {statistics.median(first):.3f}) | repeats (first <= 0.5) "
          f"{sum(is_repeat):3d}, their first-sentence WER {statistics.mean(repeats):.3f} | words after the first "
          f"sentence per ref word {statistics.mean(extra):.3f} | " +
          " ".join(f"{k} {v}" for k, v in sorted(collections.Counter(shape).items())))


for path in sys.argv[1:]:
    for system, rows in load(path).items():
        summary(f"{path.split('/')[-2]}:{system}", rows)
