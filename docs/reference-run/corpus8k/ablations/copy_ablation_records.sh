# Copy each finished ablation's records (resolved recipe, training log, evaluation) into the repository.
dest=/work/main/docs/reference-run/corpus8k/ablations
for run in /work/ref/ablations8k/*-s?; do
  [ -f $run/eval/results.json ] || continue
  name=$(basename $run); mkdir -p $dest/$name/eval
  cp $run/recipe.yaml $run/log.jsonl $dest/$name/
  cp $run/eval/results.json $run/eval/results.md $run/eval/utterances.jsonl $dest/$name/eval/
  if [ -f $run/eval-bands/results.json ]; then  # alignment only, with --train-manifest (token accuracy by count)
    mkdir -p $dest/$name/eval-bands; cp $run/eval-bands/results.json $run/eval-bands/results.md $dest/$name/eval-bands/
  fi
done
cp /work/ref/run8k-ablations.sh /work/ref/exp/ablation_table.py /work/ref/exp/copy_ablation_records.sh $dest/
du -sh $dest
