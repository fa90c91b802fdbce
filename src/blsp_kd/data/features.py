"""Frozen-encoder feature cache: each clip's Whisper encoder output [T, D] written once and reused every epoch.

Keyed on what the encoder ran on (`OUTPUT_KINDS`: the real-length input or stock Whisper's 30 s-padded one), its exact
weights (a fingerprint of its state dict) and the audio itself (a hash of the file's bytes, offset, duration), so
another encoder input, a different checkpoint or an edited file never reads stale features, and a corpus that moves
to another folder keeps its cache.
Refused when the encoder is being trained: its outputs change every step.
"""

import hashlib
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from blsp_kd.data.audio import AudioError, load_record_audio
from blsp_kd.data.manifest import ManifestRecord, Problem, record_problem
from blsp_kd.models.encoder import min_clip_samples
from blsp_kd.store import TensorStore, content_key, in_own_order, tensor_fingerprint

# The first part of a key, by the architecture's encoder_input (the real-length kind keeps the name it had before
# the padded input existed, so caches built then stay valid).
OUTPUT_KINDS = {"real": "encoder-output", "padded": "padded-encoder-output"}


class FeatureCache:
    def __init__(self, directory: str | Path, model):
        """model: a BlspKdModel (its encoder is fingerprinted; its feature extractor and encoder fill the cache)."""
        if model.config.architecture.train_encoder:
            raise ValueError("the feature cache is refused while the encoder is being trained (train_encoder=true): "
                             "its outputs change every step; set data.feature_cache=false")
        self.model = model
        self.store = TensorStore(directory)
        self.output_kind = OUTPUT_KINDS[model.encoder.encoder_input]
        self.encoder_id = tensor_fingerprint(model.encoder.state_dict())
        self.min_samples = min_clip_samples(model.feature_extractor)

    def key(self, record: ManifestRecord) -> str:
        audio_hash = hashlib.sha256(Path(record.audio).read_bytes()).hexdigest()
        return content_key(self.output_kind, self.encoder_id, audio_hash, record.offset, record.duration)

    def load(self, record: ManifestRecord) -> Tensor:
        return self.store.load(self.key(record))["hidden"]

    @torch.no_grad()
    def build(self, records: list[ManifestRecord], batch_size: int = 16, max_seconds: float | None = None,
              progress: bool = True) -> tuple[list[ManifestRecord], list[Problem]]:
        """Encode every record not yet cached. Returns (records with cached features, problems of the others)."""
        missing, problems = [], []  # (record, key) pairs
        for record in records:
            try:
                key = self.key(record)
                if key not in self.store:
                    missing.append((record, key))
            except OSError as error:
                problems.append(record_problem(record, f"audio: {error}"))
        batches = [missing[start : start + batch_size] for start in range(0, len(missing), batch_size)]
        bar = tqdm(total=len(missing), desc="encoder feature cache", unit="clip", disable=not progress)
        for chunk in in_own_order(batches):
            loaded = []
            for record, key in chunk:
                if key in self.store:  # written meanwhile by another process filling this cache
                    continue
                try:
                    audio = load_record_audio(record, max_seconds, min_samples=self.min_samples)
                    loaded.append((key, audio.samples))
                except AudioError as error:
                    problems.append(record_problem(record, error.reason))
            if loaded:
                features, lengths = self.model.features([samples for _, samples in loaded])
                hidden, frame_mask = self.model.encode(features, lengths)
                for (key, _), clip_hidden, clip_mask in zip(loaded, hidden, frame_mask, strict=True):
                    self.store.save(key, {"hidden": clip_hidden[clip_mask]})
            bar.update(len(chunk))
        bar.close()
        bad_ids = {problem.record_id for problem in problems}
        return [record for record in records if record.id not in bad_ids], problems
