import math

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

from blsp_kd.models.encoder import SpeechEncoder, log_mel
from tiny import tiny_whisper

WINDOW = 3000  # mel frames per 30 s window for max_source_positions = 1500


def tiny_encoder(num_mel_bins: int = 80) -> SpeechEncoder:
    return SpeechEncoder(tiny_whisper(num_mel_bins=num_mel_bins, d_model=64)[0]).eval()


def padded_batch(lengths: list[int], num_mel_bins: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features with random garbage (not zeros) in the padding, to show the padding is never read."""
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(len(lengths), max(lengths), num_mel_bins, generator=generator)
    return features, torch.tensor(lengths)


@pytest.fixture(scope="module")
def encoder() -> SpeechEncoder:
    return tiny_encoder()


@torch.no_grad()
def test_full_window_equals_stock_whisper_encoder(encoder):
    features, lengths = padded_batch([WINDOW, WINDOW])
    hidden, frame_mask = encoder(features, lengths)
    stock = encoder.encoder(input_features=features.transpose(1, 2)).last_hidden_state
    assert hidden.shape == (2, 1500, 64)
    assert frame_mask.all()
    torch.testing.assert_close(hidden, stock, atol=1e-5, rtol=0)


@torch.no_grad()
def test_clip_in_padded_batch_equals_clip_alone(encoder):
    lengths = [317, 1200, 600, 2999]  # odd and even lengths: conv2 reads one frame past an odd end
    features, feature_lengths = padded_batch(lengths)
    hidden, frame_mask = encoder(features, feature_lengths)
    for index, length in enumerate(lengths):
        alone, alone_mask = encoder(features[index : index + 1, :length], feature_lengths[index : index + 1])
        num_frames = alone.shape[1]
        assert alone_mask.all()
        torch.testing.assert_close(hidden[index, :num_frames], alone[0], atol=1e-5, rtol=0)
        assert (hidden[index, num_frames:] == 0).all()


@torch.no_grad()
def test_frame_mask_has_ceil_half_the_mel_frames(encoder):
    lengths = [1, 2, 3, 160, 161, 1001]
    features, feature_lengths = padded_batch(lengths)
    hidden, frame_mask = encoder(features, feature_lengths)
    expected = [math.ceil(length / 2) for length in lengths]
    assert frame_mask.sum(dim=1).tolist() == expected
    assert hidden.shape[1] == max(expected)
    assert encoder.frames_for(feature_lengths).tolist() == expected
    # the mask is a prefix
    assert frame_mask.tolist() == [[t < n for t in range(hidden.shape[1])] for n in expected]


@torch.no_grad()
def test_long_clip_is_encoded_in_30s_windows(encoder):
    features, feature_lengths = padded_batch([4500, 1000])  # 45 s next to 10 s
    hidden, frame_mask = encoder(features, feature_lengths)
    assert hidden.shape == (2, 1500 + 750, 64)
    assert frame_mask.sum(dim=1).tolist() == [2250, 500]

    first_window, _ = encoder(features[:1, :WINDOW], torch.tensor([WINDOW]))
    second_window, _ = encoder(features[:1, WINDOW:4500], torch.tensor([1500]))
    torch.testing.assert_close(hidden[0, :1500], first_window[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(hidden[0, 1500:], second_window[0], atol=1e-5, rtol=0)

    short_alone, _ = encoder(features[1:, :1000], torch.tensor([1000]))
    torch.testing.assert_close(hidden[1, :500], short_alone[0], atol=1e-5, rtol=0)
    assert (hidden[1, 500:] == 0).all()


def test_gradients_reach_the_encoder(encoder):
    features, feature_lengths = padded_batch([400, 250])
    hidden, frame_mask = encoder(features, feature_lengths)
    hidden[frame_mask].sum().backward()
    assert encoder.encoder.conv1.weight.grad is not None
    assert encoder.encoder.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0
    encoder.zero_grad()


def test_encoder_rejects_bad_inputs(encoder):
    features, _ = padded_batch([10, 8])
    with pytest.raises(ValueError, match="feature_lengths"):
        encoder(features, torch.tensor([10, 11]))
    with pytest.raises(ValueError, match="feature_lengths"):
        encoder(features, torch.tensor([10, 0]))
    with pytest.raises(ValueError, match="mel bins"):
        encoder(torch.randn(1, 10, 128), torch.tensor([10]))


def speech_like(num_samples: int, seed: int) -> np.ndarray:
    """Low noise with a loud tone in the middle, so the clip's maximum lies well inside the clip."""
    rng = np.random.default_rng(seed)
    audio = 0.01 * rng.standard_normal(num_samples)
    middle = slice(num_samples // 3, 2 * num_samples // 3)
    time = np.arange(middle.stop - middle.start) / 16000
    audio[middle] += 0.5 * np.sin(2 * np.pi * 440 * time)
    return audio.astype(np.float32)


@pytest.mark.parametrize("num_mel_bins", [80, 128])
def test_log_mel_matches_stock_features_inside_the_clip(num_mel_bins):
    feature_extractor = WhisperFeatureExtractor(feature_size=num_mel_bins)
    num_samples = 36800  # 2.3 s
    audio = speech_like(num_samples, seed=0)
    features, lengths = log_mel([audio], feature_extractor)
    assert features.dtype == torch.float32
    assert features.shape == (1, num_samples // 160, num_mel_bins)
    assert lengths.tolist() == [num_samples // 160]

    # stock: padded to 30 s, [3000, M]
    stock = feature_extractor(audio, sampling_rate=16000, return_tensors="np").input_features[0].T
    assert stock.shape == (WINDOW, num_mel_bins)
    # Frame i's STFT window spans samples [160 i − 200, 160 i + 200): the frames whose window ends inside the
    # clip equal the stock 30 s-padded features; the last one sees reflect padding here, zeros in stock.
    inside = (num_samples - 200) // 160 + 1
    assert inside == lengths[0] - 1
    torch.testing.assert_close(features[0, :inside], torch.from_numpy(stock[:inside]), atol=1e-5, rtol=0)
    assert (features[0, inside] - torch.from_numpy(stock[inside])).abs().max() > 1e-3


@pytest.mark.parametrize("num_mel_bins", [80, 128])
def test_log_mel_batch_pads_each_clip_computed_alone(num_mel_bins):
    feature_extractor = WhisperFeatureExtractor(feature_size=num_mel_bins)
    audios = [speech_like(8000, seed=1), speech_like(45 * 16000 + 77, seed=2), speech_like(3211, seed=3)]
    features, lengths = log_mel(audios, feature_extractor)
    assert lengths.tolist() == [50, 4500, 20]  # a 45 s clip is not truncated to 30 s
    assert features.shape == (3, 4500, num_mel_bins)
    for index, audio in enumerate(audios):
        alone = feature_extractor(audio, sampling_rate=16000, padding="longest", truncation=False)
        alone = torch.from_numpy(alone.input_features[0].T)
        torch.testing.assert_close(features[index, : lengths[index]], alone, atol=0, rtol=0)
        assert (features[index, lengths[index] :] == 0).all()


def test_log_mel_rejects_too_short_clips():
    feature_extractor = WhisperFeatureExtractor(feature_size=80)
    with pytest.raises(ValueError, match="audio 1"):
        log_mel([speech_like(4000, seed=0), np.zeros(150, dtype=np.float32)], feature_extractor)


@torch.no_grad()
def test_log_mel_feeds_the_encoder_with_128_bins():
    encoder = tiny_encoder(num_mel_bins=128)
    audios = [speech_like(16000, seed=4), speech_like(5000, seed=5)]
    features, lengths = log_mel(audios, WhisperFeatureExtractor(feature_size=128))
    hidden, frame_mask = encoder(features, lengths)
    assert frame_mask.sum(dim=1).tolist() == [50, 16]  # 100 and 31 mel frames at 50 output frames/s
    assert hidden.shape == (2, 50, 64)
