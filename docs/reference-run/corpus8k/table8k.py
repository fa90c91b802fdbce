"""The held-out tables of the corpus8k reference run (docs/RESULTS.md): text path, cascade and the previously shipped
model from EVAL/shipped-cascade; per seed the BLSP baseline (EVAL/blsp-fp32-s*, evaluated in fp32 like the others), stage 1 and + PLoRA (EVAL/seed*); mean and
half-range over seeds; the same for stage 1 continued with token_ce 2 (EVAL/tce2-seed*) and for stage 1 with
Whisper-decoder post-CIF layers and token_ce 2 (EVAL/wd-tce2-seed*) and for that stage 1 continued on corpus20k
(EVAL/cont20k-seed*, a link to run20k-cont.sh's eval20k/cont-seed*). Repeat WER also by kind of sentence and by engine, against the text path's answer, and split into
substitutions, deletions and insertions.

usage: python table8k.py [EVAL_FOLDER] [TEST_MANIFEST]"""
import collections
import json
import statistics
import sys
from pathlib import Path

import jiwer

from blsp_kd.eval.metrics import error_rate, normalize

root = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/ref/eval8k")
manifest_path = sys.argv[2] if len(sys.argv) > 2 else "/work/ref/data/corpus8k/test.responses.jsonl"
manifest = {r["id"]: r for r in map(json.loads, open(manifest_path))}


def load(folder):
    return json.loads((folder / "results.json").read_text()), [json.loads(line) for line in open(folder / "utterances.jsonl")]


def repeat_pairs(utts, system, key=lambda record: None):
    """group → (transcripts, answers) of `system`'s repeat answers."""
    groups = collections.defaultdict(lambda: ([], []))
    for u in utts:
        if u["system"] == system and u["task"] == "repeat":
            group = groups[key(manifest[u["id"]])]
            group[0].append(u["reference"])
            group[1].append(u["output"])
    return groups


def engine(record):
    return record["engine"] + ("/" + record.get("voice", "") if record["engine"] == "flite" else "")


base, base_utts = load(root / "shipped-cascade")
text_answers = {u["id"]: u["output"] for u in base_utts if u["system"] == "text" and u["task"] == "repeat"}


def row_values(result, utts, system):
    rep, cont, al = result.get("repeat", {}), result.get("continuation", {}), result.get("alignment")
    values = {"wer": rep.get("wer"), "median": rep.get("median_utterance_wer"), "bleu": cont.get("bleu"),
              "chrf": cont.get("chrf")}
    fortunes = repeat_pairs(utts, system, lambda record: record.get("source"))["fortunes"]
    values["fortunes"] = error_rate(*fortunes)["wer"]
    if system != "text":
        answers = [u for u in utts if u["system"] == system and u["task"] == "repeat"]
        values["vs_text"] = error_rate([text_answers[u["id"]] for u in answers], [u["output"] for u in answers])["wer"]
    if al:
        gap = lambda own, other: (other - own) / other  # noqa: E731
        if "input_kl" in al:
            values |= {"in_gap": gap(al["input_kl"], al["shuffled_input_kl"]), "all_gap": gap(al["kl"], al["shuffled_kl"])}
        values |= {"resp_gap": gap(al["response_kl"], al["shuffled_response_kl"]), "cif": al.get("cif_count_error")}
    return values


def fmt(values, key, pct=False):
    xs = [v[key] for v in values if v.get(key) is not None]
    if not xs:
        return "—"
    f = (lambda x: f"{100 * x:.1f}%") if pct else (lambda x: f"{x:.1f}") if key in ("bleu", "chrf") else (lambda x: f"{x:.3f}")
    return f(statistics.mean(xs)) + (f" ± {f((max(xs) - min(xs)) / 2)}" if len(xs) > 1 else "")


rows, seed_utts = {}, {}  # name → values per seed; label → (utterances, system)
for name in ("text", "cascade", "speech"):
    rows[{"speech": "previously shipped"}.get(name, name)] = [row_values(base[name], base_utts, name)]
    seed_utts[{"speech": "previously shipped"}.get(name, name)] = (base_utts, name)
