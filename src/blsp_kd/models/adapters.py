"""Adapters from Whisper encoder frames to LLM input vectors.

CFormer (METHOD §1), one vector per transcript token:

    hidden [B, T, D] ─► pre-CIF transformer layers (key padding mask)
        ─► α_t = sigmoid(last channel_t + alpha_bias) · frame_mask_t   (in training: of a dropout-free pass)
        ─► CIF on the other D − 1 channels ─► n vectors [B, N, D−1] ─► Linear(D−1 → D)
        ─► post-CIF transformer layers (token padding mask) ─► LayerNorm + Linear(D → llm_dim)

    With `post_layers: whisper_decoder` the post-CIF layers are Whisper decoder layers instead (self-attention over
    the token vectors, not causal; cross-attention to the Whisper encoder's frames; FFN), initialised from the first
    layers of Whisper's own decoder (`load_whisper_decoder` below): the cross-attention that reads words from the frames
    for Whisper's 680k-hour decoder, here reading them for the vector that stands for each token.

ConvSubsampler, the BLSP v1 baseline: three Conv1d (kernel 5, stride 2) + GELU ≈ 8× fewer frames, then a
bottleneck MLP. It does not give one vector per token, so it supports response losses only.

Both are batch invariant: padded positions never change valid outputs, and padded output rows are 0. What an
adapter provides is its class attribute `aligned_to_tokens`: True when, given the transcript's n, it emits exactly
n vectors, so speech position i is transcript position i (input KL, token_ce, the teacher cache need that).
"""

from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from blsp_kd.layout.batch import lengths_to_mask
from blsp_kd.losses import token_cosines
from blsp_kd.models.cif import cif


@dataclass
class AdapterOutput:
    embeds: Tensor  # [B, N, llm_dim] speech vectors for the LLM; padded rows are 0
    mask: Tensor  # [B, N] bool, first num_tokens[b] True
    num_tokens: Tensor  # [B] long
    alpha_sum: Tensor | None  # [B] unscaled Σα for the CIF quantity loss (CFormer); None for conv
    cif_weights: Tensor | None  # [B, N, T] CIF integration weights (CFormer); None for conv
    vectors: Tensor | None = None  # [B, N, llm_dim] the adapter's own vectors when a vocabulary readout replaced
    # `embeds` (`vocabulary_readout`); None: `embeds` are the adapter's own
    readout_log_probs: Tensor | None = None  # [B, N, V] float32 log q of the decoder readout that `embeds` are
    # the mean embedding under (models/decoder_readout.py), padded rows 0; None without one

    @property
    def adapter_vectors(self) -> Tensor:
        """The vectors the adapter emitted (what token_ce and speech_rms train), before any readout."""
        return self.embeds if self.vectors is None else self.vectors


def vocabulary_readout(vectors: Tensor, mask: Tensor, token_embeddings: Tensor, temperature: float) -> Tensor:
    """Each speech vector replaced by the mean of the LLM's input embeddings under the token classifier's
    distribution over the vocabulary (the classifier of `speech_token_ce`, at its own temperature T):

        p(v) = softmax(cos(v, E_k) / T over k),   readout(v) = Σ_k p_k(v) · E_k

    so the LLM reads a point on (or near) its own embeddings: a confident vector becomes its token's embedding, an
    unsure one a mixture of its candidates. T → 0 is the nearest embedding (a hard choice). Differentiable, so a
    model can also be trained through it.

    Worked example (2-dim embeddings E = [[1, 0], [0, 1]], T = 0.1): v = [2, 0.2] has cosines 0.995, 0.0995,
    p = softmax([9.95, 0.995]) ≈ [0.99987, 0.00013], readout ≈ [0.99987, 0.00013]: its rms follows the embedding's,
    not v's.

    Args:
        vectors: [B, N, H] the adapter's vectors; mask: [B, N] bool, the valid ones (padded rows come back 0).
        token_embeddings: [V, H] the LLM's input embedding matrix (frozen).
    Returns:
        [B, N, H] in the vectors' dtype.
    """
    cosines = token_cosines(vectors, token_embeddings)  # [B, N, V]
    readout = torch.softmax(cosines / temperature, dim=-1) @ token_embeddings.detach().float()
    return (readout * mask[..., None]).to(vectors.dtype)


