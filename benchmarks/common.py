"""Helpers shared by the benchmark scripts: the machine's description, repeated timing, synthetic speech with
stand-in responses, the per-frame loop CIF that the vectorised `cif` is compared with, and a training step."""

import argparse
import datetime
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from blsp_kd.data.dataset import text_example
from blsp_kd.data.manifest import ManifestRecord
from blsp_kd.models.cif import CifOutput

SYNTH_DIR = Path("/tmp/blsp-kd-bench/synth")
RESPONSE_TOKENS = 48  # `prepare_responses`' default max_new_tokens


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (fewer repeats, smaller sizes)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own); 1 is steadier on a machine shared with other jobs")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def machine() -> str:
    """'CPU model, N cores, torch X, date' for the results table."""
    model_name = platform.processor() or "unknown CPU"
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            model_name = line.split(":", 1)[1].strip()
    date = datetime.date.today().isoformat()
    # Other jobs share this machine: the load average says how much they competed with the benchmark.
    load = os.getloadavg()[0]
    return (f"{model_name}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
            f"python {sys.version.split()[0]}, {date}, load average at start {load:.1f}")


def timed(function, repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    """Median seconds of `repeats` calls after `warmup` untimed ones, and every timing."""
    for _ in range(warmup):
        function()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings), timings


def print_table(headers: list[str], rows: list[list]) -> None:
    """A Markdown table on stdout (pasted as is into docs/BENCHMARKS.md)."""
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


# ------------------------------------------------------------------------------------------------------ data


def synth_records(num: int, tokenizer, split: str = "train") -> list[ManifestRecord]:
    """`num` synthetic utterances of one split (`prepare_synth`: Piper, flite, espeak-ng, Festival), each with a
    stand-in response.

    The stand-in response is RESPONSE_TOKENS tokens of other transcripts, cut like a greedy answer that reached
    max_new_tokens (early_stop): a training step's cost depends on the response's length, not its words, and
    generating real responses for every benchmark run would cost more than the benchmark.
    """
    from blsp_kd.data.synth import SPLIT_FRACTIONS, prepare_synth

    share = 1 - sum(SPLIT_FRACTIONS.values()) if split == "train" else SPLIT_FRACTIONS[split]
    records, _ = prepare_synth(SYNTH_DIR, math.ceil(num / share) + 10, progress=False)
    chosen = records[split][:num]
    if len(chosen) < num:
        raise ValueError(f"asked for {num} {split} utterances, synthesis gave {len(chosen)}")
    filler = tokenizer(" ".join(record.text for record in records[split]), add_special_tokens=False).input_ids
    for index, record in enumerate(chosen):
        start = (index * 37) % (len(filler) - RESPONSE_TOKENS)
        record.response_ids = filler[start : start + RESPONSE_TOKENS]
        record.early_stop = True
    return chosen


def text_examples(records: list[ManifestRecord]) -> list[dict]:
    return [text_example(record) for record in records]


# ------------------------------------------------------------------------------------------------- loop CIF


def loop_cif(hidden: torch.Tensor, alpha: torch.Tensor, frame_mask: torch.Tensor,
             num_tokens: torch.Tensor | None = None, eps: float = 1e-4) -> CifOutput:
    """CIF as the authors' related code does it: a Python loop over frames, batched over samples.

    Same scaling and float64 arithmetic as `blsp_kd.models.cif.cif` (drop-in replacement), but each frame's
    weight is poured into an accumulator that fires a token whenever it reaches 1 (several times in one frame
    if the weight is large), and the leftover after the last frame is the last token. Each sample fires
    independently, unlike the authors' code (whose batch-wide firing loses weight). Returns no weights matrix.
    """
    batch_size, num_frames, channels = hidden.shape
    with torch.autocast(device_type=hidden.device.type, enabled=False):
        alpha_valid = alpha.double() * frame_mask
        alpha_sum = alpha_valid.sum(dim=-1)
        if num_tokens is None:
            num_tokens = alpha_sum.detach().round().long().clamp(min=1)
        num_tokens = num_tokens.to(device=hidden.device, dtype=torch.long)
        scaled_alpha = alpha_valid * (num_tokens / alpha_sum.clamp(min=eps)).unsqueeze(-1)
        hidden_valid = hidden.double().masked_fill(~frame_mask.unsqueeze(-1), 0.0)

        accumulated_weight = hidden_valid.new_zeros(batch_size)
        accumulated_vector = hidden_valid.new_zeros(batch_size, channels)
        fired = torch.zeros(batch_size, dtype=torch.long)
        token_vectors = [[] for _ in range(batch_size)]
        for frame in range(num_frames):
            remaining = scaled_alpha[:, frame]
            frame_vector = hidden_valid[:, frame]
            while True:
                room = 1.0 - accumulated_weight
                # The last token never fires inside the loop: it takes everything that is left.
                fires = (remaining >= room) & (fired < num_tokens - 1) & (remaining > 0)
                if not fires.any():
                    break
                take = torch.where(fires, room, torch.zeros_like(room))
                accumulated_vector = accumulated_vector + take.unsqueeze(-1) * frame_vector
                for sample in fires.nonzero().flatten().tolist():
                    token_vectors[sample].append(accumulated_vector[sample])
                accumulated_vector = accumulated_vector * (~fires).unsqueeze(-1)
                accumulated_weight = torch.where(fires, torch.zeros_like(room), accumulated_weight)
                remaining = remaining - take
                fired = fired + fires.long()
            accumulated_vector = accumulated_vector + remaining.unsqueeze(-1) * frame_vector
            accumulated_weight = accumulated_weight + remaining
        for sample in range(batch_size):
            token_vectors[sample].append(accumulated_vector[sample])  # the leftover is the last token

        max_tokens = int(num_tokens.max())
        vectors = torch.stack([
            F.pad(torch.stack(vectors), (0, 0, 0, max_tokens - len(vectors))) for vectors in token_vectors
        ])
        mask = torch.arange(max_tokens) < num_tokens.unsqueeze(-1)
    return CifOutput(
        vectors=vectors.to(hidden.dtype) * mask.unsqueeze(-1),
        mask=mask,
        num_tokens=num_tokens,
        alpha_sum=alpha_sum.to(torch.promote_types(alpha.dtype, torch.float32)),
        weights=None,  # the weights matrix is for plots; the authors' loop does not build it
    )


def peak_rss_gb() -> float:
    """This process's peak resident memory so far, in GB (ru_maxrss is in KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
