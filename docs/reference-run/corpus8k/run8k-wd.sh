# Issue #13, started at the end of the eighth session: stage 1 from scratch with the post-CIF layers started from
# Whisper's decoder (the best 300-step ablation) and token_ce 2 (the best long-run lever), on the reference stage 1's
# budget (126 minutes of one thread, cosine over 2,600 steps); then PLoRA from its best and the held-out evaluation,
# as in run8k-tce2.sh. Two seeds side by side, one thread each. Code: /work/ref/code6 = a337b28. Reruns resume.
cd /work/ref
export PYTHONPATH=/work/ref/code6/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
M1=${M1:-126}; M2=${M2:-10}; STEPS=${STEPS:-2600}
D="data.train=[data/corpus8k/train.responses.jsonl] data.valid=data/corpus8k/valid.responses.jsonl"
run_seed() {
  s=$1
  $B train --recipe reference-stage1 $D train.seed=$s train.output_dir=runs8k/wd-tce2-s$s \
    model.architecture.cformer.post_layers=whisper_decoder model.objective.loss_weights.token_ce=2 \
    train.max_steps=$STEPS train.max_minutes=$M1 > logs/8k-wd-tce2-s$s.log 2>&1 || return 1
  $B train --recipe reference-stage2-plora $D train.seed=$s train.output_dir=runs8k/wd-tce2-plora-s$s \
    train.init_from=runs8k/wd-tce2-s$s/best train.max_minutes=$M2 > logs/8k-wd-tce2-plora-s$s.log 2>&1 || return 1
  $B evaluate --manifest data/corpus8k/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 \
    --max-new-tokens 48 --precision fp32 --no-progress --train-manifest data/corpus8k/train.responses.jsonl \
    --model runs8k/wd-tce2-s$s/best --compare plora=runs8k/wd-tce2-plora-s$s/best \
    --systems speech,text --out eval8k/wd-tce2-seed$s > logs/8k-wd-tce2-eval-s$s.log 2>&1
}
run_seed 0 &
sleep 30
run_seed 1 &
wait
