# Issue #13, thirty-fifth session: LoRA on Whisper's decoder inside the decoder readout (`readout_lora`, new in src),
# trained with readout_ce beside the CFormer. Why (docs/RESULTS.md, "What Whisper's decoder knows of the missed
# words"): given the true previous tokens, the frozen decoder names 63 % of the tokens the readout's training heard
# 1–9 times; given the classifier's soft guesses (inputs it was never trained on, on real-length frames), 45 %; the
# classifier itself learns none of them at this budget (`decoder_kd`, the coverage probe). So adapt the decoder to
# the context it gets instead of the classifier to the words it lacks.
# One change against new-sentences/run.sh's runs (rcen-s0 / rcen-s1: the pre-readout_ce `default`, recipe
# reference-stage3-readout-ce, 140 steps, lr 1e-4, the 24,000 clips of c100b's new sentences, two seeds):
# + readout_lora (rank 16, alpha 32, dropout 0, on q/k/v/out of self- and cross-attention and fc1/fc2; 0.59 M
# weights). Run from /work/ref after new-sentences/run.sh (its data and initial weights); CODE: a copy of the src and
# recipes of this change (as run: /work/ref/code35). Reruns resume.
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code35}
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
C=data/c100b
RE=$CODE/recipes/reference-stage3-readout-ce.yaml
L="{rank: 16, alpha: 32, dropout: 0.0, target_modules: [q_proj, k_proj, v_proj, out_proj, fc1, fc2], scope: all}"
# 1. two seeds, side by side, one thread each
D="data.train=[$C/train-new.jsonl] data.valid=$C/valid.responses.jsonl"
for s in 0 1; do
  $B train --recipe $RE $D train.seed=$s train.output_dir=runs/rdlora-s$s train.init_from=runs/default-pre-rce \
    train.max_steps=140 train.eval_every=70 train.save_every=35 train.max_minutes=${M:-80} \
    "model.architecture.readout_lora=$L" > logs/rdlora-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) trained"
# 2. validation, the first 160 clips (repeat, greedy, fp32), as new-sentences/run.sh step 4. The rule, set before
#    reading: a seed may ship if it lowers S + D and the WER against the text path's answers below `default`'s
#    (0.432, 0.735 on these clips) and keeps repeat WER below the cascade's (1.534); of those, the one with the lower
#    S + D; then the 744 held-out clips decide.
E="--systems speech --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32 --no-progress"
for s in 0 1; do
  [ -s eval/rdlora-s$s-val160/results.json ] || $B evaluate --manifest $C/valid.responses.jsonl \
    --out eval/rdlora-s$s-val160 --model runs/rdlora-s$s/final --tasks repeat --limit 160 $E \
    > logs/rdlora-s$s-val160.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) validated"
# As run (2026-12-06/07, code 339219d as code35, this CPU): training 23:52–00:42 UTC (both seeds side by side, one
# thread each; a test run beside them for ~5 minutes). Step 2 (validation) was not run: the training validation
# (128 clips, CIF forced) had already answered — the readout names 73.6 / 74.2 % of the tokens at step 140 against
# 75.1 / 75.4 % without the LoRA (rcen), KL 0.783 / 0.766 against 0.739 / 0.744 — and the CPU went to frozen.sh.
# (by hand) the token accuracy by band (inference/decoder_oracle.py, code35), on validation and on 80 training clips
# of sentences train-new repeats 8–9 times (lab35/train-repeated-80.jsonl: one clip of each of the first 80 such
# sentences), this run's seed 0 against new-sentences' seed 0:
#   python $R/readout-ce/inference/decoder_oracle.py $C/valid.responses.jsonl 160 runs/rdlora-s0/final
#   python $R/readout-ce/inference/decoder_oracle.py lab35/train-repeated-80.jsonl 80 runs/rdlora-s0/final
#   python $R/readout-ce/inference/decoder_oracle.py lab35/train-repeated-80.jsonl 80 runs/rcen-s0/final
# The records kept here: runs/rdlora-sS/log.jsonl → train-log-sS.jsonl, runs/rdlora-s0/recipe.yaml → recipe-s0.yaml,
# the probes' output → decoder-oracle-*.txt.
