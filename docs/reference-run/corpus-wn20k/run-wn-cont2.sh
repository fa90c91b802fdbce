# Issue #13, twelfth session: lever 1 of the eleventh note -- the same continuation for longer. Each seed of
# run-wn-cont.sh (stopped at 551 of 800 steps by its 45-minute budget, validation KL still falling) goes on from its
# last weights (runs/wn-cont-s$s/final) with the same stage-2 recipe and a fresh schedule (warm-up 20, cosine to
# 1,300 steps at lr 2e-4), two data-order seeds side by side, one thread each.
# Code: /work/ref/code9 (6a4c33c; main's later commits touch tests and docs only). Run as `M=105 bash run-wn-cont2.sh`.
# Reruns resume.
cd /work/ref
export PYTHONPATH=/work/ref/code9/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
M=${M:-105}; STEPS=${STEPS:-1300}
C=data/corpus
D="data.train=[$C/train.responses.jsonl] data.valid=$C/valid.responses.jsonl"
run_seed() {
  s=$1
  $B train --recipe reference-stage2-plora $D train.seed=$s train.output_dir=runs/wn-cont2-s$s \
    train.init_from=runs/wn-cont-s$s/final train.max_steps=$STEPS train.max_minutes=$M > logs/wn-cont2-s$s.log 2>&1
}
run_seed 0 &
run_seed 1 &
wait
