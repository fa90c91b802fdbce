# Issue #13, twenty-fifth session (no GPU lent; the machine was replaced, so the lab data and chain24's runs are
# gone). The shipped model (ss2-s1 exported in float16) continued on speech it has not heard: training records [56000,
# 80000) of the 100k plan (its splits begin with the 80k plan's: the same validation and test records; checked equal),
# 24,000 clips with new voice, prosody and augmentation draws (6,805 of their sentences never used before, the rest
# spoken before by other voices). Same losses as stage 3 (recipes/reference-stage3-speech.yaml: token_ce 1, CIF,
# speech_rms 3; the LLM not run; readout T = 0.02) at lr 1e-4, warm-up 20, cosine over STEPS, two data-order seeds
# side by side with one thread each. Then per seed: the validation repeat task (through the readout its config
# carries: snap_eval's mode none, not soft:T, which would read the readout again; the seed is chosen there), the
# float16 export, and that export on the 744 held-out clips (repeat) and the first 160 (every task). Run as `STEPS=<n>
# M=<minutes> bash chain25.sh` from /work/ref; reruns resume.
# This session: `STEPS=440 M=70 bash chain25.sh` (training 19:08–20:20 UTC, 2026-12-05, code d758d51; both stopped by
# the time limit at step 311), stopped by hand after the 744-clip evaluation; the 160-clip runs were made by hand
# after CI, same command.
cd /work/ref
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576
export PYTHONPATH=${CODE:-/work/ref/code25}/src
B=/work/main/.venv/bin/blsp-kd
P=/work/main/.venv/bin/python
R=/work/main/docs/reference-run
Q=$R/corpus-wn20k/questions.txt
C=data/c100
STEPS=${STEPS:-380}; M=${M:-58}
[ -f $C/train-new.jsonl ] || $P $R/corpus-wn40k-new/synth_slice.py $C $Q 56000 80000 100000 > logs/synth-c100.log 2>&1
[ -f $C/test-256-1000.jsonl ] || $P $R/speech-side-readout/synth_test_more.py $C $Q 256 1000 100000 \
  > logs/synth-more.log 2>&1 &
for split in valid test; do
  [ -f $C/$split.responses.jsonl ] || $B prepare responses --manifest $C/$split.jsonl \
    --out $C/$split.responses.jsonl --limit 256 > logs/responses-$split.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) spoken"
D="data.train=[$C/train-new.jsonl] data.valid=$C/valid.responses.jsonl"
# the feature cache (content-keyed, shared by both seeds) filled once, with both threads
[ -f runs/cachefill25/final/model.safetensors ] || OMP_NUM_THREADS=2 $B train --recipe reference-stage3-speech $D \
  train.output_dir=runs/cachefill25 train.init_from=default train.max_steps=1 > logs/cachefill25.log 2>&1
echo "$(date -u +%H:%M) caches filled"
for s in 0 1; do
  $B train --recipe reference-stage3-speech $D train.seed=$s train.output_dir=runs/c25-s$s train.init_from=default \
    train.lr=1e-4 train.warmup_steps=20 train.max_steps=$STEPS train.max_minutes=$M > logs/c25-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) trained"
for s in 0 1; do
  ( out=eval/val-c25-$s
    [ -f $out/results.json ] || $P $R/readout/snap_eval.py none runs/c25-s$s/final $out $C/valid.responses.jsonl \
      > logs/val-c25-$s.log 2>&1
    [ -f ship25-s$s/model.safetensors ] || PYTHONPATH=/work/main/src $P $R/speech-side-readout/export.py \
      runs/c25-s$s/final ship25-s$s > logs/export-c25-$s.log 2>&1 ) &
done
wait
echo "$(date -u +%H:%M) validation evaluated, exported"
export PYTHONPATH=/work/main/src
for s in 0 1; do
  $B evaluate --manifest $C/test-256-1000.jsonl --tasks repeat --systems speech --model ship25-s$s --latency-clips 0 \
    --plot-clips 0 --max-new-tokens 48 --precision fp32 --group-by engine --no-progress --out eval/more-ship25-s$s \
    > logs/eval-more-ship25-s$s.log 2>&1 &
done
wait
for s in 0 1; do
  $B evaluate --manifest $C/test.responses.jsonl --limit 160 --systems speech --model ship25-s$s --latency-clips 0 \
    --plot-clips 4 --max-new-tokens 48 --precision fp32 --no-progress --out eval/test160-ship25-s$s \
    > logs/eval-test160-ship25-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) held-out evaluated"
