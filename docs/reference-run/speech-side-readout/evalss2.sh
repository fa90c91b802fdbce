# chain23's pair (ss2-s{0,1}/final) through the readout at T = 0.02: the 744 held-out clips (repeat, speech) and the
# first 160 held-out clips (every task), per seed; after the validation check in chain23.sh
cd /work/ref
export OMP_NUM_THREADS=1 PYTHONPATH=/work/ref/code23/src
B=/work/main/.venv/bin/blsp-kd
for s in 0 1; do
  mkdir -p runs/ss2-s$s/final-T02
  ln -sf ../final/model.safetensors runs/ss2-s$s/final-T02/model.safetensors
  python3 -c "
import json; p='runs/ss2-s$s/final/blsp_kd_config.json'; c=json.load(open(p)); c['architecture']['vocabulary_readout']=0.02
json.dump(c, open('runs/ss2-s$s/final-T02/blsp_kd_config.json','w'), indent=2)"
done
for s in 0 1; do
  $B evaluate --manifest data/c80/test-256-1000.jsonl --tasks repeat --systems speech --model runs/ss2-s$s/final-T02 \
    --latency-clips 0 --plot-clips 0 --max-new-tokens 48 --precision fp32 --group-by engine --no-progress \
    --out eval/more-ss2-$s-T02 > logs/eval-more-ss2-$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) 744 done"
for s in 0 1; do
  $B evaluate --manifest data/c80/test.responses.jsonl --limit 160 --systems speech --model runs/ss2-s$s/final-T02 \
    --latency-clips 0 --plot-clips 4 --max-new-tokens 48 --precision fp32 --no-progress \
    --out eval/test160-ss2-$s-T02 > logs/eval-test160-ss2-$s.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) 160 done"
