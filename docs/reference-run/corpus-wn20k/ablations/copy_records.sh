# Copy each finished ablation's records (resolved recipe, training log, evaluation) and the scripts into the
# repository (thirteenth session).
dest=/work/main/docs/reference-run/corpus-wn20k/ablations
for run in /work/ref/runs/ablations/*-s?; do
  [ -f $run/eval/results.json ] || continue
  name=$(basename $run); mkdir -p $dest/$name/eval
  cp $run/recipe.yaml $run/log.jsonl $dest/$name/
  cp $run/eval/results.json $run/eval/results.md $run/eval/utterances.jsonl $dest/$name/eval/
done
cp /work/ref/run-wn-ablations.sh /work/ref/abl-s1-extra.sh /work/ref/abl-s0-extra.sh $dest/
du -sh $dest
