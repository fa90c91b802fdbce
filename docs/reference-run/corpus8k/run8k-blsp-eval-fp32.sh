# The BLSP baseline's evaluation again with the base models in fp32 (--precision fp32), as stage 1 and PLoRA were
# evaluated: their checkpoints (code e526bee) store dtype float32 for inference, the baseline's (code 9a1a64b) store
# precision auto, which is bf16 on this CPU, and the text path's answers differ between the two (repeat WER 1.579 in
# fp32, 1.484 in bf16). The table of RESULTS.md uses this evaluation; run8k-blsp-eval.sh's (bf16) is kept beside it.
cd /work/ref
export PYTHONPATH=/work/ref/code3/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
for s in 0 1; do
  $B evaluate --manifest data/corpus8k/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 \
    --max-new-tokens 48 --no-progress --group-by source --precision fp32 --model runs8k/blsp-s$s/best \
    --systems speech,text --out eval8k/blsp-fp32-s$s > logs/8k-eval-blsp-fp32-s$s.log 2>&1 &
done
wait
