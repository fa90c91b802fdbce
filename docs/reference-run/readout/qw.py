"""Repeat WER (corpus, per-clip median) and substitutions / deletions / insertions per transcript word, over the
clips every given evaluation answered (Whisper-normalised, as tablewn.py). usage: qw.py FOLDER[:system] ... (system:
speech unless given)."""
import json, sys, statistics, collections, jiwer
from blsp_kd.eval.metrics import normalize
def rep(arg):
    p, _, system = arg.partition(":")
    return {u["id"]: u for u in map(json.loads, open(p + "/utterances.jsonl")) if u["task"] == "repeat" and u["system"] == (system or "speech")}
sets = {a: rep(a) for a in sys.argv[1:]}
ids = sorted(set.intersection(*(set(d) for d in sets.values())))
print(len(ids), "clips")
for name, d in sets.items():
    c = collections.Counter(); per = []
    for i in ids:
        w = jiwer.process_words(normalize(d[i]["reference"]), normalize(d[i]["output"]))
        n = w.substitutions + w.deletions + w.hits
        c.update(S=w.substitutions, D=w.deletions, I=w.insertions, N=n); per.append((w.substitutions + w.deletions + w.insertions) / max(n, 1))
    print(f"{name.split('/')[-1]:34s} WER {(c['S']+c['D']+c['I'])/c['N']:.3f} median {statistics.median(per):.3f} S {c['S']/c['N']:.3f} D {c['D']/c['N']:.3f} I {c['I']/c['N']:.3f}")
