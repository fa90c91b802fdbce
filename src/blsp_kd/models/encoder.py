"""Whisper log-mel features and the Whisper encoder, run on the real length of each clip (or, as an ablation, on
stock Whisper's 30 s-padded input).

Stock Whisper pads every clip to 30 s and lets attention see the padding. Here each clip keeps its own length:

    audio (n samples, 16 kHz) ─► log-mel: F = n // 160 frames (100 frames/s)
        ─► conv1 (stride 1), conv2 (stride 2): T = ceil(F / 2) frames (50 frames/s)
        ─► + positional embeddings[:T] ─► encoder layers with a key padding mask ─► layer_norm

Padded frames never change valid ones, so a clip gives the same output alone or in a padded batch. Clips longer
than the encoder's window (max_source_positions · 2 = 3000 mel frames = 30 s) are cut into 30 s windows, each
encoded with positions restarting at 0, and the outputs concatenated (1500 frames per full window).

`encoder_input="padded"` (an ablation, METHOD §9) runs each window as stock Whisper does instead: the features
padded to 3000 frames with the features of silence (`silence_features`), all 1500 frames through the layers without
a mask, then cut to the clip's T frames. Stock Whisper's decoder was trained on such states.
"""

import math

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
ENCODER_INPUTS = ("real", "padded")  # each window on its own length | padded to 30 s as stock Whisper pads it
# Whisper's normalised log-mel of zero audio when the clip's maximum is more than 2 below it: the log10 floor 1e-10,
# normalised as (x + 4) / 4.
SILENCE_FLOOR = (math.log10(1e-10) + 4) / 4


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
    """A HF `WhisperEncoder` on each ≤ 30 s window of a clip, in one of two ways (`encoder_input`):

        real    the window on its own length, with a key padding mask (METHOD §1; the default)
        padded  stock Whisper's input: the window padded to 30 s with the features of silence, all 1500 frames
                through the layers without a mask, then cut to the clip's frames (an ablation, METHOD §9)

    Output frame rate 50 frames/s either way. Build it from `WhisperModel.get_encoder()` or
    `WhisperForConditionalGeneration.model.encoder`; the weights are shared, not copied.
    """

    def __init__(self, whisper_encoder: WhisperEncoder, encoder_input: str = "real"):
        super().__init__()
        attention = whisper_encoder.config._attn_implementation
        if attention not in SUPPORTED_ATTENTION:
            raise ValueError(
                f"SpeechEncoder supports attn_implementation {SUPPORTED_ATTENTION}, got {attention!r}; "
                "load Whisper with attn_implementation='sdpa'"
            )
        if encoder_input not in ENCODER_INPUTS:
            raise ValueError(f"encoder_input must be one of {ENCODER_INPUTS}, got {encoder_input!r}")
        self.encoder = whisper_encoder
        self.encoder_input = encoder_input
        self.window_frames = whisper_encoder.config.max_source_positions * 2  # mel frames per 30 s window

    @property
    def dim(self) -> int:
        return self.encoder.config.d_model

    @staticmethod
    def frames_for(feature_lengths: Tensor) -> Tensor:
        """Encoder output frames for F mel frames: T = ceil(F / 2) (conv2 has stride 2, windows are even)."""
        return (feature_lengths - 1) // 2 + 1

    @staticmethod
    def silence_features(features: Tensor, feature_lengths: Tensor) -> Tensor:
        """[B]: each clip's normalised log-mel of silence, the value of stock Whisper's padding frames (zero audio).

        Whisper takes log10 of the mel power floored at 1e-10, raises it to at least the clip's maximum − 8 and
        normalises by (x + 4) / 4; zero audio thus becomes (max − 8 + 4) / 4 = (the clip's maximum normalised
        feature) − 2, or SILENCE_FLOOR (−1.5) when that is lower. features [B, F, n_mels] as `log_mel` gives them.
        """
        inside = lengths_to_mask(feature_lengths, features.shape[1])[:, :, None]
        clip_max = features.float().masked_fill(~inside, -math.inf).amax(dim=(1, 2))
        return (clip_max - 2).clamp(min=SILENCE_FLOOR)

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
        silence = self.silence_features(features, feature_lengths)  # read in padded mode, the same in every window
        features = features.to(self.encoder.conv1.weight.dtype)

        window_outputs = []
        for start in range(0, num_frames, self.window_frames):
            window = features[:, start : start + self.window_frames]
            window_lengths = (feature_lengths - start).clamp(0, window.shape[1])
            has_frames = window_lengths > 0  # short clips in a batch with a long one have no frames here
            hidden = self.encode_window(window[has_frames], window_lengths[has_frames], silence[has_frames])
            window_hidden = hidden.new_zeros(batch_size, hidden.shape[1], hidden.shape[2])
            window_hidden[has_frames] = hidden
            window_outputs.append(window_hidden)
        # Every window but a clip's last is full (1500 frames), so each clip's valid frames form a prefix.
        hidden = torch.cat(window_outputs, dim=1)
        frame_mask = lengths_to_mask(self.frames_for(feature_lengths), hidden.shape[1])
        return hidden, frame_mask

    def encode_window(self, features: Tensor, feature_lengths: Tensor, silence: Tensor) -> Tensor:
        """One ≤ 30 s window: features [B, F, n_mels], F ≤ window_frames, and each clip's silence features [B]
        -> hidden [B, ceil(F/2), D], padding 0."""
        frame_mask = lengths_to_mask(self.frames_for(feature_lengths), self.frames_for(features.shape[1]))
        if self.encoder_input == "padded":
            hidden = self.encode_padded(features, feature_lengths, silence)[:, : frame_mask.shape[1]]
        else:
            hidden = self.encode_real_length(features, feature_lengths, frame_mask)
        return hidden * frame_mask[:, :, None]

    def encode_real_length(self, features: Tensor, feature_lengths: Tensor, frame_mask: Tensor) -> Tensor:
        """The window on its own length: [B, F, n_mels] -> [B, ceil(F/2), D]; padded frames never reach valid ones."""
        encoder = self.encoder
        mel_mask = lengths_to_mask(feature_lengths, features.shape[1])[:, None, :]  # [B, 1, F]
        # Zero everything past each clip's end before each conv, so the convs see the zero padding they would
        # see on the clip alone (conv1 reads one frame past the end, conv2 one more for odd F).
        inputs = features.transpose(1, 2) * mel_mask  # [B, n_mels, F]
        inputs = nn.functional.gelu(encoder.conv1(inputs)) * mel_mask
        inputs = nn.functional.gelu(encoder.conv2(inputs))  # [B, D, T]
        hidden = inputs.transpose(1, 2)
        # Additive key padding mask [B, 1, 1, T]: 0 on valid keys, the dtype's minimum on padded ones.
        padding_bias = torch.zeros(frame_mask.shape, dtype=hidden.dtype, device=hidden.device)
        padding_bias = padding_bias.masked_fill(~frame_mask, torch.finfo(hidden.dtype).min)
        return self.run_layers(hidden, padding_bias[:, None, None, :])

    def encode_padded(self, features: Tensor, feature_lengths: Tensor, silence: Tensor) -> Tensor:
        """The window as stock Whisper runs it: padded to window_frames with each clip's silence features, no
        attention mask. [B, F, n_mels] -> [B, window_frames / 2, D]."""
        encoder = self.encoder
        batch_size, num_frames, num_mel_bins = features.shape
        inside = lengths_to_mask(feature_lengths, self.window_frames)[:, :, None]  # [B, window_frames, 1]
        features = nn.functional.pad(features, (0, 0, 0, self.window_frames - num_frames))
        silence = silence.to(features.dtype)[:, None, None].expand(batch_size, self.window_frames, num_mel_bins)
        inputs = torch.where(inside, features, silence).transpose(1, 2)  # [B, n_mels, window_frames]
        inputs = nn.functional.gelu(encoder.conv1(inputs))
        inputs = nn.functional.gelu(encoder.conv2(inputs))
        return self.run_layers(inputs.transpose(1, 2), attention_mask=None)

    def run_layers(self, hidden: Tensor, attention_mask: Tensor | None) -> Tensor:
        """Positional embeddings, the encoder layers (dropout and layerdrop in training, as stock) and the final
        norm: [B, T, D] -> [B, T, D]."""
        encoder = self.encoder
        hidden = hidden + encoder.embed_positions.weight[: hidden.shape[1]]
        hidden = nn.functional.dropout(hidden, p=encoder.dropout, training=self.training)
        for layer in encoder.layers:
            if self.training and encoder.layerdrop > 0.0 and torch.rand([]) < encoder.layerdrop:
                continue
            hidden = layer(hidden, attention_mask)
        return encoder.layer_norm(hidden)
