"""CIF: the vectorised `cif` against a frame-by-frame reference loop, its invariants and its gradients."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from blsp_kd.models.cif import cif

EPS = 1e-4


def reference_cif(hidden, alpha, num_tokens=None, eps=EPS):
    """One sample, valid frames only: walk the frames, filling the current token until it holds 1, then fire.

    hidden [T, C], alpha [T] → (weights [n, T], vectors [n, C]), float64. The last token takes all the rest.
    """
    alpha_values = alpha.double().tolist()
    alpha_total = sum(alpha_values)
    n = max(1, round(alpha_total)) if num_tokens is None else num_tokens
    weights = torch.zeros(n, len(alpha_values), dtype=torch.float64)
    token, filled = 0, 0.0
    for t, value in enumerate(alpha_values):
        remaining = value * n / max(alpha_total, eps)
        while remaining > 0:
            room = 1.0 - filled
            if token == n - 1 or remaining < room:
                weights[token, t] += remaining
                filled += remaining
                remaining = 0.0
            else:
                weights[token, t] += room
                remaining -= room
                token, filled = token + 1, 0.0
    return weights, weights @ hidden.double()


def pad_batch(samples, channels, generator, padding_value=None):
    """Samples [(hidden [T_b, C], alpha [T_b])] → right-padded hidden [B,T,C], alpha [B,T], frame_mask [B,T].

    Padded positions hold random garbage (or padding_value), which cif must ignore.
    """
    max_frames = max(alpha.shape[0] for _, alpha in samples)
    batch_size = len(samples)
    hidden = torch.randn(batch_size, max_frames, channels, generator=generator, dtype=torch.float64) * 100
    alpha = torch.rand(batch_size, max_frames, generator=generator, dtype=torch.float64) * 10
    if padding_value is not None:
        hidden.fill_(padding_value)
    frame_mask = torch.zeros(batch_size, max_frames, dtype=torch.bool)
    for b, (sample_hidden, sample_alpha) in enumerate(samples):
        length = sample_alpha.shape[0]
        hidden[b, :length] = sample_hidden
        alpha[b, :length] = sample_alpha
        frame_mask[b, :length] = True
    return hidden, alpha, frame_mask


ALPHA_REGIMES = {
    "uniform": st.floats(0.0, 1.0),
    # Mostly silent frames and a few large ones: those frames fire two or more tokens each.
    "bursty": st.one_of(st.just(0.0), st.just(0.0), st.floats(1.0, 6.0)),
    # Σα close to 0, around and below eps.
    "tiny": st.floats(0.0, 3e-5),
}


@st.composite
def cif_batches(draw):
    """(samples, num_tokens or None, seed): 1–3 samples of 1–20 frames with alpha from one regime."""
    regime = draw(st.sampled_from(sorted(ALPHA_REGIMES)))
    lengths = draw(st.lists(st.integers(1, 20), min_size=1, max_size=3))
    alphas = [draw(st.lists(ALPHA_REGIMES[regime], min_size=length, max_size=length)) for length in lengths]
    # n up to 3·T + 2: with given n, frames fire several times even for uniform alpha.
    given_n = draw(st.booleans())
    num_tokens = [draw(st.integers(1, 3 * length + 2)) for length in lengths] if given_n else None
    seed = draw(st.integers(0, 2**31 - 1))
    return alphas, num_tokens, seed


@settings(max_examples=150, deadline=None)
@given(cif_batches())
def test_matches_reference_loop(case):
    alphas, num_tokens, seed = case
    generator = torch.Generator().manual_seed(seed)
    channels = 5
    samples = [
        (
            torch.randn(len(a), channels, generator=generator, dtype=torch.float64),
            torch.tensor(a, dtype=torch.float64),
        )
        for a in alphas
    ]
    hidden, alpha, frame_mask = pad_batch(samples, channels, generator)
    out = cif(hidden, alpha, frame_mask, None if num_tokens is None else torch.tensor(num_tokens), eps=EPS)

    for b, (sample_hidden, sample_alpha) in enumerate(samples):
        expected_weights, expected_vectors = reference_cif(
            sample_hidden, sample_alpha, None if num_tokens is None else num_tokens[b]
        )
        n, length = expected_weights.shape
        assert out.num_tokens[b].item() == n
        assert out.mask[b].tolist() == [j < n for j in range(out.mask.shape[1])]
        torch.testing.assert_close(out.weights[b, :n, :length], expected_weights, atol=1e-5, rtol=0)
        torch.testing.assert_close(out.vectors[b, :n], expected_vectors, atol=1e-5, rtol=0)
        assert torch.all(out.weights[b, n:] == 0) and torch.all(out.vectors[b, n:] == 0)
        assert torch.all(out.weights[b, :, length:] == 0)
        assert math.isclose(out.alpha_sum[b].item(), sum(alphas[b]), rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 30), min_size=1, max_size=4),
    n_per_frame=st.floats(0.05, 3.0),
    seed=st.integers(0, 2**31 - 1),
)
def test_invariants(lengths, n_per_frame, seed):
    generator = torch.Generator().manual_seed(seed)
    channels = 3
    samples = [
        (
            torch.randn(length, channels, generator=generator, dtype=torch.float64),
            torch.rand(length, generator=generator, dtype=torch.float64) + 0.01,
        )
        for length in lengths
    ]
    hidden, alpha, frame_mask = pad_batch(samples, channels, generator)
    num_tokens = torch.tensor([max(1, round(n_per_frame * length)) for length in lengths])
    out = cif(hidden, alpha, frame_mask, num_tokens)

    scaled_alpha = alpha * frame_mask * (num_tokens / (alpha * frame_mask).sum(-1)).unsqueeze(-1)
    token_sums = out.weights.sum(-1)  # [B, N]
    torch.testing.assert_close(token_sums, out.mask.double(), atol=1e-9, rtol=0)
    torch.testing.assert_close(out.weights.sum((1, 2)), num_tokens.double(), atol=1e-9, rtol=0)
    torch.testing.assert_close(out.weights.sum(1), scaled_alpha, atol=1e-9, rtol=0)
    assert torch.all(out.weights.masked_select(~frame_mask.unsqueeze(1)) == 0)
    assert torch.all(out.weights >= 0)

    # Each sample alone gives the same result as inside the batch with the others' padding and garbage.
    for b, (sample_hidden, sample_alpha) in enumerate(samples):
        alone = cif(
            sample_hidden[None],
            sample_alpha[None],
            torch.ones(1, len(sample_alpha), dtype=torch.bool),
            num_tokens[b : b + 1],
        )
        n, length = num_tokens[b].item(), lengths[b]
        assert alone.num_tokens.item() == n
        torch.testing.assert_close(out.weights[b, :n, :length], alone.weights[0], atol=1e-12, rtol=0)
        torch.testing.assert_close(out.vectors[b, :n], alone.vectors[0], atol=1e-12, rtol=0)


def test_worked_example_from_method():
    alpha = torch.tensor([[0.5, 0.5, 0.5, 0.5]], dtype=torch.float64)
    hidden = torch.arange(8, dtype=torch.float64).reshape(1, 4, 2)
    out = cif(hidden, alpha, torch.ones(1, 4, dtype=torch.bool), torch.tensor([3]))
    expected_weights = torch.tensor(
        [[0.75, 0.25, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.25, 0.75]], dtype=torch.float64
    )
    torch.testing.assert_close(out.weights[0], expected_weights, atol=1e-15, rtol=0)
    # Token 0 = .75·h0 + .25·h1 = .75·[0,1] + .25·[2,3] = [.5, 1.5]; token 2 = .25·[4,5] + .75·[6,7].
    torch.testing.assert_close(
        out.vectors[0], torch.tensor([[0.5, 1.5], [3.0, 4.0], [5.5, 6.5]], dtype=torch.float64)
    )
    assert out.mask.tolist() == [[True, True, True]]
    assert out.alpha_sum.tolist() == [2.0]


def test_predicted_count_when_num_tokens_is_none():
    alpha = torch.tensor(
        [[0.9, 0.9, 0.8, 0.0], [0.1, 0.1, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.6]],
        dtype=torch.float64,
    )
    frame_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.bool)
    out = cif(torch.randn(4, 4, 2, dtype=torch.float64), alpha, frame_mask)
    # Σα over valid frames: 2.6 → 3, 0.2 → max(1, 0) = 1, 0 → 1, 3.0 (padded 1.6 ignored) → 3.
    assert out.num_tokens.tolist() == [3, 1, 1, 3]
    assert out.mask.sum(-1).tolist() == [3, 1, 1, 3]
    torch.testing.assert_close(out.alpha_sum, torch.tensor([2.6, 0.2, 0.0, 3.0], dtype=torch.float64))


def test_gradcheck_hidden_and_alpha():
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, 7, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    alpha = (torch.rand(2, 7, generator=generator, dtype=torch.float64) * 0.8 + 0.2).requires_grad_()
    frame_mask = torch.tensor([[True] * 7, [True] * 5 + [False] * 2])
    num_tokens = torch.tensor([4, 6])  # sample 1: 6 tokens from 5 frames, so a frame fires twice

    out = cif(hidden, alpha, frame_mask, num_tokens)
    # The piecewise-linear weights are differentiable only away from integer boundaries: check the margin.
    # (The last valid frame always ends exactly at n, which is fine: the last token has no upper bound.)
    scaled_alpha = out.weights.sum(1).detach()
    for b, length in enumerate(frame_mask.sum(-1).tolist()):
        inner_boundaries = scaled_alpha[b, :length].cumsum(0)[:-1]
        assert (inner_boundaries - inner_boundaries.round()).abs().min() > 1e-3

    def cif_outputs(hidden, alpha):
        result = cif(hidden, alpha, frame_mask, num_tokens)
        return result.vectors, result.weights, result.alpha_sum

    assert torch.autograd.gradcheck(cif_outputs, (hidden, alpha), eps=1e-6, atol=1e-6)


def test_float32_long_input_matches_float64_reference():
    generator = torch.Generator().manual_seed(1)
    num_frames, num_tokens = 1500, 300
    hidden = torch.randn(1, num_frames, 4, generator=generator)
    alpha = torch.rand(1, num_frames, generator=generator)
    frame_mask = torch.ones(1, num_frames, dtype=torch.bool)
    expected_weights, expected_vectors = reference_cif(hidden[0], alpha[0], num_tokens)

    out = cif(hidden, alpha, frame_mask, torch.tensor([num_tokens]))
    assert out.vectors.dtype == torch.float32 and out.weights.dtype == torch.float32
    torch.testing.assert_close(out.vectors[0].double(), expected_vectors, atol=1e-5, rtol=0)

    # Autocast must not push the cumulative sums or the matmul into bf16.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast_out = cif(hidden, alpha, frame_mask, torch.tensor([num_tokens]))
    torch.testing.assert_close(autocast_out.vectors[0].double(), expected_vectors, atol=1e-5, rtol=0)
    torch.testing.assert_close(autocast_out.weights[0].double(), expected_weights, atol=1e-6, rtol=0)


def test_padded_nan_frames_do_not_leak():
    generator = torch.Generator().manual_seed(2)
    samples = [(torch.randn(3, 2, generator=generator, dtype=torch.float64), torch.tensor([0.4, 0.7, 0.2]))]
    samples.append(
        (torch.randn(6, 2, generator=generator, dtype=torch.float64), torch.rand(6, generator=generator))
    )
    hidden, alpha, frame_mask = pad_batch(samples, 2, generator, padding_value=float("nan"))
    out = cif(hidden, alpha, frame_mask, torch.tensor([2, 3]))
    assert torch.isfinite(out.vectors).all()


@pytest.mark.parametrize("garbage", [float("nan"), float("inf")])
def test_padded_nan_or_inf_alpha_is_ignored(garbage):
    """α at padded frames is masked before use: NaN/inf there changes nothing (NaN · 0 would still be NaN)."""
    generator = torch.Generator().manual_seed(3)
    samples = [(torch.randn(3, 2, generator=generator, dtype=torch.float64), torch.tensor([0.4, 0.7, 0.2])),
               (torch.randn(6, 2, generator=generator, dtype=torch.float64), torch.rand(6, generator=generator))]
    hidden, alpha, frame_mask = pad_batch(samples, 2, generator)
    clean = cif(hidden, alpha.masked_fill(~frame_mask, 0.0), frame_mask)
    dirty = cif(hidden, alpha.masked_fill(~frame_mask, garbage), frame_mask)
    assert torch.equal(dirty.num_tokens, clean.num_tokens)
    torch.testing.assert_close(dirty.alpha_sum, clean.alpha_sum, rtol=0, atol=0)
    torch.testing.assert_close(dirty.vectors, clean.vectors, rtol=0, atol=0)


def test_rejects_bad_input():
    hidden, alpha = torch.randn(2, 4, 3), torch.rand(2, 4)
    frame_mask = torch.ones(2, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"num_tokens must be >= 1, got \[0\] for batch samples \[1\]"):
        cif(hidden, alpha, frame_mask, torch.tensor([2, 0]))
    with pytest.raises(ValueError, match="alpha"):
        cif(hidden, alpha[:, :3], frame_mask)
    with pytest.raises(ValueError, match="bool"):
        cif(hidden, alpha, frame_mask.float())
