"""CIF forward + backward: the vectorised `cif` against a per-frame Python loop (goal ≥ 50× faster, equal to 1e-5).

B = 16 clips of up to T = 1,500 frames (30 s), D = 384 channels (Whisper tiny), lengths 50–100 % of T, n ≈ 3 tokens/s.

    .venv/bin/python benchmarks/bench_cif.py [--quick]
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import loop_cif, machine, parse_args, print_table, timed  # noqa: E402

from blsp_kd.models.cif import cif  # noqa: E402


def make_inputs(batch_size: int, num_frames: int, dim: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(num_frames // 2, num_frames + 1, (batch_size,), generator=generator)
    lengths[0] = num_frames
    frame_mask = torch.arange(num_frames) < lengths[:, None]
    hidden = torch.randn(batch_size, num_frames, dim, generator=generator)
    alpha = torch.rand(batch_size, num_frames, generator=generator) * 0.2
    num_tokens = (lengths / 50 * 3).round().long().clamp(min=1)  # ≈ 3 LLM tokens per second of speech
    return hidden, alpha, frame_mask, num_tokens


def forward_backward(cif_function, hidden, alpha, frame_mask, num_tokens, upstream):
    """Vectors and the gradients of Σ vectors·upstream with respect to hidden and alpha."""
    hidden = hidden.clone().requires_grad_(True)
    alpha = alpha.clone().requires_grad_(True)
    output = cif_function(hidden, alpha, frame_mask, num_tokens)
    (output.vectors * upstream[:, : output.vectors.shape[1]]).sum().backward()
    return output.vectors.detach(), hidden.grad, alpha.grad


def main():
    args = parse_args(__doc__.splitlines()[0])
    batch_size, num_frames, dim = (4, 500, 384) if args.quick else (16, 1500, 384)
    repeats = 3 if args.quick else 5
    hidden, alpha, frame_mask, num_tokens = make_inputs(batch_size, num_frames, dim)
    upstream = torch.randn(batch_size, int(num_tokens.max()), dim, generator=torch.Generator().manual_seed(1))

    fast = forward_backward(cif, hidden, alpha, frame_mask, num_tokens, upstream)
    slow = forward_backward(loop_cif, hidden, alpha, frame_mask, num_tokens, upstream)
    differences = [(fast_part - slow_part).abs().max().item() for fast_part, slow_part in zip(fast, slow, strict=True)]

    def run(cif_function):
        return lambda: forward_backward(cif_function, hidden, alpha, frame_mask, num_tokens, upstream)

    vectorised_seconds, vectorised_all = timed(run(cif), repeats)
    loop_seconds, loop_all = timed(run(loop_cif), max(1, repeats - 2))
    print(f"machine: {machine()}")
    print(f"B={batch_size}, T={num_frames}, D={dim}, n={num_tokens.min().item()}..{num_tokens.max().item()}; "
          f"median of {repeats} (vectorised) / {max(1, repeats - 2)} (loop) runs after 1 warm-up\n")
    print_table(
        ["CIF forward+backward", "median s", "all runs s"],
        [["vectorised `cif` (float64 bmm)", f"{vectorised_seconds:.4f}", " ".join(f"{t:.4f}" for t in vectorised_all)],
         ["per-frame Python loop", f"{loop_seconds:.3f}", " ".join(f"{t:.3f}" for t in loop_all)]],
    )
    print(f"\nspeed-up: {loop_seconds / vectorised_seconds:.1f}× (goal ≥ 50×)")
    print(f"max |difference|: vectors {differences[0]:.1e}, d/dhidden {differences[1]:.1e}, "
          f"d/dalpha {differences[2]:.1e} (goal ≤ 1e-5)")
    if max(differences) > 1e-5:
        raise SystemExit("the loop and the vectorised CIF disagree by more than 1e-5")


if __name__ == "__main__":
    main()
