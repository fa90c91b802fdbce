# Issue #13, fourteenth session: the WordNet corpus at 40,000 utterances (half way to corpus-wn80k.sh's 80,000, and
# its prefix), built on a machine that holds the rebuilt 20k corpus with responses for its first 4,000 training
# records only (the thirteenth session's ablation set). Same questions file and sources, so utterance i of each split
# is the 20k corpus' utterance i (synth.py's plan): its audio is reused (hard links; file names hash everything that
# shapes the audio) and so are the 4,000 records' responses (shard i of 2 = records with index % 2 == i, so the
# ablation set's shard files are the first 2,000 records of each shard here; the responses step resumes by id and
# refuses an id answered for another transcript). Valid and test: the 20k corpus' first 256 records' responses, the
# evaluation's 160 clips among them. Reruns resume.
cd /work/ref
export OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
OLD=data/corpus
C=data/corpus40k
mkdir -p $C
[ -d $C/audio ] || cp -al $OLD/audio $C/audio
cp -n $OLD/questions.txt $C/
for i in 0 1; do cp -n $OLD/train4k.responses.shard-$i-of-2.jsonl $C/train.responses.shard-$i-of-2.jsonl; done
$B prepare synth --out $C --num 40000 --questions $C/questions.txt --wordnet > logs/corpus40k-synth.log 2>&1 || exit 1
cmp -s <(head -n 4000 $C/train.jsonl) <(head -n 4000 $OLD/train.jsonl) || { echo "train differs from $OLD"; exit 1; }
for split in valid test; do
  cmp -s <(head -n 256 $C/$split.jsonl) <(head -n 256 $OLD/$split.jsonl) || { echo "$split differs from $OLD"; exit 1; }
  cp -n $OLD/$split.responses.jsonl $C/
done
for i in 0 1; do
  $B prepare responses --manifest $C/train.jsonl --out $C/train.responses.jsonl --shard $i/2 \
    > logs/corpus40k-responses-train-$i.log 2>&1 &
done
wait
cat $C/train.responses.shard-0-of-2.jsonl $C/train.responses.shard-1-of-2.jsonl > $C/train.responses.jsonl
echo "corpus40k done: $(wc -l < $C/train.responses.jsonl) training records with responses"
