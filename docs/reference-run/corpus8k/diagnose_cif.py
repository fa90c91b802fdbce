"""Where do the words get lost? On held-out clips with the CIF forced to the transcript's n:
(1) does each speech vector's nearest LLM input embedding (cosine) name its transcript token (top-1 / top-5)?
(2) at the transcript positions, does the LLM hearing speech predict the next transcript token as the LLM reading the
    text does (student top-1 = true next token; teacher top-1 = true next token; student top-1 = teacher top-1)?
Both by how often the target token occurs in the training transcripts.

usage: python diagnose_cif.py MODEL_DIR TEST_MANIFEST TRAIN_MANIFEST [LIMIT]"""
import collections
import json
import sys

import torch
import torch.nn.functional as F

from blsp_kd.data.dataset import batch_index_lists, speech_loader
from blsp_kd.data.manifest import read_manifest
from blsp_kd.models.blsp_kd import BlspKdModel

torch.set_num_threads(1)
model_dir, test_path, train_path = sys.argv[1:4]
limit = int(sys.argv[4]) if len(sys.argv) > 4 else 160
model = BlspKdModel.from_pretrained(model_dir).eval()
tokenizer = model.tokenizer
counts = collections.Counter()
for line in open(train_path):
    counts.update(tokenizer(json.loads(line)["text"]).input_ids)


def bucket(token_id: int) -> str:
    n = counts[token_id]
    return "≥100" if n >= 100 else "10–99" if n >= 10 else "1–9" if n >= 1 else "unseen"


records, _ = read_manifest(test_path)
records = records[:limit]
loader = speech_loader(model, records, batch_index_lists(len(records), 8))
embeddings = F.normalize(model.llm.get_input_embeddings().weight.float(), dim=-1)
stats = collections.defaultdict(lambda: collections.Counter())
examples = []
with torch.no_grad():
    for batch in loader:
        hidden, frame_mask = model.encoder_outputs(batch.speech)
        speech = model.speech(hidden, frame_mask, batch.text.num_tokens)
        vectors = F.normalize(speech.embeds[speech.mask].float(), dim=-1)
        targets = batch.text.input_ids[batch.text.speech_mask]
        top5 = (vectors @ embeddings.T).topk(5, dim=-1).indices
        for target, best in zip(targets.tolist(), top5.tolist()):
            for key in (bucket(target), "all"):
                stats[key]["tokens"] += 1
                stats[key]["nearest_top1"] += best[0] == target
                stats[key]["nearest_top5"] += target in best
            if len(examples) < 40:
                examples.append((tokenizer.decode([target]), tokenizer.decode([best[0]])))
        logits = model.kd_logits(batch.text, hidden, frame_mask)
        mask = logits.input_positions
        teacher, student, nxt = logits.teacher[mask].argmax(-1), logits.student[mask].argmax(-1), logits.next_ids[mask]
        for t, s, n in zip(teacher.tolist(), student.tolist(), nxt.tolist()):
            for key in (bucket(n), "all"):
                stats[key]["next"] += 1
                stats[key]["teacher_next_top1"] += t == n
                stats[key]["student_next_top1"] += s == n
                stats[key]["student_eq_teacher"] += s == t

print(f"model {model_dir}; {len(records)} clips")
print("| target token's count in training | tokens | nearest embedding top-1 | top-5 | next-token top-1: teacher | student | student = teacher |")
print("|---|---|---|---|---|---|---|")
for key in ("≥100", "10–99", "1–9", "unseen", "all"):
    c = stats[key]
    if c["tokens"] or c["next"]:
        pct = lambda a, b: f"{100 * c[a] / c[b]:.1f}%" if c[b] else "—"  # noqa: E731
        print(f"| {key} | {c['tokens']} | {pct('nearest_top1', 'tokens')} | {pct('nearest_top5', 'tokens')} | "
              f"{pct('teacher_next_top1', 'next')} | {pct('student_next_top1', 'next')} | {pct('student_eq_teacher', 'next')} |")
print("examples (transcript token → nearest embedding):", examples[:40])
