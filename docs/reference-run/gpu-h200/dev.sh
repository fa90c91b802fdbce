#!/bin/bash
# Issue #13: the reference run's stage on a lent H200 (nineteenth session). The embedded default's base models, the
# shipped checkpoint, the wheels the machine lacks and the training audio (Opus) travel in five calls of < 64 MiB
# each (`.stage1` … `.stage5`, built by stage_build.sh); each call's command is `bash dev.sh K [TRAIN_SECONDS]`.
#   1: the first part of the LLM's GGUF; versions of what is there
#   2: the rest of the GGUF, the LLM's tokenizer/config as converted here, wheels (transformers 5.25 and what it
#      needs: the machine's 5.17 lacks the API we use); the GGUF dequantised to float32 in the background
#   3: the shipped checkpoint, Whisper (fp16, decoder zeroed: only the shipped CFormer's init reads it), manifests,
#      audio part 1; a 2-process throughput probe (its rate sizes call 5's steps)
#   4: audio part 2; the caches of parts 1-2 filled in the background
#   5: audio part 3; caches completed; two seeds side by side for TRAIN_SECONDS; results to $OUT
# Run from the repository root of the travelling tree (a branch without docs/ but this folder, and without the shipped
# weights: they travel in call 3; see README.md here).
set -euo pipefail
S=/root/s; mkdir -p $S; R=$PWD; G=$(cd "$(dirname "$0")" && pwd)
# USE_HUB_KERNELS=0: with `kernels` installed, transformers 5.25 on CUDA fetches hub kernels (kernels-community/rotary)
# and, offline, fails the first training step (seen on the lend: 3 minutes of it lost).
export PYTHONPATH=${PRE:-}$S/site:$R/src PYTHONUNBUFFERED=1 BLSP_KD_HOME=$S/home HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
  USE_HUB_KERNELS=0
stamp() { echo "$(date -u +%T) $*"; }
K=$1; T=${2:-300}
unpack() { for f in "$@"; do tar -xf "$f" -C $S; done; }
train() {  # train SEED OUTDIR MANIFEST extra overrides...
  local seed=$1 dir=$2 manifest=$3; shift 3
  python3 -m blsp_kd.cli train --recipe reference-stage2-plora \
    model.architecture.whisper=$S/whisper model.architecture.llm=$S/llm \
    "data.train=[$manifest]" data.valid=$S/data/valid.jsonl data.cache_dir=$S/cache data.num_workers=3 \
    train.init_from=$S/ckpt train.seed=$seed train.output_dir=$dir train.batch_size=${B:-64} train.lr=1.5e-4 \
    train.warmup_steps=50 train.log_every=20 train.progress=false "$@"
}
fill() {  # the feature and teacher caches of MANIFEST, in 4 shards side by side
  local manifest=$1 i; stamp "filling the caches of $manifest"; python3 $G/shard.py $manifest 4
  for i in 0 1 2 3; do
    train 0 $S/runs/fill-$i $manifest.$i train.max_steps=1 train.batch_size=8 > $S/fill-$i.log 2>&1 &
  done; wait
}
case $K in
1) cp .stage1/* $S/
   nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true; nproc; df -h /root | tail -1
   python3 -c "import torch, transformers, tokenizers, huggingface_hub, safetensors; print(torch.__version__, transformers.__version__, tokenizers.__version__, huggingface_hub.__version__, safetensors.__version__, torch.cuda.is_available())";;
2) mkdir -p $S/gguf; cat $S/gguf.part-aa .stage2/gguf.part-ab > $S/gguf/SmolLM2-135M-Instruct.Q4_1.gguf; rm $S/gguf.part-aa
   (cd $S/gguf && sha256sum -c $G/SHA256SUMS)
   [ -n "${DRY:-}" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $S/site .stage2/whl/*.whl
   unpack .stage2/llm.tar.xz
   setsid nohup python3 $G/convert_llm.py $S > $S/convert.log 2>&1 < /dev/null &
   python3 -c "import peft, accelerate, omegaconf, soundfile, soxr, jiwer, gguf; print(peft.__version__, accelerate.__version__, soundfile.__libsndfile_version__)";;
3) unpack .stage3/ckpt.tar .stage3/whisper.tar.xz .stage3/data.tar.xz .stage3/audio-1.tar
   for i in $(seq 240); do [ -f $S/llm/model.safetensors ] && break; sleep 1; done; cat $S/convert.log
   python3 $G/fix_ckpt.py $S/ckpt/blsp_kd_config.json $S/whisper $S/llm
   python3 $G/subset.py $S/data/train.jsonl $S/data/probe.jsonl 2048
   fill $S/data/probe.jsonl; tail -n 3 $S/fill-0.log
   for s in 0 1; do
     train $s $S/runs/probe-s$s $S/data/probe.jsonl train.max_steps=2000 train.max_minutes=0.5 train.eval_every=0 \
       train.save_every=100000 train.log_every=2 > $S/probe-s$s.log 2>&1 &
   done; wait; grep -h "stopping at step\|Error\|error" $S/probe-s*.log | head; tail -n 4 $S/probe-s0.log
   # the rate between the first logged step and the last: the step-0 validation and the first step's warm-up
   # (counted in the loop's time) left out; the nineteenth session's rate, from the whole 30 s, included them
   python3 -c "
import json, sys
rates = []
for path in sys.argv[1:]:
    train = [r for r in map(json.loads, open(path)) if r['split'] == 'train']
    rates.append((train[-1]['step'] - train[0]['step']) / (train[-1]['seconds'] - train[0]['seconds']))
print(min(rates))" $S/runs/probe-s0/log.jsonl $S/runs/probe-s1/log.jsonl > $S/rate; echo "steps/s per process: $(cat $S/rate)";;
4) unpack .stage4/audio-2.tar
   python3 $G/subset.py $S/data/train.jsonl $S/data/have.jsonl 0
   setsid nohup bash -c "$(declare -f stamp train fill); S=$S R=$R G=$G; fill $S/data/have.jsonl; touch $S/filled" > $S/fill-bg.log 2>&1 < /dev/null &
   echo started;;
5) unpack .stage5/audio-3.tar
   for i in $(seq 240); do [ -f $S/filled ] && break; sleep 1; done; echo "background fill waited ${i}s"
   fill $S/data/train.jsonl; tail -n 2 $S/fill-0.log
   rate=$(cat $S/rate); steps=$(python3 -c "print(int($rate * $T * 0.95))"); every=$(( steps / 8 > 10 ? steps / 8 : 10 ))
   echo "rate $rate steps/s per process: $steps steps, validation every $every"
   stamp "training"
   for s in 0 1; do  # a hard stop 2 minutes past the budget, so whatever was saved still comes back
     timeout $((T + 120)) bash -c "$(declare -f train); S=$S; train $s $S/runs/gpu-s$s $S/data/train.jsonl \
       train.max_steps=$steps train.max_minutes=$(python3 -c "print($T/60)") train.eval_every=$every \
       train.save_every=$every" > $S/gpu-s$s.log 2>&1 &
   done; wait || true; stamp "trained"; tail -n 4 $S/gpu-s0.log $S/gpu-s1.log
   for s in 0 1; do
     python3 $G/pack.py $S/runs/gpu-s$s $OUT/gpu-s$s $S/gpu-s$s.log || true
   done; ls -la $OUT;;
esac
