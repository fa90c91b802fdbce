import math

import pytest
import torch

from blsp_kd.layout.batch import lengths_to_mask
from blsp_kd.models.adapters import (
    CFormer,
    CFormerConfig,
    ConvSubsampler,
    ConvSubsamplerConfig,
    build_adapter,
    vocabulary_readout,
)

ENCODER_DIM = 48
LLM_DIM = 32


def tiny_cformer(**overrides) -> CFormer:
    torch.manual_seed(0)
    config = CFormerConfig(encoder_dim=ENCODER_DIM, llm_dim=LLM_DIM, num_heads=4, ffn_dim=96, **overrides)
    return CFormer(config)


def padded_frames(lengths: list[int], dim: int = ENCODER_DIM) -> tuple[torch.Tensor, torch.Tensor]:
    """Random frames with random garbage (not zeros) in the padding, to show the padding is never read."""
    generator = torch.Generator().manual_seed(1)
    hidden = torch.randn(len(lengths), max(lengths), dim, generator=generator)
    return hidden, lengths_to_mask(torch.tensor(lengths), max(lengths))


def test_cformer_gives_exactly_num_tokens_vectors():
    cformer = tiny_cformer().eval()
    hidden, frame_mask = padded_frames([40, 25, 60])
    num_tokens = torch.tensor([3, 7, 1])
    out = cformer(hidden, frame_mask, num_tokens)
    assert out.embeds.shape == (3, 7, LLM_DIM)
    assert out.num_tokens.tolist() == [3, 7, 1]
    assert out.mask.tolist() == [[j < n for j in range(7)] for n in (3, 7, 1)]
    assert (out.embeds[~out.mask] == 0).all()
    assert (out.embeds[out.mask].abs().sum(dim=-1) > 0).all()
    assert out.cif_weights.shape == (3, 7, 60)
    # each valid token integrates a total weight of 1; padded frames give nothing
    torch.testing.assert_close(out.cif_weights.sum(dim=-1)[out.mask], torch.ones(11), atol=1e-5, rtol=0)
    assert (out.cif_weights.transpose(1, 2)[~frame_mask] == 0).all()


def test_cformer_free_inference_predicts_count_from_alpha_sum():
    cformer = tiny_cformer().eval()
    with torch.no_grad():
        cformer.alpha_bias.fill_(0.0)  # α ≈ 0.5 per frame: counts well above 1
    hidden, frame_mask = padded_frames([40, 11, 3])
    out = cformer(hidden, frame_mask)
    expected = [max(1, round(alpha_sum)) for alpha_sum in out.alpha_sum.tolist()]
    assert out.num_tokens.tolist() == expected
    assert expected[0] > 5 and expected[2] >= 1
    assert out.mask.sum(dim=1).tolist() == expected
    assert out.embeds.shape[1] == max(expected)

    with torch.no_grad():
        cformer.alpha_bias.fill_(-20.0)  # Σα ≈ 0 still gives one token
    assert cformer(hidden, frame_mask).num_tokens.tolist() == [1, 1, 1]


def test_cformer_alpha_init_gives_a_sane_token_rate():
    cformer = tiny_cformer().eval()
    hidden, frame_mask = padded_frames([500])  # 10 s at 50 frames/s
    tokens_per_second = cformer(hidden, frame_mask).alpha_sum.item() / 10
    assert 1.0 < tokens_per_second < 6.0


