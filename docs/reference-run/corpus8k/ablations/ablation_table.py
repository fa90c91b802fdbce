"""The stage-1 ablation table on corpus8k (docs/RESULTS.md): per variant, mean ± half-range over seeds of the held-out
numbers (first 160 test clips, fp32) and the best validation KL of the run. Also the thirteenth session's ablations on
the WordNet corpus (`reference` = today's reference stage 1; docs/reference-run/corpus-wn20k/ablations/):
`python ablation_table.py /work/ref/runs/ablations /work/ref/eval/cascade-fallback /work/ref/data/corpus/test.responses.jsonl`

usage: python ablation_table.py [ABLATIONS_FOLDER] [SHIPPED_CASCADE_EVAL] [TEST_MANIFEST]"""
import json
import sys
from pathlib import Path

from blsp_kd.eval.metrics import error_rate

root = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/ref/ablations8k")
base = Path(sys.argv[2] if len(sys.argv) > 2 else "/work/ref/eval8k/shipped-cascade")
manifest_path = sys.argv[3] if len(sys.argv) > 3 else "/work/ref/data/corpus8k/test.responses.jsonl"
manifest = {r["id"]: r for r in map(json.loads, open(manifest_path))}
NAMES = ["reference", "both", "input-kl-only", "response-kl-only", "no-speech-rms", "no-token-ce", "token-ce-2", "token-ce-4",
         "padded-encoder", "whisper-decoder"]
text_answers = {u["id"]: u["output"] for u in map(json.loads, open(base / "utterances.jsonl"))
                if u["system"] == "text" and u["task"] == "repeat"}


def values(run: Path) -> dict[str, float]:
    result = json.loads((run / "eval" / "results.json").read_text())["speech"]
    utts = [u for u in map(json.loads, open(run / "eval" / "utterances.jsonl"))
            if u["system"] == "speech" and u["task"] == "repeat"]
    al = result["alignment"]
    fortunes = [u for u in utts if manifest[u["id"]]["source"] == "fortunes"]
    valid = [json.loads(line) for line in open(run / "log.jsonl")]
    return {
        "wer": result["repeat"]["wer"], "median": result["repeat"]["median_utterance_wer"],
        "fortunes": error_rate([u["reference"] for u in fortunes], [u["output"] for u in fortunes])["wer"],
        "vs_text": error_rate([text_answers[u["id"]] for u in utts], [u["output"] for u in utts])["wer"],
        "input_kl": al["input_kl"], "response_kl": al["response_kl"],
        "in_gap": 1 - al["input_kl"] / al["shuffled_input_kl"], "resp_gap": 1 - al["response_kl"] / al["shuffled_response_kl"],
        "token_acc": al["token_accuracy"], "cif": al["cif_count_error"],
        "best_valid_kl": min(r["kl"] for r in valid if r["split"] == "valid"),
    }


COLUMNS = [("wer", "repeat WER", False), ("median", "median", False), ("fortunes", "on fortunes", False),
           ("vs_text", "vs text answer", False), ("input_kl", "input KL", False), ("in_gap", "input gap", True),
           ("response_kl", "response KL", False), ("resp_gap", "response gap", True), ("token_acc", "token acc.", True),
           ("cif", "CIF count err.", True), ("best_valid_kl", "best valid KL", False)]
print("| variant | seeds | " + " | ".join(title for _, title, _ in COLUMNS) + " |")
print("|---|---|" + "---|" * len(COLUMNS))
for name in NAMES:
    runs = sorted(run for run in root.glob(f"{name}-s*") if (run / "eval" / "results.json").is_file())
    if not runs:
        continue
    rows = [values(run) for run in runs]
    cells = []
    for key, _, pct in COLUMNS:
        xs = [row[key] for row in rows]
        mean, half = sum(xs) / len(xs), (max(xs) - min(xs)) / 2
        cells.append(f"{100 * mean:.1f}% ± {100 * half:.1f}" if pct else f"{mean:.3f} ± {half:.3f}")
    print(f"| {name} | {','.join(run.name.rsplit('-s', 1)[1] for run in runs)} | " + " | ".join(cells) + " |")
