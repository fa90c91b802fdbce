"""Stage-1 training FLOP/s against this CPU's measured fp32 matmul peak (goal ≥ 35 %), and the peak resident memory
of stage-1 on the embedded default at batch 8, caches built in the same process (goal ≤ 4 GB).

FLOPs are counted analytically from the shapes of each batch (formula in `step_flops` and docs/BENCHMARKS.md),
and cross-checked against torch's FlopCounterMode, which counts the matmuls, convolutions and attention kernels
that actually ran.

    .venv/bin/python benchmarks/bench_flops_memory.py [--quick]
"""

import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from bench_stage1 import OPTIMISED, Setup, load_batch, recipe_and_records, train_step  # noqa: E402
from common import parse_args, peak_rss_gb, print_table, timed  # noqa: E402

from blsp_kd.models.blsp_kd import BlspKdModel  # noqa: E402
from blsp_kd.models.teacher import used_positions  # noqa: E402


def transformer_flops(tokens: int, sequence: int, dim: int, ffn: int, kv_dim: int, gated: bool) -> int:
    """Forward FLOPs of one pre-norm transformer layer over `tokens` positions in rows of length `sequence`:
    projections 2·tokens·(2·dim² + 2·dim·kv_dim) + MLP 2·tokens·dim·ffn·(3 if gated else 2)
    + attention scores and mixing 2 · 2·tokens·sequence·dim (the full [L, L] matrix, as SDPA computes it)."""
    projections = 2 * tokens * (2 * dim * dim + 2 * dim * kv_dim)
    mlp = 2 * tokens * dim * ffn * (3 if gated else 2)
    attention = 4 * tokens * sequence * dim
    return projections + mlp + attention


def step_flops(model: BlspKdModel, text, frame_mask) -> int:
    """FLOPs of one all-on stage-1 step (cached encoder output and teacher hidden states; frozen LLM; CFormer
    trained), from the batch's shapes: B rows of L columns, the first P of them a prompt prefix that runs without
    autograd (`cache_prompt_prefix`), K used positions, T frames, N tokens.

        LLM      fwd(L) + bwd(L − P): the frozen LLM's linear layers cost 1× forward again backward (input
                 gradients only, no weight gradients), attention 2× (dP, dQ, dK, dV: 4 matmuls for QKᵀ and PV)
        LM head  3 · 2·K·H·V: the student's forward and input gradients, and the teacher's logits from its
                 cached hidden states (forward only)
        CFormer  3 × forward (forward, input and weight gradients) of 2 pre-CIF layers over T frames, 2 post-CIF
                 layers over N tokens, the two projections and the CIF matmul 2·N·T·(D − 1) per sample
    """
    llm = model.llm.config
    adapter = model.adapter.config
    batch_size, sequence = text.input_ids.shape
    prefix = model.prefix_length(text)
    frames, tokens = frame_mask.shape[1], int(text.num_tokens.max())
    used = int(used_positions(text).sum())
    dim, ffn = adapter.encoder_dim, adapter.ffn_dim or 4 * adapter.encoder_dim

    head_dim = llm.hidden_size // llm.num_attention_heads
    kv_dim = llm.num_key_value_heads * head_dim

    def llm_linear(columns: int) -> int:
        return llm.num_hidden_layers * transformer_flops(batch_size * columns, 0, llm.hidden_size,
                                                         llm.intermediate_size, kv_dim, gated=True)

    def llm_attention(queries: int) -> int:
        return llm.num_hidden_layers * 4 * batch_size * queries * sequence * llm.hidden_size

    trained_columns = sequence - prefix
    llm_total = llm_linear(sequence) + llm_linear(trained_columns) + llm_attention(sequence)
    llm_total += 2 * llm_attention(trained_columns)
    lm_head = 3 * 2 * used * llm.hidden_size * llm.vocab_size

    pre = adapter.num_pre_layers * transformer_flops(batch_size * frames, frames, dim, ffn, dim, gated=False)
    post = adapter.num_post_layers * transformer_flops(batch_size * tokens, tokens, dim, ffn, dim, gated=False)
    projections = 2 * batch_size * tokens * ((dim - 1) * dim + dim * llm.hidden_size)
    cif = 2 * batch_size * tokens * frames * (dim - 1)
    adapter_total = 3 * (pre + post + projections + cif)
    return llm_total + lm_head + adapter_total


def matmul_peak(size: int, repeats: int, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of a large square torch.matmul (2·n³ per product) in `dtype`, median of `repeats`."""
    left, right = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    seconds, _ = timed(lambda: torch.matmul(left, right), repeats)
    return 2 * size**3 / seconds


def main():
    args = parse_args(__doc__.splitlines()[0])
    num_clips, steps = (16, 2) if args.quick else (64, 8)
    recipe, records = recipe_and_records(num_clips)
    batch_size, max_text_tokens = recipe.train.batch_size, recipe.data.max_text_tokens
    setup = Setup.build(recipe, records, bf16=OPTIMISED.bf16)
    model = setup.model
    batches = [records[start : start + batch_size] for start in range(0, num_clips - batch_size + 1, batch_size)]

    rates, analytic = [], []
    for step in range(steps + 1):  # step 0 warms up and is not counted
        batch = batches[step % len(batches)]
        text, _, frame_mask, _ = load_batch(setup, batch, OPTIMISED, max_text_tokens)
        flops = step_flops(model, text, frame_mask)
        start = time.perf_counter()
        train_step(setup, batch, OPTIMISED, max_text_tokens)
        if step > 0:
            rates.append(flops / (time.perf_counter() - start))
            analytic.append(flops)
    rss_gb = peak_rss_gb()
    with FlopCounterMode(display=False) as counter:
        train_step(setup, batches[0], OPTIMISED, max_text_tokens)
    text, _, frame_mask, _ = load_batch(setup, batches[0], OPTIMISED, max_text_tokens)
    check_ratio = counter.get_total_flops() / step_flops(model, text, frame_mask)

    size, repeats = (2048, 3) if args.quick else (4096, 7)
    peak = matmul_peak(size, repeats)
    training = statistics.median(rates)
    precision = "bf16 (frozen base models) + fp32 (CFormer)" if OPTIMISED.bf16 else "fp32"
    print(f"{num_clips} synthetic clips, batch {batch_size}, all optimisations on ({precision}); median of {steps} "
          f"steps; matmul peaks: median of {repeats} products\n")
    rows = [
        ["analytic FLOPs per step (median)", f"{statistics.median(analytic) / 1e9:.1f} G"],
        ["FlopCounterMode / analytic, batch 0", f"{check_ratio:.2f}"],
        ["training FLOP/s (median over steps)", f"{training / 1e9:.1f} G"],
        ["fp32 matmul peak, torch.matmul", f"{peak / 1e9:.1f} G"],
        ["training / fp32 peak", f"{training / peak:.0%} (goal ≥ 35 %)"],
    ]
    if OPTIMISED.bf16:  # the LLM's matmuls run in bf16: say how much of that (higher) peak the step reaches too
        bf16_peak = matmul_peak(size, repeats, torch.bfloat16)
        rows += [["bf16 matmul peak, torch.matmul", f"{bf16_peak / 1e9:.1f} G"],
                 ["training / bf16 peak", f"{training / bf16_peak:.0%}"]]
    rows.append(["peak RSS of stage-1 (caches + steps)", f"{rss_gb:.2f} GB (goal ≤ 4 GB)"])
    print_table(["quantity", "value"], rows)


if __name__ == "__main__":
    main()
