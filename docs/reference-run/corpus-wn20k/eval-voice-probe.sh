# Issue #13, twelfth session: the voice probe (voice_probe.py): the shipped model (wn-cont-s0) and its sibling seed
# (wn-cont-s1) and the cascade on 64 held-out sentences, each spoken by the held-out Kal speaker and by three
# training voices; repeat and alignment tasks, scored per voice. Code: /work/ref/code9 (6a4c33c). Run at nice 19
# beside the training of run-wn-cont2.sh.
cd /work/ref
export PYTHONPATH=/work/ref/code9/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
/work/main/.venv/bin/python /work/main/docs/reference-run/corpus-wn20k/voice_probe.py data/corpus/test.responses.jsonl data/voice-probe
$B evaluate --manifest data/voice-probe/voice-probe.responses.jsonl --latency-clips 0 --plot-clips 0 \
  --max-new-tokens 48 --precision fp32 --no-progress --group-by voice --tasks repeat,alignment \
  --model runs/wn-cont-s0/best --compare s1=runs/wn-cont-s1/best --systems speech,text,cascade \
  --out eval/voice-probe > logs/eval-voice-probe.log 2>&1
