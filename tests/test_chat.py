"""Multi-turn chat with text and speech turns: the same answers as `generate` for one turn, PLoRA at the speech
positions of every turn, and a KV cache reused across turns that gives the answer of a forward pass without one."""

import pytest
import torch

from blsp_kd.models.chat import ChatCache, build_prompt, common_prefix, generate_tokens, stream_text
from test_blsp_kd_model import INSTRUCTION, clip, randomise_plora, tiny_model

PLORA = {"rank": 4, "alpha": 8, "dropout": 0.0}


def speech_turn(audio, text=INSTRUCTION):
    return {"role": "user", "content": [{"type": "text", "text": text}, {"type": "audio", "audio": audio}]}


@pytest.fixture(scope="module")
def model():
    model = tiny_model(plora=PLORA)
    randomise_plora(model)
    return model


def test_one_speech_turn_is_what_generate_answers(model):
    for seconds, seed in ((0.8, 0), (1.6, 1), (2.3, 2)):
        audio = clip(seconds, seed)
        expected_ids = model.generate_ids([audio], INSTRUCTION, max_new_tokens=12)[0]
        assert list(generate_tokens(model, [speech_turn(audio)], max_new_tokens=12)) == expected_ids
        assert model.chat([speech_turn(audio)], max_new_tokens=12) == model.generate([audio], INSTRUCTION, 12)[0]


def test_the_streamed_pieces_make_up_the_answer(model):
    pieces = list(model.chat_stream([speech_turn(clip(1.2, 3))], max_new_tokens=12))
    assert len(pieces) > 1 and "".join(pieces) == model.chat([speech_turn(clip(1.2, 3))], max_new_tokens=12)


def test_stream_text_holds_back_a_split_multibyte_character(model):
    ids = model.tokenizer("é ü", add_special_tokens=False)["input_ids"]
    assert len(ids) > 2  # byte-level pieces: 'é' alone is two byte tokens in the tiny vocabulary
    pieces = list(stream_text(model.tokenizer, iter(ids)))
    assert "".join(pieces) == "é ü" and all("\ufffd" not in piece for piece in pieces)


def full_forward_argmax(model, messages, answer_ids) -> list[int]:
    """Greedy answer check without any KV cache: one forward over prompt + answer, PLoRA at the speech positions."""
    prompt = build_prompt(model, messages)
    answer_embeds = model.llm.get_input_embeddings()(torch.tensor([answer_ids[:-1]]))
    embeds = torch.cat([prompt.embeds, answer_embeds], dim=1)
    speech_mask = torch.cat([prompt.speech_mask, torch.zeros(1, len(answer_ids) - 1, dtype=torch.bool)], dim=1)
    with torch.inference_mode(), model.plora_scope(speech_mask):
        logits = model.llm(inputs_embeds=embeds, position_ids=torch.arange(embeds.shape[1])[None]).logits
    return logits[0, prompt.input_ids.shape[1] - 1 :].argmax(-1).tolist()


def test_multi_turn_with_a_reused_cache_equals_a_forward_without_one(model):
    cache = ChatCache()
    messages = []
    turns = [speech_turn(clip(1.0, 4)), {"role": "user", "content": "hello world"},
             speech_turn(clip(1.4, 5), "continue the text")]
    for turn in turns:
        messages.append(turn)
        previous_keys, previous_kv = list(cache.keys), cache.kv
        prompt_keys = build_prompt(model, messages).keys
        answer = list(generate_tokens(model, messages, max_new_tokens=8, cache=cache))
        assert cache.kv.get_seq_length() == len(cache.keys) == len(prompt_keys) + len(answer) - 1
        assert answer == list(generate_tokens(model, messages, max_new_tokens=8))  # no cache: the same
        assert answer == full_forward_argmax(model, messages, answer)
        if previous_keys:  # the history was not run again: all but the new turn came from the cache
            assert cache.kv is previous_kv and common_prefix(previous_keys, prompt_keys) > len(prompt_keys) // 2
        messages.append({"role": "assistant", "content": model.tokenizer.decode(answer, skip_special_tokens=True)})
    assert sum(isinstance(key, tuple) for key in build_prompt(model, messages).keys) > 0


def test_plora_acts_at_the_speech_of_every_turn(model):
    """An earlier turn's speech goes through PLoRA too: without it there, the last position's logits differ (and the
    answers above equal a forward with PLoRA at every speech position)."""
    messages = [speech_turn(clip(1.0, 6)), {"role": "assistant", "content": "the cat"}, speech_turn(clip(1.3, 7))]
    prompt = build_prompt(model, messages)
    first_clip = torch.zeros_like(prompt.speech_mask)
    first_clip[0, prompt.speech_mask[0].nonzero()[: int(build_prompt(model, messages[:1]).speech_mask.sum()), 0]] = True
    assert 0 < first_clip.sum() < prompt.speech_mask.sum()
    with torch.inference_mode():
        with model.plora_scope(prompt.speech_mask):
            everywhere = model.llm(inputs_embeds=prompt.embeds).logits[0, -1]
        with model.plora_scope(prompt.speech_mask & ~first_clip):
            without_first = model.llm(inputs_embeds=prompt.embeds).logits[0, -1]
    assert not torch.allclose(everywhere, without_first, atol=1e-4)
    cache = ChatCache()
    list(generate_tokens(model, messages[:1], max_new_tokens=4, cache=cache))
    assert model.chat(messages, max_new_tokens=6, cache=cache) == model.chat(messages, max_new_tokens=6)


def test_a_temperature_samples_and_a_seed_repeats_it(model):
    messages = [speech_turn(clip(1.1, 8))]
    greedy = model.chat(messages, max_new_tokens=10)
    sampled = []
    for seed in range(4):
        torch.manual_seed(seed)
        sampled.append(model.chat(messages, max_new_tokens=10, temperature=1.5))
    torch.manual_seed(0)
    assert model.chat(messages, max_new_tokens=10, temperature=1.5) == sampled[0]
    assert any(answer != greedy for answer in sampled) and len(set(sampled)) > 1


def test_bad_conversations_are_refused_with_a_message(model):
    with pytest.raises(ValueError, match="no messages"):
        model.chat([])
    with pytest.raises(ValueError, match="message 0: role"):
        model.chat([{"role": "robot", "content": "hi"}])
    with pytest.raises(ValueError, match="message 1: a assistant content part must be text"):
        model.chat([speech_turn(clip(1.0, 0)), {"role": "assistant", "content": [{"type": "audio", "audio": None}]}])
    with pytest.raises(ValueError, match="message 0: empty content"):
        model.chat([{"role": "user", "content": []}])
