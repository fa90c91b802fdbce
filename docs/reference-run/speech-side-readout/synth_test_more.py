"""Issue #13, twenty-second session: speak more of the held-out split. The tables so far use the first 160 test
clips of the 40k/80k plan (the first 256 were spoken); on them the repeat WER's paired-bootstrap 95% interval for
speech path minus cascade is ±0.27 wide. This speaks test records [START, END) of the same plan (unseen sentences,
unseen voices: the Kal speaker, 12 espeak-ng voices), clips no evaluation has heard.

    python synth_test_more.py OUT QUESTIONS START END [PLAN_SIZE]    ->  OUT/test-START-END.jsonl

SPLIT=valid speaks the plan's validation records instead (thirty-seventh session: a second validation split)
->  OUT/valid-START-END.jsonl.
"""
import os
import sys
from pathlib import Path

from blsp_kd.data.manifest import write_manifest
from blsp_kd.data.synth import load_sources, plan_utterances, speak_utterances
from blsp_kd.data.texts import WORDNET_DIR

out, questions, start, end = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
plan_size = int(sys.argv[5]) if len(sys.argv) > 5 else 80000
plan = plan_utterances(load_sources(questions=questions, wordnet_dir=WORDNET_DIR), num=plan_size, seed=0)
split = os.environ.get("SPLIT", "test")
chosen = [u for u in plan if u.split == split][start:end]
records, problems = speak_utterances(chosen, out / "audio", workers=1, desc=f"{split} [{start}, {end})")
for problem in problems:
    print(f"skipped, {problem}", file=sys.stderr)
write_manifest(out / f"{split}-{start}-{end}.jsonl", [record for record in records if record is not None])
