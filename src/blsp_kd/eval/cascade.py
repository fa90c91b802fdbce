"""The cascade that BLSP-KD replaces: stock Whisper ASR → the same chat LLM, as their users run them.

Whisper runs its own `generate()` on its own log-mel features (greedy), not our real-length encoder path, so the
baseline is not handicapped: clips up to 30 s as stock short-form (padded to 30 s), longer ones with Whisper's
sequential long-form decoding (30 s windows, one after the other), so long audio is transcribed whole in bounded
memory, never cut at 30 s.
"""

import logging
from contextlib import contextmanager

import numpy as np
import torch
from tqdm import tqdm

from blsp_kd.layout.clips import SAMPLE_RATE

WINDOW_SAMPLES = 30 * SAMPLE_RATE  # Whisper's input window
# transformers' Whisper `generate` passes suppress_tokens next to its own generation config and then warns about
# that (transformers PR #48108); no argument of ours avoids it, so this one message is dropped during our call.
WHISPER_INTERNAL_WARNING = "Passing `generation_config` together with generation-related arguments"


class DropMessage(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


@contextmanager
def without_whisper_internal_warning():
    generation_logger = logging.getLogger("transformers.generation.utils")
    message_filter = DropMessage(WHISPER_INTERNAL_WARNING)
    generation_logger.addFilter(message_filter)
    try:
        yield
    finally:
        generation_logger.removeFilter(message_filter)


@torch.inference_mode()
def transcribe(whisper, processor, audios: list[np.ndarray], batch_size: int = 8, progress: bool = False) -> list[str]:
    """Greedy Whisper transcripts of 16 kHz mono clips, in order; up to Whisper's own max_length (448 tokens) per
    30 s window. A batch holding a clip over 30 s runs long-form (with timestamps, as Whisper needs there)."""
    transcripts = []
    for start in tqdm(range(0, len(audios), batch_size), desc="whisper asr", disable=not progress):
        batch = audios[start : start + batch_size]
        long_form = any(len(audio) > WINDOW_SAMPLES for audio in batch)
        padding = {"truncation": False, "padding": "longest"} if long_form else {}
        inputs = processor(batch, sampling_rate=SAMPLE_RATE, return_tensors="pt", return_attention_mask=True,
                           **padding)
        with without_whisper_internal_warning():
            token_ids = whisper.generate(inputs.input_features.to(whisper.device, whisper.dtype),
                                         attention_mask=inputs.attention_mask.to(whisper.device), do_sample=False,
                                         return_timestamps=long_form)
        transcripts += [text.strip() for text in processor.batch_decode(token_ids, skip_special_tokens=True)]
    return transcripts


@torch.inference_mode()
def chat(llm, tokenizer, user_messages: list[str], max_new_tokens: int = 48) -> list[str]:
    """Greedy answers of a chat LLM to single-turn user messages, rendered with its own chat template."""
    answers = []
    for message in user_messages:
        inputs = tokenizer.apply_chat_template(
            [{"role": "user", "content": message}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(llm.device)
        output = llm.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        answers.append(tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip())
    return answers
