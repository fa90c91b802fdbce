# Stage 2 with the Whisper encoder unfrozen (PLoRA + encoder) on corpus8k, from each seed's stage-1 best, one seed
# after the other with one thread (beside the two BLSP seeds: three processes on the 2 cores, so each gets ~2/3 of a
# core: M=15 minutes of wall clock ≈ PLoRA's 10 one-core minutes), then each seed's best evaluated on the same 160
# test clips. Code: /work/ref/code2 = main at 9a1a64b.
cd /work/ref
export PYTHONPATH=/work/ref/code2/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
M=${M:-15}
D="data.train=[data/corpus8k/train.responses.jsonl] data.valid=data/corpus8k/valid.responses.jsonl"
for s in 0 1; do
  $B train --recipe /work/ref/code2/recipes/reference-stage2-encoder.yaml $D train.seed=$s \
    train.output_dir=runs8k/encoder-s$s train.init_from=runs8k/stage1-s$s/best train.max_minutes=$M \
    >> logs/8k-encoder-s$s.log 2>&1 || exit 1
done
for s in 0 1; do
  $B evaluate --manifest data/corpus8k/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 \
    --max-new-tokens 48 --no-progress --model runs8k/encoder-s$s/best --systems speech,text \
    --out eval8k/encoder-s$s > logs/8k-eval-encoder-s$s.log 2>&1
done
