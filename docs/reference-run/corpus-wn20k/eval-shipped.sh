# Issue #13, eleventh session: the shipped model, the text path and the cascade on the WordNet corpus' first 160
# test clips (as run-wn-cont.sh evaluates the continued models). Code: /work/ref/code9 (7ca0327; paused while the
# training responses were written, resumed beside the training runs).
cd /work/ref
export PYTHONPATH=/work/ref/code9/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
C=data/corpus
$B evaluate --manifest $C/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 --max-new-tokens 48 \
  --precision fp32 --no-progress --train-manifest $C/train.jsonl \
  --model /work/ref/code9/src/blsp_kd/checkpoints/default --systems speech,text,cascade --out eval/shipped \
  > logs/eval-shipped.log 2>&1
