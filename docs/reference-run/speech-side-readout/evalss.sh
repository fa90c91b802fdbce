# the speech-side pair (chain22) through the readout at T = 0.02 on test clips [256, 1000), speech only; one process per seed
cd /work/ref
export OMP_NUM_THREADS=1 PYTHONPATH=/work/main/src
s=$1
/work/main/.venv/bin/blsp-kd evaluate --manifest data/c80/test-256-1000.jsonl --tasks repeat --systems speech \
  --model runs/ss-s$s/final-T02 --latency-clips 0 --plot-clips 0 --max-new-tokens 48 --precision fp32 --group-by engine --no-progress \
  --out eval/more-ss$s-T02 > logs/eval-more-ss$s-T02.log 2>&1
echo "$(date -u +%H:%M) more-ss$s done"
