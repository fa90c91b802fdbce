"""How corpus size and sources buy examples per token: for the first 160 test clips' transcript tokens (SmolLM2
tokenizer), the share whose token occurs >=100 / 10-99 / 1-9 / 0 times in the training transcripts of a corpus of NUM
utterances, without and with WordNet's sentences (the plan `prepare synth` follows with SOURCE_WEIGHTS; sentences
only, nothing synthesised).

usage: python coverage.py [QUESTIONS_TXT] [TEST_MANIFEST]"""
import collections
import json
import sys

from transformers import AutoTokenizer

from blsp_kd.data.synth import load_sources, plan_utterances
from blsp_kd.data.texts import WORDNET_DIR
from blsp_kd.models.pretrained import llm_checkpoint

questions = sys.argv[1] if len(sys.argv) > 1 else "/work/ref/data/corpus8k/questions.txt"
test_path = sys.argv[2] if len(sys.argv) > 2 else "/work/ref/data/corpus8k/test.responses.jsonl"
tok = AutoTokenizer.from_pretrained(llm_checkpoint())
test = [json.loads(line)["text"] for line in open(test_path)][:160]
test_ids = [i for t in test for i in tok(t).input_ids]
print(f"{len(test_ids)} test tokens")
for wordnet in (None, WORDNET_DIR):
    sources = load_sources(questions=questions, wordnet_dir=wordnet)
    for num in (8000, 20000, 40000, 80000):
        plan = plan_utterances(sources, num, 0)
        train = [u.text for u in plan if u.split == "train"]
        counts = collections.Counter(i for t in train for i in tok(t).input_ids)
        bands = collections.Counter(">=100" if counts[i] >= 100 else "10-99" if counts[i] >= 10 else "1-9"
                                    if counts[i] else "0" for i in test_ids)
        print(f"| {num:,}{' + WordNet' if wordnet else ''} | {len(train):,} | {len(set(train)):,} | {len(counts):,} | "
              + " | ".join(f"{100 * bands[k] / len(test_ids):.0f}%" for k in (">=100", "10-99", "1-9", "0")) + " |")
