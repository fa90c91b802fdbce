"""Issue #13, sixteenth session: speak only a slice of the 40k WordNet corpus' plan (the machine keeps being replaced
between sessions, so the run must fit one session; speaking all 40,000 clips takes 37 minutes of this CPU).

`prepare synth --num 40000` plans utterance i of each split the same way whatever the corpus size (synth.py), so
the first 256 test and validation records here are the 20k corpus' (the evaluation's 160 clips among them) and the
training slice [16000, 16000 + N) holds sentences the 20k corpus' 16,000 training clips never used.

    python synth_slice.py OUT QUESTIONS TRAIN_START TRAIN_END [PLAN_SIZE]

PLAN_SIZE (default 40000): the plan to slice; a larger plan's splits begin with the smaller one's (80000: training
records up to 64,000, the test and validation records the same).
"""
import sys
from pathlib import Path

from blsp_kd.data.manifest import write_manifest
from blsp_kd.data.synth import load_sources, plan_utterances, speak_utterances
from blsp_kd.data.texts import WORDNET_DIR

out, questions, start, end = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
plan_size = int(sys.argv[5]) if len(sys.argv) > 5 else 40000
plan = plan_utterances(load_sources(questions=questions, wordnet_dir=WORDNET_DIR), num=plan_size, seed=0)
by_split = {split: [u for u in plan if u.split == split] for split in ("train", "valid", "test")}
chosen = {"test": by_split["test"][:256], "valid": by_split["valid"][:256], "train-new": by_split["train"][start:end]}
for name, utterances in chosen.items():
    records, problems = speak_utterances(utterances, out / "audio", workers=2, desc=name)
    for problem in problems:
        print(f"skipped, {problem}", file=sys.stderr)
    write_manifest(out / f"{name}.jsonl", [record for record in records if record is not None])
