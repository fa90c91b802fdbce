# Issue #13, twenty-third session (no GPU lent): the speech-side pair (chain22's ss-s{0,1}, token_ce only, no LLM in the
# step) continued once more from its last weights at lr 1e-4 (fresh warm-up 20 and cosine), same data (the 24,000 new
# sentences), same losses, to see whether token accuracy and the held-out repeat WER through the readout keep moving.
# Then the validation split's repeat task through the readout at T = 0.02 (the T chosen for ss-s{0,1}).
# Run as `STEPS=<n> M=<minutes> bash chain23.sh` from /work/ref; reruns resume.
cd /work/ref
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576
export PYTHONPATH=${CODE:-/work/ref/code23}/src
B=/work/main/.venv/bin/blsp-kd
P=/work/main/.venv/bin/python
C=data/c80
STEPS=${STEPS:-600}; M=${M:-110}
CE="model.objective.loss_weights.input_kl=0 model.objective.loss_weights.response_kl=0 model.objective.loss_weights.token_ce=1"
D="data.train=[$C/train-new.jsonl] data.valid=$C/valid.responses.jsonl"
for s in 0 1; do
  $B train --recipe reference-stage2-plora $D $CE train.seed=$s train.output_dir=runs/ss2-s$s \
    train.init_from=runs/ss-s$s/final train.batch_size=64 train.lr=1e-4 train.warmup_steps=20 \
    train.max_steps=$STEPS train.max_minutes=$M train.eval_every=100 train.save_every=100 > logs/ss2-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) trained"
for s in 0 1; do
  out=eval/val-ss2-$s-soft_0.02
  [ -f $out/results.json ] || $P /work/main/docs/reference-run/readout/snap_eval.py soft:0.02 runs/ss2-s$s/final \
    $out $C/valid.responses.jsonl > logs/val-ss2-$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) validation evaluated"
