# Issue #13, eleventh session: a fresh machine (corpus8k/corpus20k were lost with the previous one), so a new corpus
# with WordNet's example sentences as a fourth source (lever 1 of the tenth note: a wider vocabulary). The steps of
# `make corpus`: its questions step ran first (`make corpus CORPUS_DIR=/work/ref/data/corpus`, stopped at 1,036
# questions for time; the file is questions.txt here), then this script: synthesis, the first 256 validation and test
# records' responses (training validates on 128, the evaluation takes the first 160 test clips) and the training
# responses in two shards of one thread each. Reruns resume.
cd /work/ref
export OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
C=data/corpus
$B prepare synth --out $C --num 20000 --questions $C/questions.txt --wordnet > logs/corpus-synth.log 2>&1 || exit 1
for split in valid test; do
  $B prepare responses --manifest $C/$split.jsonl --out $C/$split.responses.jsonl --limit 256 \
    > logs/corpus-responses-$split.log 2>&1 &
done
wait
for i in 0 1; do
  $B prepare responses --manifest $C/train.jsonl --out $C/train.responses.jsonl --shard $i/2 \
    > logs/corpus-responses-train-$i.log 2>&1 &
done
wait
cat $C/train.responses.shard-0-of-2.jsonl $C/train.responses.shard-1-of-2.jsonl > $C/train.responses.jsonl
