# Resume of run8k.sh after the session that ran it ended at step ~1040 (checkpoints at step 1000): stage 1 continues
# from its last checkpoint with the schedule shortened to 2600 steps (cosine decays to 0 within this session's budget),
# then stage 2 PLoRA and the held-out evaluation as in run8k.sh.
cd /work/ref
export PYTHONPATH=/work/ref/code/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
M1=${M1:-75}; M2=${M2:-10}
D="data.train=[data/corpus8k/train.responses.jsonl] data.valid=data/corpus8k/valid.responses.jsonl"
run_seed() {
  s=$1
  $B train --recipe reference-stage1 $D train.seed=$s train.output_dir=runs8k/stage1-s$s train.max_minutes=$M1 \
    train.max_steps=2600 > logs/8k-stage1-resume-s$s.log 2>&1 || return 1
  $B train --recipe reference-stage2-plora $D train.seed=$s train.output_dir=runs8k/plora-s$s \
    train.init_from=runs8k/stage1-s$s/best train.max_minutes=$M2 > logs/8k-plora-s$s.log 2>&1 || return 1
  $B evaluate --manifest data/corpus8k/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 \
    --max-new-tokens 48 --no-progress --model runs8k/stage1-s$s/best --compare plora=runs8k/plora-s$s/best \
    --systems speech,text --out eval8k/seed$s > logs/8k-eval-s$s.log 2>&1
}
run_seed 0 &
run_seed 1 &
wait
