"""FeatureCache on a tiny BlspKdModel: one entry per clip, nothing rewritten, nothing another process wrote meanwhile
computed again, exact encoder outputs, misses on a changed file or encoder, bad records reported, refused while the
encoder trains; and the training loss on cached features equals the loss on features encoded in the step."""

import collections
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from blsp_kd.data import features
from blsp_kd.data.dataset import SpeechCollator, SpeechDataset
from blsp_kd.data.features import FeatureCache
from blsp_kd.data.manifest import ManifestRecord, read_manifest, write_manifest
from blsp_kd.models.adapters import CFormerConfig
from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.config import ArchitectureConfig, BlspKdConfig
from tiny import STYLES, count_writes, tiny_chat_tokenizer, tiny_llama, tiny_whisper

SAMPLE_RATE = 16000
CLIP_SECONDS = [0.6, 1.4, 0.9, 2.1]
TEXTS = ["the cat sat on the mat", "hello world", "the weather is nice today", "the dog sat on the log"]


def tiny_model(seed: int = 0, train_encoder: bool = False, encoder_input: str = "real") -> BlspKdModel:
    tokenizer = tiny_chat_tokenizer(STYLES["smollm2"])
    encoder, feature_extractor = tiny_whisper(seed)
    config = BlspKdConfig(ArchitectureConfig(whisper="tiny", llm="tiny", cformer=CFormerConfig(num_heads=4, dropout=0.0),
                                             train_encoder=train_encoder, encoder_input=encoder_input))
    torch.manual_seed(seed)
    return BlspKdModel(config, encoder, feature_extractor, tiny_llama(tokenizer, seed), tokenizer).eval()


def noise(seconds: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(SAMPLE_RATE * seconds)) * 0.1).astype(np.float32)


def write_corpus(directory: Path, tokenizer) -> list[ManifestRecord]:
    """Noise clips as 16 kHz wav files and a manifest with responses, read back as the trainer reads it."""
    (directory / "audio").mkdir(parents=True)
    records = []
    for index, (seconds, text) in enumerate(zip(CLIP_SECONDS, TEXTS, strict=True)):
        audio = directory / "audio" / f"clip{index}.wav"
        soundfile.write(audio, noise(seconds, index), SAMPLE_RATE, subtype="FLOAT")
        response_ids = tokenizer.encode(" and the sun is out", add_special_tokens=False)
        records.append(ManifestRecord(id=f"clip{index}", audio=str(audio), text=text,
                                      instruction="repeat what was said.", response_ids=response_ids,
                                      early_stop=index == 3))
    write_manifest(directory / "train.jsonl", records)
    records, problems = read_manifest(directory / "train.jsonl")
    assert not problems
    return records


def cache_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.safetensors"))


def encoded_alone(model: BlspKdModel, record: ManifestRecord) -> torch.Tensor:
    audio, _ = soundfile.read(record.audio, dtype="float32")
    hidden, frame_mask = model.encode(*model.features([audio]))
    return hidden[0][frame_mask[0]]


@pytest.fixture
def model() -> BlspKdModel:
    return tiny_model()


@pytest.fixture
def records(model, tmp_path) -> list[ManifestRecord]:
    return write_corpus(tmp_path / "data", model.tokenizer)


def test_one_entry_per_clip_and_a_second_build_writes_nothing(model, records, tmp_path):
    cache = FeatureCache(tmp_path / "cache", model)
    cached, problems = cache.build(records, batch_size=3, progress=False)
    assert not problems and [record.id for record in cached] == [record.id for record in records]
    files = cache_files(tmp_path / "cache")
    assert len(files) == len(records)
    modified = {path: path.stat().st_mtime_ns for path in files}

    cached_again, problems = FeatureCache(tmp_path / "cache", model).build(records, progress=False)
    assert not problems and len(cached_again) == len(records)
    assert {path: path.stat().st_mtime_ns for path in cache_files(tmp_path / "cache")} == modified


def test_two_builders_filling_one_cache_write_each_clip_once(model, records, tmp_path, monkeypatch):
    """Two processes filling one cache (two seeds started together) share the work: on reaching a batch, a builder
    computes only what is not yet written. Here this builder takes its batches last to first, and once it has written
    its first batch (clips 2, 3) the 'other process' writes clip 1: this builder then computes clip 0 alone."""
    monkeypatch.setattr(features, "in_own_order", lambda batches: batches[::-1])
    cache, other = FeatureCache(tmp_path / "cache", model), FeatureCache(tmp_path / "cache", model)
    writes = collections.Counter()

    def let_the_other_build():
        if sum(writes.values()) == 2:
            other.build(records[1:], batch_size=1, progress=False)

    cache.store.save = count_writes(cache.store.save, writes, let_the_other_build)
    other.store.save = count_writes(other.store.save, writes)
    cached, problems = cache.build(records, batch_size=2, progress=False)
    assert not problems and len(cached) == len(records)
    assert len(writes) == len(records) and set(writes.values()) == {1}
    for record in records:
        torch.testing.assert_close(cache.load(record), encoded_alone(model, record), rtol=0, atol=1e-5)


