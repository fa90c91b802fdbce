# Issue #13, thirty-second session: the thirty-first note's second lever — readout_ce on more utterances. The step
# needs no LLM-written responses, so more speech is cheap: 24,000 more clips of the 100k plan (training records
# [32000, 56000): new voice, prosody and augmentation draws, 10,476 sentences the 24,000 do not have:
# deletions/coverage.txt; synth_slice.py also re-speaks the 256 validation and test records into the new folder,
# unused) beside chain25's 24,000 (records [56000, 80000)). Then the readout-ce recipe from INIT on both, two
# data-order seeds side by side with one thread each, cosine over STEPS, checkpoints every 25 steps; reruns resume
# (same STEPS). Run from /work/ref.
# lr 5e-5, half the first run's: longer.sh's continuation of runs/rce-s1/final at 1e-4 on the same data lost 1.6
# points of validation readout accuracy in its first 100 steps and never got them back.
# As run: `INIT=runs/rce-s1/final STEPS=400 M=150 bash more.sh` (thirty-second session, 2026-12-06, code31 = da7d108's
# src): speaking 16:31–17:02 UTC, the cache 17:02–17:20 (23,962 new clips to encode: 38 of the 24,000 repeat cached
# audio), training from 17:20, 750 steps an epoch of the 48,000; not evaluated in that session, and lost with the
# machine at step 100 (new-sentences/run.sh measured the lever instead, the next session).
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code31}
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
P=/work/main/.venv/bin/python
R=/work/main/docs/reference-run
C=data/c100
INIT=${INIT:?the weights to continue: runs/rce-s1/final or longer.sh\'s chosen seed}
# 1. speak (≈ 12 minutes with both threads)
[ -f data/c100b/train-new.jsonl ] || $P $R/corpus-wn40k-new/synth_slice.py data/c100b $R/corpus-wn20k/questions.txt \
  32000 56000 100000 > logs/synth-c100b.log 2>&1
D="data.train=[$C/train-new.jsonl,data/c100b/train-new.jsonl] data.valid=$C/valid.responses.jsonl"
RE=$CODE/recipes/reference-stage3-readout-ce.yaml
# 2. the encoder feature cache for the new clips, once, with both threads
[ -f runs/cachefill32/final/model.safetensors ] || OMP_NUM_THREADS=2 $B train --recipe $RE $D \
  train.output_dir=runs/cachefill32 train.init_from=$INIT train.max_steps=1 > logs/cachefill32.log 2>&1
# 3. two seeds
for s in 0 1; do
  $B train --recipe $RE $D train.seed=$s train.output_dir=runs/rce3-s$s train.init_from=$INIT train.lr=5e-5 \
    train.max_steps=${STEPS:-600} train.eval_every=100 train.save_every=25 train.max_minutes=${M:-300} \
    > logs/rce3-s$s.log 2>&1 &
done
wait
