"""Training/evaluation examples: a manifest record + its speech (cached encoder output or log-mel features) + its
cached teacher, collated into one `SpeechBatch` that training, validation and evaluation all read."""

from dataclasses import dataclass, fields

import torch
from torch import Tensor

from blsp_kd.data.audio import load_record_audio
from blsp_kd.data.manifest import ManifestRecord
from blsp_kd.layout.batch import TextBatch, collate_text, pad_features, pad_hidden
from blsp_kd.layout.prompt import PromptBuilder
from blsp_kd.layout.tasks import DEFAULT_INSTRUCTION
from blsp_kd.models.encoder import log_mel, min_clip_samples
from blsp_kd.models.teacher import TeacherHidden, TeacherTopK


@dataclass
class SpeechBatch:
    ids: list[str]
    text: TextBatch
    hidden: Tensor | None = None  # [B, T, D] cached encoder outputs (frozen encoder) ...
    frame_mask: Tensor | None = None  # [B, T] bool
    features: Tensor | None = None  # ... or [B, F, n_mels] log-mel features, encoded in the step
    feature_lengths: Tensor | None = None  # [B]
    teacher: TeacherHidden | TeacherTopK | None = None  # cached teacher at the batch's used positions, row-major

    def to(self, device) -> "SpeechBatch":
        moved = {}
        for field in fields(self):
            value = getattr(self, field.name)
            moved[field.name] = value.to(device) if hasattr(value, "to") else value
        return SpeechBatch(**moved)


def text_example(record: ManifestRecord, default_instruction: str = DEFAULT_INSTRUCTION) -> dict:
    """The fields the text collator reads. No response_ids → a prompt-only example (input KL only)."""
    example = {"id": record.id, "text": record.text, "instruction": record.instruction or default_instruction}
    if record.response_ids is not None:
        example["response_ids"] = record.response_ids
        example["early_stop"] = bool(record.early_stop)
    return example


class SpeechDataset(torch.utils.data.Dataset):
    """Each item: the record's text example plus `hidden` [T, D] from the feature cache, or `features` [F, n_mels]
    computed from the audio (when the encoder trains, or no cache is used), plus its cached teacher."""

    def __init__(self, records: list[ManifestRecord], feature_extractor=None, feature_cache=None, teacher_cache=None,
                 default_instruction: str = DEFAULT_INSTRUCTION, max_seconds: float | None = None):
        if feature_cache is None and feature_extractor is None:
            raise ValueError("SpeechDataset needs a feature cache or a feature extractor")
        self.records, self.feature_extractor = records, feature_extractor
        self.feature_cache, self.teacher_cache = feature_cache, teacher_cache
        self.default_instruction, self.max_seconds = default_instruction, max_seconds

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        record = self.records[index]
        item = {"example": text_example(record, self.default_instruction)}
        if self.feature_cache is not None:
            item["hidden"] = self.feature_cache.load(record)
        else:
            audio = load_record_audio(record, self.max_seconds, min_samples=min_clip_samples(self.feature_extractor),
                                      report=False).samples
            features, _ = log_mel([audio], self.feature_extractor)
            item["features"] = features[0]
        if self.teacher_cache is not None:
            item["teacher"] = self.teacher_cache.load(item["example"])
        return item


class SpeechCollator:
    def __init__(self, prompts: PromptBuilder, max_text_tokens: int | None = None):
        self.prompts, self.max_text_tokens = prompts, max_text_tokens

    def __call__(self, items: list[dict]) -> SpeechBatch:
        examples = [item["example"] for item in items]
        batch = SpeechBatch(ids=[example["id"] for example in examples],
                            text=collate_text(examples, self.prompts, self.max_text_tokens))
        if "hidden" in items[0]:
            batch.hidden, batch.frame_mask = pad_hidden([item["hidden"] for item in items])
        else:
            batch.features, batch.feature_lengths = pad_features([item["features"] for item in items])
        if "teacher" in items[0]:
            batch.teacher = type(items[0]["teacher"]).concat([item["teacher"] for item in items])
        return batch
