# Issue #13, twelfth session: the next lever of the twelfth note — more distinct sentences. The WordNet corpus
# (corpus-wn20k.sh) at 80,000 utterances, with the same questions file and sources, so utterance i of each split is
# the 20k corpus' utterance i (synth.py's plan) and the 20k corpus is its prefix: its audio is reused (hard links;
# the file names hash everything that shapes the audio, so nothing stale is taken) and its responses too (the
# responses step resumes by id and refuses an id answered for another transcript). The valid and test splits' first
# 256 records — the evaluation's first 160 test clips — are the 20k corpus' own. Reruns resume.
cd /work/ref
export OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
OLD=data/corpus
C=data/corpus80k
mkdir -p $C
[ -d $C/audio ] || cp -al $OLD/audio $C/audio
cp -n $OLD/questions.txt $OLD/train.responses.shard-0-of-2.jsonl $OLD/train.responses.shard-1-of-2.jsonl $C/
$B prepare synth --out $C --num 80000 --questions $C/questions.txt --wordnet > logs/corpus80k-synth.log 2>&1 || exit 1
for split in valid test; do
  cmp -s <(head -n 256 $C/$split.jsonl) <(head -n 256 $OLD/$split.jsonl) || { echo "$split differs from $OLD"; exit 1; }
  cp -n $OLD/$split.responses.jsonl $C/
done
for i in 0 1; do
  $B prepare responses --manifest $C/train.jsonl --out $C/train.responses.jsonl --shard $i/2 \
    > logs/corpus80k-responses-train-$i.log 2>&1 &
done
wait
cat $C/train.responses.shard-0-of-2.jsonl $C/train.responses.shard-1-of-2.jsonl > $C/train.responses.jsonl
