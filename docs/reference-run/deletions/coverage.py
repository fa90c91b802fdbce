"""Issue #13, thirty-second session: how many of the held-out transcripts' words the training transcripts cover, by
band of `bands.py`, for chain25's 24,000 clips (the 100k plan's training records [56000, 80000)), with `more.sh`'s
24,000 more ([32000, 56000)) and with all 80,000 of the plan. Reads the plan, speaks nothing. A lab script.

    PYTHONPATH=src python docs/reference-run/deletions/coverage.py QUESTIONS TEST_MANIFEST
"""

import json
import sys
from collections import Counter

from bands import BANDS, band

from blsp_kd.data.synth import load_sources, plan_utterances
from blsp_kd.data.texts import WORDNET_DIR
from blsp_kd.eval.metrics import normalize


def word_counts(texts) -> Counter:
    return Counter(word for text in texts for word in normalize(text).split())


def main(questions: str, test_manifest: str) -> None:
    plan = plan_utterances(load_sources(questions=questions, wordnet_dir=WORDNET_DIR), num=100000, seed=0)
    train = [utterance.text for utterance in plan if utterance.split == "train"]
    test_words = [word for line in open(test_manifest) for word in normalize(json.loads(line)["text"]).split()]
    print("| training transcripts | distinct sentences | " + " | ".join(name for _, name in BANDS) + " |")
    print("|---|---|" + "---|" * len(BANDS))
    for name, texts in (("[56000, 80000): chain25's", train[56000:80000]), ("+ [32000, 56000): more.sh's",
                        train[32000:80000]), ("all 80,000", train)):
        counts = word_counts(texts)
        shares = Counter(band(counts[word]) for word in test_words)
        cells = " | ".join(f"{shares[band_name] / len(test_words):.1%}" for _, band_name in BANDS)
        print(f"| {name} | {len(set(texts)):,} | {cells} |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