def test_cached_hidden_is_the_clips_encoder_output(model, records, tmp_path):
    """Built one clip at a time, an entry is exactly the clip encoded alone; built in padded batches, it equals it
    up to float rounding (the padded frames are masked, only the matmul shapes differ)."""
    alone = FeatureCache(tmp_path / "alone", model)
    alone.build(records, batch_size=1, progress=False)
    batched = FeatureCache(tmp_path / "batched", model)
    batched.build(records, batch_size=4, progress=False)
    for record, seconds in zip(records, CLIP_SECONDS, strict=True):
        expected = encoded_alone(model, record)
        assert expected.shape == (round(seconds * 50), model.encoder.dim)
        assert torch.equal(alone.load(record), expected)
        torch.testing.assert_close(batched.load(record), expected, rtol=0, atol=1e-5)


def test_a_rewritten_file_or_another_encoder_misses_the_cache(model, records, tmp_path):
    cache = FeatureCache(tmp_path / "cache", model)
    cache.build(records, progress=False)
    keys = [cache.key(record) for record in records]

    time.sleep(0.05)  # past the file system's timestamp granularity
    before = Path(records[1].audio).stat()
    soundfile.write(records[1].audio, noise(CLIP_SECONDS[1], seed=99), SAMPLE_RATE, subtype="FLOAT")  # same size
    assert Path(records[1].audio).stat().st_size == before.st_size
    assert [cache.key(record) in cache.store for record in records] == [True, False, True, True]
    cache.build(records, progress=False)
    assert len(cache_files(tmp_path / "cache")) == len(records) + 1
    assert torch.equal(cache.load(records[1]), encoded_alone(model, records[1]))

    other = FeatureCache(tmp_path / "cache", tiny_model(seed=1))
    assert other.encoder_id != cache.encoder_id
    assert not any(other.key(record) in other.store for record in records)
    assert all(other.key(record) != key for record, key in zip(records, keys, strict=True))
    other.build(records, progress=False)
    assert len(cache_files(tmp_path / "cache")) == 2 * len(records) + 1


def test_a_cache_built_on_one_encoder_input_is_never_read_on_the_other(model, records, tmp_path):
    """The same encoder weights on the real-length and on the 30 s-padded input: separate entries, each the clip
    encoded alone on its own input."""
    real_length = FeatureCache(tmp_path / "cache", model)
    real_length.build(records, progress=False)
    padded_model = tiny_model(encoder_input="padded")
    padded = FeatureCache(tmp_path / "cache", padded_model)
    assert padded.encoder_id == real_length.encoder_id
    assert not any(padded.key(record) in padded.store for record in records)
    padded.build(records, progress=False)
    assert len(cache_files(tmp_path / "cache")) == 2 * len(records)
    for record in records:
        torch.testing.assert_close(padded.load(record), encoded_alone(padded_model, record), rtol=0, atol=1e-5)
        torch.testing.assert_close(real_length.load(record), encoded_alone(model, record), rtol=0, atol=1e-5)
        assert not torch.allclose(padded.load(record), real_length.load(record), atol=1e-3)


def test_bad_records_are_reported_and_the_others_cached(model, records, tmp_path):
    corrupt = tmp_path / "data" / "audio" / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEthis is not audio")
    bad = [ManifestRecord(id="missing", audio=str(tmp_path / "data" / "audio" / "missing.wav"), text="gone"),
           ManifestRecord(id="corrupt", audio=str(corrupt), text="broken")]
    cache = FeatureCache(tmp_path / "cache", model)
    cached, problems = cache.build([records[0], *bad, *records[1:]], batch_size=2, progress=False)
    assert [record.id for record in cached] == [record.id for record in records]
    assert {problem.record_id for problem in problems} == {"missing", "corrupt"}
    reasons = {problem.record_id: problem.reason for problem in problems}
    assert "missing.wav" in reasons["missing"]
    assert "corrupt.wav" in reasons["corrupt"]
    assert len(cache_files(tmp_path / "cache")) == len(records)


def test_refused_while_the_encoder_trains(tmp_path):
    with pytest.raises(ValueError, match="train_encoder"):
        FeatureCache(tmp_path / "cache", tiny_model(train_encoder=True))


def test_loss_on_cached_features_equals_loss_on_features_encoded_in_the_step(model, records, tmp_path):
    cache = FeatureCache(tmp_path / "cache", model)
    cache.build(records, progress=False)
    collate = SpeechCollator(model.prompts)
    cached_dataset = SpeechDataset(records, feature_cache=cache)
    audio_dataset = SpeechDataset(records, feature_extractor=model.feature_extractor)
    cached_batch = collate([cached_dataset[index] for index in range(len(records))])
    audio_batch = collate([audio_dataset[index] for index in range(len(records))])
    assert cached_batch.speech.hidden is not None and audio_batch.speech.hidden is None
    assert audio_batch.speech.features is not None
    with torch.no_grad():
        cached_output = model(cached_batch.text, cached_batch.speech)
        audio_output = model(audio_batch.text, audio_batch.speech)
    assert set(cached_output.losses) == {"input_kl", "response_kl", "cif"}
    assert cached_output.loss.item() > 0
    assert abs(cached_output.loss.item() - audio_output.loss.item()) <= 1e-6
    for name, loss in cached_output.losses.items():
        assert abs(loss.item() - audio_output.losses[name].item()) <= 1e-6, name
