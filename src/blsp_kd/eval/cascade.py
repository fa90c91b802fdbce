"""The cascade that BLSP-KD replaces: stock Whisper ASR → the same chat LLM, as their users run them.

Whisper runs its own `generate()` on 30 s-padded log-mel features (greedy), not our real-length encoder path,
so the baseline is not handicapped.
"""

import numpy as np
import torch
from tqdm import tqdm

SAMPLE_RATE = 16_000


@torch.inference_mode()
def transcribe(whisper, processor, audios: list[np.ndarray], batch_size: int = 8, max_new_tokens: int = 128,
               progress: bool = False) -> list[str]:
    """Greedy Whisper transcripts of 16 kHz mono clips (≤ 30 s each), in order."""
    transcripts = []
    for start in tqdm(range(0, len(audios), batch_size), desc="whisper asr", disable=not progress):
        batch = audios[start : start + batch_size]
        features = processor(batch, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        features = features.to(whisper.device, whisper.dtype)
        token_ids = whisper.generate(features, max_new_tokens=max_new_tokens, do_sample=False)
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
