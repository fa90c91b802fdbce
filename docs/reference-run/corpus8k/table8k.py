"""The held-out table of the corpus8k reference run: shipped/text/cascade from eval8k/shipped-cascade, each seed's
stage 1 and PLoRA from eval8k/seed*/; mean and half-range over seeds; repeat WER per engine of the test voices."""
import json, statistics, sys
from pathlib import Path
from blsp_kd.eval.metrics import error_rate

# usage: python table8k.py [EVAL_FOLDER (holds shipped-cascade/ and seed*/)] [TEST_MANIFEST]
root = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/ref/eval8k")
manifest_path = sys.argv[2] if len(sys.argv) > 2 else "/work/ref/data/corpus8k/test.responses.jsonl"
manifest = {r["id"]: r for r in map(json.loads, open(manifest_path))}

def load(folder):
    return json.loads((folder / "results.json").read_text()), [json.loads(l) for l in open(folder / "utterances.jsonl")]

def row_values(result):
    rep, cont, al = result.get("repeat", {}), result.get("continuation", {}), result.get("alignment")
    values = {"wer": rep.get("wer"), "median": rep.get("median_utterance_wer"), "bleu": cont.get("bleu"), "chrf": cont.get("chrf")}
    if al:
        gap = lambda own, other: (other - own) / other
        values |= {"in_gap": gap(al["input_kl"], al["shuffled_input_kl"]), "resp_gap": gap(al["response_kl"], al["shuffled_response_kl"]),
                   "all_gap": gap(al["kl"], al["shuffled_kl"]), "resp_kl": al["response_kl"], "cif": al["cif_count_error"]}
    return values

def fmt(values, key, pct=False):
    xs = [v[key] for v in values if v.get(key) is not None]
    if not xs: return "—"
    m = statistics.mean(xs); f = (lambda x: f"{100*x:.1f}%") if pct else (lambda x: f"{x:.3f}" if key not in ("bleu","chrf") else f"{x:.1f}")
    return f(m) + (f" ± {f((max(xs)-min(xs))/2)}" if len(xs) > 1 else "")

rows = {}
base, base_utts = load(root / "shipped-cascade")
for name in ("text", "cascade", "speech"):
    rows[{"speech": "shipped (old corpus)"}.get(name, name)] = [row_values(base[name])]
seeds = sorted(root.glob("seed*"))
seed_utts = {}
for folder in seeds:
    if not (folder / "results.json").exists(): continue
    result, utts = load(folder)
    seed_utts[folder.name] = utts
    rows.setdefault("stage 1", []).append(row_values(result["speech"]))
    if "plora" in result: rows.setdefault("+ PLoRA", []).append(row_values(result["plora"]))
print("| system | seeds | repeat WER | median | BLEU | chrF | gap transcript | gap response | gap all | CIF count err |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name, values in rows.items():
    print(f"| {name} | {len(values)} | {fmt(values,'wer')} | {fmt(values,'median')} | {fmt(values,'bleu')} | {fmt(values,'chrf')} | "
          f"{fmt(values,'in_gap',True)} | {fmt(values,'resp_gap',True)} | {fmt(values,'all_gap',True)} | {fmt(values,'cif')} |")
print(f"\nasr (cascade) wer {base['cascade']['asr']['wer']:.3f} median {base['cascade']['asr']['median_utterance_wer']:.3f}")
# per engine repeat WER
import collections
def engine_wers(utts, system):
    g = collections.defaultdict(lambda: ([], []))
    for u in utts:
        if u["system"] == system and u["task"] == "repeat":
            e = manifest[u["id"]].get("engine") + ("/" + manifest[u["id"]].get("voice", "") if manifest[u["id"]].get("engine") == "flite" else "")
            g[e][0].append(u["reference"]); g[e][1].append(u["output"])
    return {e: (len(r), error_rate(r, o)) for e, (r, o) in g.items()}
print("\nrepeat WER by engine (corpus WER, clips):")
for label, utts, system in [("text", base_utts, "text"), ("cascade", base_utts, "cascade"), ("shipped", base_utts, "speech")] + \
        [(f"{s} stage1", u, "speech") for s, u in seed_utts.items()] + [(f"{s} plora", u, "plora") for s, u in seed_utts.items()]:
    print(label, {e: f"{v[1]['wer']:.2f} (n={v[0]})" for e, v in sorted(engine_wers(utts, system).items())})

# repeat WER by text source (questions are often answered rather than repeated, by the text path too), and the
# speech answer's WER against the text path's answer to the same clip's transcript (does speech get the text answer?)
def by_key(utts, system, key):
    g = collections.defaultdict(lambda: ([], []))
    for u in utts:
        if u["system"] == system and u["task"] == "repeat":
            g[manifest[u["id"]].get(key)][0].append(u["reference"]); g[manifest[u["id"]].get(key)][1].append(u["output"])
    return {k: f"{error_rate(r, o)['wer']:.2f} (n={len(r)})" for k, (r, o) in sorted(g.items())}

def vs_text(utts, system, text_utts):
    text = {u["id"]: u["output"] for u in text_utts if u["system"] == "text" and u["task"] == "repeat"}
    pairs = [(text[u["id"]], u["output"]) for u in utts if u["system"] == system and u["task"] == "repeat"]
    per = sorted(error_rate([r], [o])["wer"] for r, o in pairs)
    return f"{error_rate([r for r, _ in pairs], [o for _, o in pairs])['wer']:.3f} / median {statistics.median(per):.3f}"

print("\nrepeat WER by source:")
for label, utts, system in [("text", base_utts, "text"), ("cascade", base_utts, "cascade"), ("shipped", base_utts, "speech")] + \
        [(f"{s} stage1", u, "speech") for s, u in seed_utts.items()] + [(f"{s} plora", u, "plora") for s, u in seed_utts.items()]:
    print(label, by_key(utts, system, "source"))
print("\nrepeat answer WER against the text path's answer (corpus / per-clip median):")
for label, utts, system in [("cascade", base_utts, "cascade"), ("shipped", base_utts, "speech")] + \
        [(f"{s} stage1", u, "speech") for s, u in seed_utts.items()] + [(f"{s} plora", u, "plora") for s, u in seed_utts.items()]:
    print(label, vs_text(utts, system, base_utts))