@pytest.mark.parametrize("post_layers", ["encoder", "whisper_decoder"])
@pytest.mark.parametrize("num_tokens", [torch.tensor([4, 9]), None])
def test_cformer_is_batch_invariant(num_tokens, post_layers):
    cformer = tiny_cformer(alpha_bias_init=-1.0, post_layers=post_layers).eval()
    hidden, frame_mask = padded_frames([23, 70])
    batch = cformer(hidden, frame_mask, num_tokens)
    alone = cformer(hidden[:1, :23], frame_mask[:1, :23], None if num_tokens is None else num_tokens[:1])
    n = alone.num_tokens[0].item()
    assert batch.num_tokens[0].item() == n
    torch.testing.assert_close(batch.embeds[0, :n], alone.embeds[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(batch.alpha_sum[0], alone.alpha_sum[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(batch.cif_weights[0, :n, :23], alone.cif_weights[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("post_layers", ["encoder", "whisper_decoder"])
def test_gradients_reach_every_cformer_parameter(post_layers):
    cformer = tiny_cformer(post_layers=post_layers).train()
    hidden, frame_mask = padded_frames([30, 18])
    hidden.requires_grad_(True)
    out = cformer(hidden, frame_mask, torch.tensor([5, 2]))
    loss = out.embeds.pow(2).sum() + (out.alpha_sum - torch.tensor([5.0, 2.0])).abs().sum()
    loss.backward()
    for name, parameter in cformer.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert (hidden.grad[~frame_mask] == 0).all()
    assert hidden.grad[frame_mask].abs().sum() > 0


def test_cformer_alpha_in_training_is_the_dropout_free_alpha_of_inference():
    cformer = tiny_cformer(dropout=0.5)
    hidden, frame_mask = padded_frames([30, 18])
    num_tokens = torch.tensor([5, 2])
    with torch.no_grad():
        inference = cformer.eval()(hidden, frame_mask, num_tokens)
        training = cformer.train()(hidden, frame_mask, num_tokens)
        training_again = cformer(hidden, frame_mask, num_tokens)
    torch.testing.assert_close(training.alpha_sum, inference.alpha_sum)
    torch.testing.assert_close(training.cif_weights, inference.cif_weights)
    assert not torch.allclose(training.embeds, training_again.embeds)  # the vectors still see dropout
    assert all(module.training for module in cformer.modules())  # the dropout-free pass restored every mode


def test_cformer_rejects_wrong_width():
    with pytest.raises(ValueError, match="encoder_dim"):
        tiny_cformer()(torch.randn(1, 5, ENCODER_DIM + 1), torch.ones(1, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="num_heads"):
        CFormerConfig(encoder_dim=50, llm_dim=8, num_heads=4)


def tiny_whisper_decoder(num_layers: int = 3, num_heads: int = 4, ffn_dim: int = 96):
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(2)
    config = WhisperConfig(d_model=ENCODER_DIM, encoder_layers=1, encoder_attention_heads=4, decoder_layers=num_layers,
                           decoder_attention_heads=num_heads, decoder_ffn_dim=ffn_dim, vocab_size=64,
                           pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
                           attn_implementation="eager")
    decoder = WhisperModel(config).get_decoder().eval()
    with torch.no_grad():  # Whisper's LayerNorms start at (1, 0): give them values a wrong copy would show
        for name, parameter in decoder.named_parameters():
            if "layer_norm" in name:
                parameter.normal_()
    return decoder


def test_post_cif_decoder_layers_compute_what_whispers_decoder_layers_compute():
    """post_layers: whisper_decoder + load_whisper_decoder: each post-CIF layer is its Whisper decoder layer without
    the causal mask — same output for the same token vectors and frames — and Whisper's other layers are unused."""
    decoder = tiny_whisper_decoder(num_layers=3)
    cformer = tiny_cformer(post_layers="whisper_decoder", num_post_layers=2).eval()
    cformer.load_whisper_decoder(decoder)
    generator = torch.Generator().manual_seed(3)
    tokens, frames = torch.randn(2, 6, ENCODER_DIM, generator=generator), torch.randn(2, 11, ENCODER_DIM,
                                                                                   generator=generator)
    not_causal = torch.zeros(2, 1, 6, 6)  # an additive mask of zeros: every token sees every token
    for ours, theirs in zip(cformer.post_layers, decoder.layers, strict=False):
        with torch.no_grad():
            expected = theirs(tokens, attention_mask=not_causal, encoder_hidden_states=frames)
            expected = expected[0] if isinstance(expected, tuple) else expected
            torch.testing.assert_close(ours(tokens, frames), expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"num_heads 4 \(Whisper's decoder: 6\)"):
        tiny_cformer(post_layers="whisper_decoder").load_whisper_decoder(tiny_whisper_decoder(num_heads=6))
    with pytest.raises(ValueError, match=r"num_post_layers 2 \(Whisper's decoder: 1\)"):
        tiny_cformer(post_layers="whisper_decoder").load_whisper_decoder(tiny_whisper_decoder(num_layers=1))
    with pytest.raises(ValueError, match="post_layers is not 'whisper_decoder'"):
        tiny_cformer().load_whisper_decoder(decoder)
    with pytest.raises(ValueError, match="post_layers 'decoder'"):
        tiny_cformer(post_layers="decoder")


def tiny_conv() -> ConvSubsampler:
    torch.manual_seed(0)
    return ConvSubsampler(
        ConvSubsamplerConfig(encoder_dim=ENCODER_DIM, llm_dim=LLM_DIM, bottleneck_dim=24)
    ).eval()


@pytest.mark.parametrize("num_frames", [1, 2, 7, 8, 9, 15, 16, 17, 100, 1500])
def test_conv_length_formula_matches_conv_output(num_frames):
    conv = tiny_conv()
    hidden, frame_mask = padded_frames([num_frames])
    out = conv(hidden, frame_mask)
    expected = conv.output_lengths(torch.tensor([num_frames]))
    assert out.embeds.shape == (1, expected.item(), LLM_DIM)  # the actual conv output length
    assert expected.item() == math.ceil(num_frames / 8)
    assert out.num_tokens.tolist() == expected.tolist()
    assert out.mask.all()
    assert out.alpha_sum is None and out.cif_weights is None


def test_conv_is_batch_invariant_and_ignores_num_tokens():
    conv = tiny_conv()
    lengths = [21, 64, 9]
    hidden, frame_mask = padded_frames(lengths)
    batch = conv(hidden, frame_mask, num_tokens=torch.tensor([100, 100, 100]))
    assert batch.num_tokens.tolist() == [3, 8, 2]
    assert batch.mask.sum(dim=1).tolist() == [3, 8, 2]
    for index, length in enumerate(lengths):
        alone = conv(hidden[index : index + 1, :length], frame_mask[index : index + 1, :length])
        n = alone.num_tokens[0].item()
        torch.testing.assert_close(batch.embeds[index, :n], alone.embeds[0], atol=1e-5, rtol=0)
        assert (batch.embeds[index, n:] == 0).all()


def test_build_adapter():
    cformer = build_adapter("cformer", CFormerConfig(encoder_dim=32, llm_dim=16, num_heads=4))
    assert isinstance(cformer, CFormer) and cformer.out_proj.out_features == 16
    conv = build_adapter("conv", ConvSubsamplerConfig(encoder_dim=32, llm_dim=16))
    assert isinstance(conv, ConvSubsampler)
    with pytest.raises(ValueError, match="unknown adapter kind"):
        build_adapter("qformer", CFormerConfig())
    with pytest.raises(ValueError, match="CFormerConfig"):
        build_adapter("cformer", ConvSubsamplerConfig(encoder_dim=32, llm_dim=16))


def test_vocabulary_readout_is_the_token_classifiers_mean_embedding():
    # The docstring's worked example.
    embeddings = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    out = vocabulary_readout(torch.tensor([[[2.0, 0.2]]]), torch.tensor([[True]]), embeddings, temperature=0.1)
    assert out[0, 0].tolist() == pytest.approx([0.99987, 0.00013], abs=1e-5)
    # Random vectors over a random vocabulary: the formula, a near-zero temperature gives the nearest embedding,
    # padded rows stay 0, gradients reach the vectors.
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(50, LLM_DIM, generator=generator) * 0.1
    vectors = torch.randn(2, 4, LLM_DIM, generator=generator, requires_grad=True)
    mask = lengths_to_mask(torch.tensor([4, 2]), 4)
    out = vocabulary_readout(vectors, mask, embeddings, temperature=0.05)
    cosines = torch.nn.functional.cosine_similarity(vectors[..., None, :], embeddings, dim=-1)
    expected = torch.softmax(cosines / 0.05, dim=-1) @ embeddings
    assert torch.allclose(out[mask], expected[mask], atol=1e-6)
    assert (out[~mask] == 0).all()
    hard = vocabulary_readout(vectors, mask, embeddings, temperature=1e-6)
    assert torch.allclose(hard[mask], embeddings[cosines.argmax(-1)][mask], atol=1e-6)
    out[mask].sum().backward()
    assert vectors.grad[mask].abs().sum() > 0 and (vectors.grad[~mask] == 0).all()
