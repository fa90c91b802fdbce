# Issue #13, thirty-fourth session: the classifier taught by Whisper's decoder reading the true transcript
# (`decoder_kd`, new in src; docs/RESULTS.md, "What Whisper's decoder knows of the missed words": given the true
# previous tokens it names 63 % of the tokens the readout's training heard 1–9 times, the shipped readout 34 %).
# One change against new-sentences/run.sh's runs (rcen-s0 / rcen-s1: the pre-readout_ce `default`, recipe
# reference-stage3-readout-ce, 140 steps, lr 1e-4, the 24,000 clips of c100b's new sentences, two seeds):
# + decoder_kd 1. Run from /work/ref after new-sentences/run.sh (its data and initial weights); CODE: a copy of the
# src and recipes of this change (as run: /work/ref/code34). Reruns resume.
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code34}
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
C=data/c100b
RE=$CODE/recipes/reference-stage3-readout-ce.yaml
# 1. two seeds, side by side, one thread each
D="data.train=[$C/train-new.jsonl] data.valid=$C/valid.responses.jsonl"
for s in 0 1; do
  $B train --recipe $RE $D train.seed=$s train.output_dir=runs/rdkd-s$s train.init_from=runs/default-pre-rce \
    train.max_steps=140 train.eval_every=70 train.save_every=35 train.max_minutes=${M:-80} \
    model.objective.loss_weights.decoder_kd=1.0 > logs/rdkd-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) trained"
# 2. validation, the first 160 clips (repeat, greedy, fp32), as new-sentences/run.sh step 4. The rule, set before
#    reading: a seed may ship if it lowers S + D and the WER against the text path's answers below `default`'s
#    (0.432, 0.735 on these clips) and keeps repeat WER below the cascade's (1.534); of those, the one with the lower
#    S + D; then the 744 held-out clips decide.
E="--systems speech --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32 --no-progress"
for s in 0 1; do
  [ -s eval/rdkd-s$s-val160/results.json ] || $B evaluate --manifest $C/valid.responses.jsonl \
    --out eval/rdkd-s$s-val160 --model runs/rdkd-s$s/final --tasks repeat --limit 160 $E \
    > logs/rdkd-s$s-val160.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) validated"
# As run (2026-12-06, code 98cdcc3 as code34, this CPU): training 21:53–22:44 UTC (both seeds side by side, one
# thread each, nothing beside them after 21:56): 2,993 s for 140 steps, the new-sentences seed 0 2,378 s (the same
# two-seed setup without decoder_kd: 1.26× the step); validation to 22:48.
# (by hand) the token accuracy by band of the classifier and the fusion, this run's seed 0 against new-sentences'
# seed 0 (inference/decoder_oracle.py; bands by `default`'s training counts):
#   python $R/readout-ce/inference/decoder_oracle.py $C/valid.responses.jsonl 160 runs/rdkd-s0/final
#   python $R/readout-ce/inference/decoder_oracle.py $C/valid.responses.jsonl 160 runs/rcen-s0/final
# The records kept here: eval/rdkd-sS-val160 → eval-val160-sS, runs/rdkd-sS/log.jsonl → train-log-sS.jsonl,
# runs/rdkd-s0/recipe.yaml → recipe-s0.yaml (the resolved recipe), the probes' output →
# decoder-oracle-val160-s0.txt and decoder-oracle-val160-new-sentences-s0.txt.
