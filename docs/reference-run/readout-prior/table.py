"""Issue #13, twenty-ninth session: the repeat rows of RESULTS.md's "The classifier's training prior" table — for
evaluation folders on the same clips: corpus WER, per-clip median WER, substitutions / deletions / insertions per
transcript word, and the WER against the text path's answer (the first argument's `text` system).

usage: PYTHONPATH=src python table.py TEXT_FOLDER NAME=FOLDER[:SYSTEM] …   (SYSTEM defaults to speech)
"""
import json
import statistics
import sys

import jiwer

from blsp_kd.eval.metrics import normalize


def repeats(argument: str) -> dict[str, dict]:
    folder, _, system = argument.partition(":")
    answers = map(json.loads, open(f"{folder}/utterances.jsonl"))
    return {a["id"]: a for a in answers if a["task"] == "repeat" and a["system"] == (system or "speech")}


text = repeats(sys.argv[1] + ":text")
print("| system | clips | WER | per-clip median | S | D | I | S + D | vs text |")
print("|---|---|---|---|---|---|---|---|---|")
for argument in sys.argv[2:]:
    name, _, folder = argument.partition("=")
    answers = repeats(folder)
    ids = sorted(set(answers) & set(text))
    references = [normalize(answers[i]["reference"]) for i in ids]
    outputs = [normalize(answers[i]["output"]) for i in ids]
    words = jiwer.process_words(references, outputs)
    n = sum(len(reference.split()) for reference in references)
    median = statistics.median(jiwer.wer(r, o) for r, o in zip(references, outputs, strict=True))
    vs_text = jiwer.wer([normalize(text[i]["output"]) for i in ids], outputs)
    print(f"| {name} | {len(ids)} | {words.wer:.3f} | {median:.3f} | {words.substitutions / n:.3f} | "
          f"{words.deletions / n:.3f} | {words.insertions / n:.3f} | "
          f"{(words.substitutions + words.deletions) / n:.3f} | {vs_text:.3f} |")
