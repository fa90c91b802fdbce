"""What the model hears: 16 kHz mono clips of float samples in [-1, 1].

Long audio is rejected by a stated limit, not cut: every clip's speech runs through the CFormer's self-attention
over all its encoder frames (50 per second), whose memory grows with the square of the length (batch 8, 6 heads,
a 5-minute clip: 8 · 6 · 15,000² · 4 bytes = 43 GB). DEFAULT_MAX_SECONDS is the default limit of training
(`data.max_audio_seconds`), evaluation (`--max-audio-seconds`) and the Python API.
"""

import numpy as np

SAMPLE_RATE = 16000  # Whisper's, and every clip's once loaded
DEFAULT_MAX_SECONDS = 30.0  # one Whisper window; see the module docstring
# Integer PCM dtypes and the value of full scale, so int16 −32768..32767 becomes −1..1.
PCM_FULL_SCALE = {np.dtype(np.int16): 2.0**15, np.dtype(np.int32): 2.0**31}


def as_clip(audio, index: int, min_samples: int, max_seconds: float | None = DEFAULT_MAX_SECONDS) -> np.ndarray:
    """One input of the Python API (`BlspKdModel.generate`) as a float32 mono clip, or a ValueError naming the input.

    `audio`: 16 kHz mono samples as a 1-D array, tensor or list: floats in [-1, 1] as they are, int16/int32 PCM
    scaled to [-1, 1]. Rejected: other dtypes, 2-D input (channels), NaN/inf, fewer than `min_samples` samples,
    more than `max_seconds` (None: no limit).
    """
    where = f"audio {index}"
    array = np.asarray(audio)
    if array.dtype in PCM_FULL_SCALE:
        array = array / PCM_FULL_SCALE[array.dtype]
    elif array.size and array.dtype.kind != "f":
        raise ValueError(f"{where}: expected float or int16/int32 samples, got dtype {array.dtype}")
    if array.ndim != 1:
        hint = " (several channels? pass one, or their mean: audio.mean(axis=1))" if array.ndim == 2 else ""
        raise ValueError(f"{where}: expected a 1-D mono clip at 16 kHz, got shape {array.shape}{hint}")
    num_bad = int((~np.isfinite(array)).sum())
    if num_bad:
        raise ValueError(f"{where}: {num_bad} NaN/inf samples")
    if len(array) < min_samples:
        raise ValueError(f"{where}: {len(array)} samples, too short (Whisper's features need at least {min_samples})")
    if max_seconds is not None and len(array) > max_seconds * SAMPLE_RATE:
        raise ValueError(f"{where}: {len(array) / SAMPLE_RATE:.2f} s, longer than the maximum {max_seconds} s "
                         "(split it, or raise max_audio_seconds if memory allows)")
    return np.ascontiguousarray(array, dtype=np.float32)
