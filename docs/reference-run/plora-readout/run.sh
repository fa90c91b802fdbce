# Issue #13, thirtieth session: PLoRA taught on what the LLM reads at inference (recipe
# reference-stage4-plora-readout): the shipped `default` (stage 3), adapter frozen, the LLM reading the decoder
# readout of its vectors, input KL + response KL on responses SmolLM2 wrote itself; two data-order seeds side by side
# (one thread each), then both read end to end on validation and the held-out test clips.
# Run from /work/ref with chain25.sh's data (data/c100); CODE: a copy of main's src/ and recipes/ at the commit in
# $CODE/COMMIT (so edits to main do not reach a running job). `M=<minutes> bash run.sh`; reruns resume.
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code30}
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
C=data/c100
M=${M:-60}
mkdir -p logs eval runs
# 1. responses for the first 7,200 records of the speech-side stage's training set (sentences PLoRA never heard in
#    KD), with chain.sh's mix: 75 % "repeat what was said", 25 % continuation
if [ ! -s $C/train7k.responses.jsonl ]; then
  head -7200 $C/train-new.jsonl > $C/train7k.jsonl
  for i in 0 1; do
    $B prepare responses --manifest $C/train7k.jsonl --out $C/train7k.responses.jsonl --shard $i/2 \
      --mix repeat=0.75,continuation=0.25 > logs/responses7k-$i.log 2>&1 &
  done
  wait
  cat $C/train7k.responses.shard-0-of-2.jsonl $C/train7k.responses.shard-1-of-2.jsonl > $C/train7k.responses.jsonl
fi
R=$CODE/recipes/reference-stage4-plora-readout.yaml
D="data.train=[$C/train7k.responses.jsonl] data.valid=$C/valid.responses.jsonl"
INIT=$CODE/src/blsp_kd/checkpoints/default
# 2. the feature and teacher caches (content-keyed, shared by both seeds) filled once, with both threads
OMP_NUM_THREADS=2 $B train --recipe $R $D train.output_dir=runs/s4-cachefill train.init_from=$INIT \
  train.max_steps=1 train.eval_every=0 > logs/s4-cachefill.log 2>&1
# 3. two seeds, lr 1e-4, warm-up 20, cosine over STEPS steps (560: what 55 minutes fit on this 2-core CPU, ~6 s a
#    step with the other seed beside it; started with 1,000 and resumed at step 50 with 560)
for s in 0 1; do
  $B train --recipe $R $D train.seed=$s train.output_dir=runs/s4-s$s train.init_from=$INIT \
    train.max_steps=${STEPS:-560} train.eval_every=200 train.save_every=50 train.max_minutes=$M \
    > logs/s4-s$s.log 2>&1 &
done
wait
# 4. end to end on validation (repeat, greedy, fp32; the first 160 validation clips, as every earlier choice): both
#    seeds' final weights and the shipped model, all through src/ at $CODE
E="--systems speech --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32"
[ -s eval/s4-val160-default/results.json ] || $B evaluate --manifest $C/valid.responses.jsonl \
  --out eval/s4-val160-default --model default --tasks repeat --limit 160 $E > logs/s4-val160-default.log 2>&1
for s in 0 1; do
  $B evaluate --manifest $C/valid.responses.jsonl --out eval/s4-val160-s$s --model runs/s4-s$s/final --tasks repeat \
    --limit 160 $E > logs/s4-val160-s$s.log 2>&1 &
done
wait
# 5. held out: the 744 test clips (repeat), both seeds; the first 160 test clips, every task (response-position gap,
#    continuation BLEU / chrF), seed 0
for s in 0 1; do
  $B evaluate --manifest $C/test-256-1000.jsonl --out eval/s4-test744-s$s --model runs/s4-s$s/final --tasks repeat \
    $E > logs/s4-test744-s$s.log 2>&1 &
done
wait
$B evaluate --manifest $C/test.responses.jsonl --limit 160 --model runs/s4-s0/final --systems speech \
  --latency-clips 0 --plot-clips 4 --max-new-tokens 48 --precision fp32 --no-progress --out eval/s4-test160-s0 \
  > logs/s4-test160-s0.log 2>&1
# The records kept in this folder: eval/s4-X → eval-X, runs/s4-sS/log.jsonl → train-log-sS.jsonl,
# runs/s4-s0/recipe.yaml → recipe-s0.yaml (the resolved recipe). Tables: readout-prior/table.py (repeat WER, median,
# S/D/I, vs the text path's answers; the text path and the cascade from decoder-refiner/eval-val-text-cascade and
# speech-side-readout/eval-more-shipped), speech-side-readout/bootp.py (paired bootstrap).
# 6. (the session's end) response KL only, seed 0, 26 minutes, validation only:
#    $B train --recipe $R $D train.seed=0 train.output_dir=runs/s4r-s0 train.init_from=$INIT train.max_steps=280 \
#      train.eval_every=0 train.save_every=50 train.max_minutes=26 model.objective.loss_weights.input_kl=0
#    then step 4's evaluate with --model runs/s4r-s0/final --out eval/s4r-val160-s0
#    (→ eval-val160-response-kl-only-s0, log → train-log-response-kl-only-s0.jsonl)
