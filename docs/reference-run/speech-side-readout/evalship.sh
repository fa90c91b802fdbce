# an fp16 ship candidate on the 744 clips and on the first 160 held-out clips, repeat, speech only.
# N=ship23 (ss-s1 final, T = 0.02; twenty-third session) or N=ship23b (ss2-s1 final, T = 0.02; twenty-fourth session)
cd /work/ref
export OMP_NUM_THREADS=1 PYTHONPATH=/work/main/src
B=/work/main/.venv/bin/blsp-kd
N=${N:-ship23}
$B evaluate --manifest data/c80/test-256-1000.jsonl --tasks repeat --systems speech --model $N --latency-clips 0 --plot-clips 0 \
  --max-new-tokens 48 --precision fp32 --group-by engine --no-progress --out eval/more-$N > logs/eval-more-$N.log 2>&1 &
$B evaluate --manifest data/c80/test.responses.jsonl --limit 160 --tasks repeat --systems speech --model $N --latency-clips 0 --plot-clips 0 \
  --max-new-tokens 48 --precision fp32 --no-progress --out eval/test160-$N > logs/eval-test160-$N.log 2>&1
wait
echo "$(date -u +%H:%M) $N evals done"
