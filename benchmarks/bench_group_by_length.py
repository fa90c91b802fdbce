"""Training examples/s of a recipe with and without `train.group_by_length`, on a real manifest.

A plain shuffle puts a 5-token transcript beside a 30-token one, and every row of the batch is padded to the
longest; grouping by length (epoch_batches) puts examples of similar length together. Both runs see the same
examples in the same number of steps; only which examples share a step differs. Each run is the real Trainer
(caches as the recipe sets them, already built by an earlier run or by the first round), configurations
interleaved round by round so that load from other jobs hits them alike.

    .venv/bin/python benchmarks/bench_group_by_length.py --manifest data/corpus/train.responses.jsonl --threads 1
"""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, print_table  # noqa: E402

from blsp_kd.train.config import load_recipe  # noqa: E402
from blsp_kd.train.loop import Trainer  # noqa: E402


def padded_share(trainer: Trainer, steps: int) -> float:
    """Share of the LLM token slots (transcript + response) that are padding in the run's first `steps` batches."""
    lengths = [len(trainer.model.tokenizer(record.text).input_ids) + len(record.response_ids or ())
               for record in trainer.train_records]
    batches = trainer.batches_for_epoch(0)[:steps]
    slots = sum(len(batch) * max(lengths[index] for index in batch) for batch in batches)
    return 1 - sum(lengths[index] for batch in batches for index in batch) / slots


def run(recipe: str, manifest: str, steps: int, grouped: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = Trainer(load_recipe(recipe, [
            f"data.train=[{manifest}]", "data.valid=null", f"train.output_dir={output_dir}",
            f"train.max_steps={steps}", "train.progress=false", f"train.group_by_length={grouped}",
            "train.eval_every=0", f"train.save_every={10 * steps}", f"train.log_every={10 * steps}"]))
        result = trainer.train()
        return steps * trainer.recipe.train.batch_size / result["seconds"], padded_share(trainer, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True, help="a training manifest with responses (response_ids)")
    parser.add_argument("--recipe", default="reference-stage1")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 is steadier on a shared machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    speeds = {False: [], True: []}
    shares = {}
    for round_index in range(args.rounds):
        for grouped in (False, True):
            speed, shares[grouped] = run(args.recipe, args.manifest, args.steps, grouped)
            speeds[grouped].append(speed)
            print(f"round {round_index + 1}, group_by_length={grouped}: {speed:.2f} examples/s", file=sys.stderr)
    print(f"{machine()}; recipe {args.recipe}, {args.manifest}, {args.steps} steps per run, {args.rounds} rounds")
    plain = statistics.median(speeds[False])
    print_table(["group_by_length", "padding (LLM tokens)", "examples/s (median)", "runs", "ratio"],
                [[str(grouped), f"{shares[grouped]:.0%}", f"{statistics.median(speeds[grouped]):.2f}",
                  ", ".join(f"{speed:.2f}" for speed in speeds[grouped]),
                  f"{statistics.median(speeds[grouped]) / plain:.2f}×"] for grouped in (False, True)])


if __name__ == "__main__":
    main()
