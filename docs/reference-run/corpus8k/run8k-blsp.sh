# The BLSP baseline on corpus8k, seeds 0 and 1 side by side (one thread each), the same wall-clock budget as
# stage 1 (126 one-thread minutes per seed in all, over sessions: pass this leg's minutes as M). Resumes from the
# last checkpoint when run again. Code: /work/ref/code2 = main at 9a1a64b. Then evaluate each seed's best.
cd /work/ref
export PYTHONPATH=/work/ref/code2/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
M=${M:-45}
D="data.train=[data/corpus8k/train.responses.jsonl] data.valid=data/corpus8k/valid.responses.jsonl"
for s in 0 1; do
  $B train --recipe /work/ref/code2/recipes/reference-blsp.yaml $D train.seed=$s train.output_dir=runs8k/blsp-s$s \
    train.max_minutes=$M >> logs/8k-blsp-s$s.log 2>&1 &
done
wait
