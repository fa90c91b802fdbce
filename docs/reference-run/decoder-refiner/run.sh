# Issue #13, twenty-eighth session: Whisper's decoder reading the shipped classifier's guesses (RESULTS.md, "Whisper's
# decoder reads the classifier's guesses"). Run from /work/ref with chain25.sh's data (data/c100), the human probe's
# (data/human) and whisper-head/run.sh's states (probe/wh: train.pt for the training counts, valid.pt, test744.pt,
# human.pt); about 1.5 hours on 2 cores. One thread per process, two processes at a time.
set -e
cd /work/ref
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=${CODE:-/work/main}/src:${CODE:-/work/main}/docs/reference-run/decoder-refiner
P="nice /work/main/.venv/bin/python"
B="nice /work/main/.venv/bin/blsp-kd"
D=${CODE:-/work/main}/docs/reference-run/decoder-refiner
mkdir -p eval logs
# 1. token accuracy by training count: the decoder on stock Whisper's padded frames, then on the CFormer's own frames
$P $D/refine_probe.py probe/wh human=data/human/human.jsonl > logs/rp-human.log 2>&1
$P $D/refine_probe.py probe/wh valid=data/c100/valid.responses.jsonl test744=data/c100/test-256-1000.jsonl \
  > logs/rp-heldout.log 2>&1
FRAMES=real $P $D/refine_probe.py probe/wh valid=data/c100/valid.responses.jsonl human=data/human/human.jsonl \
  > logs/rp-real.log 2>&1
ln -sf valid.pt probe/wh/valid-real.pt && ln -sf human.pt probe/wh/human-real.pt
$P $D/fuse.py probe/wh valid test744 human > $D/fuse-padded.txt
$P $D/fuse.py probe/wh valid-real human-real > $D/fuse-real.txt
# 2. end to end on validation (repeat, 160 clips): the lab script (λ = 2 from the token accuracy; τ 1 and 0.1), and
#    the text path and the cascade for the comparison
$P $D/refined_eval.py 2 real 1 1 eval/rf-val-2-real-1 data/c100/valid.responses.jsonl 160 &
$P $D/refined_eval.py 2 real 1 0.1 eval/rf-val-2-real-1-t01 data/c100/valid.responses.jsonl 160 &
wait
$P $D/refined_eval.py 2 real 2 1 eval/rf-val-2-real-2 data/c100/valid.responses.jsonl 160
$B evaluate --manifest data/c100/valid.responses.jsonl --out eval/val-text-cascade --model default \
  --systems text,cascade --tasks repeat --limit 160 --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32
# 3. held out (744 test clips; human 11): the shipped model through the lab script, then `blsp-kd evaluate
#    --decoder-readout 2` (the same computation in src/) for it and chain25's two continued seeds
$P $D/refined_eval.py 2 real 1 1 eval/rf-test744-default data/c100/test-256-1000.jsonl &
for seed in 0 1; do
  $B evaluate --manifest data/c100/test-256-1000.jsonl --out eval/rf-test744-ship25-s$seed --model ship25-s$seed \
    --decoder-readout 2 --systems speech --tasks repeat --max-new-tokens 48 --latency-clips 0 --plot-clips 0 \
    --precision fp32
done
wait
$B evaluate --manifest data/human/human.jsonl --out eval/rf-human-default --model default --decoder-readout 2 \
  --systems speech --tasks repeat,continuation,alignment --latency-clips 0 --max-new-tokens 48 --precision fp32 \
  --group-by source
# 3a. the first guess with Whisper's leading space (validation, then held out)
FIRST_SPACED=1 $P $D/refined_eval.py 2 real 1 1 eval/rf-val-2-real-1-first data/c100/valid.responses.jsonl 160
FIRST_SPACED=1 $P $D/refined_eval.py 2 real 1 1 eval/rf-test744-default-first data/c100/test-256-1000.jsonl
# 3b. a second round, held out (after the shipping decision)
$P $D/refined_eval.py 2 real 2 1 eval/rf-test744-default-r2 data/c100/test-256-1000.jsonl
$P $D/refined_eval.py 2 real 2 1 eval/rf-human-default-r2 data/human/human.jsonl
# 4. the shipped config (now with decoder_readout: 2.0) on the first 160 test clips, every task, as chain25.sh ran them
$B evaluate --manifest data/c100/test.responses.jsonl --limit 160 --systems speech --model default --latency-clips 0 \
  --plot-clips 4 --max-new-tokens 48 --precision fp32 --no-progress --out eval/rf-test160-default
# The records kept in this folder: eval/rf-X → eval-X (report, results, every answer), eval/val-text-cascade →
# eval-val-text-cascade. Tables: speech-side-readout/qwpool.py and bootp.py against the earlier folders
# (speech-side-readout/eval-more-shipped for the text path and the cascade on the 744 clips,
# corpus-wn20k/eval-cascade-fallback on the first 160).
