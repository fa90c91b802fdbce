# Issue #13, thirty-fifth session: a candidate that passed the validation rule, on the 744 held-out clips (repeat,
# greedy, fp32), the two halves of test-256-1000.jsonl side by side (one thread each), their answers joined for
# readout-prior/table.py and the bootstraps. MODEL, NAME: the run's final weights and the records' name.
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code35c}
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
C=data/c100b
E="--systems speech --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32 --no-progress"
for h in a b; do
  [ -s eval/$NAME-test744-$h/results.json ] || $B evaluate --manifest $C/test744-$h.jsonl --out eval/$NAME-test744-$h \
    --model $MODEL --tasks repeat $E > logs/$NAME-test744-$h.log 2>&1 &
done
wait
mkdir -p eval/$NAME-test744
cat eval/$NAME-test744-a/utterances.jsonl eval/$NAME-test744-b/utterances.jsonl > eval/$NAME-test744/utterances.jsonl
echo "$(date -u +%H:%M) held out"
