"""Light, seeded audio augmentation of synthetic speech (training split only; see data/synth.py).

In this order: speed perturbation (resampling, so tempo and pitch move together, as Kaldi's 0.9/1.0/1.1
perturbation), additive white noise at a signal-to-noise ratio, then a gain. The parameters are drawn by the
plan; the noise comes from a generator seeded by the caller, so the same utterance gets the same audio.
"""

from dataclasses import dataclass

import numpy as np
import soxr

from blsp_kd.layout.clips import SAMPLE_RATE

SPEED_RANGE = (0.9, 1.1)
SNR_DB_RANGE = (10.0, 30.0)
GAIN_DB_RANGE = (-12.0, 0.0)  # below the 0.9 peak the engines are scaled to, so nothing clips


@dataclass(frozen=True)
class Augmentation:
    speed: float  # > 1 is faster and higher
    snr_db: float  # speech power over noise power
    gain_db: float


def augment(samples: np.ndarray, augmentation: Augmentation, noise_seed: int, sample_rate: int = SAMPLE_RATE
            ) -> np.ndarray:
    """samples (num_samples,) float32 → (≈ num_samples / speed,) float32, clipped to [-1, 1]."""
    # Read at `sample_rate` a signal resampled to sample_rate / speed: `speed` times faster.
    samples = soxr.resample(samples, sample_rate, sample_rate / augmentation.speed)
    speech_power = float(np.mean(samples.astype(np.float64) ** 2))
    noise_power = speech_power / 10 ** (augmentation.snr_db / 10)
    noise = np.random.default_rng(noise_seed).standard_normal(len(samples)) * np.sqrt(noise_power)
    gain = 10 ** (augmentation.gain_db / 20)
    return np.clip((samples + noise) * gain, -1.0, 1.0).astype(np.float32)
