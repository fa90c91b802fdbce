"""Whisper log-mel features and the Whisper encoder, run on the real length of each clip.

Stock Whisper pads every clip to 30 s and lets attention see the padding. Here each clip keeps its own length:

    audio (n samples, 16 kHz) ─► log-mel: F = n // 160 frames (100 frames/s)
        ─► conv1 (stride 1), conv2 (stride 2): T = ceil(F / 2) frames (50 frames/s)
        ─► + positional embeddings[:T] ─► encoder layers with a key padding mask ─► layer_norm

Padded frames never change valid ones, so a clip gives the same output alone or in a padded batch. Clips longer
than the encoder's window (max_source_positions · 2 = 3000 mel frames = 30 s) are cut into 30 s windows, each
encoded with positions restarting at 0, and the outputs concatenated (1500 frames per full window).
"""

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor
from transformers import WhisperFeatureExtractor
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from blsp_kd.layout.batch import lengths_to_mask
from blsp_kd.layout.clips import SAMPLE_RATE

# The 4-D additive padding mask below is what eager and SDPA attention take; flash/flex attention want other forms.
SUPPORTED_ATTENTION = ("eager", "sdpa")


def min_clip_samples(feature_extractor: WhisperFeatureExtractor) -> int:
    """The shortest clip `log_mel` takes: more than n_fft / 2 samples, since the STFT reflect-pads n_fft / 2 samples on
    each side (Whisper: 201 samples, 12.6 ms at 16 kHz). Loaders reject shorter clips by this number."""
    return feature_extractor.n_fft // 2 + 1


def log_mel(audios: list[np.ndarray], feature_extractor: WhisperFeatureExtractor) -> tuple[Tensor, Tensor]:
    """Whisper log-mel features of each clip on its real length, right-padded into a batch.

    Each clip goes through the feature extractor alone, without padding or truncation, because Whisper's
    normalisation (floor at max − 8, then (x + 4) / 4) uses the clip's own maximum. The result equals the stock
    30 s-padded features of the clip on every frame whose STFT window lies inside the clip (all but the last
    one or two, where stock sees zero padding and we see the STFT's reflect padding).

    audios: B float arrays at 16 kHz, each at least `min_clip_samples` long.
    Returns features [B, F_max, n_mels] float32 (padding = 0; the encoder masks it) and
    feature_lengths [B] long with F_b = n_b // hop_length.
    """
    min_samples = min_clip_samples(feature_extractor)
    per_clip = []
    for index, audio in enumerate(audios):
        if audio.ndim != 1 or audio.shape[0] < min_samples:
            raise ValueError(
                f"audio {index}: expected a mono clip of at least {min_samples} samples, got shape {audio.shape}"
            )
        # Features are inputs, always float32: under CPU autocast (bf16 validation) the extractor's torch STFT path
        # would compute in bf16 and then fail converting to numpy.
        with torch.autocast("cpu", enabled=False):
            features = feature_extractor(
                audio, sampling_rate=SAMPLE_RATE, padding="longest", truncation=False, return_tensors="np"
            ).input_features[0]  # [n_mels, F]
        per_clip.append(torch.from_numpy(features).T)
    feature_lengths = torch.tensor([features.shape[0] for features in per_clip], dtype=torch.long)
    features = nn.utils.rnn.pad_sequence(per_clip, batch_first=True, padding_value=0.0)
    return features.float(), feature_lengths


