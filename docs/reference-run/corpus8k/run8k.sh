# The reference run on the multi-engine corpus (data/corpus8k, `make corpus CORPUS_NUM=8000`): per seed, stage 1
# (reference-stage1) → stage 2 PLoRA from its best → evaluation of both on the first 160 test clips. Two seeds side
# by side, one thread each; seed 1 starts once seed 0 has built the shared feature/teacher caches.
cd /work/ref
export PYTHONPATH=/work/ref/code/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
M1=${M1:-55}; M2=${M2:-10}
D="data.train=[data/corpus8k/train.responses.jsonl] data.valid=data/corpus8k/valid.responses.jsonl"
run_seed() {
  s=$1
  $B train --recipe reference-stage1 $D train.seed=$s train.output_dir=runs8k/stage1-s$s train.max_minutes=$M1 \
    > logs/8k-stage1-s$s.log 2>&1 || return 1
  $B train --recipe reference-stage2-plora $D train.seed=$s train.output_dir=runs8k/plora-s$s \
    train.init_from=runs8k/stage1-s$s/best train.max_minutes=$M2 > logs/8k-plora-s$s.log 2>&1 || return 1
  $B evaluate --manifest data/corpus8k/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 \
    --max-new-tokens 48 --no-progress --model runs8k/stage1-s$s/best --compare plora=runs8k/plora-s$s/best \
    --systems speech,text --out eval8k/seed$s > logs/8k-eval-s$s.log 2>&1
}
run_seed 0 &
until grep -q "training for" logs/8k-stage1-s0.log 2>/dev/null; do sleep 10; done
run_seed 1 &
wait
