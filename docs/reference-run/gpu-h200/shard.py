"""shard.py MANIFEST N: MANIFEST.0 … MANIFEST.{N-1}, record i in shard i % N (same folder: relative audio paths hold)."""
import sys
path, n = sys.argv[1], int(sys.argv[2])
lines = open(path).read().splitlines()
for i in range(n):
    open(f"{path}.{i}", "w").write("".join(line + "\n" for line in lines[i::n]))
