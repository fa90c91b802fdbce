"""The speech-side training step (recipes/reference-stage3-speech.yaml: token_ce + CIF + speech_rms, the LLM not run,
batch 64, on the embedded default) with the vocabulary readout skipped, as `speech_side_losses` does, against the
same step computing it and throwing it away (what it did before): the recipe's model carries the readout
(T = 0.02, for validation and generation), and the readout is a softmax over SmolLM2's 49,152 input embeddings for
every speech vector, with its autograd graph, that no speech-side loss reads.

Both configurations take the same batches (stand-in transcripts of 6–20 words, random encoder states of 20 frames a
word: a step's cost depends on the lengths, not the values), interleaved step by step so that load from other jobs
hits them alike; the median of the timed steps after a warm-up step. The first batch also checks that both give the
same loss and the same gradients.

    .venv/bin/python benchmarks/bench_speech_side.py [--quick] [--threads 1]
"""

import contextlib
import random
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, parse_args, print_table  # noqa: E402

from blsp_kd.layout.batch import SpeechInput, collate_text  # noqa: E402
from blsp_kd.models.blsp_kd import BlspKdModel  # noqa: E402
from blsp_kd.models.pretrained import native_bf16  # noqa: E402
from blsp_kd.train.config import load_recipe  # noqa: E402

WORDS = "the a cat sat on mat we need six hundred boxes by saturday when to get rid of piece furniture".split()
FRAMES_PER_WORD = 20  # Whisper's encoder gives 50 frames a second; ~2.5 words a second


def batch(model: BlspKdModel, size: int, seed: int):
    rng = random.Random(seed)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(6, 20))) for _ in range(size)]
    text = collate_text([{"text": t, "instruction": "Repeat what was said."} for t in texts], model.prompts, 64)
    frames = max(len(t.split()) for t in texts) * FRAMES_PER_WORD
    lengths = torch.tensor([len(t.split()) * FRAMES_PER_WORD for t in texts])
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(size, frames, model.encoder.dim, generator=generator)
    frame_mask = torch.arange(frames)[None, :] < lengths[:, None]
    return text, SpeechInput(hidden * frame_mask[..., None], frame_mask)


def step(model: BlspKdModel, batch_: tuple, bf16: bool, read_out: bool) -> torch.Tensor:
    """Forward and backward of one batch, as the trainer's step does it; `read_out` True computes the readout in
    `speech_side_losses` as the step did before. Returns the loss."""
    text, speech_input = batch_
    speech = model.speech
    before = mock.patch.object(model, "speech", lambda *args, **kwargs: speech(*args, read_out=True))
    with before if read_out else contextlib.nullcontext(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        output = model(text, speech_input)
    output.loss.backward()
    return output.loss.detach()


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    recipe = load_recipe("reference-stage3-speech", [])
    assert not recipe.model.objective.loss_weights.input_kl and recipe.model.architecture.vocabulary_readout
    bf16 = native_bf16()  # as the recipe's precision "auto" decides on this machine
    model = BlspKdModel.from_config(recipe.model, dtype=torch.float32)
    if bf16:
        model.store_frozen_weights(torch.bfloat16)
    size = 8 if args.quick else recipe.train.batch_size
    batches = [batch(model, size, seed) for seed in range(2 if args.quick else 5)]
    adapter = list(model.adapter.parameters())  # PLoRA, also trainable, gets no gradient without the LLM

    # The first batch through both, dropout off: the same loss and the same gradients.
    model.eval()
    losses, grads = [], []
    for read_out in (False, True):
        losses.append(step(model, batches[0], bf16, read_out))
        grads.append([p.grad.clone() for p in adapter])
        model.zero_grad(set_to_none=True)
    same = torch.equal(losses[0], losses[1]) and all(torch.equal(a, b) for a, b in zip(*grads, strict=True))

    model.train()
    timings = {True: [], False: []}
    for index in range(-1, len(batches)):  # interleaved; -1: the warm-up round, not kept
        for read_out in (True, False):
            start = time.perf_counter()
            step(model, batches[max(index, 0)], bf16, read_out)
            model.zero_grad(set_to_none=True)
            if index >= 0:
                timings[read_out].append(time.perf_counter() - start)
    median = {key: statistics.median(values) for key, values in timings.items()}
    print(f"{machine()}; threads {torch.get_num_threads()}; batch {size}; bf16 {bf16}; "
          f"same loss and gradients: {same}")
    print_table(["speech-side step", "median seconds", "runs", "examples/s"],
                [[name, f"{median[key]:.2f}", " ".join(f"{t:.2f}" for t in timings[key]), f"{size / median[key]:.1f}"]
                 for name, key in (("readout computed (before)", True), ("readout skipped (now)", False))])
    print(f"speed-up: {median[True] / median[False]:.2f}x")


if __name__ == "__main__":
    main()
