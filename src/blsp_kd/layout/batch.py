"""One collator for the teacher and the student (METHOD §3, §4).

Every row is one shared, LEFT-padded sequence

    [pad…][prefix][x_1..x_n][suffix][y_1..y_m][end-of-turn unless early_stop]

The teacher reads the transcript ids x_1..x_n at the speech positions; the student puts its n speech vectors
there, in order. Everything else (padding, positions, masks) is the same for both, so transcript position i
and speech position i coincide. The speech side of a batch (`SpeechInput`: right-padded encoder outputs or log-mel
features, with their masks or lengths) is padded here too.
"""

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from blsp_kd.layout.prompt import PromptBuilder, PromptSegments


@dataclass
class TextBatch:
    """A left-padded batch of prompts (+ responses). Shapes: [B, L] unless noted.

    input_ids:      token ids; transcript ids at speech positions (teacher view), pad_id on padding
    attention_mask: 1 on real tokens, 0 on padding
    position_ids:   cumsum(attention_mask) - 1, clamped at 0 (explicit because of the left padding)
    speech_mask:    transcript/speech positions: the input-KL positions, where the student puts speech vectors
    response_mask:  response target positions (y_1..y_m + end-of-turn unless early_stop); the target at
                    position p is predicted by the logits at p - 1
    num_tokens:     [B] n, the transcript length in LLM tokens (= number of speech positions)
    """

    input_ids: torch.LongTensor
    attention_mask: torch.LongTensor
    position_ids: torch.LongTensor
    speech_mask: torch.BoolTensor
    response_mask: torch.BoolTensor
    num_tokens: torch.LongTensor

    def to(self, device) -> "TextBatch":
        return TextBatch(**{field.name: getattr(self, field.name).to(device) for field in fields(self)})


def collate_text(examples: list[dict], builder: PromptBuilder, max_text_tokens: int | None = None) -> TextBatch:
    """Teacher/student text batch from records.

    Record keys: "text" (transcript), "instruction", optional "id" (named in errors), optional "response_ids"
    (list[int], without the end-of-turn token) and "early_stop" (bool, default False: the response was cut at
    the length limit, so no end-of-turn target). Without "response_ids" the row is the prompt alone and has no
    response targets (input KL only).
    """
    segments_list, transcripts, targets = [], [], []
    for index, example in enumerate(examples):
        record = f"record {example['id']!r}" if "id" in example else f"record at batch index {index}"
        missing_keys = [key for key in ("text", "instruction") if key not in example]
        if missing_keys:
            raise ValueError(f"{record}: missing keys {missing_keys}")
        transcript_ids = builder.transcript_ids(example["text"])
        if not transcript_ids:
            raise ValueError(f"{record}: the transcript is empty (text={example['text']!r})")
        if max_text_tokens is not None and len(transcript_ids) > max_text_tokens:
            raise ValueError(
                f"{record}: the transcript has {len(transcript_ids)} LLM tokens, "
                f"more than max_text_tokens={max_text_tokens}"
            )
        segments = builder.segments(example["instruction"])
        target_ids = []
        if "response_ids" in example:
            target_ids = list(example["response_ids"])
            if segments.end_of_turn_id in target_ids:
                raise ValueError(
                    f"{record}: response_ids contain the end-of-turn token {segments.end_of_turn_id}; "
                    "store the response without it (the collator appends it unless early_stop)"
                )
            if not example.get("early_stop", False):
                target_ids.append(segments.end_of_turn_id)
        segments_list.append(segments)
        transcripts.append(transcript_ids)
        targets.append(target_ids)
    return _assemble(segments_list, transcripts, targets, builder.pad_id)


def build_inference_inputs(
    segments_list: list[PromptSegments], num_speech_tokens: list[int], pad_id: int
) -> TextBatch:
    """Generation prompts [pad…][prefix][n̂ placeholder positions (pad_id)][suffix]; no response targets.

    The caller replaces the embeddings at speech_mask with the n̂ speech vectors of each row.
    """
    if len(segments_list) != len(num_speech_tokens):
        raise ValueError(f"{len(segments_list)} prompts but {len(num_speech_tokens)} speech lengths")
    for index, num_tokens in enumerate(num_speech_tokens):
        if num_tokens < 1:
            raise ValueError(f"row {index}: needs at least one speech position, got {num_tokens}")
    placeholders = [[pad_id] * num_tokens for num_tokens in num_speech_tokens]
    return _assemble(segments_list, placeholders, [[] for _ in segments_list], pad_id)


