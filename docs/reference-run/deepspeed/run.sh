# Issue #13, thirty-eighth session: the 7B recipe's engine path run once — 2-process DeepSpeed ZeRO-2 (accelerate
# launch with recipes/accelerate/deepspeed-zero2-8gpu.yaml, 2 processes, 2 micro-batches per step) against 2-process
# DDP (torchrun) on the same batches, 4 steps of stage 1 on the tests' tiny models; then the ZeRO run resumed from its
# step-2 checkpoint. No GPU was lent: DeepSpeed's CPU accelerator over gloo. In fp32 and in bf16 (PRECISION=bf16);
# RECIPE=qwen2.5-7b-whisper-small runs the 7B recipe's settings (bf16 frozen weights, gradient checkpointing, the
# hidden-state teacher cache, CFormer 4 + 4) on the same tiny models.
# As run: 2026-12-07, this CPU (2 cores), deepspeed 0.19.8, accelerate 1.16.0, torch 2.13.0+cpu, code of the commit
# that adds this folder. Needs `pip install -e '.[test]'` (deepspeed is in the test extra).
set -e
PRECISION=${PRECISION:-fp32}
RECIPE=${RECIPE:-default-stage1}
W=${WORK:-/tmp/blsp-deepspeed}/$RECIPE-$PRECISION
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
PY=${PY:-$REPO/.venv/bin/python}  # on a lent GPU machine: its python, with deepspeed installed
mkdir -p $W && cd $W
export PYTHONPATH=$REPO/src:$REPO/tests OMP_NUM_THREADS=1
$PY -c "from pathlib import Path; from tiny import save_tiny_base_models, write_tiny_corpus
save_tiny_base_models(Path('tiny')); write_tiny_corpus(Path('tiny/data'))" > /dev/null 2>&1
# the shipped accelerate config with 2 processes, 2 accumulation steps and the run's precision
$PY -c "import yaml; c = yaml.safe_load(open('$REPO/recipes/accelerate/deepspeed-zero2-8gpu.yaml'))
c |= {'num_processes': 2, 'mixed_precision': {'fp32': 'no', 'bf16': 'bf16'}['$PRECISION']}
c['deepspeed_config']['gradient_accumulation_steps'] = 2; yaml.safe_dump(c, open('zero2-2.yaml', 'w'))"
T=$W/tiny
O="model.architecture.whisper=$T/whisper model.architecture.llm=$T/llm model.architecture.cformer.num_heads=4
  data.train=[$T/data/train.jsonl] data.valid=$T/data/valid.jsonl data.cache_dir=$T/cache train.batch_size=2
  train.grad_accum_steps=2 train.max_steps=4 train.warmup_steps=2 train.log_every=1 train.save_every=2
  train.progress=false data.num_workers=0 model.precision=$PRECISION"
R=$REPO/recipes/$RECIPE.yaml
rm -rf ddp zero2 zero2-resumed
$PY -m torch.distributed.run --nproc-per-node 2 -m blsp_kd.cli train --recipe $R $O train.output_dir=ddp \
  > ddp.log 2>&1
$PY -m accelerate.commands.launch --config_file zero2-2.yaml -m blsp_kd.cli train --recipe $R $O \
  train.output_dir=zero2 > zero2.log 2>&1
# as a kill after the step-2 checkpoint leaves the run: that checkpoint and the log up to step 2
cp -r zero2 zero2-resumed && rm -r zero2-resumed/checkpoints/step-0000004 zero2-resumed/final
$PY -c "import json; p = 'zero2-resumed/log.jsonl'; rows = [r for r in open(p) if json.loads(r)['step'] <= 2]
open(p, 'w').writelines(rows)"
$PY -m accelerate.commands.launch --config_file zero2-2.yaml -m blsp_kd.cli train --recipe $R $O \
  train.output_dir=zero2-resumed > zero2-resumed.log 2>&1
grep -h "processes on\|resumed from" ddp.log zero2.log zero2-resumed.log
$PY $HERE/compare.py ddp zero2 zero2-resumed
