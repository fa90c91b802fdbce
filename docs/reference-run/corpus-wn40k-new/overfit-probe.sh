# Issue #13, seventeenth session: can the adapter fit clips it trains on? The shipped model (wn40k-new-s0's best)
# trained on only the 160 training clips of eval-train-probe.sh (the first 160 records of its training manifest),
# ~30 epochs of them at the recipe's lr 2e-4, one process with two threads, then evaluated on those same clips.
# If their repeat WER reaches the cascade's (eval-train-probe/), the adapter can carry the words and the lever is
# optimisation and data passes; if not, the lever is the architecture (CFormer/CIF on frozen encoder states).
# Run from /work/ref after chain.sh and resume.sh.
cd /work/ref
export PYTHONPATH=/work/ref/code16src OMP_NUM_THREADS=2
B=/work/main/.venv/bin/blsp-kd
C=data/c40new
head -160 $C/train-new.responses.jsonl > $C/train-probe160.responses.jsonl
$B train --recipe reference-stage2-plora data.train=[$C/train-probe160.responses.jsonl] \
  data.valid=$C/valid.responses.jsonl train.seed=0 train.output_dir=runs/overfit160 \
  train.init_from=runs/wn40k-new-s0/best train.max_steps=600 train.max_minutes=40 > logs/overfit160.log 2>&1
echo "$(date -u +%H:%M) training done"
$B evaluate --manifest $C/train-probe160.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 \
  --max-new-tokens 48 --precision fp32 --no-progress --model runs/overfit160/final --systems speech \
  --out eval/overfit160 > logs/eval-overfit160.log 2>&1
echo "$(date -u +%H:%M) evaluation done"
