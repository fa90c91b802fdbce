"""collate_text / build_inference_inputs: every mask checked by hand on a word-level tokenizer.

Template of the tiny tokenizer: "<s><user> {instruction} {speech} <end> <assistant>" and "... <end> " after an
assistant message, so for instruction "repeat": prefix = [<s>, <user>, repeat], suffix = [<end>, <assistant>],
end-of-turn = <end>. The same alignment on Qwen2/Llama-3/SmolLM2-style templates is tested in test_prompt.py.
"""

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from blsp_kd.layout.batch import TextBatch, build_inference_inputs, collate_text, pad_features, pad_hidden
from blsp_kd.layout.prompt import PromptBuilder, cut_at_end_of_turn

WORDS = "[UNK] <s> <user> <end> <assistant> repeat hello world hi a b c <pad>".split()
VOCAB = {word: token_id for token_id, word in enumerate(WORDS)}
BOS, USER, END, ASSISTANT, REPEAT, HELLO, WORLD, HI, A, B, C, PAD = range(1, 13)
WORD_TEMPLATE = (
    r"{{ bos_token }}"
    r"{% for message in messages %}"
    r"{{ '<' + message['role'] + '> ' + message['content'] + ' <end> ' }}"
    r"{% endfor %}"
    r"{% if add_generation_prompt %}{{ '<assistant>' }}{% endif %}"
)


@pytest.fixture(scope="module")
def builder() -> PromptBuilder:
    word_level = Tokenizer(models.WordLevel(VOCAB, unk_token="[UNK]"))
    word_level.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    word_level.add_special_tokens(["<s>", "<user>", "<end>", "<assistant>", "<pad>"])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=word_level, bos_token="<s>", pad_token="<pad>", unk_token="[UNK]"
    )
    tokenizer.chat_template = WORD_TEMPLATE
    return PromptBuilder(tokenizer, user_template="{instruction} {speech}")


def positions(mask_row: torch.Tensor) -> list[int]:
    return mask_row.nonzero().squeeze(-1).tolist()


def test_builder_segments_of_the_tiny_template(builder):
    segments = builder.segments("repeat")
    assert segments.prefix_ids == [BOS, USER, REPEAT]
    assert segments.suffix_ids == [END, ASSISTANT]
    assert segments.end_of_turn_id == END
    assert builder.transcript_ids("hello world") == [HELLO, WORLD]


def test_collate_text_layout_by_hand(builder):
    examples = [
        # prefix 3 + transcript 2 + suffix 2 + response 3 + end-of-turn = 11 positions
        {"id": "long", "instruction": "repeat", "text": "hello world", "response_ids": [A, B, C]},
        # prefix 3 + transcript 1 + suffix 2 + response 1, cut at the length limit = 7 positions, 4 padding
        {"id": "short", "instruction": "repeat", "text": "hi", "response_ids": [A], "early_stop": True},
    ]
    batch = collate_text(examples, builder)

    assert batch.input_ids.tolist() == [
        [BOS, USER, REPEAT, HELLO, WORLD, END, ASSISTANT, A, B, C, END],
        [PAD, PAD, PAD, PAD, BOS, USER, REPEAT, HI, END, ASSISTANT, A],
    ]
    assert batch.attention_mask.tolist() == [[1] * 11, [0, 0, 0, 0] + [1] * 7]
    assert batch.position_ids.tolist() == [list(range(11)), [0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6]]
    assert positions(batch.speech_mask[0]) == [3, 4]
    assert positions(batch.speech_mask[1]) == [7]
    assert positions(batch.response_mask[0]) == [7, 8, 9, 10]
    assert positions(batch.response_mask[1]) == [10]
    assert batch.num_tokens.tolist() == [2, 1]
    assert batch.input_ids[batch.speech_mask].tolist() == [HELLO, WORLD, HI]
    assert batch.input_ids.dtype == torch.long and batch.speech_mask.dtype == torch.bool


def test_early_stop_drops_the_end_of_turn_target(builder):
    example = {"instruction": "repeat", "text": "hi", "response_ids": [A, B]}
    finished = collate_text([example], builder)
    cut = collate_text([{**example, "early_stop": True}], builder)
    assert finished.input_ids[finished.response_mask].tolist() == [A, B, END]
    assert cut.input_ids[cut.response_mask].tolist() == [A, B]
    assert cut.input_ids.shape[1] == finished.input_ids.shape[1] - 1


def test_empty_response_still_targets_the_end_of_turn(builder):
    batch = collate_text([{"instruction": "repeat", "text": "hi", "response_ids": []}], builder)
    assert batch.input_ids[0].tolist() == [BOS, USER, REPEAT, HI, END, ASSISTANT, END]
    assert positions(batch.response_mask[0]) == [6]


def test_prompt_only_record_has_no_response_targets(builder):
    batch = collate_text([{"instruction": "repeat", "text": "hello world"}], builder)
    assert batch.input_ids[0].tolist() == [BOS, USER, REPEAT, HELLO, WORLD, END, ASSISTANT]
    assert not batch.response_mask.any()


def test_build_inference_inputs_by_hand(builder):
    segments = builder.segments("repeat")
    batch = build_inference_inputs([segments, segments], num_speech_tokens=[3, 1], pad_id=PAD)
    assert batch.input_ids.tolist() == [
        [BOS, USER, REPEAT, PAD, PAD, PAD, END, ASSISTANT],
        [PAD, PAD, BOS, USER, REPEAT, PAD, END, ASSISTANT],
    ]
    assert batch.attention_mask.tolist() == [[1] * 8, [0, 0] + [1] * 6]
    assert batch.position_ids.tolist() == [list(range(8)), [0, 0, 0, 1, 2, 3, 4, 5]]
    assert positions(batch.speech_mask[0]) == [3, 4, 5]
    assert positions(batch.speech_mask[1]) == [5]
    assert not batch.response_mask.any()
    assert batch.num_tokens.tolist() == [3, 1]


