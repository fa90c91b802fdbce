# Issue #13, twenty-seventh session: the Whisper-head probe (head_probe.py's docstring says what it asks).
# Run from /work/ref with chain25.sh's data (data/c100) and the human probe's (data/human); about an hour on 2 cores.
set -e
cd /work/ref
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=${CODE:-/work/main}/src
P="nice /work/main/.venv/bin/python"
H=${CODE:-/work/main}/docs/reference-run/whisper-head
mkdir -p probe/wh logs
# training clips: encoder outputs from the training feature cache (bf16, as training saw them), two halves at once
$P $H/extract_states.py data/c100/train-new.jsonl probe/wh/train-a.part bf16 0 12000 > logs/wh-train-a.log 2>&1 &
$P $H/extract_states.py data/c100/train-new.jsonl probe/wh/train-b.part bf16 12000 24000 > logs/wh-train-b.log 2>&1 &
wait
$P -c "import torch; a, b = (torch.load(f'probe/wh/train-{h}.part') for h in 'ab');
torch.save({k: a[k] + b[k] if k == 'ids' else torch.cat([a[k], b[k]]) for k in a}, 'probe/wh/train.pt')"
# held-out clips: encoded as `blsp-kd evaluate` does (fp32)
$P $H/extract_states.py data/c100/valid.responses.jsonl probe/wh/valid.pt fp32 0 160
$P $H/extract_states.py data/c100/test-256-1000.jsonl probe/wh/test744.pt fp32
$P $H/extract_states.py data/human/human.jsonl probe/wh/human.pt fp32
# the heads, two at a time
for pair in "pooled llm:pooled whisper" "pooled random:states llm" "states whisper"; do
  IFS=: read -r first second <<< "$pair"
  $P $H/head_probe.py probe/wh $first > "logs/wh-${first// /-}.log" 2>&1 &
  [ -n "$second" ] && $P $H/head_probe.py probe/wh $second > "logs/wh-${second// /-}.log" 2>&1 &
  wait
done
$P $H/head_probe.py probe/wh report | tee $H/head_probe.txt
