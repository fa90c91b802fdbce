"""Issue #13, twenty-third session: repeat WER (corpus, per-clip median, S/D/I per transcript word) pooled over several
sets of clips, and each system minus the cascade with its 95 % paired bootstrap interval (the product's
error_rate_difference). A system is NAME=FOLDER[:system]+FOLDER[:system]..., one folder per set of clips; clips are
keyed by (set, id) and only those every system answered count.
usage: qwpool.py cascade=A:cascade+B:cascade ss1=A2+B2 ..."""
import collections, json, statistics, sys

import jiwer

from blsp_kd.eval.metrics import error_rate_difference, normalize


def repeats(folder_and_system, set_index):
    folder, _, system = folder_and_system.partition(":")
    return {(set_index, u["id"]): u for u in map(json.loads, open(folder + "/utterances.jsonl"))
            if u["task"] == "repeat" and u["system"] == (system or "speech")}


systems = {}
for arg in sys.argv[1:]:
    name, _, folders = arg.partition("=")
    systems[name] = {}
    for set_index, folder in enumerate(folders.split("+")):
        systems[name].update(repeats(folder, set_index))
keys = sorted(set.intersection(*(set(answers) for answers in systems.values())))
print(len(keys), "clips")
for name, answers in systems.items():
    counts, per_clip = collections.Counter(), []
    for key in keys:
        w = jiwer.process_words(normalize(answers[key]["reference"]), normalize(answers[key]["output"]))
        n = w.substitutions + w.deletions + w.hits
        counts.update(S=w.substitutions, D=w.deletions, I=w.insertions, N=n)
        per_clip.append((w.substitutions + w.deletions + w.insertions) / max(n, 1))
    rate = {k: counts[k] / counts["N"] for k in "SDI"}
    print(f"{name:12s} WER {sum(rate.values()):.3f} median {statistics.median(per_clip):.3f} "
          f"S {rate['S']:.3f} D {rate['D']:.3f} I {rate['I']:.3f}")
cascade = systems.get("cascade")
for name, answers in systems.items():
    if cascade is None or name == "cascade":
        continue
    d = error_rate_difference([answers[k]["reference"] for k in keys], [answers[k]["output"] for k in keys],
                              [cascade[k]["output"] for k in keys])
    print(f"{name} - cascade = {d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]")
