"""Issue #13, thirty-third session: the 100k plan's training records [START, END) as a text-only manifest (id, text),
without speaking them, for word counts (new_words.py, deletions/bands.py). A lab script, not part of the package.

    PYTHONPATH=src python plan_texts.py QUESTIONS START END OUT.jsonl
"""
import json
import sys

from blsp_kd.data.synth import load_sources, plan_utterances
from blsp_kd.data.texts import WORDNET_DIR

questions, start, end, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
plan = plan_utterances(load_sources(questions=questions, wordnet_dir=WORDNET_DIR), num=100000, seed=0)
train = [utterance for utterance in plan if utterance.split == "train"][start:end]
with open(out, "w") as file:
    for utterance in train:
        file.write(json.dumps({"id": utterance.id, "text": utterance.text}) + "\n")
