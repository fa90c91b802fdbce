# Issue #13, thirty-third session, started at its end for the next one: the coverage probe's run (run.sh) at 5× the
# learning rate (5e-4), the first of the note's "why" probes — does the classifier learn the 400 target words when
# it moves faster? Read with analyze.py as run.sh reads rcov-s0 (the probe and the one-in-ten training clips). Run
# from /work/ref after run.sh; reruns resume (not needed by anything in the repository; lost with a replaced machine).
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code33}
export OMP_NUM_THREADS=2 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
P="nice /work/main/.venv/bin/python"
R=/work/main/docs/reference-run
C=data/cover
$B train --recipe $CODE/recipes/reference-stage3-readout-ce.yaml data.train=[$C/train.jsonl] \
  data.valid=data/c100b/valid.responses.jsonl train.seed=0 train.lr=5e-4 train.output_dir=runs/rcov5-s0 \
  train.init_from=runs/default-pre-rce train.max_steps=140 train.eval_every=70 train.save_every=35 \
  train.max_minutes=40 > logs/rcov5-s0.log 2>&1
export OMP_NUM_THREADS=1
$P $R/deletions/probe.py $C/probe.jsonl 400 runs/rcov5-s0/final lab33/probe-cover-rcov5-s0.jsonl &
$P $R/deletions/probe.py $C/train-sample.jsonl 400 runs/rcov5-s0/final lab33/probe-covertrain-rcov5-s0.jsonl &
wait
PYTHONPATH=$PYTHONPATH:$R/deletions $P $R/readout-ce/coverage/analyze.py $C/words.txt \
  coverage-s0=lab33/probe-cover-rcov-s0.jsonl coverage-lr5-s0=lab33/probe-cover-rcov5-s0.jsonl \
  > lab33/cover-analysis-lr5.txt
PYTHONPATH=$PYTHONPATH:$R/deletions $P $R/readout-ce/coverage/analyze.py $C/words.txt \
  coverage-s0=lab33/probe-covertrain-rcov-s0.jsonl coverage-lr5-s0=lab33/probe-covertrain-rcov5-s0.jsonl \
  > lab33/cover-analysis-lr5-train.txt
