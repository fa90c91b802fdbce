import numpy as np
import pytest
import soxr

from blsp_kd.data.augment import Augmentation, augment


def tone(seconds: float = 1.0, sample_rate: int = 16000) -> np.ndarray:
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * 220 * time)).astype(np.float32)


@pytest.mark.parametrize("speed", [0.9, 1.0, 1.1])
def test_speed_changes_the_length_and_the_pitch(speed):
    out = augment(tone(), Augmentation(speed=speed, snr_db=60.0, gain_db=0.0), noise_seed=0)
    assert out.dtype == np.float32
    assert abs(len(out) - 16000 / speed) <= 2
    spectrum = np.abs(np.fft.rfft(out))
    assert np.fft.rfftfreq(len(out), 1 / 16000)[spectrum.argmax()] == pytest.approx(220 * speed, abs=2)


@pytest.mark.parametrize("snr_db", [10.0, 20.0, 30.0])
def test_noise_is_added_at_the_signal_to_noise_ratio_and_the_gain_after(snr_db):
    clean = tone(2.0)
    out = augment(clean, Augmentation(speed=1.0, snr_db=snr_db, gain_db=-6.0), noise_seed=1)
    gain = 10 ** (-6.0 / 20)
    resampled = soxr.resample(clean, 16000, 16000)
    noise = out / gain - resampled
    measured = 10 * np.log10(np.mean(resampled.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2))
    assert measured == pytest.approx(snr_db, abs=0.3)


def test_the_same_seed_gives_the_same_audio_another_seed_other_noise():
    augmentation = Augmentation(speed=1.05, snr_db=15.0, gain_db=-3.0)
    first = augment(tone(), augmentation, noise_seed=7)
    assert np.array_equal(first, augment(tone(), augmentation, noise_seed=7))
    assert not np.array_equal(first, augment(tone(), augmentation, noise_seed=8))
