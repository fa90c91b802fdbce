# Issue #13, eighth session: stage 1 continued from each seed's best (runs8k/stage1-sS/best, token_ce 0.5, 2,600
# steps) with token_ce 2 — the ablations' strongest lever — at half the learning rate, on a fresh cosine schedule
# that decays within the budget; then PLoRA from its best and the held-out evaluation, as in run8k-resume.sh.
# Two seeds side by side, one thread each. Code: /work/ref/code5 = 65307ca. Reruns resume.
# As run: started with STEPS=1900; at step 500 validation KL was still above the start (the restart's lr), and the
# budget would have stopped it at ~1,350 steps with the lr at ~40 % of its peak, so at step 700 both runs were
# stopped after their checkpoint and resumed with `STEPS=1350 bash run8k-tce2.sh` (the cosine then decays to 0
# within the budget; the lr at step 700 moves from 3.6e-4 to 2.5e-4; everything else resumes exactly).
cd /work/ref
export PYTHONPATH=/work/ref/code5/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
M1=${M1:-100}; M2=${M2:-10}; STEPS=${STEPS:-1900}
D="data.train=[data/corpus8k/train.responses.jsonl] data.valid=data/corpus8k/valid.responses.jsonl"
run_seed() {
  s=$1
  $B train --recipe reference-stage1 $D train.seed=$s train.output_dir=runs8k/tce2-s$s \
    train.init_from=runs8k/stage1-s$s/best model.objective.loss_weights.token_ce=2 train.lr=5e-4 \
    train.max_steps=$STEPS train.max_minutes=$M1 > logs/8k-tce2-s$s.log 2>&1 || return 1
  $B train --recipe reference-stage2-plora $D train.seed=$s train.output_dir=runs8k/tce2-plora-s$s \
    train.init_from=runs8k/tce2-s$s/best train.max_minutes=$M2 > logs/8k-tce2-plora-s$s.log 2>&1 || return 1
  $B evaluate --manifest data/corpus8k/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 \
    --max-new-tokens 48 --precision fp32 --no-progress --train-manifest data/corpus8k/train.responses.jsonl \
    --model runs8k/tce2-s$s/best --compare plora=runs8k/tce2-plora-s$s/best \
    --systems speech,text --out eval8k/tce2-seed$s > logs/8k-tce2-eval-s$s.log 2>&1
}
run_seed 0 &
sleep 30
run_seed 1 &
wait
