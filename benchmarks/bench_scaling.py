"""Stage-1 training throughput (examples/s, all optimisations on) against batch size and against clip length;
writes docs/scaling.png
(with --quick: /tmp/blsp-kd-bench/scaling-quick.png).

A step's cost depends on shapes, not values, so the inputs are made to measure: encoder outputs of 50 frames per
second of speech (random values, as the feature cache would hand them), a transcript of ≈ 3 LLM tokens per second
cut from real synthetic-corpus text, a 48-token stand-in response and a cached teacher (hidden states, the
recipe's mode) of the right shape.

    .venv/bin/python benchmarks/bench_scaling.py [--quick]
"""

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_stage1 import OPTIMISED, RECIPE, stage1_model  # noqa: E402
from common import RESPONSE_TOKENS, machine, parse_args, print_table, synth_records, timed  # noqa: E402

from blsp_kd.layout.batch import SpeechInput, collate_text  # noqa: E402
from blsp_kd.layout.tasks import DEFAULT_INSTRUCTION  # noqa: E402
from blsp_kd.models.blsp_kd import BlspKdModel  # noqa: E402
from blsp_kd.models.teacher import TeacherHidden, used_positions  # noqa: E402
from blsp_kd.train.config import load_recipe  # noqa: E402

FRAMES_PER_SECOND, TOKENS_PER_SECOND = 50, 3
PLOT = Path(__file__).parent.parent / "docs" / "scaling.png"
QUICK_PLOT = Path("/tmp/blsp-kd-bench/scaling-quick.png")  # a smoke run never replaces the documented plot


def make_batch(model: BlspKdModel, corpus_ids: list[int], batch_size: int, seconds: float):
    """Text batch, encoder output [B, T, D], frame mask and a cached-teacher stand-in for clips of `seconds`."""
    num_tokens = max(1, round(TOKENS_PER_SECOND * seconds))
    examples = []
    for row in range(batch_size):
        start = row * 101 % (len(corpus_ids) - 600)
        examples.append({"text": model.tokenizer.decode(corpus_ids[start : start + num_tokens]),
                         "instruction": DEFAULT_INSTRUCTION,
                         "response_ids": corpus_ids[start + 500 : start + 500 + RESPONSE_TOKENS], "early_stop": True})
    text = collate_text(examples, model.prompts)
    frames = round(FRAMES_PER_SECOND * seconds)
    hidden = torch.randn(batch_size, frames, model.encoder.dim)
    frame_mask = torch.ones(batch_size, frames, dtype=torch.bool)
    used = int(used_positions(text).sum())
    teacher = TeacherHidden(torch.randn(used, model.llm.config.hidden_size))
    return text, hidden, frame_mask, teacher


def examples_per_second(model, optimizer, batch, repeats: int) -> float:
    text, hidden, frame_mask, teacher = batch

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=OPTIMISED.bf16):
            loss = model(text, SpeechInput(hidden, frame_mask), teacher=teacher).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    seconds, _ = timed(step, repeats)
    return text.input_ids.shape[0] / seconds


def main():
    args = parse_args(__doc__.splitlines()[0])
    batch_sizes = [1, 4, 16] if args.quick else [1, 2, 4, 8, 16, 32]
    clip_seconds = [2, 10, 30] if args.quick else [2, 5, 10, 20, 30]
    fixed_seconds, fixed_batch = 4, 2 if args.quick else 8
    repeats = 1 if args.quick else 2
    print(f"machine: {machine()}; bf16 (frozen base models): {OPTIMISED.bf16}")
    model = stage1_model(load_recipe(RECIPE), OPTIMISED.bf16)  # bf16 where "auto" would pick it on this machine
    corpus = " ".join(record.text for record in synth_records(160, model.tokenizer))
    corpus_ids = model.tokenizer(corpus, add_special_tokens=False).input_ids
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)

    by_batch = [examples_per_second(model, optimizer, make_batch(model, corpus_ids, size, fixed_seconds), repeats)
                for size in batch_sizes]
    by_length = [examples_per_second(model, optimizer, make_batch(model, corpus_ids, fixed_batch, seconds), repeats)
                 for seconds in clip_seconds]
    print(f"median of {repeats} steps after 1 warm-up per point\n")
    print_table([f"batch size ({fixed_seconds} s clips)", "examples/s"],
                [[size, f"{rate:.2f}"] for size, rate in zip(batch_sizes, by_batch, strict=True)])
    print()
    print_table([f"clip length, s (batch {fixed_batch})", "examples/s"],
                [[seconds, f"{rate:.2f}"] for seconds, rate in zip(clip_seconds, by_length, strict=True)])

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(batch_sizes, by_batch, marker="o")
    left.set(xscale="log", xlabel=f"batch size ({fixed_seconds} s clips)", ylabel="examples / s",
             title="throughput vs batch size")
    left.set_xticks(batch_sizes, [str(size) for size in batch_sizes])
    right.plot(clip_seconds, by_length, marker="o")
    right.set(xlabel=f"clip length, s (batch {fixed_batch})", ylabel="examples / s",
              title="throughput vs clip length")
    precision = "bf16 base models" if OPTIMISED.bf16 else "fp32"
    figure.suptitle(f"stage-1 training step, embedded default, all optimisations on ({precision}; median of {repeats})",
                    fontsize=9)
    figure.tight_layout()
    plot = QUICK_PLOT if args.quick else PLOT
    plot.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(plot, dpi=110)
    print(f"\nplot: {plot} (best: {max(by_batch):.2f} examples/s)")


if __name__ == "__main__":
    main()
