"""Issue #13, thirty-third session: how much speech would let the recogniser hear every word of the plan's training
texts at least TARGET times? A lab estimate, not part of the package.

    PYTHONPATH=src python coverage_need.py PLAN_TEXTS.jsonl HEARD.jsonl TARGET …

PLAN_TEXTS: the plan's training texts (plan_texts.py, all records); HEARD: the transcripts already spoken and trained
on (one or more manifests, comma-separated). Words are counted after the evaluation's normalisation. The estimate
speaks, pass after pass, every distinct sentence that still holds a word heard fewer than TARGET times (each clip
hears all of its sentence's words) until none is left, and reports the clips that takes.
"""
import json
import sys
from collections import Counter

from blsp_kd.eval.metrics import normalize


def words(manifests: list[str]) -> list[list[str]]:
    return [normalize(json.loads(line)["text"]).split() for manifest in manifests for line in open(manifest)]


def main(plan_texts: str, heard: str, targets: list[int]) -> None:
    sentences = sorted({tuple(sentence) for sentence in words([plan_texts])})
    pool = Counter(word for sentence in sentences for word in sentence)
    counts = Counter(word for sentence in words(heard.split(",")) for word in sentence)
    once = sum(1 for n in pool.values() if n == 1)
    print(f"{len(sentences)} distinct sentences, {len(pool)} words, {once} of them in one sentence only")
    for target in targets:
        deficit = {word: target - counts[word] for word in pool if counts[word] < target}
        below, clips, passes = len(deficit), 0, 0
        while any(need > 0 for need in deficit.values()):
            passes += 1
            for sentence in sentences:
                if any(deficit.get(word, 0) > 0 for word in sentence):
                    clips += 1
                    for word in sentence:
                        if word in deficit:
                            deficit[word] -= 1
        print(f"heard ≥ {target} times: {below} words short of it; ≈ {clips} clips to speak ({passes} passes)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(target) for target in sys.argv[3:]])
