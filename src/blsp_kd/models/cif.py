"""Continuous integrate-and-fire (CIF): turn T encoder frames into exactly n token vectors (METHOD §2)."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class CifOutput:
    """Result of `cif` for a batch of B samples; N = max(num_tokens), T = frames, C = channels."""

    vectors: torch.Tensor  # [B, N, C] token vectors; rows >= n of a sample are 0
    mask: torch.Tensor  # [B, N] bool, first n_b True
    num_tokens: torch.Tensor  # [B] long, the n actually used
    alpha_sum: torch.Tensor  # [B] unscaled sum of alpha over valid frames (differentiable; quantity loss)
    weights: torch.Tensor  # [B, N, T] integration weights w_{j,t}, in hidden's dtype


def cif(
    hidden: torch.Tensor,
    alpha: torch.Tensor,
    frame_mask: torch.Tensor,
    num_tokens: torch.Tensor | None = None,
    eps: float = 1e-4,
) -> CifOutput:
    """Integrate frame vectors into token vectors, firing one token per unit of accumulated weight.

    For each sample (samples never interact):
      1. Mask and scale:  α_t ← α_t · frame_mask_t,   α'_t = α_t · n / max(Σ_t α_t, eps).
         n = num_tokens[b] when given (training, evaluation against a transcript); when None (free
         inference) n = max(1, round(Σ_t α_t)).
      2. Cumulative sums C_t = α'_1 + … + α'_t, C_0 = 0. Token j (0-based) takes from frame t
            w_{j,t} = max(0, min(C_t, j+1) − max(C_{t−1}, j))     for j < n−1,
            w_{n−1,t} = max(0, C_t − max(C_{t−1}, n−1))            (the last token takes everything left).
         Each token's weights sum to 1 (when Σα ≥ eps), each frame's weights sum to α'_t, and a frame may
         split across two or more tokens. Padded frames have α' = 0, hence C_t = C_{t−1} and weight 0.
      3. vectors_j = Σ_t w_{j,t} · hidden_t, one batched matmul [B,N,T] @ [B,T,C].

    Worked example: α = [.5, .5, .5, .5], n = 3 → α' = .75 each, C = [.75, 1.5, 2.25, 3],
        W = [[.75, .25, 0,   0  ],
             [0,   .5,  .5,  0  ],
             [0,   0,   .25, .75]]   (rows sum to 1, columns to α').

    C and W are computed in float64 with autocast off: a float32 cumsum over 1,500 frames drifts by ~1e-4 and
    fp16/bf16 by whole tokens. The [B,N,T] float64 weights are small (B=16, N=100, T=1500: 19 MB).

    Args:
        hidden: [B, T, C] frame vectors.
        alpha: [B, T] non-negative firing weights (values at padded frames are ignored).
        frame_mask: [B, T] bool, True on valid frames.
        num_tokens: [B] long target counts n (each ≥ 1), or None to predict n from Σα.
        eps: floor on Σα in the scaling, so near-silent samples do not divide by zero.
    Returns:
        CifOutput; gradients flow to hidden and alpha.
    """
    if hidden.dim() != 3:
        raise ValueError(f"cif: hidden must be [B, T, C], got shape {tuple(hidden.shape)}")
    batch_size, num_frames, _ = hidden.shape
    if alpha.shape != (batch_size, num_frames) or frame_mask.shape != (batch_size, num_frames):
        raise ValueError(
            f"cif: alpha {tuple(alpha.shape)} and frame_mask {tuple(frame_mask.shape)} must both be "
            f"[B, T] = {(batch_size, num_frames)} to match hidden {tuple(hidden.shape)}"
        )
    if frame_mask.dtype != torch.bool:
        raise ValueError(f"cif: frame_mask must be bool, got {frame_mask.dtype}")

    with torch.autocast(device_type=hidden.device.type, enabled=False):
        # where, not a product: NaN/inf at a padded frame times 0 would still be NaN.
        alpha_valid = torch.where(frame_mask, alpha.double(), 0.0)
        alpha_sum = alpha_valid.sum(dim=-1)  # [B]
        if num_tokens is None:
            num_tokens = alpha_sum.detach().round().long().clamp(min=1)
        else:
            if num_tokens.shape != (batch_size,):
                raise ValueError(
                    f"cif: num_tokens must be [B] = [{batch_size}], got {tuple(num_tokens.shape)}"
                )
            num_tokens = num_tokens.to(device=hidden.device, dtype=torch.long)
            bad_samples = (num_tokens < 1).nonzero().flatten().tolist()
            if bad_samples:
                raise ValueError(
                    f"cif: num_tokens must be >= 1, got {num_tokens[bad_samples].tolist()} "
                    f"for batch samples {bad_samples}"
                )

        scaled_alpha = alpha_valid * (num_tokens / alpha_sum.clamp(min=eps)).unsqueeze(-1)  # α' [B, T]
        cum_after = scaled_alpha.cumsum(dim=-1)  # C_t [B, T]
        # Shifting (not C_t − α'_t) makes frame t's start exactly frame t−1's end, so no mass is lost.
        cum_before = F.pad(cum_after[:, :-1], (1, 0))  # C_{t−1} [B, T]

        max_tokens = int(num_tokens.max())
        token_index = torch.arange(max_tokens, device=hidden.device, dtype=torch.float64)  # j [N]
        mask = token_index < num_tokens.unsqueeze(-1)  # [B, N]
        is_last_token = token_index == (num_tokens - 1).unsqueeze(-1)  # [B, N]
        token_end = torch.where(is_last_token, torch.inf, token_index + 1)  # j+1, or ∞ for the last [B, N]

        overlap_end = torch.minimum(cum_after.unsqueeze(1), token_end.unsqueeze(-1))  # min(C_t, j+1)
        overlap_start = torch.maximum(cum_before.unsqueeze(1), token_index.unsqueeze(-1))  # max(C_{t−1}, j)
        weights = (overlap_end - overlap_start).clamp(min=0) * mask.unsqueeze(-1)  # w_{j,t} [B, N, T]

        # Zero padded frames explicitly: their weight is 0, but 0 · NaN/inf garbage would still be NaN.
        hidden_valid = hidden.double().masked_fill(~frame_mask.unsqueeze(-1), 0.0)
        vectors = torch.bmm(weights, hidden_valid)  # [B, N, C]

    return CifOutput(
        vectors=vectors.to(hidden.dtype),
        mask=mask,
        num_tokens=num_tokens,
        alpha_sum=alpha_sum.to(torch.promote_types(alpha.dtype, torch.float32)),
        weights=weights.to(hidden.dtype),
    )