@dataclass
class CFormerConfig:
    encoder_dim: int | None = None  # None until the base models fill them in
    llm_dim: int | None = None
    num_pre_layers: int = 2
    num_post_layers: int = 2
    num_heads: int = 6
    ffn_dim: int | None = None  # None: 4 · encoder_dim
    dropout: float = 0.1
    # sigmoid(−3) ≈ 0.047 per frame ≈ 2.4 tokens/s at 50 frames/s, the order of LLM tokens per second of speech
    # (≈ 2.5–4), so the CIF quantity loss starts small. A bias of 0 would start at ≈ 25 tokens/s.
    alpha_bias_init: float = -3.0
    post_layers: str = "encoder"  # "encoder": self-attention + FFN | "whisper_decoder": + cross-attention to the
    # frames, initialised from Whisper's decoder (its heads and FFN width must match num_heads and ffn_dim)

    def __post_init__(self):
        if self.post_layers not in POST_LAYERS:
            raise ValueError(f"CFormerConfig: post_layers {self.post_layers!r}; choose from {list(POST_LAYERS)}")
        if self.encoder_dim is not None and self.encoder_dim % self.num_heads != 0:
            raise ValueError(
                f"CFormerConfig: encoder_dim {self.encoder_dim} is not divisible by num_heads {self.num_heads}"
            )


POST_LAYERS = {"encoder": nn.TransformerEncoderLayer, "whisper_decoder": nn.TransformerDecoderLayer}


