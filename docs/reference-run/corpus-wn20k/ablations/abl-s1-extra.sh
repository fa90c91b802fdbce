# Seed 1 of no-speech-rms started by hand while seed 0 builds the padded-encoder feature cache (one core idle);
# run-wn-ablations.sh reaches it later and finds it done (resume at max_steps, evaluation skipped).
cd /work/ref
export OMP_NUM_THREADS=1 PYTHONPATH=/work/ref/code10/src
B=/work/main/.venv/bin/blsp-kd
C=data/corpus
D="data.train=[$C/train4k.responses.jsonl] data.valid=$C/valid.responses.jsonl"
out=runs/ablations/no-speech-rms-s1
$B train --recipe reference-stage1 $D train.seed=1 train.output_dir=$out train.max_steps=300 \
  model.objective.loss_weights.speech_rms=0 > logs/abl-no-speech-rms-s1-early.log 2>&1 || exit 1
$B evaluate --manifest $C/test.responses.jsonl --limit 160 --max-new-tokens 48 --precision fp32 --systems speech \
  --tasks repeat,alignment --latency-clips 0 --group-by source --no-progress \
  --train-manifest $C/train4k.responses.jsonl --model $out/best --out $out/eval > logs/abl-eval-no-speech-rms-s1.log 2>&1
