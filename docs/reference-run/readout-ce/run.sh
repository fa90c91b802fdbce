# Issue #13, thirty-first session: the speech side trained through the decoder readout (recipe
# reference-stage3-readout-ce: stage 3's losses + readout_ce, the transcript token's cross-entropy under the fused
# distribution q the LLM reads). From the shipped `default`, on stage 3's data (data/c100/train-new.jsonl, chain25.sh's
# 24,000 utterances); two data-order seeds side by side (one thread each), then both read end to end on validation
# and, if the rule below holds, on the held-out clips.
# Run from /work/ref with chain25.sh's data and caches; CODE: a copy of main's src/ and recipes/ (so edits to main do
# not reach a running job; $CODE/COMMIT says which). `M=<minutes> STEPS=<n> bash run.sh`; reruns resume.
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code31}
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
C=data/c100
M=${M:-75}
mkdir -p logs eval runs
R=$CODE/recipes/reference-stage3-readout-ce.yaml
D="data.train=[$C/train-new.jsonl] data.valid=$C/valid.responses.jsonl"
INIT=$CODE/src/blsp_kd/checkpoints/default
# 1. two seeds, lr 1e-4, warm-up 20, cosine over STEPS steps (140: what 75 minutes fit, ≈ 30 s a step at batch 64
#    with the other seed beside it; a first start with 240 was stopped at step 10 and restarted)
for s in 0 1; do
  $B train --recipe $R $D train.seed=$s train.output_dir=runs/rce-s$s train.init_from=$INIT \
    train.max_steps=${STEPS:-140} train.eval_every=70 train.save_every=35 train.max_minutes=$M \
    > logs/rce-s$s.log 2>&1 &
done
wait
# 2. end to end on validation (repeat, greedy, fp32; the first 160 validation clips, as every earlier choice)
E="--systems speech --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32"
for s in 0 1; do
  [ -s eval/rce-val160-s$s/results.json ] || $B evaluate --manifest $C/valid.responses.jsonl \
    --out eval/rce-val160-s$s --model runs/rce-s$s/final --tasks repeat --limit 160 $E > logs/rce-val160-s$s.log 2>&1 &
done
wait
# The rule, set before these runs were read (the decoder readout's, twenty-eighth session): a seed may ship if on
# validation it lowers S + D and the WER against the text path's answers below `default`'s and keeps repeat WER
# below the cascade's; of those, the one with the lower S + D.
# 3. held out: the 744 test clips (repeat), both seeds; then the first 160 test clips, every task, the chosen seed
for s in 0 1; do
  [ -s eval/rce-test744-s$s/results.json ] || $B evaluate --manifest $C/test-256-1000.jsonl --out eval/rce-test744-s$s \
    --model runs/rce-s$s/final --tasks repeat $E > logs/rce-test744-s$s.log 2>&1 &
done
wait
S=${SHIP_SEED:-1}
[ -s eval/rce-test160-s$S/results.json ] || $B evaluate --manifest $C/test.responses.jsonl --limit 160 \
  --model runs/rce-s$S/final --systems speech --latency-clips 0 --plot-clips 4 --max-new-tokens 48 --precision fp32 \
  --no-progress --out eval/rce-test160-s$S > logs/rce-test160-s$S.log 2>&1
# 4. the 11 human clips (human-probe/), the chosen seed, as the probe ran the models before it
$B evaluate --manifest data/human/human.jsonl --tasks repeat,continuation,alignment --latency-clips 0 \
  --max-new-tokens 48 --precision fp32 --group-by source --systems speech --model runs/rce-s$S/final --no-progress \
  --out eval/rce-human-s$S > logs/rce-human-s$S.log 2>&1
# The records kept in this folder: eval/rce-X → eval-X, runs/rce-sS/log.jsonl → train-log-sS.jsonl,
# runs/rce-s1/recipe.yaml → recipe-s1.yaml (the resolved recipe). Tables: readout-prior/table.py, bootp.py as in
# plora-readout/run.sh; the shipped export: export.py runs/rce-s1/final → src/blsp_kd/checkpoints/default/.
# 5. the float16 export (`default`) against the fp32 weights it came from: the first 80 validation clips
#    (PYTHONPATH=/work/main/src, after the export was committed)
# blsp-kd evaluate --manifest $C/valid.responses.jsonl --out eval/rce-val80-export --model default --tasks repeat \
#   --limit 80 $E --no-progress
