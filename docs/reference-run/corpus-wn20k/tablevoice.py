"""The voice probe's table (docs/RESULTS.md, twelfth session): per voice — the held-out Kal speaker (flite kal16 and
Festival kal_diphone pooled: 64 clips) and three training voices speaking the same 64 held-out sentences — the
repeat WER (corpus, per-clip median), against the text path's answer, and substitutions + deletions per transcript
word, for each system of eval-voice-probe.sh.

usage: python tablevoice.py [EVAL_FOLDER]"""
import collections
import json
import sys
from pathlib import Path

import jiwer

from blsp_kd.eval.metrics import error_rate, normalize

folder = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/ref/eval/voice-probe")
utterances = [json.loads(line) for line in open(folder / "utterances.jsonl")]
repeats = [u for u in utterances if u["task"] == "repeat"]
# voice_probe.py's ids: the Kal clip keeps the test id, a copy appends its training voice.
TRAINING_VOICES = {"en_US-joe-medium": "Piper joe (training)", "rms": "flite rms (training)",
                   "slt": "flite slt (training)"}
sentence = {u["id"]: "-".join(u["id"].split("-")[:2]) for u in repeats}
voice_of = {u["id"]: TRAINING_VOICES.get(u["id"][len(sentence[u["id"]]) + 1:], "Kal (held out)") for u in repeats}
text_answer = {sentence[u["id"]]: u["output"] for u in repeats if u["system"] == "text"}


def substitutions_deletions(answers):
    counts = collections.Counter()
    for u in answers:
        words = jiwer.process_words(normalize(u["reference"]), normalize(u["output"]))
        counts.update(SD=words.substitutions + words.deletions, N=words.substitutions + words.deletions + words.hits)
    return counts["SD"] / counts["N"]


groups = collections.defaultdict(list)
for u in repeats:
    if u["system"] != "text":
        groups[(u["system"], voice_of[u["id"]])].append(u)
print("| system | voice | clips | repeat WER | per-clip median | vs text answer | subst. + del. |")
print("|---|---|---|---|---|---|---|")
for (system, voice), answers in sorted(groups.items()):
    score = error_rate([u["reference"] for u in answers], [u["output"] for u in answers])
    vs_text = error_rate([text_answer[sentence[u["id"]]] for u in answers], [u["output"] for u in answers])["wer"]
    print(f"| {system} | {voice} | {len(answers)} | {score['wer']:.3f} | {score['median_utterance_wer']:.3f} | "
          f"{vs_text:.3f} | {substitutions_deletions(answers):.3f} |")
