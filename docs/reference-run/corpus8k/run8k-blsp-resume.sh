# Resume of run8k-blsp.sh (stopped by hand at step ~140, checkpoints at step 100): the BLSP baseline continues from
# its last checkpoint on the recipe's own schedule (4000 steps; the same
# wall-clock budget as stage 1: 126 one-thread minutes per seed in all), then each seed's best is evaluated on the same 160 test clips.
cd /work/ref
export PYTHONPATH=/work/ref/code2/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
M=${M:-121}
D="data.train=[data/corpus8k/train.responses.jsonl] data.valid=data/corpus8k/valid.responses.jsonl"
run_seed() {
  s=$1
  $B train --recipe /work/ref/code2/recipes/reference-blsp.yaml $D train.seed=$s train.output_dir=runs8k/blsp-s$s \
    train.max_minutes=$M >> logs/8k-blsp-s$s.log 2>&1 || return 1
  $B evaluate --manifest data/corpus8k/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 \
    --max-new-tokens 48 --no-progress --model runs8k/blsp-s$s/best --systems speech,text \
    --out eval8k/blsp-s$s > logs/8k-eval-blsp-s$s.log 2>&1
}
run_seed 0 &
run_seed 1 &
wait
