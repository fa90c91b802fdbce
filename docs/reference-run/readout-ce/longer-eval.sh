# Issue #13, thirty-second session: longer.sh's two seeds (runs/rce2-sS/final, steps 276 / 283) read end to end as
# run.sh read the first run (its steps 2–3), against the `default` that run shipped (runs/rce-s1/final): the same
# rule.
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code31}
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
C=data/c100
E="--systems speech --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32"
# 1. validation, the first 160 clips (repeat). The rule, set before these runs were read: a seed may ship if on
#    validation it lowers S + D (0.418) and the WER against the text path's answers (0.738) below `default`'s and
#    keeps repeat WER below the cascade's (1.441); of those, the one with the lower S + D.
for s in 0 1; do
  [ -s eval/rce2-val160-s$s/results.json ] || $B evaluate --manifest $C/valid.responses.jsonl \
    --out eval/rce2-val160-s$s --model runs/rce2-s$s/final --tasks repeat --limit 160 $E \
    > logs/rce2-val160-s$s.log 2>&1 &
done
wait
# 2. held out: the 744 test clips (repeat), both seeds (run after reading step 1)
[ -n "$HELD_OUT" ] || exit 0
for s in 0 1; do
  [ -s eval/rce2-test744-s$s/results.json ] || $B evaluate --manifest $C/test-256-1000.jsonl \
    --out eval/rce2-test744-s$s --model runs/rce2-s$s/final --tasks repeat $E > logs/rce2-test744-s$s.log 2>&1 &
done
wait
