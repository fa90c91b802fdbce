# Issue #13, tenth session: corpus20k's training responses in two shards (one thread each); the shard files were
# seeded with corpus8k's 5,541 responses by manifest index, so only the new records are generated. Code: code7.
cd /work/ref
export PYTHONPATH=/work/ref/code7/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
C=data/corpus20k
for i in 0 1; do
  $B prepare responses --manifest $C/train.jsonl --out $C/train.responses.jsonl --shard $i/2 > logs/corpus20k-responses-train-$i.log 2>&1 &
done
wait
cat $C/train.responses.shard-0-of-2.jsonl $C/train.responses.shard-1-of-2.jsonl > $C/train.responses.jsonl
