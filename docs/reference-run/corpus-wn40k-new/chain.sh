# Issue #13, sixteenth session: the whole run in one session (the machine was replaced between the last three
# sessions and took the 40k corpus, its runs and caches with it). After synth_slice.py (the 40k plan's first 256
# test/valid records and its training records [16000, 26000): sentences the 20k corpus' 16,000 training clips never
# used): responses (valid/test: the default mix, as every earlier run; training: repeat=0.75, continuation=0.25, the
# lever of "Where the repeat WER goes": the response KL on "repeat" responses asks for the transcript's words), then
# the shipped model continued with reference-stage2-plora at lr 5e-5, warm-up 20, cosine over STEPS, two data-order
# seeds side by side with one thread each, then both evaluated on the 160 held-out test clips (speech path only; the
# cascade's rows are committed). Code: /work/ref/code16src (main's src/ at the commit in code16src/COMMIT, with
# recipes/ copied in for its blsp_kd/recipes link).
# Run as `STEPS=<n> M=<minutes> bash chain.sh` from /work/ref; reruns resume.
cd /work/ref
export PYTHONPATH=/work/ref/code16src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
C=data/c40new
STEPS=${STEPS:-1400}; M=${M:-80}
for split in valid test; do
  $B prepare responses --manifest $C/$split.jsonl --out $C/$split.responses.jsonl --limit 256 \
    > logs/responses-$split.log 2>&1 &
done
wait
for i in 0 1; do
  $B prepare responses --manifest $C/train-new.jsonl --out $C/train-new.responses.jsonl --shard $i/2 \
    --mix repeat=0.75,continuation=0.25 > logs/responses-train-$i.log 2>&1 &
done
wait
cat $C/train-new.responses.shard-0-of-2.jsonl $C/train-new.responses.shard-1-of-2.jsonl > $C/train-new.responses.jsonl
echo "$(date -u +%H:%M) responses done: $(wc -l < $C/train-new.responses.jsonl) training records"
D="data.train=[$C/train-new.responses.jsonl] data.valid=$C/valid.responses.jsonl"
INIT=/work/ref/code16src/blsp_kd/checkpoints/default
# the feature and teacher caches (content-keyed, shared by both seeds) filled once, with both threads
OMP_NUM_THREADS=2 $B train --recipe reference-stage2-plora $D train.output_dir=runs/cachefill train.init_from=$INIT \
  train.max_steps=1 > logs/cachefill.log 2>&1
echo "$(date -u +%H:%M) caches filled"
for s in 0 1; do
  $B train --recipe reference-stage2-plora $D train.seed=$s train.output_dir=runs/wn40k-new-s$s train.init_from=$INIT \
    train.lr=5e-5 train.max_steps=$STEPS train.max_minutes=$M > logs/wn40k-new-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) training done"
for s in 0 1; do
  $B evaluate --manifest $C/test.responses.jsonl --limit 160 --latency-clips 0 --plot-clips 2 --max-new-tokens 48 \
    --precision fp32 --no-progress --model runs/wn40k-new-s$s/best --systems speech --out eval/wn40k-new-s$s \
    > logs/eval-wn40k-new-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) evaluation done"
