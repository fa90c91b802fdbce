# Issue #13, seventeenth session: is the repeat gap memory or generalisation? The shipped model (wn40k-new-s0's best)
# on 160 of the clips it trained on (the first 160 of its training manifest: sentences and recordings it saw 1.3
# times), beside the text path and the cascade on the same clips, evaluated as the held-out split is.
# Run from /work/ref after chain.sh and resume.sh.
cd /work/ref
export PYTHONPATH=/work/ref/code16src OMP_NUM_THREADS=2
/work/main/.venv/bin/blsp-kd evaluate --manifest data/c40new/train-new.responses.jsonl --limit 160 --latency-clips 0 \
  --plot-clips 2 --max-new-tokens 48 --precision fp32 --no-progress --model runs/wn40k-new-s0/best \
  --systems speech,text,cascade --out eval/train-probe > logs/eval-train-probe.log 2>&1
echo "$(date -u +%H:%M) evaluation done"
