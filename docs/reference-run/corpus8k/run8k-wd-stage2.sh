# Issue #13, ninth session: stage 2 (PLoRA) and the held-out evaluation of run8k-wd.sh's stage 1. run8k-wd.sh's own
# stage-2 line lacks the architecture override: the stage-2 recipe's CFormer has encoder post-CIF layers, so loading
# the whisper_decoder stage-1 checkpoint stops with "checkpoint does not match the model". Same commands otherwise.
# Waits for each seed's stage 1 to end. Code: /work/ref/code6 = a337b28. Reruns resume.
cd /work/ref
export PYTHONPATH=/work/ref/code6/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
M2=${M2:-10}
D="data.train=[data/corpus8k/train.responses.jsonl] data.valid=data/corpus8k/valid.responses.jsonl"
run_seed() {
  s=$1
  # stage 1, then run8k-wd.sh's failing stage 2; then clear what that failed start left (no checkpoint)
  while pgrep -f "output_dir=runs8k/wd-tce2-s$s " > /dev/null || pgrep -f "output_dir=runs8k/wd-tce2-plora-s$s " > /dev/null
  do sleep 30; done
  [ -d runs8k/wd-tce2-plora-s$s/checkpoints ] || rm -rf runs8k/wd-tce2-plora-s$s
  $B train --recipe reference-stage2-plora $D train.seed=$s train.output_dir=runs8k/wd-tce2-plora-s$s \
    model.architecture.cformer.post_layers=whisper_decoder \
    train.init_from=runs8k/wd-tce2-s$s/best train.max_minutes=$M2 > logs/8k-wd-tce2-plora-s$s.log 2>&1 || return 1
  $B evaluate --manifest data/corpus8k/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 \
    --max-new-tokens 48 --precision fp32 --no-progress --train-manifest data/corpus8k/train.responses.jsonl \
    --model runs8k/wd-tce2-s$s/best --compare plora=runs8k/wd-tce2-plora-s$s/best \
    --systems speech,text --out eval8k/wd-tce2-seed$s > logs/8k-wd-tce2-eval-s$s.log 2>&1
}
run_seed 0 &
sleep 30
run_seed 1 &
wait
