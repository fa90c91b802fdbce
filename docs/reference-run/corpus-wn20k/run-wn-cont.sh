# Issue #13, eleventh session: breadth. The shipped model (corpus20k continuation + PLoRA, seed 0; the previous
# machine's run folders are gone, its weights are in the repository) continues with the stage-2 recipe (CFormer and
# PLoRA both train, the KD objective with token_ce 0.5) on the WordNet corpus (corpus-wn20k.sh), two data-order seeds
# side by side, one thread each (seed 1 started by hand two minutes after seed 0 this time: `run_seed 1` alone).
# Evaluation: eval-shipped.sh (the shipped model, the text path, the cascade) and eval-wn-cont.sh.
# Code: /work/ref/code9 = 6a4c33c (the same tree as a8451f4, its commit before a reworded message; the two seeds share the cache builds entry by entry; a first start on 1d9702d,
# whose all-or-nothing batches let the seeds duplicate a third of the teacher cache, was stopped during the cache
# build). Run as `M=45 bash run-wn-cont.sh` (45 minutes for the time left in the session). Reruns resume.
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
run_seed 0 &  # as run: seed 0 from this script; the script was stopped during the sleep below and seed 1
sleep 30      # started on its own (`M=45`, the same command)
run_seed 1 &
wait