for folder in sorted(root.glob("blsp-fp32-s*")):
    if (folder / "results.json").exists():
        result, utts = load(folder)
        rows.setdefault("BLSP baseline (best validation KL)", []).append(row_values(result["speech"], utts, "speech"))
        seed_utts[f"BLSP {folder.name[-2:]}"] = (utts, "speech")
        if "last" in result:
            rows.setdefault("BLSP baseline (last step)", []).append(row_values(result["last"], utts, "last"))
            seed_utts[f"BLSP last {folder.name[-2:]}"] = (utts, "last")
# EVAL/seed*: the reference run; EVAL/tce2-seed*: stage 1 continued with token_ce 2 (run8k-tce2.sh, eighth session);
# EVAL/wd-tce2-seed*: stage 1 from scratch with Whisper-decoder post-CIF layers and token_ce 2 (run8k-wd.sh, ninth);
# EVAL/cont20k-seed*: that stage 1 continued on corpus20k (run20k-cont.sh, tenth)
for pattern, stage1, tag in (("seed*", "BLSP-KD stage 1", ""), ("tce2-seed*", "stage 1 + token_ce 2 (continued)", "tce2 "),
                             ("wd-tce2-seed*", "stage 1, Whisper-decoder layers + token_ce 2", "wd "),
                             ("cont20k-seed*", "wd stage 1 continued on corpus20k", "20k ")):
    for folder in sorted(root.glob(pattern)):
        if not (folder / "results.json").exists():
            continue
        result, utts = load(folder)
        seed = folder.name[-1]
        rows.setdefault(stage1, []).append(row_values(result["speech"], utts, "speech"))
        seed_utts[f"{tag}stage 1 s{seed}"] = (utts, "speech")
        for system, label in (("plora", "+ PLoRA"), ("encoder", "+ PLoRA + encoder")):
            if system in result:
                rows.setdefault(f"{tag}{label}", []).append(row_values(result[system], utts, system))
                seed_utts[f"{tag}{label} s{seed}"] = (utts, system)

print("| system | seeds | repeat WER (corpus) | per-clip median | on fortunes | vs text answer | continuation BLEU | chrF | "
      "gap, transcript positions | gap, response positions | gap, all | CIF count error |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, values in rows.items():
    print(f"| {name} | {len(values)} | {fmt(values, 'wer')} | {fmt(values, 'median')} | {fmt(values, 'fortunes')} | "
          f"{fmt(values, 'vs_text')} | {fmt(values, 'bleu')} | {fmt(values, 'chrf')} | {fmt(values, 'in_gap', True)} | "
          f"{fmt(values, 'resp_gap', True)} | {fmt(values, 'all_gap', True)} | {fmt(values, 'cif')} |")
asr = base["cascade"]["asr"]
print(f"\ncascade's ASR WER {asr['wer']:.3f}, median {asr['median_utterance_wer']:.3f}")

for title, key in (("kind of sentence", lambda record: record.get("source")), ("engine", engine)):
    print(f"\nrepeat WER by {title} (corpus WER, clips):")
    for label, (utts, system) in seed_utts.items():
        groups = repeat_pairs(utts, system, key)
        print(label, {group: f"{error_rate(*pairs)['wer']:.2f} (n={len(pairs[0])})" for group, pairs in sorted(groups.items())})


def error_components(pairs):
    """Substitutions, deletions and insertions per transcript word (their sum is the corpus WER), normalised as the
    WER is: insertions are what an answer says beyond the sentence (an answer instead of a repeat, a run-on)."""
    counts = collections.Counter()
    for reference, hypothesis in zip(*pairs, strict=True):
        words = jiwer.process_words(normalize(reference), normalize(hypothesis))
        counts.update(S=words.substitutions, D=words.deletions, I=words.insertions, N=words.substitutions + words.deletions + words.hits)
    return " ".join(f"{kind} {counts[kind] / counts['N']:.3f}" for kind in "SDI")


print("\nrepeat WER = substitutions + deletions + insertions per transcript word (all clips | fortunes):")
for label, (utts, system) in {"text": (base_utts, "text"), "cascade": (base_utts, "cascade"), **seed_utts}.items():
    by_source = repeat_pairs(utts, system, lambda record: record.get("source"))
    print(label, "|", error_components(repeat_pairs(utts, system)[None]), "|", error_components(by_source["fortunes"]))
