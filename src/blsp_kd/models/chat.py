"""Multi-turn chat whose turns are text or speech: one conversation (batch 1), answered token by token.

A conversation is a list of messages in the OpenAI shape, with clips already decoded:

    {"role": "system" | "user" | "assistant",
     "content": "text" | [{"type": "text", "text": "..."}, {"type": "audio", "audio": <16 kHz mono float32>}, ...]}

The whole conversation is rendered with the LLM's own chat template, a placeholder standing for each clip; the text
between placeholders is tokenised piece by piece (as `PromptBuilder` does for one turn, so a one-turn chat is the
prompt `generate` builds), and each clip's speech vectors (the CIF's own n̂) replace its placeholder. PLoRA is on at
those positions, in every turn, and nowhere else.

A `ChatCache` keeps the KV cache of the previous call and what each of its positions holds (a token id, or a clip
and vector index). The next call runs only the positions after the longest common prefix: a new turn costs its own
tokens, not the whole history again, and the answer is the one a forward pass over the whole conversation gives
(a test checks it).
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from blsp_kd.layout.clips import DEFAULT_MAX_SECONDS, as_clip
from blsp_kd.layout.prompt import SPEECH_PLACEHOLDER
from blsp_kd.models.encoder import min_clip_samples

ROLES = ("system", "user", "assistant")


@dataclass
class ChatCache:
    """The LLM's KV cache after the last call, what each cached position holds, and the speech vectors [n, H] of the
    clips seen (by content), so earlier clips are not encoded again."""

    kv: object = None  # transformers Cache
    keys: list = field(default_factory=list)
    speech_by_clip: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class ChatPrompt:
    """One conversation as LLM input, batch 1. Shapes [1, L]; speech positions hold pad ids in `input_ids`."""

    input_ids: Tensor
    speech_mask: Tensor
    embeds: Tensor  # [1, L, H] token embeddings with the speech vectors written over the speech positions
    keys: list  # per position: its token id, or (clip fingerprint, vector index) at a speech position


def clip_fingerprint(audio: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(audio, dtype=np.float32).tobytes(), digest_size=16).hexdigest()


def render(model, messages: list[dict]) -> tuple[list[str], list[np.ndarray]]:
    """The conversation through the chat template + generation prompt: the text pieces around the clips (one more
    piece than clips) and the clips in order. A user turn with text and clips uses the model's `user_template`
    (instruction = its text, speech = its clips), like the prompts the model was trained on."""
    if not messages:
        raise ValueError("the conversation has no messages")
    rendered_messages, clips = [], []
    if model.prompts.system_prompt is not None and messages[0].get("role") != "system":
        rendered_messages.append({"role": "system", "content": model.prompts.system_prompt})
    for index, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise ValueError(f"message {index}: role must be one of {ROLES}, got {role!r}")
        texts, message_clips = [], []
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        for part in parts:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "audio" and role == "user":
                message_clips.append(part["audio"])
            else:
                raise ValueError(f"message {index}: a {role} content part must be text"
                                 f"{' or audio' if role == 'user' else ''}, got {part!r:.80}")
        if not texts and not message_clips:
            raise ValueError(f"message {index}: empty content")
        instruction = "\n".join(texts)
        speech = "\n".join([SPEECH_PLACEHOLDER] * len(message_clips))
        text = model.prompts.user_template.format(instruction=instruction, speech=speech) if (
            texts and message_clips) else instruction or speech
        rendered_messages.append({"role": role, "content": text})
        clips += message_clips
    rendered = model.tokenizer.apply_chat_template(rendered_messages, add_generation_prompt=True, tokenize=False)
    pieces = rendered.split(SPEECH_PLACEHOLDER)
    if len(pieces) != len(clips) + 1:
        raise ValueError(f"the conversation's text contains the reserved string {SPEECH_PLACEHOLDER!r}")
    return pieces, clips


def speech_vectors(model, clips: list[np.ndarray], cache: ChatCache | None,
                   max_audio_seconds: float | None = DEFAULT_MAX_SECONDS) -> list[Tensor]:
    """Speech vectors [n̂_i, H] of each clip (checked by `as_clip`, as `generate` checks them); clips already in the
    cache are not encoded again."""
    min_samples = min_clip_samples(model.feature_extractor)
    clips = [as_clip(clip, index, min_samples, max_audio_seconds) for index, clip in enumerate(clips)]
    known = cache.speech_by_clip if cache is not None else {}
    fingerprints = [clip_fingerprint(clip) for clip in clips]
    new = {fingerprint: clip for fingerprint, clip in zip(fingerprints, clips, strict=True) if fingerprint not in known}
    vectors = dict(known)
    if new:
        speech = model.speech(*model.encode(*model.features(list(new.values()))), num_tokens=None)
        for row, fingerprint in enumerate(new):
            vectors[fingerprint] = speech.embeds[row, : speech.num_tokens[row]]
    if cache is not None:
        cache.speech_by_clip = {fingerprint: vectors[fingerprint] for fingerprint in fingerprints}
    return [vectors[fingerprint] for fingerprint in fingerprints]


def build_prompt(model, messages: list[dict], cache: ChatCache | None = None,
                 max_audio_seconds: float | None = DEFAULT_MAX_SECONDS) -> ChatPrompt:
    pieces, clips = render(model, messages)
    speech = speech_vectors(model, clips, cache, max_audio_seconds)
    fingerprints = [clip_fingerprint(clip) for clip in clips]
    ids, keys, is_speech = [], [], []
    for index, piece in enumerate(pieces):
        piece_ids = model.tokenizer(piece, add_special_tokens=False)["input_ids"]
        ids += piece_ids
        keys += piece_ids
        is_speech += [False] * len(piece_ids)
        if index < len(clips):
            count = speech[index].shape[0]
            ids += [model.prompts.pad_id] * count
            keys += [(fingerprints[index], position) for position in range(count)]
            is_speech += [True] * count
    input_ids = torch.tensor([ids], device=model.device)
    speech_mask = torch.tensor([is_speech], device=model.device)
    embeds = model.llm.get_input_embeddings()(input_ids)
    if clips:
        embeds[speech_mask] = torch.cat(speech).to(embeds.dtype)
    return ChatPrompt(input_ids, speech_mask, embeds, keys)


def common_prefix(first: list, second: list) -> int:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


@torch.inference_mode()
def generate_tokens(model, messages: list[dict], max_new_tokens: int = 128, temperature: float = 0.0,
                    cache: ChatCache | None = None, max_audio_seconds: float | None = DEFAULT_MAX_SECONDS
                    ) -> Iterator[int]:
    """The answer's token ids, one at a time, up to and including the end-of-turn token. temperature 0: greedy;
    above 0: sampled from softmax(logits / temperature) with torch's global random generator.

    The prompt positions not in the cache run in one forward under the PLoRA speech mask; every decode step is a
    text token, run outside it (m = 0), like `BlspKdModel.generate_from_embeds`."""
    from transformers import DynamicCache

    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    prompt = build_prompt(model, messages, cache, max_audio_seconds)
    length = len(prompt.keys)
    reused = 0
    kv = DynamicCache()
    if cache is not None and cache.kv is not None and cache.kv.is_croppable:
        reused = min(common_prefix(cache.keys, prompt.keys), length - 1)  # the last position runs for its logits
        kv = cache.kv
        if kv.get_seq_length() > reused:
            kv.crop(reused - kv.get_seq_length())  # a negative count: the positions to drop from the end
    keys = prompt.keys
    if cache is not None:  # a stopped or failed call leaves keys and cache consistent: nothing past `reused`
        cache.kv, cache.keys = kv, keys[:reused]
    positions = torch.arange(reused, length, device=model.device)[None]
    with model.plora_scope(prompt.speech_mask[:, reused:]):
        logits = model.llm(inputs_embeds=prompt.embeds[:, reused:], position_ids=positions, cache=kv,
                           use_cache=True, logits_to_keep=1).logits[0, -1]
    if cache is not None:
        cache.keys = list(keys)
    for step in range(max_new_tokens):
        token = next_token(logits, temperature)
        yield token
        if token == model.prompts.end_of_turn_id or step == max_new_tokens - 1:
            return
        position = torch.tensor([[length + step]], device=model.device)
        logits = model.llm(input_ids=torch.tensor([[token]], device=model.device), position_ids=position, cache=kv,
                           use_cache=True).logits[0, -1]
        if cache is not None:
            cache.keys.append(token)


def next_token(logits: Tensor, temperature: float) -> int:
    if temperature <= 0:
        return int(logits.argmax())
    return int(torch.multinomial(torch.softmax(logits.float() / temperature, dim=-1), 1))


def stream_text(tokenizer, token_ids: Iterator[int]) -> Iterator[str]:
    """Text pieces whose concatenation is the decoded answer (special tokens skipped). A piece is held back while
    it ends inside a multi-byte character (the decoder shows it as U+FFFD until the rest arrives)."""
    ids, emitted = [], ""
    for token in token_ids:
        ids.append(token)
        text = tokenizer.decode(ids, skip_special_tokens=True)
        if text.endswith("\ufffd") or len(text) <= len(emitted):
            continue
        yield text[len(emitted):]
        emitted = text
    text = tokenizer.decode(ids, skip_special_tokens=True)
    if len(text) > len(emitted):
        yield text[len(emitted):]
