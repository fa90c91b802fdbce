# Issue #13, thirty-third session: the thirty-second note's first lever (new sentences), as a clean comparison with
# the shipped model. The machine was replaced, so more.sh's runs (rce3, a continuation of the shipped weights) were
# lost at step 100. This runs instead exactly the run that made `default` (run.sh: the pre-readout_ce `default`,
# commit 6b909fd^, continued with recipe reference-stage3-readout-ce, 140 steps, lr 1e-4, two seeds) with one change:
# the 24,000 training clips are the 100k plan's records [32000, 56000) (10,476 sentences none of the earlier training
# sets had; deletions/coverage.txt) instead of chain25's [56000, 80000), which the initial weights were trained on.
# Then both seeds and `default` (the rule's baseline, on these rebuilt clips) read on the first 160 validation clips.
# Run from /work/ref: `M=<minutes> bash run.sh`; reruns resume. Records kept in this folder: eval/rcen-sS-val160 →
# eval-val160-sS, eval/default-val160 → eval-val160-default, runs/rcen-sS/log.jsonl → train-log-sS.jsonl.
# As run (thirty-third session, 2026-12-06, code 5d97b12 copied to /work/ref/code33; no GPU lent): speaking
# 18:24–18:41 UTC, the answers and the cache to 18:48, training 18:48–19:29 (both seeds reached step 140, ≈ 15 s a
# step each side by side), validation to 19:34; steps 5–6 below were run by hand after reading step 4.
set -e
mkdir -p /work/ref/logs /work/ref/eval /work/ref/runs /work/ref/data
cd /work/ref
CODE=${CODE:-/work/ref/code33}
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
P="nice /work/main/.venv/bin/python"
R=/work/main/docs/reference-run
Q=$R/corpus-wn20k/questions.txt
C=data/c100b
# 0. the initial weights: `default` as it was before the readout_ce run (float16, as shipped then)
INIT=runs/default-pre-rce
if [ ! -f $INIT/model.safetensors ]; then
  mkdir -p $INIT
  for f in blsp_kd_config.json model.safetensors token_counts.safetensors; do
    git -C /work/main show 6b909fd^:src/blsp_kd/checkpoints/default/$f > $INIT/$f
  done
fi
# 1. speak: validation and test records [0, 256) and training records [32000, 56000) (≈ 31 minutes, both threads);
#    the validation clips' text-path answers; the held-out test records [256, 1000)
[ -f $C/train-new.jsonl ] || $P $R/corpus-wn40k-new/synth_slice.py $C $Q 32000 56000 100000 \
  > logs/synth-c100b.log 2>&1
[ -f $C/valid.responses.jsonl ] || $B prepare responses --manifest $C/valid.jsonl --out $C/valid.responses.jsonl \
  --limit 256 > logs/responses-valid.log 2>&1 &
[ -f $C/test-256-1000.jsonl ] || $P $R/speech-side-readout/synth_test_more.py $C $Q 256 1000 100000 \
  > logs/synth-more.log 2>&1 &
RE=$CODE/recipes/reference-stage3-readout-ce.yaml
# 2. the encoder feature cache for the training clips, once, with both threads (no validation: the answers may
#    still be in the making)
[ -f runs/cachefill33/final/model.safetensors ] || OMP_NUM_THREADS=2 $B train --recipe $RE \
  data.train=[$C/train-new.jsonl] data.valid=null \
  train.output_dir=runs/cachefill33 train.init_from=$INIT train.max_steps=1 > logs/cachefill33.log 2>&1
wait
echo "$(date -u +%H:%M) spoken, answered, cached"
# 3. two seeds, run.sh's schedule (lr 1e-4, warm-up 20, cosine over 140 steps)
D="data.train=[$C/train-new.jsonl] data.valid=$C/valid.responses.jsonl"
for s in 0 1; do
  $B train --recipe $RE $D train.seed=$s train.output_dir=runs/rcen-s$s train.init_from=$INIT \
    train.max_steps=140 train.eval_every=70 train.save_every=35 train.max_minutes=${M:-75} > logs/rcen-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) trained"
# 4. validation, the first 160 clips (repeat, greedy, fp32), both seeds and the shipped `default`. The rule, set
#    before reading (run.sh's): a seed may ship if it lowers S + D and the WER against the text path's answers below
#    `default`'s and keeps repeat WER below the cascade's (1.441); of those, the one with the lower S + D.
E="--systems speech --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32 --no-progress"
for m in rcen-s0 rcen-s1 default; do
  w=runs/$m/final; [ $m = default ] && w=default
  [ -s eval/$m-val160/results.json ] || $B evaluate --manifest $C/valid.responses.jsonl --out eval/$m-val160 \
    --model $w --tasks repeat --limit 160 $E > logs/$m-val160.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) validated"
# 5. (by hand) the text path and the cascade on the same 160 clips (the rebuilt validation's first 160 answered
#    records are not quite the earlier ones: 154 of 160 in common, the responses step's refusal filter kept others)
$B evaluate --manifest $C/valid.responses.jsonl --out eval/text-cascade-val160 --model default --tasks repeat \
  --limit 160 --systems text,cascade --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32 \
  --no-progress
# 6. (by hand) the recogniser's words: the readout's argmax transcript per clip for the three models
#    (deletions/probe.py), by each word's count in the initial weights' training transcripts (chain25's records
#    [56000, 80000), their texts written by plan_texts.py) and in this run's (new_words.py)
for m in default rcen-s0 rcen-s1; do
  w=runs/$m/final; [ $m = default ] && w=default
  $P $R/deletions/probe.py $C/valid.responses.jsonl 160 $w lab33/probe-val160-$m.jsonl
done
$P $R/readout-ce/new-sentences/plan_texts.py $Q 56000 80000 lab33/c100-train-texts.jsonl
PYTHONPATH=$PYTHONPATH:$R/deletions $P $R/readout-ce/new-sentences/new_words.py lab33/c100-train-texts.jsonl \
  $C/train-new.jsonl default=lab33/probe-val160-default.jsonl s0=lab33/probe-val160-rcen-s0.jsonl \
  s1=lab33/probe-val160-rcen-s1.jsonl > lab33/new-words-val160.txt
# 7. (by hand) weight averages of `default` with seed 0 and with both seeds (soup.py), read as in step 4
S=$R/readout-ce/new-sentences/soup.py
$P $S runs/soup-d-s0 $CODE/src/blsp_kd/checkpoints/default runs/rcen-s0/final
$P $S runs/soup-d-s0-s1 $CODE/src/blsp_kd/checkpoints/default runs/rcen-s0/final runs/rcen-s1/final
for m in soup-d-s0 soup-d-s0-s1; do
  $B evaluate --manifest $C/valid.responses.jsonl --out eval/$m-val160 --model runs/$m --tasks repeat --limit 160 $E \
    > logs/$m-val160.log 2>&1 &
done
wait
# 8. (by hand) the speech that would hear every word of the plan's training texts ≥ 10 / 30 times
$P $R/readout-ce/new-sentences/plan_texts.py $Q 0 100000 lab33/plan-train-all.jsonl
$P $R/readout-ce/new-sentences/coverage_need.py lab33/plan-train-all.jsonl \
  lab33/c100-train-texts.jsonl,$C/train-new.jsonl 10 30 > lab33/coverage-need.txt
