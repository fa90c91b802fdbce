# the shipped model (reads through the vocabulary, T = 0.01), the text path and the cascade on test clips [256, 1000)
cd /work/ref
export OMP_NUM_THREADS=1 PYTHONPATH=/work/ref/code22/src
/work/main/.venv/bin/blsp-kd evaluate --manifest data/c80/test-256-1000.jsonl --tasks repeat --systems speech,text,cascade \
  --model default --latency-clips 0 --plot-clips 0 --max-new-tokens 48 --precision fp32 --group-by engine --no-progress \
  --out eval/more-shipped > logs/eval-more-shipped.log 2>&1
echo "$(date -u +%H:%M) more-shipped done"
