# Issue #13, thirty-first session's end: the next lever run in the background for the next session — the shipped
# weights (runs/rce-s1/final, before the float16 export) continued with the same recipe for longer: lr 1e-4, warm-up
# 20, cosine over 600 steps (≈ 1.6 epochs of the same 24,000 utterances), two data-order seeds side by side with one
# thread each, stopped by M minutes (resumes from its last checkpoint: rerun with the same STEPS).
# As run: started with STEPS=600 M=300 (thirty-first session); the session ended at step 153, and the thirty-second
# resumed both seeds from their step-150 checkpoints with STEPS=300 M=120 so that the run could end and be read in
# one session: the cosine's length cut from 600 to 300 steps at step 150 (lr 0.88e-4 → 0.56e-4 there), not a
# bit-exact resume. Evaluated by longer-eval.sh.
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code31}
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
C=data/c100
R=$CODE/recipes/reference-stage3-readout-ce.yaml
D="data.train=[$C/train-new.jsonl] data.valid=$C/valid.responses.jsonl"
for s in 0 1; do
  $B train --recipe $R $D train.seed=$s train.output_dir=runs/rce2-s$s train.init_from=runs/rce-s1/final \
    train.max_steps=${STEPS:-600} train.eval_every=100 train.save_every=25 train.max_minutes=${M:-300} \
    > logs/rce2-s$s.log 2>&1 &
done
wait
