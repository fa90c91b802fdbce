# The stage-1 ablations on corpus8k (issue #13), as `make ablations` runs them (300 steps, seeds 0 1), two seeds side
# by side with one thread each. Code: /work/ref/code4 = 86cea4e (CODE=… for a later snapshot: whisper-decoder needs
# one from the eighth session). Reruns resume (max_steps; evaluations skip if done).
cd /work/ref
export PYTHONPATH=${CODE:-/work/ref/code4}/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
D="data.train=[data/corpus8k/train.responses.jsonl] data.valid=data/corpus8k/valid.responses.jsonl"
NAMES=${NAMES:-"both token-ce-2 no-token-ce input-kl-only response-kl-only no-speech-rms padded-encoder"}
run_seed() {
  s=$1
  for name in $NAMES; do
    case $name in
      both) extra="";;
      input-kl-only) extra="model.objective.loss_weights.response_kl=0";;
      response-kl-only) extra="model.objective.loss_weights.input_kl=0";;
      no-speech-rms) extra="model.objective.loss_weights.speech_rms=0";;
      no-token-ce) extra="model.objective.loss_weights.token_ce=0";;
      token-ce-2) extra="model.objective.loss_weights.token_ce=2";;
      token-ce-4) extra="model.objective.loss_weights.token_ce=4";;  # added after the first runs, as in the Makefile
      whisper-decoder) extra="model.architecture.cformer.post_layers=whisper_decoder";;  # eighth session (code5)
      padded-encoder) extra="model.architecture.encoder_input=padded"
        # seed 1 waits for seed 0 to build the padded feature cache
        if [ $s = 1 ]; then until grep -q "training for" logs/abl-padded-encoder-s0.log 2>/dev/null; do sleep 20; done; fi;;
    esac
    out=ablations8k/$name-s$s
    $B train --recipe reference-stage1 $D train.seed=$s train.output_dir=$out train.max_steps=300 $extra \
      > logs/abl-$name-s$s.log 2>&1 || { echo "train $name s$s failed"; continue; }
    [ -f $out/eval/results.json ] || $B evaluate --manifest data/corpus8k/test.responses.jsonl --limit 160 \
      --max-new-tokens 48 --precision fp32 --systems speech --tasks repeat,alignment --latency-clips 0 \
      --group-by source --no-progress --model $out/best --out $out/eval > logs/abl-eval-$name-s$s.log 2>&1 \
      || echo "eval $name s$s failed"
  done
}
run_seed 0 &
sleep 60
run_seed 1 &
wait
