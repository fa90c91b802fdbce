"""Issue #13, twenty-third session (ss2-* added in the twenty-fourth): the repeat WER on the clips where the text path repeats the transcript exactly,
so that what is left is the words each path carries (not how much SmolLM2 rambles). Reads the committed records;
run from anywhere with the package importable: python exact_repeats.py"""
import json, sys, collections, jiwer
from blsp_kd.eval.metrics import normalize
def rep(folder, system="speech"):
    return {u["id"]: u for u in map(json.loads, open(folder + "/utterances.jsonl")) if u["task"] == "repeat" and u["system"] == system}
from pathlib import Path
D = str(Path(__file__).resolve().parent.parent) + "/"
S = D + "speech-side-readout/"
for name, casc, text, systems in [
    ("744", S + "eval-more-shipped", S + "eval-more-shipped", {"ss0": S + "eval-more-ss0-T02", "ss1": S + "eval-more-ss1-T02",
             "ss2-0": S + "eval-more-ss2-0-T02", "ss2-1": S + "eval-more-ss2-1-T02", "previous": S + "eval-more-shipped"}),
    ("156", D + "corpus-wn20k/eval-cascade-fallback", D + "corpus-wn20k/eval-cascade-fallback", {"ss0": S + "eval-test160-ss0-T02", "ss1": S + "eval-test160-ss1-T02",
             "ss2-0": S + "eval-test160-ss2-0-T02", "ss2-1": S + "eval-test160-ss2-1-T02", "previous": D + "readout/eval-test-d-soft_0.01"})]:
    c, t = rep(casc, "cascade"), rep(text, "text")
    sy = {k: rep(v) for k, v in systems.items()}
    ids = [i for i in sorted(set(c) & set(t).intersection(*map(set, sy.values()))) if normalize(t[i]["output"]) == normalize(t[i]["reference"])]
    print(name, len(ids), "clips where the text path repeats exactly")
    for sname, d in [("cascade", c)] + list(sy.items()):
        k = collections.Counter(); exact = 0
        for i in ids:
            w = jiwer.process_words(normalize(d[i]["reference"]), normalize(d[i]["output"]))
            k.update(S=w.substitutions, D=w.deletions, I=w.insertions, N=w.substitutions + w.deletions + w.hits); exact += (w.substitutions + w.deletions + w.insertions) == 0
        print(f"  {sname:9s} WER {(k['S']+k['D']+k['I'])/k['N']:.3f}  S {k['S']/k['N']:.3f} D {k['D']/k['N']:.3f} I {k['I']/k['N']:.3f}  exact {exact}")
