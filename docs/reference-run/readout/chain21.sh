# Issue #13, twenty-first session (no GPU lent): KD through the vocabulary readout. The shipped model read through
# its own token classifier at inference (architecture.vocabulary_readout = 0.01, chosen on the validation split)
# carries more words than its raw vectors do; here it is trained that way, so that PLoRA and the CFormer learn to
# serve the LLM the embedding mixtures it will read. Data: responses (repeat-heavy, as the 40k runs) for the first
# RESP records of each half of the 80k plan's training slice [32000, 56000) (data/c80/train-new.jsonl, spoken in the
# twentieth session by ../corpus-wn40k-new/synth_slice.py; sentences the shipped model never trained KD on). Then the
# shipped model continued with reference-stage2-plora + the readout, per data-order seed, side by side with one
# thread each, and the 160 held-out clips (speech path; the cascade's rows are committed).
# Run as `STEPS=<n> M=<minutes> bash chain21.sh` from /work/ref; reruns resume.
cd /work/ref
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576
export PYTHONPATH=${CODE:-/work/ref/code21b}/src
B=/work/main/.venv/bin/blsp-kd
C=data/c80
STEPS=${STEPS:-600}; M=${M:-62}; RESP=${RESP:-3500}
if [ ! -f $C/train-new.responses.jsonl ]; then
  for i in 0 1; do
    $B prepare responses --manifest $C/train-new.jsonl --out $C/train-new.responses.jsonl --shard $i/2 \
      --limit $RESP --mix repeat=0.75,continuation=0.25 > logs/responses-c80-$i.log 2>&1 &
  done
  wait
  cat $C/train-new.responses.shard-0-of-2.jsonl $C/train-new.responses.shard-1-of-2.jsonl > $C/train-new.responses.jsonl
fi
echo "$(date -u +%H:%M) responses: $(wc -l < $C/train-new.responses.jsonl)"
D="data.train=[$C/train-new.responses.jsonl] data.valid=$C/valid.responses.jsonl"
for s in 0 1; do
  $B train --recipe reference-stage2-plora $D model.architecture.vocabulary_readout=0.01 train.seed=$s \
    train.output_dir=runs/ro-s$s train.init_from=default train.lr=5e-5 train.warmup_steps=20 \
    train.max_steps=$STEPS train.max_minutes=$M train.eval_every=100 train.save_every=100 > logs/ro-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) trained"
for s in 0 1; do
  $B evaluate --manifest $C/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 --max-new-tokens 48 \
    --precision fp32 --no-progress --model runs/ro-s$s/best --systems speech --out eval/ro-s$s > logs/eval-ro-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) evaluated"
