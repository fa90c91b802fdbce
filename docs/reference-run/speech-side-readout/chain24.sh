# Issue #13, twenty-fourth session (no GPU lent): chain23's pair resumed where train.max_minutes stopped it (step 265 of
# its 600-step cosine), in copies (runs/ss2c-s{0,1}) so that ss2-s{0,1}/final stay the weights the twenty-fourth
# session shipped and recorded. Same recipe, data and schedule; the time limit counts over the resumed run too, so
# M=150 gives 65 more minutes. Then, per seed: the validation repeat task through the readout at T = 0.02, the fp16
# export at T = 0.02 (export.py), and that export on the 744 held-out clips (repeat) and the first 160 (every task).
# Run as `M=<minutes> bash chain24.sh` from /work/ref; reruns resume.
cd /work/ref
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576
export PYTHONPATH=${CODE:-/work/ref/code23}/src
B=/work/main/.venv/bin/blsp-kd
P=/work/main/.venv/bin/python
R=/work/main/docs/reference-run
C=data/c80
M=${M:-150}
CE="model.objective.loss_weights.input_kl=0 model.objective.loss_weights.response_kl=0 model.objective.loss_weights.token_ce=1"
D="data.train=[$C/train-new.jsonl] data.valid=$C/valid.responses.jsonl"
for s in 0 1; do
  [ -d runs/ss2c-s$s ] || cp -a runs/ss2-s$s runs/ss2c-s$s
  $B train --recipe reference-stage2-plora $D $CE train.seed=$s train.output_dir=runs/ss2c-s$s \
    train.init_from=runs/ss-s$s/final train.batch_size=64 train.lr=1e-4 train.warmup_steps=20 \
    train.max_steps=600 train.max_minutes=$M train.eval_every=100 train.save_every=100 > logs/ss2c-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) trained"
for s in 0 1; do
  ( out=eval/val-ss2c-$s-soft_0.02
    [ -f $out/results.json ] || $P $R/readout/snap_eval.py soft:0.02 runs/ss2c-s$s/final $out $C/valid.responses.jsonl \
      > logs/val-ss2c-$s.log 2>&1
    [ -f ship24-s$s/model.safetensors ] || PYTHONPATH=/work/main/src $P $R/speech-side-readout/export.py \
      runs/ss2c-s$s/final ship24-s$s > logs/export-ss2c-$s.log 2>&1 ) &
done
wait
echo "$(date -u +%H:%M) validation evaluated, exported"
export PYTHONPATH=/work/main/src
for s in 0 1; do
  $B evaluate --manifest $C/test-256-1000.jsonl --tasks repeat --systems speech --model ship24-s$s --latency-clips 0 \
    --plot-clips 0 --max-new-tokens 48 --precision fp32 --group-by engine --no-progress --out eval/more-ship24-s$s \
    > logs/eval-more-ship24-s$s.log 2>&1 &
done
wait
for s in 0 1; do
  $B evaluate --manifest $C/test.responses.jsonl --limit 160 --systems speech --model ship24-s$s --latency-clips 0 \
    --plot-clips 4 --max-new-tokens 48 --precision fp32 --no-progress --out eval/test160-ship24-s$s \
    > logs/eval-test160-ship24-s$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) held-out evaluated"
