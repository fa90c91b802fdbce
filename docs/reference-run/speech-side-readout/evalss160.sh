# the speech-side pair through the readout at T = 0.02, every task, on the first 160 held-out clips (as the earlier tables)
cd /work/ref
export OMP_NUM_THREADS=1 PYTHONPATH=/work/main/src
s=$1
/work/main/.venv/bin/blsp-kd evaluate --manifest data/c80/test.responses.jsonl --limit 160 --systems speech \
  --model runs/ss-s$s/final-T02 --latency-clips 0 --plot-clips 4 --max-new-tokens 48 --precision fp32 --no-progress \
  --out eval/test160-ss$s-T02 > logs/eval-test160-ss$s-T02.log 2>&1
echo "$(date -u +%H:%M) test160-ss$s done"