class SpeechEncoder(nn.Module):
    """A HF `WhisperEncoder` run on real lengths with a padding mask; output frame rate 50 frames/s.

    Build it from `WhisperModel.get_encoder()` or `WhisperForConditionalGeneration.model.encoder`; the weights
    are shared, not copied.
    """

    def __init__(self, whisper_encoder: WhisperEncoder):
        super().__init__()
        attention = whisper_encoder.config._attn_implementation
        if attention not in SUPPORTED_ATTENTION:
            raise ValueError(
                f"SpeechEncoder supports attn_implementation {SUPPORTED_ATTENTION}, got {attention!r}; "
                "load Whisper with attn_implementation='sdpa'"
            )
        self.encoder = whisper_encoder
        self.window_frames = whisper_encoder.config.max_source_positions * 2  # mel frames per 30 s window

    @property
    def dim(self) -> int:
        return self.encoder.config.d_model

    @staticmethod
    def frames_for(feature_lengths: Tensor) -> Tensor:
        """Encoder output frames for F mel frames: T = ceil(F / 2) (conv2 has stride 2, windows are even)."""
        return (feature_lengths - 1) // 2 + 1

    def forward(self, features: Tensor, feature_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """features [B, F, n_mels], feature_lengths [B] long (1 ≤ F_b ≤ F).

        Returns hidden [B, T, D] with T = ceil(F_max / 2) (zeros on padded frames) and frame_mask [B, T] bool.
        """
        batch_size, num_frames, num_mel_bins = features.shape
        if num_mel_bins != self.encoder.config.num_mel_bins:
            raise ValueError(
                f"features have {num_mel_bins} mel bins, the encoder expects {self.encoder.config.num_mel_bins}"
            )
        if feature_lengths.shape != (batch_size,) or not (
            (feature_lengths >= 1).all() and (feature_lengths <= num_frames).all()
        ):
            raise ValueError(
                f"feature_lengths must be [B] = [{batch_size}] values in 1..{num_frames}, got {feature_lengths.tolist()}"
            )
        features = features.to(self.encoder.conv1.weight.dtype)

        window_outputs = []
        for start in range(0, num_frames, self.window_frames):
            window = features[:, start : start + self.window_frames]
            window_lengths = (feature_lengths - start).clamp(0, window.shape[1])
            has_frames = window_lengths > 0  # short clips in a batch with a long one have no frames here
            hidden = self.encode_window(window[has_frames], window_lengths[has_frames])
            window_hidden = hidden.new_zeros(batch_size, hidden.shape[1], hidden.shape[2])
            window_hidden[has_frames] = hidden
            window_outputs.append(window_hidden)
        # Every window but a clip's last is full (1500 frames), so each clip's valid frames form a prefix.
        hidden = torch.cat(window_outputs, dim=1)
        frame_mask = lengths_to_mask(self.frames_for(feature_lengths), hidden.shape[1])
        return hidden, frame_mask

    def encode_window(self, features: Tensor, feature_lengths: Tensor) -> Tensor:
        """One ≤ 30 s window: features [B, F, n_mels], F ≤ window_frames -> hidden [B, ceil(F/2), D], padding 0."""
        encoder = self.encoder
        mel_mask = lengths_to_mask(feature_lengths, features.shape[1])[:, None, :]  # [B, 1, F]
        # Zero everything past each clip's end before each conv, so the convs see the zero padding they would
        # see on the clip alone (conv1 reads one frame past the end, conv2 one more for odd F).
        inputs = features.transpose(1, 2) * mel_mask  # [B, n_mels, F]
        inputs = nn.functional.gelu(encoder.conv1(inputs)) * mel_mask
        inputs = nn.functional.gelu(encoder.conv2(inputs))  # [B, D, T]
        hidden = inputs.transpose(1, 2)
        num_frames = hidden.shape[1]
        hidden = hidden + encoder.embed_positions.weight[:num_frames]
        hidden = nn.functional.dropout(hidden, p=encoder.dropout, training=self.training)

        frame_mask = lengths_to_mask(self.frames_for(feature_lengths), num_frames)
        # Additive key padding mask [B, 1, 1, T]: 0 on valid keys, the dtype's minimum on padded ones.
        padding_bias = torch.zeros(frame_mask.shape, dtype=hidden.dtype, device=hidden.device)
        padding_bias = padding_bias.masked_fill(~frame_mask, torch.finfo(hidden.dtype).min)
        attention_mask = padding_bias[:, None, None, :]
        for layer in encoder.layers:
            if self.training and encoder.layerdrop > 0.0 and torch.rand([]) < encoder.layerdrop:
                continue
            hidden = layer(hidden, attention_mask)
        hidden = encoder.layer_norm(hidden)
        return hidden * frame_mask[:, :, None]
