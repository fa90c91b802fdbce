"""The held-out tables of the WordNet-corpus continuation (docs/RESULTS.md, eleventh session): from EVAL/shipped
(the shipped model as `speech`, the text path, the cascade), EVAL/wn-cont-s0, EVAL/wn-cont-s1 (the continued seeds)
and, where present, EVAL/wn-cont2-s0, EVAL/wn-cont2-s1 (the same continued for longer, twelfth session),
EVAL/cascade-fallback (the cascade with Whisper's temperature fallback, thirteenth session) and EVAL/wn40k-new-s0,
EVAL/wn40k-new-s1 and EVAL/wn40k-new-full-s{0,1} (the shipped model on the 40k corpus' new sentences, stopped by the
sixteenth session's budget and resumed to the end of the cosine in the seventeenth: ../corpus-wn40k-new/) and
EVAL/tce2-s{0,1} (the shipped model continued at lr 1e-4 with token_ce 2, eighteenth session) and EVAL/br-s{0,1}
(the shipped model continued on 5,200 more new sentences as well, nineteenth session) and EVAL/ce-s{0,1} (the
shipped model continued with the speech-side losses only on 24,000 new sentences, twentieth session), on the
new corpus' first 160 test clips (those all of them answered). Per system: repeat WER (corpus, per-clip median, by
kind of sentence), against the text path's answer, its substitutions / deletions / insertions per transcript word,
continuation BLEU/chrF, own-vs-shuffled gaps, CIF count error and token accuracy by training frequency. TEST_MANIFEST
gives each clip's kind of sentence (its "source"): the corpus' test manifest, e.g. data/c40new/test.jsonl.

usage: python tablewn.py [EVAL_FOLDER] [TEST_MANIFEST]"""
import collections
import json
import sys
from pathlib import Path

import jiwer

from blsp_kd.eval.metrics import error_rate, normalize

root = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/ref/eval")
manifest_path = sys.argv[2] if len(sys.argv) > 2 else "/work/ref/data/corpus/test.responses.jsonl"
source = {r["id"]: r["source"] for r in map(json.loads, open(manifest_path))}


def load(folder):
    utterances = [json.loads(line) for line in open(folder / "utterances.jsonl")]
    return json.loads((folder / "results.json").read_text()), utterances


def repeats(utterances, system):
    return [u for u in utterances if u["system"] == system and u["task"] == "repeat"]


def error_components(answers):
    """Substitutions, deletions and insertions per transcript word (their sum is the corpus WER), Whisper-normalised."""
    counts = collections.Counter()
    for u in answers:
        words = jiwer.process_words(normalize(u["reference"]), normalize(u["output"]))
        counts.update(S=words.substitutions, D=words.deletions, I=words.insertions,
                      N=words.substitutions + words.deletions + words.hits)
    return [counts[kind] / counts["N"] for kind in "SDI"]


shipped, shipped_utterances = load(root / "shipped")
systems = {"text": (shipped, shipped_utterances, "text"), "cascade": (shipped, shipped_utterances, "cascade")}
if (root / "cascade-fallback").is_dir():  # thirteenth session
    systems["cascade, temperature fallback"] = (*load(root / "cascade-fallback"), "cascade")
systems["shipped"] = (shipped, shipped_utterances, "speech")
for prefix, label in [("wn-cont", "continued"), ("wn-cont2", "continued longer"),  # twelfth session, run-wn-cont2.sh
                      ("wn40k-new", "new sentences, repeat-heavy, 80 min"),  # 16th session, ../corpus-wn40k-new/
                      ("wn40k-new-full", "new sentences, repeat-heavy, full cosine"),  # 17th session, resume.sh
                      ("tce2", "+ 1.3 epochs at lr 1e-4, token_ce 2"),  # 18th session, ../corpus-wn40k-new/tce2.sh
                      ("br", "+ 5,200 more new sentences, 540 steps"),  # 19th session, ../corpus-wn40k-new/chain19.sh
                      ("ce", "speech-side losses only, 24,000 new sentences")]:  # 20th, ../corpus-wn80k-ce/chain20.sh
    for seed in (0, 1):
        if (root / f"{prefix}-s{seed}").is_dir():
            systems[f"{label} s{seed}"] = (*load(root / f"{prefix}-s{seed}"), "speech")
# The 40k corpus' runs were evaluated on the first 160 clips of a regenerated response manifest, which kept 156 of
# the shipped evaluation's 160 clips: the per-clip columns compare every system on the clips all of them answered.
answered = [{u["id"] for u in repeats(utterances, system)} for _, utterances, system in systems.values()]
common = set.intersection(*answered)
print(f"{len(common)} clips answered by every system; continuation BLEU/chrF, the gaps, the CIF count error and the "
      "token accuracies are each evaluation's own (over its 160 clips)\n")
text_answer = {u["id"]: u["output"] for u in repeats(shipped_utterances, "text")}
kinds = sorted({source[u["id"]] for u in repeats(shipped_utterances, "text")})

print("| system | repeat WER | median | " + " | ".join(kinds) + " | vs text answer | S | D | I | BLEU | chrF | "
      "gap transcript | gap response | CIF count error | token acc. 100+ | 10–99 | 1–9 |")
print("|---" * (15 + len(kinds)) + "|")
for label, (results, utterances, system) in systems.items():
    result = results[system]
    answers = [u for u in repeats(utterances, system) if u["id"] in common]
    by_kind = collections.defaultdict(list)
    for u in answers:
        by_kind[source[u["id"]]].append(u)
    repeat = error_rate([u["reference"] for u in answers], [u["output"] for u in answers])
    cells = [f"{repeat['wer']:.3f}", f"{repeat['median_utterance_wer']:.3f}"]
    cells += [f"{error_rate([u['reference'] for u in by_kind[k]], [u['output'] for u in by_kind[k]])['wer']:.2f} "
              f"({len(by_kind[k])})" for k in kinds]
    vs_text = error_rate([text_answer[u["id"]] for u in answers], [u["output"] for u in answers])["wer"]
    cells += ["—" if system == "text" else f"{vs_text:.3f}"] + [f"{x:.3f}" for x in error_components(answers)]
    continuation = result.get("continuation", {})
    cells += [f"{continuation[k]:.1f}" if k in continuation else "—" for k in ("bleu", "chrf")]
    alignment = result.get("alignment")
    if alignment:
        cells += [f"{(alignment[f'shuffled_{k}'] - alignment[k]) / alignment[f'shuffled_{k}']:.1%}"
                  for k in ("input_kl", "response_kl")]
        cells += [f"{alignment['cif_count_error']:.3f}"]
        cells += [f"{result[f'alignment (train count={band})']['token_accuracy']:.1%}"
                  if f"alignment (train count={band})" in result else "—" for band in ("100+", "10-99", "1-9")]
    else:
        cells += ["—"] * 6
    print(f"| {label} | " + " | ".join(cells) + " |")
asr = shipped["cascade"]["asr"]
print(f"\ncascade's ASR WER {asr['wer']:.3f}, median {asr['median_utterance_wer']:.3f}")
