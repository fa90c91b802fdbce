"""One clip's rows against a vocabulary-sized table: `rows @ table.T` against `against_table` (table · rowsᵀ, then
transposed), the product under `token_cosines` (SmolLM2's 49,152 × 576 embeddings) and the decoder readout's logits
(Whisper's 51,864 × 384), for the row counts one clip gives (goal: faster where a clip's vectors are few, no slower
elsewhere; the same products to fp32 rounding).

    python bench_against_table.py --threads 1 [--quick]   # with change.diff applied
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
from common import machine, parse_args, print_table, timed  # noqa: E402

from blsp_kd.losses import against_table  # noqa: E402

TABLES = {"SmolLM2 input embeddings (token_cosines)": (49152, 576),
          "Whisper tiny.en embeddings (decoder readout logits)": (51864, 384)}


def main():
    args = parse_args(__doc__.splitlines()[0])
    row_counts = (4, 13, 32) if args.quick else (1, 4, 8, 11, 13, 15, 16, 24, 40)
    repeats = 3 if args.quick else 9
    generator = torch.Generator().manual_seed(0)
    print(f"machine: {machine()}")
    print(f"median of {repeats} runs after 1 warm-up, the two forms interleaved per row count\n")
    rows_out = []
    for name, (size, width) in TABLES.items():
        table = torch.randn(size, width, generator=generator)
        for count in row_counts:
            rows = torch.randn(count, width, generator=generator)
            difference = (against_table(rows, table) - rows @ table.T).abs().max().item()
            plain, _ = timed(lambda rows=rows, table=table: rows @ table.T, repeats)
            ours, _ = timed(lambda rows=rows, table=table: against_table(rows, table), repeats)
            rows_out.append([name, count, f"{1e3 * plain:.1f}", f"{1e3 * ours:.1f}", f"{plain / ours:.2f}×",
                             f"{difference:.1e}"])
    print_table(["table", "rows", "rows @ table.T, ms", "against_table, ms", "speed-up", "max |difference|"],
                rows_out)


if __name__ == "__main__":
    main()
