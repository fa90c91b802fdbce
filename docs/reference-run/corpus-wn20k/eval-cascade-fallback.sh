# Issue #13, thirteenth session: the text path and the cascade again on the WordNet corpus' first 160 test clips
# (rebuilt from questions.txt; the same 160 transcripts as eval-shipped/), now with Whisper's temperature fallback
# in the cascade's ASR. Code: /work/ref/code11 = 3408ed3 (the commit that added the fallback). Beside the ablation runs.
cd /work/ref
export PYTHONPATH=/work/ref/code11/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
C=data/corpus
$B evaluate --manifest $C/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 0 --max-new-tokens 48 \
  --precision fp32 --no-progress --model /work/ref/code11/src/blsp_kd/checkpoints/default --systems text,cascade \
  --out eval/cascade-fallback > logs/eval-cascade-fallback.log 2>&1
