# Issue #13, thirty-fifth session: the shipped `default` with LoRA on its readout's Whisper decoder trained alone
# (`readout_lora`, adapter frozen: `train_adapter` false), readout_ce the only loss with a gradient: the decoder
# learns to read what `default`'s classifier gives it. Same recipe, data, steps and lr as run.sh (rank 16, alpha 32,
# dropout 0, q/k/v/out of self- and cross-attention and fc1/fc2), two seeds. Reruns resume.
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code35}
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
C=data/c100b
RE=$CODE/recipes/reference-stage3-readout-ce.yaml
L="{rank: 16, alpha: 32, dropout: 0.0, target_modules: [q_proj, k_proj, v_proj, out_proj, fc1, fc2], scope: all}"
D="data.train=[$C/train-new.jsonl] data.valid=$C/valid.responses.jsonl"
for s in 0 1; do
  $B train --recipe $RE $D train.seed=$s train.output_dir=runs/rdlf-s$s train.init_from=default \
    train.max_steps=140 train.eval_every=70 train.save_every=35 train.max_minutes=${M:-80} \
    model.architecture.train_adapter=false "model.architecture.readout_lora=$L" > logs/rdlf-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) trained"
# validation, the first 160 clips, under run.sh's rule
E="--systems speech --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32 --no-progress"
for s in 0 1; do
  [ -s eval/rdlf-s$s-val160/results.json ] || $B evaluate --manifest $C/valid.responses.jsonl \
    --out eval/rdlf-s$s-val160 --model runs/rdlf-s$s/final --tasks repeat --limit 160 $E \
    > logs/rdlf-s$s-val160.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) validated"