def transformer_layers(config: CFormerConfig, num_layers: int, layer_class=nn.TransformerEncoderLayer) -> nn.ModuleList:
    """Pre-LN layers with GELU, as Whisper's: encoder layers, or decoder layers (+ cross-attention)."""
    return nn.ModuleList(
        layer_class(
            d_model=config.encoder_dim,
            nhead=config.num_heads,
            dim_feedforward=config.ffn_dim or 4 * config.encoder_dim,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        for _ in range(num_layers)
    )


class CFormer(nn.Module):
    aligned_to_tokens = True

    def __init__(self, config: CFormerConfig):
        super().__init__()
        self.config = config
        dim = config.encoder_dim
        self.pre_layers = transformer_layers(config, config.num_pre_layers)
        # shape [1], not a 0-dim scalar: DeepSpeed (0.19) broadcasts every parameter viewed as bytes, which a 0-dim
        # tensor cannot be; checkpoints written with a scalar still load (_load_from_state_dict)
        self.alpha_bias = nn.Parameter(torch.tensor([config.alpha_bias_init]))
        self.cif_proj = nn.Linear(dim - 1, dim)
        self.post_layers = transformer_layers(config, config.num_post_layers, POST_LAYERS[config.post_layers])
        self.out_norm = nn.LayerNorm(dim)
        self.out_proj = nn.Linear(dim, config.llm_dim)

    @property
    def output_layer(self) -> nn.Linear:
        return self.out_proj

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args) -> None:
        if (bias := state_dict.get(prefix + "alpha_bias")) is not None and bias.dim() == 0:  # an older checkpoint's
            state_dict[prefix + "alpha_bias"] = bias.reshape(1)
        super()._load_from_state_dict(state_dict, prefix, *args)

    def pre_cif(self, hidden: Tensor, frame_mask: Tensor) -> Tensor:
        for layer in self.pre_layers:
            hidden = layer(hidden, src_key_padding_mask=~frame_mask)
        return hidden

    def forward(self, hidden: Tensor, frame_mask: Tensor, num_tokens: Tensor | None = None) -> AdapterOutput:
        """hidden [B, T, D], frame_mask [B, T] bool, num_tokens [B] long (the transcript's n) or None.

        With num_tokens each sample gets exactly n vectors; with None (free inference) n = max(1, round(Σα)).
        """
        if hidden.shape[-1] != self.config.encoder_dim:
            raise ValueError(
                f"CFormer expects encoder_dim {self.config.encoder_dim}, got hidden {tuple(hidden.shape)}"
            )
        frames = self.pre_cif(hidden, frame_mask)
        # α comes from a dropout-free pass also in training, so that the firing rate learned is the one inference
        # gets. With α read from the dropout pass, the sigmoid of a noisy logit fired more on average than the
        # clean logit does: one demo run learned Σα ≈ n under dropout and 0.32 n without (docs/RESULTS.md).
        alpha_frames = frames
        if self.training and self.config.dropout > 0:
            with dropout_off(self.pre_layers):
                alpha_frames = self.pre_cif(hidden, frame_mask)
        alpha = torch.sigmoid(alpha_frames[..., -1] + self.alpha_bias) * frame_mask
        integrated = cif(frames[..., :-1], alpha, frame_mask, num_tokens)

        tokens = self.cif_proj(integrated.vectors)
        for layer in self.post_layers:
            if isinstance(layer, nn.TransformerDecoderLayer):  # cross-attention to the encoder's frames
                tokens = layer(tokens, hidden, tgt_key_padding_mask=~integrated.mask,
                               memory_key_padding_mask=~frame_mask)
            else:
                tokens = layer(tokens, src_key_padding_mask=~integrated.mask)
        embeds = self.out_proj(self.out_norm(tokens)) * integrated.mask[..., None]
        return AdapterOutput(
            embeds=embeds,
            mask=integrated.mask,
            num_tokens=integrated.num_tokens,
            alpha_sum=integrated.alpha_sum,
            cif_weights=integrated.weights,
        )

    def load_whisper_decoder(self, decoder: nn.Module) -> None:
        """Copy the first num_post_layers layers of a Whisper decoder (transformers' WhisperDecoder) into the
        post-CIF decoder layers. Whisper's k projections have no bias: theirs here start at 0."""
        config, first = self.config, decoder.layers[0]
        problem = "the CFormer's post-CIF layers cannot start from this Whisper decoder: "
        if config.post_layers != "whisper_decoder":
            raise ValueError(problem + "post_layers is not 'whisper_decoder'")
        must_match = {"num_heads": (config.num_heads, first.self_attn.num_heads),
                      "ffn_dim": (config.ffn_dim or 4 * config.encoder_dim, first.fc1.out_features),
                      "encoder_dim": (config.encoder_dim, first.fc1.in_features)}
        wrong = [f"{name} {ours} (Whisper's decoder: {theirs})" for name, (ours, theirs) in must_match.items()
                 if ours != theirs]
        if config.num_post_layers > len(decoder.layers):
            wrong.append(f"num_post_layers {config.num_post_layers} (Whisper's decoder: {len(decoder.layers)})")
        if wrong:
            raise ValueError(problem + ", ".join(wrong))
        with torch.no_grad():
            for target, source in zip(self.post_layers, decoder.layers, strict=False):
                for ours, theirs in ((target.self_attn, source.self_attn),
                                     (target.multihead_attn, source.encoder_attn)):
                    q, k, v = theirs.q_proj, theirs.k_proj, theirs.v_proj
                    ours.in_proj_weight.copy_(torch.cat([q.weight, k.weight, v.weight]))
                    ours.in_proj_bias.copy_(torch.cat([q.bias, torch.zeros_like(v.bias), v.bias]))
                    ours.out_proj.load_state_dict(theirs.out_proj.state_dict())
                pairs = ((target.norm1, source.self_attn_layer_norm), (target.norm2, source.encoder_attn_layer_norm),
                         (target.norm3, source.final_layer_norm), (target.linear1, source.fc1),
                         (target.linear2, source.fc2))
                for ours, theirs in pairs:
                    ours.load_state_dict(theirs.state_dict())


