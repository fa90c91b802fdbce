"""Issue #13, twenty-third session (ss2-* added in the twenty-fourth): repeat WER and substitutions + deletions per transcript word by the sentence's
source on the 744 held-out clips, from the committed records and the work folder's manifest (its `source` field).
usage: python bysource.py [MANIFEST]"""
import json, collections, jiwer, sys
from blsp_kd.eval.metrics import normalize
S = str(__import__("pathlib").Path(__file__).resolve().parent) + "/"
src = {r["id"]: r["source"] for r in map(json.loads, open(sys.argv[1] if len(sys.argv) > 1 else "/work/ref/data/c80/test-256-1000.jsonl"))}
def rep(f, system="speech"):
    return {u["id"]: u for u in map(json.loads, open(S + f + "/utterances.jsonl")) if u["task"] == "repeat" and u["system"] == system}
systems = {"text": rep("eval-more-shipped", "text"), "cascade": rep("eval-more-shipped", "cascade"), "ss0": rep("eval-more-ss0-T02"), "ss1": rep("eval-more-ss1-T02"),
           "ss2-0": rep("eval-more-ss2-0-T02"), "ss2-1": rep("eval-more-ss2-1-T02")}
for source in sorted(set(src.values())):
    ids = [i for i in src if src[i] == source]
    row = []
    for name, d in systems.items():
        k = collections.Counter()
        for i in ids:
            w = jiwer.process_words(normalize(d[i]["reference"]), normalize(d[i]["output"]))
            k.update(SD=w.substitutions + w.deletions, I=w.insertions, N=w.substitutions + w.deletions + w.hits)
        row.append(f"{name} {(k['SD']+k['I'])/k['N']:.2f} (S+D {k['SD']/k['N']:.2f})")
    print(f"{source:10s} {len(ids):4d}  " + "  ".join(row))
