"""How good is METHOD §4's top-k teacher cache? KL from top-k log-probs + one rest bucket vs the full-vocabulary KL.

On the embedded default (SmolLM2-135M, 49k-token vocabulary), three espeak sentences with LLM-written continuations,
an untrained CFormer as the student (the situation at the start of training) and a near-teacher student (teacher
logits + Gaussian noise, the situation late in training). Prints the relative error for several k and τ.

    .venv/bin/python benchmarks/bench_teacher_topk.py
"""

import argparse

import torch

from blsp_kd.data.synth import speak
from blsp_kd.layout.batch import collate_text
from blsp_kd.losses import kd_kl, kd_kl_topk, teacher_topk
from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.config import BlspKdConfig
from blsp_kd.models.pretrained import load_llm, load_whisper_encoder

INSTRUCTION = "Continue the following text in a coherent style:"
TEXTS = ["The old castle stands on the hill.", "Please bring your umbrella today.",
         "My brother plays the piano every evening."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer k values")
    args = parser.parse_args()
    llm, tokenizer = load_llm()
    encoder, feature_extractor = load_whisper_encoder()
    torch.manual_seed(0)
    model = BlspKdModel(BlspKdConfig(), encoder, feature_extractor, llm, tokenizer).eval()
    examples = []
    for text in TEXTS:
        ids = model.generate_ids_from_text([text], INSTRUCTION, max_new_tokens=16)[0]
        early_stop = ids[-1] != model.prompts.end_of_turn_id
        examples.append({"text": text, "instruction": INSTRUCTION, "response_ids": ids if early_stop else ids[:-1],
                         "early_stop": early_stop})
    batch = collate_text(examples, model.prompts)
    hidden, frame_mask = model.encode(*model.features([speak(text) for text in TEXTS]))
    with torch.no_grad():
        logits = model.kd_logits(batch, hidden, frame_mask)
    students = {"untrained CFormer": logits.student,
                "near-teacher (teacher + N(0, 0.5²))": logits.teacher + 0.5 * torch.randn_like(logits.teacher)}
    positions = logits.input_positions | logits.response_positions
    print(f"{'student':<38} {'τ':>4} {'k':>6} {'full KL':>9} {'top-k KL':>9} {'rel. error':>10}")
    for student_name, student in students.items():
        for temperature in (1.0, 2.0):
            full = kd_kl(logits.teacher, student, positions, temperature).item()
            for k in (64, 1024) if args.quick else (64, 256, 1024, 4096):
                topk_logprobs, topk_ids = teacher_topk(logits.teacher, k, temperature)
                approx = kd_kl_topk(topk_logprobs, topk_ids, student, positions, temperature).item()
                print(f"{student_name:<38} {temperature:>4} {k:>6} {full:>9.4f} {approx:>9.4f} "
                      f"{(approx - full) / full:>+10.1%}")


if __name__ == "__main__":
    main()
