# Issue #13, thirty-fifth session: LoRA on `default`'s readout decoder trained with the decoder's own cross-entropy
# (`decoder_ce`, new in src: each transcript token under Whisper's decoder alone, reading the classifier's guesses),
# adapter frozen. After run.sh and frozen.sh: trained through the fused q ∝ p_c · p_d^λ (readout_ce), the adapted
# decoder specialises — it gives up the tokens the classifier names (alone on the guesses it names 8 % of the frequent
# ones, stock 71 %) — and the product names fewer tokens. Trained alone, it should learn to read the guesses and the
# real-length frames as a recogniser (the stock decoder names 65 % of validation tokens from the guesses, 77 % from
# the true previous tokens), and the unchanged fusion (λ 2) reads it. Same data as frozen.sh (each sentence once),
# recipe, lr, steps; LoRA everywhere (rank 16, alpha 32, dropout 0); readout_ce 0, decoder_ce 1; two seeds. CODE as
# run: /work/ref/code35c. Reruns resume.
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code35c}
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
C=data/c100b
RE=$CODE/recipes/reference-stage3-readout-ce.yaml
L="{rank: 16, alpha: 32, dropout: 0.0, target_modules: [q_proj, k_proj, v_proj, out_proj, fc1, fc2], scope: all}"
D="data.train=[$C/train-new-unique.jsonl] data.valid=$C/valid.responses.jsonl"
W="model.objective.loss_weights.readout_ce=0.0 model.objective.loss_weights.decoder_ce=1.0"
for s in 0 1; do
  $B train --recipe $RE $D train.seed=$s train.output_dir=runs/rdce-s$s train.init_from=default \
    train.max_steps=140 train.eval_every=70 train.save_every=35 train.max_minutes=${M:-80} $W \
    model.architecture.train_adapter=false "model.architecture.readout_lora=$L" > logs/rdce-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) trained"
# validation, the first 160 clips, under run.sh's rule
E="--systems speech --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32 --no-progress"
for s in 0 1; do
  [ -s eval/rdce-s$s-val160/results.json ] || $B evaluate --manifest $C/valid.responses.jsonl \
    --out eval/rdce-s$s-val160 --model runs/rdce-s$s/final --tasks repeat --limit 160 $E \
    > logs/rdce-s$s-val160.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) validated"
# As run (2026-12-07, code 08bd6eb as code35c, this CPU): training 01:05–01:43 UTC (both seeds side by side, one
# thread each; a clean-clone CI run beside them from 01:24), validation to 01:48.
# (by hand) the token accuracy by band, seed 0 (against `default`: readout-ce/inference/decoder-oracle-val160.txt):
#   python $R/readout-ce/inference/decoder_oracle.py $C/valid.responses.jsonl 160 runs/rdce-s0/final
# Tables: readout-prior/table.py eval/text-cascade-val160 default=eval/default-val160 rdce-sS=eval/rdce-sS-val160;
# readout-ce/inference/sd_boot.py eval/default-val160 eval/rdce-sS-val160.
# The records kept here: eval/rdce-sS-val160 → eval-rdce-val160-sS, runs/rdce-sS/log.jsonl → train-log-rdce-sS.jsonl,
# runs/rdce-s0/recipe.yaml → recipe-rdce-s0.yaml, the probe's output → decoder-oracle-val160-rdce-s0.txt.
