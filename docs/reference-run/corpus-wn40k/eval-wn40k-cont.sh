# Issue #13: the two models of run-wn40k-cont.sh (the shipped model continued on the 40k WordNet corpus) on the same
# first 160 test clips as eval-wn-cont2.sh (the 40k corpus' test split starts with the 20k corpus' 256 records);
# token accuracy by the 40k corpus' training counts (its training split holds the 20k corpus' as its prefix).
# Code: /work/ref/code12.
cd /work/ref
export PYTHONPATH=/work/ref/code12/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
C=data/corpus40k
for s in 0 1; do
  $B evaluate --manifest $C/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 --max-new-tokens 48 \
    --precision fp32 --no-progress --train-manifest $C/train.jsonl \
    --model runs/wn40k-cont-s$s/best --systems speech --out eval/wn40k-cont-s$s > logs/eval-wn40k-cont-s$s.log 2>&1 &
done
wait
