# Issue #13, seventeenth session: chain.sh's two seeds had stopped at train.max_minutes=80 (steps 951 / 935 of their
# 1,400-step cosine); the machine survived this time, so both resume to the end of the cosine (train.max_minutes is
# summed over a run and the runs it resumed: 125 leaves room for the last ~450 steps at ~5 s a step) and are
# evaluated again exactly as chain.sh evaluated them, into eval/wn40k-new-full-s{0,1}.
# Run from /work/ref after chain.sh: `bash resume.sh`; reruns resume.
cd /work/ref
export PYTHONPATH=/work/ref/code16src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
C=data/c40new
D="data.train=[$C/train-new.responses.jsonl] data.valid=$C/valid.responses.jsonl"
INIT=/work/ref/code16src/blsp_kd/checkpoints/default
for s in 0 1; do
  $B train --recipe reference-stage2-plora $D train.seed=$s train.output_dir=runs/wn40k-new-s$s train.init_from=$INIT \
    train.lr=5e-5 train.max_steps=1400 train.max_minutes=125 > logs/wn40k-new-s$s.resume.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) training done"
for s in 0 1; do
  $B evaluate --manifest $C/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 --max-new-tokens 48 \
    --precision fp32 --no-progress --model runs/wn40k-new-s$s/best --systems speech --out eval/wn40k-new-full-s$s \
    > logs/eval-wn40k-new-full-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) evaluation done"
