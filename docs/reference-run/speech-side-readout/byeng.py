"""repeat WER by engine over common clips. usage: byeng.py MANIFEST FOLDER[:system] ..."""
import json, sys, collections, jiwer
from blsp_kd.eval.metrics import normalize
eng = {r["id"]: r["engine"] + ("/" + r["voice"] if r["engine"] == "flite" else "") for r in map(json.loads, open(sys.argv[1]))}
def rep(arg):
    p, _, system = arg.partition(":")
    return {u["id"]: u for u in map(json.loads, open(p + "/utterances.jsonl")) if u["task"] == "repeat" and u["system"] == (system or "speech")}
sets = {a: rep(a) for a in sys.argv[2:]}
ids = sorted(set.intersection(*(set(d) for d in sets.values())))
for name, d in sets.items():
    c = collections.defaultdict(collections.Counter)
    for i in ids:
        w = jiwer.process_words(normalize(d[i]["reference"]), normalize(d[i]["output"]))
        c[eng[i]].update(E=w.substitutions + w.deletions + w.insertions, N=w.substitutions + w.deletions + w.hits, n=1)
    print(f"{name.split('/')[-1]:30s}", "  ".join(f"{e} {v['E']/v['N']:.2f} ({v['n']})" for e, v in sorted(c.items())))