@contextmanager
def dropout_off(module: nn.Module):
    """Run `module` (and its children) in eval mode inside the block; their previous modes are restored after."""
    modes = [(child, child.training) for child in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for child, training in modes:
            child.training = training


@dataclass
class ConvSubsamplerConfig:
    encoder_dim: int | None = None  # None until the base models fill them in
    llm_dim: int | None = None
    hidden_dim: int | None = None  # conv channels; None: encoder_dim
    bottleneck_dim: int = 512


class ConvSubsampler(nn.Module):
    """BLSP v1 adapter: 3 × (Conv1d(kernel 5, stride 2, padding 2) + GELU), then Linear → GELU → Linear.

    Each conv maps L frames to ceil(L / 2), so T frames become ceil(T / 8) vectors (`output_lengths`).
    """

    aligned_to_tokens = False

    def __init__(self, config: ConvSubsamplerConfig):
        super().__init__()
        self.config = config
        hidden_dim = config.hidden_dim or config.encoder_dim
        self.convs = nn.ModuleList(
            nn.Conv1d(in_dim, hidden_dim, kernel_size=5, stride=2, padding=2)
            for in_dim in (config.encoder_dim, hidden_dim, hidden_dim)
        )
        self.bottleneck = nn.Sequential(
            nn.Linear(hidden_dim, config.bottleneck_dim),
            nn.GELU(),
            nn.Linear(config.bottleneck_dim, config.llm_dim),
        )

    @property
    def output_layer(self) -> nn.Linear:
        return self.bottleneck[-1]

    @staticmethod
    def conv_output_lengths(lengths: Tensor) -> Tensor:
        """One conv: floor((L + 2·2 − 5) / 2) + 1 = ceil(L / 2)."""
        return (lengths - 1) // 2 + 1

    def output_lengths(self, frame_lengths: Tensor) -> Tensor:
        for _ in self.convs:
            frame_lengths = self.conv_output_lengths(frame_lengths)
        return frame_lengths

    def forward(self, hidden: Tensor, frame_mask: Tensor, num_tokens: Tensor | None = None) -> AdapterOutput:
        """hidden [B, T, D], frame_mask [B, T] bool (a prefix per sample); num_tokens is ignored."""
        lengths = frame_mask.sum(dim=1)
        features = hidden.transpose(1, 2)  # [B, D, T]
        for conv in self.convs:
            # Zero past each sample's end so the kernel sees the zero padding it would see on the sample alone.
            features = features * lengths_to_mask(lengths, features.shape[-1])[:, None, :]
            features = nn.functional.gelu(conv(features))
            lengths = self.conv_output_lengths(lengths)
        mask = lengths_to_mask(lengths, features.shape[-1])
        embeds = self.bottleneck(features.transpose(1, 2)) * mask[..., None]
        return AdapterOutput(embeds=embeds, mask=mask, num_tokens=lengths, alpha_sum=None, cif_weights=None)


ADAPTERS = {"cformer": (CFormer, CFormerConfig), "conv": (ConvSubsampler, ConvSubsamplerConfig)}


def build_adapter(kind: str, config: CFormerConfig | ConvSubsamplerConfig) -> nn.Module:
    """kind "cformer" or "conv", with its config (dimensions filled in)."""
    if kind not in ADAPTERS:
        raise ValueError(f"unknown adapter kind {kind!r}; expected one of {sorted(ADAPTERS)}")
    adapter_class, config_class = ADAPTERS[kind]
    if not isinstance(config, config_class):
        raise ValueError(f"adapter {kind!r} needs a {config_class.__name__}, got {type(config).__name__}")
    return adapter_class(config)
