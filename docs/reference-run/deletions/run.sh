# Issue #13, thirty-second session: where the speech path's lost words go (the thirty-first note's third lever, a
# hypothesis: the CIF count). Lab probes on the shipped `default` (fp32), run from /work/ref with chain25.sh's data;
# code 07c12dd. Outputs kept here; tables: table-*.txt, bands.txt, coverage.txt (RESULTS.md, "Where the lost words
# go").
set -e
cd /work/ref
export OMP_NUM_THREADS=1 PYTHONPATH=/work/main/src
P="nice /work/main/.venv/bin/python /work/main/docs/reference-run/deletions"
C=data/c100
R=/work/main/docs/reference-run
# 1. per clip: the CIF's count, the true count, the readout's argmax transcript with either count
$P/probe.py $C/valid.responses.jsonl 160 default lab32/probe-val160-default.jsonl
$P/probe.py $C/test-256-1000.jsonl 744 default lab32/probe-test744-default.jsonl
# 2. the speech path's answers with the true count (an oracle), and with the CIF's own (bias 0: the check that the
#    substitution reproduces `blsp-kd evaluate`'s answers; 32 of 32 equal)
$P/answers.py $C/valid.responses.jsonl 160 default true lab32/ans-val160-true
$P/answers.py $C/valid.responses.jsonl 32 default 0 lab32/ans-val32-bias0
# 3. the text path reading the readout's argmax transcript (a cascade through our CFormer)
$P/text_answers.py lab32/probe-val160-default.jsonl readout_own_count default lab32/text-val160-own
$P/text_answers.py lab32/probe-test744-default.jsonl readout_own_count default lab32/text-test744-own
# 4. tables against the cascade's transcripts and answers (decoder-refiner/eval-val-text-cascade,
#    speech-side-readout/eval-more-shipped) and the speech path's (readout-ce/eval-val160-s1, eval-test744-s1: the
#    weights `default` was exported from)
T="/work/main/.venv/bin/python $R/deletions/table.py"
$T lab32/probe-val160-default.jsonl $R/decoder-refiner/eval-val-text-cascade $R/readout-ce/eval-val160-s1
$T lab32/probe-test744-default.jsonl $R/speech-side-readout/eval-more-shipped $R/readout-ce/eval-test744-s1
# 5. which words (by their count in the training transcripts), and how much more speech would cover them
$P/bands.py lab32/probe-test744-default.jsonl $R/speech-side-readout/eval-more-shipped $C/train-new.jsonl
$P/bands.py lab32/probe-val160-default.jsonl $R/decoder-refiner/eval-val-text-cascade $C/train-new.jsonl
PYTHONPATH=$PYTHONPATH:$R/deletions $P/coverage.py $R/corpus-wn20k/questions.txt $C/test-256-1000.jsonl
# 6. the decoder's weight λ at inference
PYTHONPATH=$PYTHONPATH:$R/deletions $P/weight_sweep.py $C/valid.responses.jsonl 160 0.5 1 1.5 2 3