def test_inference_placeholders_sit_where_the_transcript_sits(builder):
    examples = [
        {"instruction": "repeat", "text": "hello world hi"},
        {"instruction": "repeat", "text": "world"},
    ]
    teacher = collate_text(examples, builder)
    student = build_inference_inputs([builder.segments("repeat")] * 2, [3, 1], pad_id=PAD)
    assert torch.equal(teacher.speech_mask, student.speech_mask)
    assert torch.equal(teacher.attention_mask, student.attention_mask)
    assert torch.equal(teacher.position_ids, student.position_ids)
    assert torch.equal(teacher.input_ids[~teacher.speech_mask], student.input_ids[~student.speech_mask])
    assert teacher.input_ids[teacher.speech_mask].tolist() == [HELLO, WORLD, HI, WORLD]
    assert (student.input_ids[student.speech_mask] == PAD).all()


@pytest.mark.parametrize("text", ["", "  \n "])
def test_empty_transcript_names_the_record(builder, text):
    examples = [
        {"id": "ok", "instruction": "repeat", "text": "hi"},
        {"id": "utt-7", "instruction": "repeat", "text": text},
    ]
    with pytest.raises(ValueError, match="'utt-7'.*empty"):
        collate_text(examples, builder)


def test_too_long_transcript_names_the_record(builder):
    examples = [{"id": "utt-9", "instruction": "repeat", "text": "hello world hi"}]
    with pytest.raises(ValueError, match="'utt-9'.*3 LLM tokens.*max_text_tokens=2"):
        collate_text(examples, builder, max_text_tokens=2)
    assert collate_text(examples, builder, max_text_tokens=3).num_tokens.tolist() == [3]


def test_record_without_id_is_named_by_batch_index(builder):
    examples = [{"instruction": "repeat", "text": "hi"}, {"instruction": "repeat", "text": ""}]
    with pytest.raises(ValueError, match="batch index 1"):
        collate_text(examples, builder)


def test_record_without_instruction_is_named(builder):
    with pytest.raises(ValueError, match="'utt-5'.*instruction"):
        collate_text([{"id": "utt-5", "text": "hi"}], builder)


def test_response_holding_the_end_of_turn_token_is_rejected(builder):
    examples = [{"id": "utt-3", "instruction": "repeat", "text": "hi", "response_ids": [A, END]}]
    with pytest.raises(ValueError, match="'utt-3'.*end-of-turn"):
        collate_text(examples, builder)


def test_build_inference_inputs_rejects_bad_lengths(builder):
    segments = builder.segments("repeat")
    with pytest.raises(ValueError, match="at least one"):
        build_inference_inputs([segments], [0], pad_id=PAD)
    with pytest.raises(ValueError, match="2 prompts but 1"):
        build_inference_inputs([segments, segments], [1], pad_id=PAD)


def test_text_batch_to_moves_every_tensor(builder):
    batch = collate_text([{"instruction": "repeat", "text": "hi", "response_ids": [A]}], builder)
    moved = batch.to("meta")
    assert isinstance(moved, TextBatch)
    for name in ("input_ids", "attention_mask", "position_ids", "speech_mask", "response_mask", "num_tokens"):
        assert getattr(moved, name).device.type == "meta"
        assert getattr(moved, name).shape == getattr(batch, name).shape


def test_pad_features_right_pads_with_zeros():
    short = np.arange(3 * 4, dtype=np.float32).reshape(3, 4) + 1
    long = np.arange(5 * 4, dtype=np.float64).reshape(5, 4) + 1
    features, lengths = pad_features([short, long])
    assert features.shape == (2, 5, 4) and features.dtype == torch.float32
    assert lengths.tolist() == [3, 5]
    assert torch.equal(features[0, :3], torch.from_numpy(short))
    assert (features[0, 3:] == 0).all()
    assert torch.equal(features[1], torch.from_numpy(long).float())


def test_pad_hidden_right_pads_and_marks_frames():
    first, second = torch.randn(2, 3), torch.randn(4, 3)
    hidden, frame_mask = pad_hidden([first, second])
    assert hidden.shape == (2, 4, 3)
    assert frame_mask.tolist() == [[True, True, False, False], [True] * 4]
    assert torch.equal(hidden[0, :2], first) and torch.equal(hidden[1], second)
    assert (hidden[0, 2:] == 0).all()


def test_a_response_ends_at_the_first_end_of_turn_token():
    assert cut_at_end_of_turn([A, B, END, PAD, PAD], END) == ([A, B], True)
    assert cut_at_end_of_turn([A, B, C], END) == ([A, B, C], False)  # cut at the length limit
    assert cut_at_end_of_turn([END], END) == ([], True)


def test_the_pad_id_is_the_end_of_turn_token_when_the_tokenizer_has_none(builder):
    assert builder.pad_id == PAD
    tokenizer = builder.tokenizer
    pad_token = tokenizer.pad_token
    try:
        tokenizer.pad_token = None
        assert PromptBuilder(tokenizer, user_template="{instruction} {speech}").pad_id == END
    finally:
        tokenizer.pad_token = pad_token
