# Seed 1 of run8k-encoder.sh's training (that script was stopped after seed 0 to give the CPU back to the BLSP
# baseline); no evaluation: in both seeds validation KL rose over the steps it had and the best checkpoint stayed at
# its start (stage 1's best), see RESULTS.md.
cd /work/ref
export PYTHONPATH=/work/ref/code2/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
D="data.train=[data/corpus8k/train.responses.jsonl] data.valid=data/corpus8k/valid.responses.jsonl"
$B train --recipe /work/ref/code2/recipes/reference-stage2-encoder.yaml $D train.seed=1 \
  train.output_dir=runs8k/encoder-s1 train.init_from=runs8k/stage1-s1/best train.max_minutes=15 \
  >> logs/8k-encoder-s1.log 2>&1
