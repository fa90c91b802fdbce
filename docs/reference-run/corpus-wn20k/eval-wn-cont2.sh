# Issue #13, twelfth session: the two models of run-wn-cont2.sh (the continuation, longer) on the WordNet corpus'
# first 160 test clips, as eval-shipped.sh (token accuracy by the new corpus' training counts). Code: /work/ref/code9 (6a4c33c).
cd /work/ref
export PYTHONPATH=/work/ref/code9/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
C=data/corpus
for s in 0 1; do
  $B evaluate --manifest $C/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 --max-new-tokens 48 \
    --precision fp32 --no-progress --train-manifest $C/train.jsonl \
    --model runs/wn-cont2-s$s/best --systems speech --out eval/wn-cont2-s$s > logs/eval-wn-cont2-s$s.log 2>&1 &
done
wait
