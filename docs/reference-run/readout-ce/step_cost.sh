# one-thread step time of the speech-side stage with and without readout_ce (cached encoder outputs), interleaved
cd /work/ref
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=${CODE:-/work/main/src}
C=data/c100
for w in 1 0; do
  rm -rf runs/smoke31-$w
  timeout 580 /work/main/.venv/bin/blsp-kd train --recipe reference-stage3-speech "data.train=[$C/train-new.jsonl]" \
    data.valid=$C/valid.responses.jsonl train.output_dir=runs/smoke31-$w train.init_from=default \
    model.architecture.decoder_readout=2 model.objective.loss_weights.readout_ce=$w train.max_steps=4 train.log_every=1 \
    train.eval_every=0 data.max_valid_examples=8 train.lr=1e-4 > logs/smoke31-$w.log 2>&1
  grep '"split": "train"' runs/smoke31-$w/log.jsonl | python3 -c "
import json,sys; r=[json.loads(l) for l in sys.stdin]; print('readout_ce', $w, [round(b['seconds']-a['seconds'],1) for a,b in zip(r,r[1:])])"
done
