"""Training/evaluation examples: a manifest record + its speech (cached encoder output or log-mel features) + its
cached teacher, collated into one `SpeechBatch`. `speech_loader` is the one way records become batches: training,
validation, evaluation and the demo all read them through it."""

from dataclasses import dataclass

import torch

from blsp_kd.data.audio import load_record_audio
from blsp_kd.data.manifest import ManifestRecord
from blsp_kd.layout.batch import SpeechInput, TextBatch, collate_text, pad_features, pad_hidden
from blsp_kd.layout.prompt import PromptBuilder
from blsp_kd.layout.tasks import DEFAULT_INSTRUCTION
from blsp_kd.models.encoder import log_mel, min_clip_samples
from blsp_kd.models.teacher import TeacherHidden, TeacherTopK


@dataclass
class SpeechBatch:
    ids: list[str]
    text: TextBatch
    speech: SpeechInput
    teacher: TeacherHidden | TeacherTopK | None = None  # cached teacher at the batch's used positions, row-major

    def to(self, device) -> "SpeechBatch":
        teacher = self.teacher.to(device) if self.teacher is not None else None
        return SpeechBatch(self.ids, self.text.to(device), self.speech.to(device), teacher)


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
        if "hidden" in items[0]:
            speech = SpeechInput(*pad_hidden([item["hidden"] for item in items]))
        else:
            features, feature_lengths = pad_features([item["features"] for item in items])
            speech = SpeechInput(features=features, feature_lengths=feature_lengths)
        teacher = None
        if "teacher" in items[0]:
            teacher = type(items[0]["teacher"]).concat([item["teacher"] for item in items])
        return SpeechBatch([example["id"] for example in examples],
                           collate_text(examples, self.prompts, self.max_text_tokens), speech, teacher)


def speech_loader(model, records: list[ManifestRecord], batches: list[list[int]], feature_cache=None,
                  teacher_cache=None, default_instruction: str = DEFAULT_INSTRUCTION, max_seconds: float | None = None,
                  max_text_tokens: int | None = None, num_workers: int = 0,
                  generator: torch.Generator | None = None) -> torch.utils.data.DataLoader:
    """SpeechBatches of `records` for `model` (a BlspKdModel: its feature extractor and prompt layout), one per
    list of record indices in `batches`, in that order. Speech comes from `feature_cache` when given, else from
    the audio (log-mel features, encoded in the step); `teacher_cache` adds the cached teacher.

    generator: the seed of the loader's worker seeds; None draws it from torch's global RNG."""
    dataset = SpeechDataset(records, model.feature_extractor, feature_cache, teacher_cache, default_instruction,
                            max_seconds)
    return torch.utils.data.DataLoader(dataset, batch_sampler=batches, num_workers=num_workers, generator=generator,
                                       collate_fn=SpeechCollator(model.prompts, max_text_tokens))


def batch_index_lists(num_items: int, batch_size: int) -> list[list[int]]:
    """Consecutive batches of indices; a last batch of one joins the one before (shuffling needs two)."""
    batches = [list(range(start, min(start + batch_size, num_items)))
               for start in range(0, num_items, batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        last = batches.pop()
        batches[-1] += last
    return batches
