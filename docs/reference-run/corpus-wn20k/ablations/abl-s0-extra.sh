# Seed 0 of token-ce-4 started early, after abl-s1-extra.sh, so the four variants end within the session;
# run-wn-ablations.sh reaches it later and finds it done.
cd /work/ref
while kill -0 22615 2>/dev/null; do sleep 20; done
export OMP_NUM_THREADS=1 PYTHONPATH=/work/ref/code10/src
B=/work/main/.venv/bin/blsp-kd
C=data/corpus
D="data.train=[$C/train4k.responses.jsonl] data.valid=$C/valid.responses.jsonl"
out=runs/ablations/token-ce-4-s0
$B train --recipe reference-stage1 $D train.seed=0 train.output_dir=$out train.max_steps=300 \
  model.objective.loss_weights.token_ce=4 > logs/abl-token-ce-4-s0-early.log 2>&1 || exit 1
$B evaluate --manifest $C/test.responses.jsonl --limit 160 --max-new-tokens 48 --precision fp32 --systems speech \
  --tasks repeat,alignment --latency-clips 0 --group-by source --no-progress \
  --train-manifest $C/train4k.responses.jsonl --model $out/best --out $out/eval > logs/abl-eval-token-ce-4-s0.log 2>&1
