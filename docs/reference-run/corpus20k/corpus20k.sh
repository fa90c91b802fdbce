# Issue #13, ninth session: extend corpus8k to 20,000 utterances on the same sources (no WordNet), at the lowest
# priority beside the training runs. Code: /work/ref/code7 (2c88c67). Reruns resume.
cd /work/ref
export PYTHONPATH=/work/ref/code7/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
C=data/corpus20k
$B prepare synth --out $C --num 20000 --questions $C/questions.txt > logs/corpus20k-synth.log 2>&1 || exit 1
for split in valid test train; do
  $B prepare responses --manifest $C/$split.jsonl --out $C/$split.responses.jsonl > logs/corpus20k-responses-$split.log 2>&1 || exit 1
done
