# Issue #13, thirty-third session: a probe of the next lever, speech built for word coverage. build.py speaks 400
# target words (heard 1–9 times in the weights' last two training sets) ten times each in training sentences and
# other training voices (4,000 clips), and one unspoken validation sentence per word as a probe. Then the run of
# new-sentences/run.sh (the pre-readout_ce `default`, recipe reference-stage3-readout-ce, 140 steps, seed 0) with
# those 4,000 clips as its training set, against new-sentences' seed 0 (the same run on 24,000 clips of new
# sentences: the same examples seen, 8,960) on the probe. One seed, both threads: a probe of the mechanism, not a
# candidate to ship. Run from /work/ref after new-sentences/run.sh; reruns resume.
# The same at another learning rate (the thirty-third note's first "why" probe: does the classifier learn the target
# words when it moves faster?): LR=5e-4 RUN=rcov5-s0 bash run.sh — its training, its probes, and analyze.py of it
# beside rcov-s0 into lab33/cover-analysis-RUN.txt and lab33/cover-analysis-RUN-train.txt.
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code33}
export OMP_NUM_THREADS=${THREADS:-2} MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
P="nice /work/main/.venv/bin/python"
R=/work/main/docs/reference-run
Q=$R/corpus-wn20k/questions.txt
C=data/cover
[ -f $C/train.jsonl ] || OMP_NUM_THREADS=1 $P $R/readout-ce/coverage/build.py $C $Q \
  lab33/c100-train-texts.jsonl,data/c100b/train-new.jsonl 400 10 > logs/cover-build.log 2>&1
RE=$CODE/recipes/reference-stage3-readout-ce.yaml
RUN=${RUN:-rcov-s0}
$B train --recipe $RE data.train=[$C/train.jsonl] data.valid=data/c100b/valid.responses.jsonl train.seed=0 \
  train.output_dir=runs/$RUN train.init_from=runs/default-pre-rce train.max_steps=140 train.eval_every=70 \
  train.save_every=35 train.max_minutes=${MINUTES:-40} ${LR:+train.lr=$LR} > logs/$RUN.log 2>&1
export OMP_NUM_THREADS=1
if [ $RUN != rcov-s0 ]; then
  awk 'NR % 10 == 1' $C/train.jsonl > $C/train-sample.jsonl
  for probe in cover:probe covertrain:train-sample; do
    [ -s lab33/probe-${probe%:*}-$RUN.jsonl ] || $P $R/deletions/probe.py $C/${probe#*:}.jsonl 400 runs/$RUN/final \
      lab33/probe-${probe%:*}-$RUN.jsonl > logs/probe-${probe%:*}-$RUN.log 2>&1 &
  done
  wait
  for probe in cover:"" covertrain:-train; do
    PYTHONPATH=$PYTHONPATH:$R/deletions $P $R/readout-ce/coverage/analyze.py $C/words.txt \
      coverage-s0=lab33/probe-${probe%:*}-rcov-s0.jsonl $RUN=lab33/probe-${probe%:*}-$RUN.jsonl \
      > lab33/cover-analysis-$RUN${probe#*:}.txt
  done
  exit
fi
for m in rcov-s0 rcen-s0; do
  [ -s lab33/probe-cover-$m.jsonl ] || $P $R/deletions/probe.py $C/probe.jsonl 400 runs/$m/final \
    lab33/probe-cover-$m.jsonl > logs/probe-cover-$m.log 2>&1 &
done
wait
PYTHONPATH=$PYTHONPATH:$R/deletions $P $R/readout-ce/coverage/analyze.py $C/words.txt \
  new-sentences-s0=lab33/probe-cover-rcen-s0.jsonl coverage-s0=lab33/probe-cover-rcov-s0.jsonl \
  > lab33/cover-analysis.txt
# As run (2026-12-06, code 5d97b12 as code33): build.py 19:58–20:02 UTC (started by hand, same command), training
# 20:04–20:34 (both threads, nothing beside it), the probes to 20:41; the steps below by hand, beside CI, to 20:49.
# (by hand, after reading the above) the initial weights on the probe, and both models on every tenth training clip
# (one per target word: did the run learn the words on the clips it trained on?)
export OMP_NUM_THREADS=1
$P $R/deletions/probe.py $C/probe.jsonl 400 runs/default-pre-rce lab33/probe-cover-init.jsonl
awk 'NR % 10 == 1' $C/train.jsonl > $C/train-sample.jsonl
for m in rcov-s0 rcen-s0; do
  $P $R/deletions/probe.py $C/train-sample.jsonl 400 runs/$m/final lab33/probe-covertrain-$m.jsonl &
done
wait
PYTHONPATH=$PYTHONPATH:$R/deletions $P $R/readout-ce/coverage/analyze.py $C/words.txt \
  initial=lab33/probe-cover-init.jsonl new-sentences-s0=lab33/probe-cover-rcen-s0.jsonl \
  coverage-s0=lab33/probe-cover-rcov-s0.jsonl > lab33/cover-analysis.txt
PYTHONPATH=$PYTHONPATH:$R/deletions $P $R/readout-ce/coverage/analyze.py $C/words.txt \
  new-sentences-s0=lab33/probe-covertrain-rcen-s0.jsonl coverage-s0=lab33/probe-covertrain-rcov-s0.jsonl \
  > lab33/cover-analysis-train.txt
