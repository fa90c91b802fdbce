# Evaluation of the BLSP baseline on corpus8k (after run8k-blsp-resume.sh's training, whose own evaluation step was
# left out): each seed's best validation checkpoint (`speech`) and its last (`last`), with the text path, on the same
# 160 test clips. Code: /work/ref/code3 = main at c285571 (wer_vs_text, --group-by; the alignment numbers are those
# of the code that evaluated stage 1: same computation, one pass).
cd /work/ref
export PYTHONPATH=/work/ref/code3/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
while pgrep -f "output_dir=runs8k/blsp-s" > /dev/null; do sleep 30; done
for s in 0 1; do
  $B evaluate --manifest data/corpus8k/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 \
    --max-new-tokens 48 --no-progress --group-by source --model runs8k/blsp-s$s/best \
    --compare last=runs8k/blsp-s$s/final --systems speech,text --out eval8k/blsp-s$s > logs/8k-eval-blsp-s$s.log 2>&1 &
done
wait
