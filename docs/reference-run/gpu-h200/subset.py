"""subset.py IN OUT N: the first N records of IN whose audio is here (N = 0: all of them)."""
import json, sys
from pathlib import Path
src, out, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
kept = [line for line in src.read_text().splitlines() if (src.parent / json.loads(line)["audio"]).exists()]
kept = kept[:n] if n else kept
out.write_text("".join(line + "\n" for line in kept)); print(f"{out}: {len(kept)} records with audio")
