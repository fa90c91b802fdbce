# Issue #13, tenth session: breadth on top of steps. Each seed's stage 1 of run8k-wd.sh (Whisper-decoder post-CIF
# layers, token_ce 2, 126 minutes on corpus8k; runs8k/wd-tce2-sS/best) continues on corpus20k (corpus8k extended in
# place to 20,000 utterances on the same sources; corpus8k's test clips are its first test clips) at half the
# learning rate on a fresh cosine schedule that decays within the budget, as run8k-tce2.sh did; then PLoRA and the
# held-out evaluation on corpus8k's first 160 test clips. Two seeds side by side, one thread each.
# Code: /work/ref/code8 = 3343f9d (reference-stage1 already has the decoder layers and token_ce 2). Reruns resume.
cd /work/ref
export PYTHONPATH=/work/ref/code8/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
M1=${M1:-75}; M2=${M2:-10}; STEPS=${STEPS:-1100}
C=data/corpus20k
D="data.train=[$C/train.responses.jsonl] data.valid=data/corpus8k/valid.responses.jsonl"
WD="model.architecture.cformer.post_layers=whisper_decoder"
run_seed() {
  s=$1
  $B train --recipe reference-stage1 $D train.seed=$s train.output_dir=runs20k/cont-s$s \
    train.init_from=runs8k/wd-tce2-s$s/best train.lr=5e-4 \
    train.max_steps=$STEPS train.max_minutes=$M1 > logs/20k-cont-s$s.log 2>&1 || return 1
  $B train --recipe reference-stage2-plora $D train.seed=$s train.output_dir=runs20k/cont-plora-s$s $WD \
    train.init_from=runs20k/cont-s$s/best train.max_minutes=$M2 > logs/20k-cont-plora-s$s.log 2>&1 || return 1
  $B evaluate --manifest data/corpus8k/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 \
    --max-new-tokens 48 --precision fp32 --no-progress --train-manifest $C/train.responses.jsonl \
    --model runs20k/cont-s$s/best --compare plora=runs20k/cont-plora-s$s/best \
    --systems speech,text --out eval20k/cont-seed$s > logs/20k-cont-eval-s$s.log 2>&1
}
run_seed 0 &
sleep 30
run_seed 1 &
wait