def resize_speech(batch: TextBatch, num_speech_tokens: list[int], pad_id: int) -> TextBatch:
    """The same rows with each row's speech segment resized to num_speech_tokens[b] placeholder positions.

    For adapters whose output length is their own (the conv baseline): the student reads
    [prefix][n̂ speech vectors][suffix][response] while the teacher reads the transcript. The response targets
    stay the last positions of every row, so gathering them row-major pairs teacher and student targets in order.
    """
    rows, speech_ids, target_ids = [], [], []
    for row_index, num_tokens in enumerate(num_speech_tokens):
        valid = batch.attention_mask[row_index].bool()
        ids, speech, targets = (batch.input_ids[row_index][valid].tolist(), batch.speech_mask[row_index][valid],
                                batch.response_mask[row_index][valid])
        speech_start = int(speech.int().argmax())
        speech_end = speech_start + int(speech.sum())
        num_targets = int(targets.sum())
        rows.append(PromptSegments(ids[:speech_start], ids[speech_end : len(ids) - num_targets], end_of_turn_id=-1))
        speech_ids.append([pad_id] * int(num_tokens))
        target_ids.append(ids[len(ids) - num_targets :])
    return _assemble(rows, speech_ids, target_ids, pad_id)


def _assemble(
    segments_list: list[PromptSegments],
    speech_ids: list[list[int]],
    target_ids: list[list[int]],
    pad_id: int,
) -> TextBatch:
    """Left-pad rows [prefix][speech_ids][suffix][target_ids] to the longest row; mark speech and targets."""
    rows = [
        segments.prefix_ids + speech + segments.suffix_ids + targets
        for segments, speech, targets in zip(segments_list, speech_ids, target_ids, strict=True)
    ]
    batch_size, length = len(rows), max(len(row) for row in rows)
    input_ids = torch.full((batch_size, length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros(batch_size, length, dtype=torch.long)
    speech_mask = torch.zeros(batch_size, length, dtype=torch.bool)
    response_mask = torch.zeros(batch_size, length, dtype=torch.bool)
    for row_index, (row, segments, speech, targets) in enumerate(
        zip(rows, segments_list, speech_ids, target_ids, strict=True)
    ):
        start = length - len(row)
        speech_start = start + len(segments.prefix_ids)
        input_ids[row_index, start:] = torch.tensor(row, dtype=torch.long)
        attention_mask[row_index, start:] = 1
        speech_mask[row_index, speech_start : speech_start + len(speech)] = True
        response_mask[row_index, length - len(targets) :] = True  # an empty slice when there are no targets
    position_ids = (attention_mask.cumsum(dim=-1) - 1).clamp(min=0)
    num_tokens = torch.tensor([len(speech) for speech in speech_ids], dtype=torch.long)
    return TextBatch(input_ids, attention_mask, position_ids, speech_mask, response_mask, num_tokens)


@dataclass
class SpeechInput:
    """A batch's speech in one of two forms: the frozen encoder's output, cached (hidden, frame_mask), or log-mel
    features (features, feature_lengths) that the model's forward encodes, so that a trained encoder runs inside
    the (DDP-wrapped) forward like every other trained weight."""

    hidden: Tensor | None = None  # [B, T, D] encoder outputs, right-padded with zeros ...
    frame_mask: Tensor | None = None  # [B, T] bool
    features: Tensor | None = None  # ... or [B, F, n_mels] log-mel features, right-padded with zeros
    feature_lengths: Tensor | None = None  # [B]

    def to(self, device) -> "SpeechInput":
        return SpeechInput(**{field.name: None if getattr(self, field.name) is None
                              else getattr(self, field.name).to(device) for field in fields(self)})


def pad_features(features: list[np.ndarray | torch.Tensor]) -> tuple[torch.Tensor, torch.LongTensor]:
    """Right-pad log-mel features [F_i, n_mels] with zeros.

    Returns (features [B, F, n_mels] float32, lengths [B]).
    """
    tensors = [torch.as_tensor(feature, dtype=torch.float32) for feature in features]
    lengths = torch.tensor([tensor.shape[0] for tensor in tensors], dtype=torch.long)
    return pad_sequence(tensors, batch_first=True), lengths


def pad_hidden(hidden_states: list[torch.Tensor]) -> tuple[torch.Tensor, torch.BoolTensor]:
    """Right-pad cached encoder outputs [T_i, D] with zeros -> (hidden [B, T, D], frame_mask [B, T])."""
    lengths = torch.tensor([hidden.shape[0] for hidden in hidden_states], dtype=torch.long)
    padded = pad_sequence(hidden_states, batch_first=True)
    return padded, lengths_to_mask(lengths, padded.shape[1])


def lengths_to_mask(lengths: Tensor, max_length: int) -> Tensor:
    """[B] lengths -> [B, max_length] bool mask, True on the first lengths[b] positions."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]
