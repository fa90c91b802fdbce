# Issue #13, twenty-ninth session: the decoder readout one token at a time (sequential_probe.py), and with the
# classifier divided by its training prior (prior_probe.py, then end to end through `readout_prior` in src). Run from
# /work/ref with chain25.sh's data (data/c100), the human probe's (data/human) and whisper-head/run.sh's states
# (probe/wh); about 1.5 hours on 2 cores. One thread per process, two processes at a time.
set -e
cd /work/ref
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=${CODE:-/work/main}/src
P="nice /work/main/.venv/bin/python"
B="nice /work/main/.venv/bin/blsp-kd"
D=${CODE:-/work/main}/docs/reference-run/readout-prior
mkdir -p eval logs models
# 1. token accuracy (the CIF forced to the transcript's count): sequential and beam decoding, validation and human
$P $D/sequential_probe.py probe/wh valid data/c100/valid.responses.jsonl 1,2,3 > logs/seq-valid.log 2>&1 &
$P $D/sequential_probe.py probe/wh human data/human/human.jsonl 1,2,3 > logs/seq-human.log 2>&1
wait
BEAM=4 $P $D/sequential_probe.py probe/wh valid data/c100/valid.responses.jsonl 2 > logs/beam-valid.log 2>&1 &
$P $D/sequential_probe.py probe/wh valid data/c100/valid.responses.jsonl 5,100 > logs/seq-valid-high.log 2>&1
wait
BEAM=4 $P $D/sequential_probe.py probe/wh human data/human/human.jsonl 2,3 > logs/beam-human.log 2>&1
# 2. the training prior: γ and λ on validation, then γ = 1 (chosen there) held out
$P $D/prior_probe.py probe/wh valid data/c100/valid.responses.jsonl 1,2,3 0,0.5,1,2 > logs/prior-valid.log 2>&1 &
$P $D/prior_probe.py probe/wh valid data/c100/valid.responses.jsonl 1.5,2,2.5 0.75,1.25,1.5 \
  > logs/prior-valid2.log 2>&1
wait
$P $D/prior_probe.py probe/wh test744 data/c100/test-256-1000.jsonl 0,2 0,1 > logs/prior-test744.log 2>&1 &
$P $D/prior_probe.py probe/wh human data/human/human.jsonl 0,2 0,1 > logs/prior-human.log 2>&1
wait
# 3. end to end (repeat, greedy, fp32): the shipped weights with readout_prior 1 and the speech-side stage's
#    transcript token counts (train-new.jsonl: the same counts as probe/wh/train.pt); chain25's two continued seeds
#    read the same way for the spread
for name in default ship25-s0 ship25-s1; do
  source=$([ $name = default ] && echo ${CODE:-/work/main}/src/blsp_kd/checkpoints/default || echo $name)
  mkdir -p models/$name-prior && cp $source/model.safetensors models/$name-prior/
  $P $D/with_prior.py $source data/c100/train-new.jsonl models/$name-prior
done
$B evaluate --manifest data/c100/valid.responses.jsonl --out eval/pr-val160 --model models/default-prior \
  --systems speech --tasks repeat --limit 160 --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32
for name in default ship25-s0 ship25-s1; do
  $B evaluate --manifest data/c100/test-256-1000.jsonl --out eval/pr-test744-$name --model models/$name-prior \
    --systems speech --tasks repeat --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32 &
  [ $name = ship25-s0 ] && wait
done
$B evaluate --manifest data/human/human.jsonl --out eval/pr-human-default --model models/default-prior \
  --systems speech --tasks repeat,continuation,alignment --latency-clips 0 --max-new-tokens 48 --precision fp32 \
  --group-by source
wait
# 4. the shipped config (since this session with readout_prior 1.0) on the first 160 test clips, every task, as
#    chain25.sh ran them
$B evaluate --manifest data/c100/test.responses.jsonl --limit 160 --systems speech --model models/default-prior \
  --latency-clips 0 --plot-clips 4 --max-new-tokens 48 --precision fp32 --no-progress --out eval/pr-test160-default
# The records kept in this folder: logs/{seq,beam,prior}-*.log → probes.txt; eval/pr-X → eval-X.
