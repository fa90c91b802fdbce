# Issue #13, nineteenth session (the GPU lend returned no model): more distinct sentences on this CPU, lever 2 of the
# eighteenth session's note. The rest of the 40k plan's training split (its training records end at 32,000, so
# [26000, 40000) is 6,000 records) spoken by synth_slice.py, their responses repeat-heavy as the 8,764 before
# (5,200 kept: refusals and degenerate answers are reported and dropped), then the shipped model's fp32 weights
# (runs/wn40k-new-s0/best) continued on both sets (13,964 records) at its lr 5e-5, cosine over 540 steps (a
# 46-minute budget at ~5 s a step), two data-order seeds side by side, then the 160 held-out clips (speech path only;
# the cascade's rows are committed). Code: main's src/ (e6d2b60; /work/ref/code16src has the same src).
# Run as `bash chain19.sh` from /work/ref; reruns resume.
cd /work/ref
export PYTHONPATH=/work/ref/code16src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
C=data/c40b
[ -f $C/train-new.jsonl ] || python /work/main/docs/reference-run/corpus-wn40k-new/synth_slice.py $C \
  /work/main/docs/reference-run/corpus-wn20k/questions.txt 26000 40000 > logs/synth-c40b.log 2>&1
for i in 0 1; do
  $B prepare responses --manifest $C/train-new.jsonl --out $C/train-new.responses.jsonl --shard $i/2 \
    --mix repeat=0.75,continuation=0.25 > logs/responses-c40b-$i.log 2>&1 &
done
wait
cat $C/train-new.responses.shard-0-of-2.jsonl $C/train-new.responses.shard-1-of-2.jsonl > $C/train-new.responses.jsonl
D="data.train=[data/c40new/train-new.responses.jsonl,$C/train-new.responses.jsonl] data.valid=data/c40new/valid.responses.jsonl"
INIT=runs/wn40k-new-s0/best
OMP_NUM_THREADS=2 $B train --recipe reference-stage2-plora $D train.output_dir=runs/cachefill19 train.init_from=$INIT \
  train.max_steps=1 > logs/cachefill19.log 2>&1
echo "$(date -u +%H:%M) caches filled"
for s in 0 1; do
  $B train --recipe reference-stage2-plora $D train.seed=$s train.output_dir=runs/br-s$s train.init_from=$INIT \
    train.lr=5e-5 train.max_steps=540 train.max_minutes=46 > logs/br-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) training done"
for s in 0 1; do
  $B evaluate --manifest data/c40new/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 --max-new-tokens 48 \
    --precision fp32 --no-progress --model runs/br-s$s/best --systems speech --out eval/br-s$s \
    > logs/eval-br-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) evaluation done"
