"""The cascade that BLSP-KD replaces: stock Whisper ASR → the same chat LLM, as their users run them.

Whisper runs its own `generate()` on its own log-mel features, not our real-length encoder path, so the baseline is
not handicapped: clips up to 30 s as stock short-form (padded to 30 s), longer ones with Whisper's sequential
long-form decoding (30 s windows, one after the other), so long audio is transcribed whole in bounded memory, never
cut at 30 s. Decoding is greedy with Whisper's temperature fallback (the Whisper paper's decoding heuristics,
openai-whisper's `transcribe` default): a transcript that repeats itself (token compression ratio above 1.35,
transformers' scale for gzip's 2.4) or that Whisper doubts (mean log-probability below -1) is decoded again at
temperature 0.2, 0.4, … 1.0. Without it, greedy tiny.en can loop on a clip it hears oddly ("A morgue is a morgue is
a morgue." → "The more it is, the more it is, …" up to 448 tokens). The sampling is seeded, so a transcript is
reproducible.
"""

import logging
from contextlib import contextmanager

import numpy as np
import torch
from tqdm import tqdm

from blsp_kd.layout.clips import SAMPLE_RATE

WINDOW_SAMPLES = 30 * SAMPLE_RATE  # Whisper's input window
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
COMPRESSION_RATIO_THRESHOLD = 1.35  # transformers' token-level compression ratio (openai-whisper's gzip 2.4)
LOGPROB_THRESHOLD = -1.0
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
def transcribe(whisper, processor, audios: list[np.ndarray], batch_size: int = 8, progress: bool = False,
               fallback: bool = True, seed: int = 0) -> list[str]:
    """Whisper transcripts of 16 kHz mono clips, in order: greedy, with the temperature fallback unless `fallback`
    is False (its sampling seeded by `seed`, the caller's random state untouched); up to Whisper's own max_length
    (448 tokens) per 30 s window. A batch holding a clip over 30 s runs long-form (with timestamps, as Whisper needs
    there)."""
    decoding = {"do_sample": False}
    if fallback:
        decoding.update(temperature=FALLBACK_TEMPERATURES, compression_ratio_threshold=COMPRESSION_RATIO_THRESHOLD,
                        logprob_threshold=LOGPROB_THRESHOLD)
    transcripts = []
    for start in tqdm(range(0, len(audios), batch_size), desc="whisper asr", disable=not progress):
        batch = audios[start : start + batch_size]
        long_form = any(len(audio) > WINDOW_SAMPLES for audio in batch)
        padding = {"truncation": False, "padding": "longest"} if long_form else {}
        inputs = processor(batch, sampling_rate=SAMPLE_RATE, return_tensors="pt", return_attention_mask=True,
                           **padding)
        with without_whisper_internal_warning(), torch.random.fork_rng():
            torch.manual_seed(seed + start)
            token_ids = whisper.generate(inputs.input_features.to(whisper.device, whisper.dtype),
                                         attention_mask=inputs.attention_mask.to(whisper.device),
                                         return_timestamps=long_form, **decoding)
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
