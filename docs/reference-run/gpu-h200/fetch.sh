# fetch.sh FILES_AT: the two seeds' returned pieces → /work/ref/runs/gpu-s{0,1}/ (best/, log.jsonl, recipe.yaml, console.log)
set -e
for s in 0 1; do
  mkdir -p /work/ref/runs/gpu-s$s
  cat $(ls $1/gpu-s$s/part* | sort -V) | tar -x -C /work/ref/runs/gpu-s$s
  ls -la /work/ref/runs/gpu-s$s /work/ref/runs/gpu-s$s/best
done
