# Issue #13, fourteenth session: the next lever of the twelfth/thirteenth notes — more distinct sentences. The shipped
# model (the twelfth session's wn-cont2 seed 0, as shipped: half-precision weights) continued on the WordNet corpus at
# 40,000 utterances (corpus-wn40k.sh: 24.6k distinct training sentences against the 20k corpus' 13.1k) with the same
# stage-2 recipe at lr 1e-4 (the 2e-4 restart of wn-cont2 first raised validation KL for 500 steps), warm-up 20,
# cosine over 2,400 steps; two data-order seeds side by side, one thread each (seed 1 waits for seed 0's caches). Code: /work/ref/code12 (copies of
# main's src/ and recipes/ at the commit in code12/COMMIT). Run as `M=<minutes> bash run-wn40k-cont.sh`; reruns resume (the
# budget counts over the runs it resumes, so raise M to go on).
cd /work/ref
export PYTHONPATH=/work/ref/code12/src OMP_NUM_THREADS=1
B=/work/main/.venv/bin/blsp-kd
M=${M:-200}; STEPS=${STEPS:-2400}
C=data/corpus40k
D="data.train=[$C/train.responses.jsonl] data.valid=$C/valid.responses.jsonl"
run_seed() {
  s=$1
  $B train --recipe reference-stage2-plora $D train.seed=$s train.output_dir=runs/wn40k-cont-s$s \
    train.init_from=/work/ref/code12/src/blsp_kd/checkpoints/default train.lr=1e-4 train.max_steps=$STEPS \
    train.max_minutes=$M > logs/wn40k-cont-s$s.log 2>&1
}
run_seed 0 &
p0=$!
# seed 1 starts once seed 0 has filled the feature and teacher caches (content-keyed, shared by both)
until grep -q "training for" logs/wn40k-cont-s0.log 2>/dev/null || ! kill -0 $p0 2>/dev/null; do sleep 20; done
run_seed 1 &
wait
