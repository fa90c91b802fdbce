# Issue #13, eleventh session: breadth. The shipped model (corpus20k continuation + PLoRA, seed 0; the previous
# machine's run folders are gone, its weights are in the repository) continues with the stage-2 recipe (CFormer and
# PLoRA both train, the KD objective with token_ce 0.5) on the WordNet corpus (corpus-wn20k.sh), two data-order seeds
# side by side, one thread each; then the held-out evaluation on the new corpus' first 160 test clips: the shipped
# model, the text path and the cascade in one evaluation (eval-shipped.sh, run while the training responses were
# written), each continued model in its own (token accuracy by the new corpus' training counts in both).
# Code: /work/ref/code9 = 1d9702d (the two seeds share the cache builds). Reruns resume.
cd /work/ref
export PYTHONPATH=/work/ref/code9/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
M=${M:-60}; STEPS=${STEPS:-800}
C=data/corpus
D="data.train=[$C/train.responses.jsonl] data.valid=$C/valid.responses.jsonl"
INIT=/work/ref/code9/src/blsp_kd/checkpoints/default
run_seed() {
  s=$1
  $B train --recipe reference-stage2-plora $D train.seed=$s train.output_dir=runs/wn-cont-s$s \
    train.init_from=$INIT train.max_steps=$STEPS train.max_minutes=$M > logs/wn-cont-s$s.log 2>&1
}
run_seed 0 &
sleep 30
run_seed 1 &
wait
for s in 0 1; do
  $B evaluate --manifest $C/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 --max-new-tokens 48 \
    --precision fp32 --no-progress --train-manifest $C/train.jsonl \
    --model runs/wn-cont-s$s/best --systems speech --out eval/wn-cont-s$s > logs/eval-wn-cont-s$s.log 2>&1 &
done
wait
