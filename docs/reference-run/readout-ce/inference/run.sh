# Issue #13, thirty-fourth session: inference-side levers on the shipped `default` (the readout_ce model), measured
# on the rebuilt validation clips of new-sentences/run.sh (the first 160 answered records of data/c100b) and, for
# the one that passed there, the 744 held-out clips. Run from /work/ref after new-sentences/run.sh (its data, its
# runs rcen-s0 / rcen-s1 and its evaluations of `default` and of the text path and cascade); code 97d8ce4 (src as
# code33). As run, 2026-12-06, this CPU, one thread each, beside coverage/run.sh's 5× lr run.
set -e
cd /work/ref
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=${CODE:-/work/ref/code33}/src
B="nice /work/main/.venv/bin/blsp-kd"
P="nice /work/main/.venv/bin/python"
R=/work/main/docs/reference-run
C=data/c100b
E="--systems speech --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32 --no-progress"
# 1. the classifier's training prior divided out (--readout-prior 1, the twenty-ninth session's option, measured then
#    on the models before readout_ce): `default` on validation, then — it passed the shipping rule there — held out;
#    the two new-sentences seeds (the same recipe on other clips) on validation as a replication
$B evaluate --manifest $C/valid.responses.jsonl --out eval/default-prior1-val160 --model default --readout-prior 1 \
  --tasks repeat --limit 160 $E > logs/default-prior1-val160.log 2>&1
$B evaluate --manifest $C/test-256-1000.jsonl --out eval/default-prior1-test744 --model default --readout-prior 1 \
  --tasks repeat $E > logs/default-prior1-test744.log 2>&1
for m in rcen-s0 rcen-s1; do
  $B evaluate --manifest $C/valid.responses.jsonl --out eval/$m-prior1-val160 --model runs/$m/final \
    --readout-prior 1 --tasks repeat --limit 160 $E > logs/$m-prior1-val160.log 2>&1
done
# Tables: readout-prior/table.py (validation: eval/text-cascade-val160 for the text path and cascade; held out:
# speech-side-readout/eval-more-shipped, `default` as readout-ce/eval-test744-s1), sd_boot.py for S + D's paired
# bootstrap, speech-side-readout/bootp.py for the WER's.
# 2. the readout's argmax transcript (the CIF's own count) under other fusions: the prior only where the classifier
#    is unsure, leaning on the decoder (λ 4), and the decoder reading other frames
S=$R/readout-ce/inference
export PYTHONPATH=$PYTHONPATH:$R/deletions:$S
$P $S/gated_probe.py $C/valid.responses.jsonl 160 default lab33/c100-train-texts.jsonl 0.5,0.9 \
  lab34/gated-val160.jsonl > lab34/gated-val160.txt
$P $S/frames_probe.py $C/valid.responses.jsonl 160 default lab33/c100-train-texts.jsonl lab34/frames-val160.jsonl \
  > lab34/frames-val160.txt
# 3. why: the rare tokens' LLM input embeddings, and what Whisper's decoder names given the true previous tokens
$P $S/embedding_neighbours.py > $S/embedding-neighbours.txt
$P $S/decoder_oracle.py $C/valid.responses.jsonl 160 > lab34/decoder-oracle-val160.txt
# The records kept here: eval/X → eval-X (utterances and results), lab34/*.txt → *.txt.
