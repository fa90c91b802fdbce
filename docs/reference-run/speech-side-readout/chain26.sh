# Issue #13, twenty-sixth session (no GPU lent; the machine was kept, so chain25's data and caches were there). Is the
# speech side's plateau an optimisation limit? The shipped model's token classifier names 67-68 % of validation tokens
# and 68 % of its own training clips', flat over chain25's 311 steps at lr 1e-4 (train token_ce flat at 2.0-2.7): an
# underfit classifier. Test: the same continuation as chain25 (same data, records [56000, 80000) of the 100k plan,
# same losses) at 5x the learning rate, with the CFormer's dropout as shipped (0.1: run a) and off (run b), data seed 0
# for both, side by side with one thread each; read validation token accuracy every 100 steps against chain25's.
# Run as `M=<minutes> bash chain26.sh` from /work/ref.
# This session: `M=60 bash chain26.sh` (training 21:41-22:49 UTC, 2026-12-05, code 43df5b6 in a worktree,
# /work/ref/code26; run a stopped by the time limit at step 274, run b ran its 330); validation by hand after it:
# `snap_eval.py none runs/c26-X/final eval/val-c26-X data/c100/valid.responses.jsonl` (../readout/).
cd /work/ref
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576
export PYTHONPATH=${CODE:-/work/ref/code26}/src
B=/work/main/.venv/bin/blsp-kd
C=data/c100
M=${M:-60}
D="data.train=[$C/train-new.jsonl] data.valid=$C/valid.responses.jsonl"
S="train.init_from=default train.seed=0 train.lr=5e-4 train.warmup_steps=20 train.max_steps=330 train.max_minutes=$M"
$B train --recipe reference-stage3-speech $D $S train.output_dir=runs/c26-a > logs/c26-a.log 2>&1 &
$B train --recipe reference-stage3-speech $D $S train.output_dir=runs/c26-b model.architecture.cformer.dropout=0 \
  > logs/c26-b.log 2>&1 &
wait
echo "$(date -u +%H:%M) trained"
