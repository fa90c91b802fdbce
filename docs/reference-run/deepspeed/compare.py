"""The logged training losses of runs side by side, step by step, and each run's weight checksums at its saves."""

import json
import sys

KEYS = ("input_kl", "response_kl", "cif", "total", "lr", "grad_norm")


def last_records(run: str, split: str) -> dict[int, dict]:
    records = {}
    for line in open(f"{run}/log.jsonl"):
        record = json.loads(line)
        if record["split"] == split:
            records[record["step"]] = record
    return records


runs = sys.argv[1:]
logs = [last_records(run, "train") for run in runs]
header = "  ".join(f"{run} total / grad_norm".rjust(32) for run in runs)
print(f"step  {header}   max |Δ| (losses, lr) vs the first")
for step in sorted(logs[0]):
    rows = [log[step] for log in logs]
    delta = max(abs(row[key] - rows[0][key]) for row in rows for key in KEYS[:-1])
    print(f"{step:4d}  " + "  ".join(f"{row['total']:.9f} / {row['grad_norm']:.6f}".rjust(32) for row in rows)
          + f"   {delta:.2e}")
for run in runs:
    sync = last_records(run, "sync")
    checksums = ", ".join(f"step {step} {record['weight_checksum']:.6f}" for step, record in sync.items())
    print(f"{run}: weight checksum {checksums}")
