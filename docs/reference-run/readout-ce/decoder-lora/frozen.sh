# Issue #13, thirty-fifth session: the shipped `default` with LoRA on its readout's Whisper decoder trained alone
# (`readout_lora`, adapter frozen: `train_adapter` false; readout_ce the only loss with a gradient): the decoder
# learns to read what `default`'s classifier gives it. After run.sh: there the LoRA trained beside the CFormer fell
# ≈ 1 nat below the CFormer alone in training loss and named fewer validation tokens — train-new repeats 828 of its
# 17,971 sentences 8–9 times each (a third of its clips), and a decoder (a language model) can learn them by heart.
# So here each sentence once (train-new-unique.jsonl, its first clip of each: 17,971; 140 steps × 64 = 8,960 clips,
# none repeated), and two LoRA placements, one seed each (seed 0): everywhere as in run.sh (rdlf-all) and the
# cross-attention alone (rdlf-cross: how the decoder reads the frames, not its language model). Same recipe, lr and
# steps as run.sh; rank 16, alpha 32, dropout 0. CODE as run: /work/ref/code35b. Reruns resume.
set -e
cd /work/ref
CODE=${CODE:-/work/ref/code35b}
export OMP_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=1048576 PYTHONPATH=$CODE/src
B="nice /work/main/.venv/bin/blsp-kd"
C=data/c100b
RE=$CODE/recipes/reference-stage3-readout-ce.yaml
[ -s $C/train-new-unique.jsonl ] || python3 -c "
import json, sys
seen = set()
for line in open('$C/train-new.jsonl'):
    text = json.loads(line)['text']
    if text not in seen:
        seen.add(text)
        sys.stdout.write(line)" > $C/train-new-unique.jsonl
declare -A MODULES=([all]="q_proj, k_proj, v_proj, out_proj, fc1, fc2"
                    [cross]="encoder_attn.q_proj, encoder_attn.k_proj, encoder_attn.v_proj, encoder_attn.out_proj")
D="data.train=[$C/train-new-unique.jsonl] data.valid=$C/valid.responses.jsonl"
for m in all cross; do
  L="{rank: 16, alpha: 32, dropout: 0.0, target_modules: [${MODULES[$m]}], scope: all}"
  $B train --recipe $RE $D train.seed=0 train.output_dir=runs/rdlf-$m train.init_from=default \
    train.max_steps=140 train.eval_every=70 train.save_every=35 train.max_minutes=${M:-80} \
    model.architecture.train_adapter=false "model.architecture.readout_lora=$L" > logs/rdlf-$m.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) trained"
# validation, the first 160 clips, under run.sh's rule
E="--systems speech --max-new-tokens 48 --latency-clips 0 --plot-clips 0 --precision fp32 --no-progress"
for m in all cross; do
  [ -s eval/rdlf-$m-val160/results.json ] || $B evaluate --manifest $C/valid.responses.jsonl \
    --out eval/rdlf-$m-val160 --model runs/rdlf-$m/final --tasks repeat --limit 160 $E \
    > logs/rdlf-$m-val160.log 2>&1 &
done
wait
echo "$(date -u +%H:%M) validated"
# As run (2026-12-07, code 0406a2f as code35b, this CPU): training 00:43–01:06 UTC, both placements side
# by side (a decoder_oracle probe beside them until 00:58), then stopped by hand — rdlf-all after step 100,
# rdlf-cross after step 105 — and validation not run: the step-70 training validation (128 clips, CIF forced) had
# answered, both below `default` (step 0 of the same runs: the readout names 76.2 % of the tokens, KL 0.737):
# rdlf-all 73.7 %, KL 0.782; rdlf-cross 74.6 %, KL 0.758. The CPU went to decoder-ce.sh.
# The records kept here: runs/rdlf-M/log.jsonl → train-log-rdlf-M.jsonl.
