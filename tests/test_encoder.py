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


# ------------------------------------------------------------------ encoder_input="padded": stock Whisper's input

REAL_CLIPS = ["held-out-test-000000.flac", "held-out-test-000002.flac"]  # synthetic speech, ending in silence


def real_clip(name: str) -> np.ndarray:
    from pathlib import Path

    from blsp_kd.data.audio import load_audio

    return load_audio(Path(__file__).parent / "data" / name).samples


def stock_features(audio: np.ndarray, feature_extractor: WhisperFeatureExtractor) -> torch.Tensor:
    """WhisperFeatureExtractor's own 30 s-padded features [1, n_mels, 3000]."""
    return torch.from_numpy(feature_extractor(audio, sampling_rate=16000, return_tensors="np").input_features)


@pytest.mark.parametrize("clip", ["real", "tone", "quiet"])
def test_silence_features_are_the_value_of_stock_whispers_padding(clip):
    """Stock Whisper pads with zero audio; after its normalisation that is the clip's maximum feature − 2, or −1.5
    for a clip so quiet that the log10 floor 1e-10 lies above its maximum − 8."""
    feature_extractor = WhisperFeatureExtractor(feature_size=80)
    audio = {"real": real_clip(REAL_CLIPS[0]), "tone": speech_like(36800, seed=0),
             "quiet": speech_like(36800, seed=0) * 1e-5}[clip]
    features, lengths = log_mel([audio], feature_extractor)
    silence = SpeechEncoder.silence_features(features, lengths)
    padding = stock_features(audio, feature_extractor)[0, :, lengths[0] + 2 :]  # STFT windows wholly past the end
    assert padding.shape[1] > 2000
    torch.testing.assert_close(padding, torch.full_like(padding, silence.item()), atol=1e-6, rtol=0)
    expected = -1.5 if clip == "quiet" else features[0].max().item() - 2
    assert silence.item() == pytest.approx(expected, abs=1e-6)


@torch.no_grad()
def test_padded_input_equals_the_stock_encoder_on_stock_padded_features():
    """Cut to the clip's T frames, the padded mode gives stock Whisper's encoder output. Exactly (1e-5) for a clip
    ending in silence; for a clip ending in sound the last frame differs (its last mel frame sees reflect padding
    here, zeros in stock) and every other frame agrees to 1e-5. The real-length mode is far from it (> 0.05)."""
    whisper_encoder, feature_extractor = tiny_whisper(num_mel_bins=80, d_model=64)
    padded, real_length = SpeechEncoder(whisper_encoder, "padded").eval(), SpeechEncoder(whisper_encoder).eval()
    for audio, ends_in_silence in ((real_clip(REAL_CLIPS[0]), True), (speech_like(36800, seed=0), False)):
        features, lengths = log_mel([audio], feature_extractor)
        num_frames = math.ceil(lengths[0].item() / 2)
        stock = whisper_encoder(input_features=stock_features(audio, feature_extractor)).last_hidden_state
        stock = stock[0, :num_frames]
        hidden, frame_mask = padded(features, lengths)
        assert hidden.shape[1] == num_frames and frame_mask.all()
        compared = slice(None) if ends_in_silence else slice(0, -1)
        torch.testing.assert_close(hidden[0, compared], stock[compared], atol=1e-5, rtol=0)
        assert (real_length(features, lengths)[0][0] - stock).abs().max() > 0.05


@pytest.mark.real
@torch.no_grad()
def test_padded_input_equals_stock_whisper_tiny_en_on_real_clips():
    """The same with the embedded Whisper tiny.en, on which the real-length states differ by whole units."""
    from blsp_kd.models.pretrained import load_whisper_encoder

    whisper_encoder, feature_extractor, _ = load_whisper_encoder()
    padded, real_length = SpeechEncoder(whisper_encoder, "padded").eval(), SpeechEncoder(whisper_encoder).eval()
    for name in REAL_CLIPS:
        audio = real_clip(name)
        features, lengths = log_mel([audio], feature_extractor)
        stock = whisper_encoder(input_features=stock_features(audio, feature_extractor)).last_hidden_state
        stock = stock[0, : math.ceil(lengths[0].item() / 2)]
        torch.testing.assert_close(padded(features, lengths)[0][0], stock, atol=1e-4, rtol=0)
        assert (real_length(features, lengths)[0][0] - stock).abs().max() > 1.0


@torch.no_grad()
def test_padded_input_gives_a_clip_the_same_states_alone_or_in_a_padded_batch():
    encoder = SpeechEncoder(tiny_whisper(num_mel_bins=80, d_model=64)[0], "padded").eval()
    lengths = [317, 1200, 2999, 4500]  # the 45 s clip: two windows
    features, feature_lengths = padded_batch(lengths)
    hidden, frame_mask = encoder(features, feature_lengths)
    assert frame_mask.sum(dim=1).tolist() == [math.ceil(length / 2) for length in lengths]
    for index, length in enumerate(lengths):
        alone, _ = encoder(features[index : index + 1, :length], feature_lengths[index : index + 1])
        torch.testing.assert_close(hidden[index, : alone.shape[1]], alone[0], atol=1e-5, rtol=0)
        assert (hidden[index, alone.shape[1] :] == 0).all()


@torch.no_grad()
def test_padded_input_runs_each_30s_window_as_stock_whisper_padded_with_the_clips_silence():
    encoder = SpeechEncoder(tiny_whisper(num_mel_bins=80, d_model=64)[0], "padded").eval()
    features, lengths = padded_batch([4500])
    hidden, _ = encoder(features, lengths)
    silence = SpeechEncoder.silence_features(features, lengths)  # the whole clip's, also in its second window
    second_window = torch.cat([features[:, WINDOW:], silence.expand(1, 1500, 80)], dim=1)
    for window, output in ((features[:, :WINDOW], hidden[:, :1500]), (second_window, hidden[:, 1500:])):
        stock = encoder.encoder(input_features=window.transpose(1, 2)).last_hidden_state
        torch.testing.assert_close(output, stock[:, : output.shape[1]], atol=1e-5, rtol=0)


def test_an_unknown_encoder_input_is_refused():
    with pytest.raises(ValueError, match="encoder_input"):
        SpeechEncoder(tiny_whisper()[0], "stock")
