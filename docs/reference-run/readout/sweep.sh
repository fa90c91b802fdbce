# Issue #13, twenty-first session: a model's speech vectors changed at inference (snap_eval.py's modes), each on the
# first 160 clips of a split, one after another, one thread. From /work/ref:
#   bash sweep.sh SPLIT MODEL TAG MODE...     SPLIT: valid | test; writes eval/{val,test}-TAG-MODE/
# (as run: two copies of this script, one per split; e.g. `bash sweep.sh valid default d none snap mix:0.5`)
cd /work/ref
export OMP_NUM_THREADS=1 PYTHONPATH=/work/ref/code21/src
split=$1; m=$2; tag=$3; shift 3
prefix=$([ "$split" = valid ] && echo val || echo test)
for mode in "$@"; do
  out=eval/$prefix-$tag-$(echo $mode | tr ':' '_')
  [ -f $out/results.json ] || nice /work/main/.venv/bin/python /work/main/docs/reference-run/readout/snap_eval.py \
    $mode $m $out data/c80/$split.responses.jsonl > logs/$(basename $out).log 2>&1
  echo "$(date -u +%H:%M) $out done"
done
