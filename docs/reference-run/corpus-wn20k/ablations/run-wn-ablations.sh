# Issue #13, thirteenth session: the stage-1 ablations not yet run (without speech_rms, token_ce 4, the encoder on
# 30 s-padded input), now against today's reference stage 1 (post-CIF layers from Whisper's decoder, token_ce 2)
# and rerun beside it on one corpus. A fresh machine: the WordNet 20k corpus rebuilt from its questions file
# (corpus-wn20k.sh's synthesis and valid/test responses), and for the ablations' training set the responses of the
# first 4,000 training records only (two shards of --limit 2000: records 0..3,999), so every variant sees the same
# batches; 300 steps of batch 8 = 2,400 examples. Code: /work/ref/code10 = 1e39a5b. Two seeds side by side with one
# thread each (seed 1 waits for seed 0 to build each new feature cache). Reruns resume.
cd /work/ref
export OMP_NUM_THREADS=1 PYTHONPATH=/work/ref/code10/src
B=/work/main/.venv/bin/blsp-kd
C=data/corpus
$B prepare synth --out $C --num 20000 --questions $C/questions.txt --wordnet > logs/corpus-synth.log 2>&1 || exit 1
for split in valid test; do
  $B prepare responses --manifest $C/$split.jsonl --out $C/$split.responses.jsonl --limit 256 \
    > logs/corpus-responses-$split.log 2>&1 &
done
wait
for i in 0 1; do
  $B prepare responses --manifest $C/train.jsonl --out $C/train4k.responses.jsonl --shard $i/2 --limit 2000 \
    > logs/corpus-responses-train4k-$i.log 2>&1 &
done
wait
[ -f $C/train4k.responses.jsonl ] || cat $C/train4k.responses.shard-0-of-2.jsonl \
  $C/train4k.responses.shard-1-of-2.jsonl > $C/train4k.responses.jsonl
D="data.train=[$C/train4k.responses.jsonl] data.valid=$C/valid.responses.jsonl"
NAMES=${NAMES:-"reference padded-encoder no-speech-rms token-ce-4"}
run_seed() {
  s=$1
  for name in $NAMES; do
    case $name in
      reference) extra="";;
      no-speech-rms) extra="model.objective.loss_weights.speech_rms=0";;
      token-ce-4) extra="model.objective.loss_weights.token_ce=4";;
      padded-encoder) extra="model.architecture.encoder_input=padded";;
    esac
    if [ $s = 1 ]; then
      case $name in reference|padded-encoder)
        until grep -q "training for" logs/abl-$name-s0.log 2>/dev/null; do sleep 20; done;; esac
    fi
    out=runs/ablations/$name-s$s
    $B train --recipe reference-stage1 $D train.seed=$s train.output_dir=$out train.max_steps=300 $extra \
      > logs/abl-$name-s$s.log 2>&1 || { echo "train $name s$s failed"; continue; }
    [ -f $out/eval/results.json ] || $B evaluate --manifest $C/test.responses.jsonl --limit 160 \
      --max-new-tokens 48 --precision fp32 --systems speech --tasks repeat,alignment --latency-clips 0 \
      --group-by source --no-progress --train-manifest $C/train4k.responses.jsonl --model $out/best \
      --out $out/eval > logs/abl-eval-$name-s$s.log 2>&1 || echo "eval $name s$s failed"
  done
}
run_seed 0 &
sleep 60
run_seed 1 &
wait
