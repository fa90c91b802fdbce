"""Prompt segments built from the LLM's own chat template (METHOD §3).

The teacher reads   prefix + transcript ids x_1..x_n   + suffix + response,
the student reads   prefix + speech vectors s_1..s_n   + suffix + response.
Each segment is tokenised on its own: tokenising the whole prompt string can merge tokens across the
transcript boundary, and then transcript position i would no longer be speech position i.
"""

from dataclasses import dataclass

# Stand-ins rendered through the chat template and split on afterwards; no template or text contains them.
SPEECH_PLACEHOLDER = "<<blsp-kd:speech>>"
RESPONSE_PLACEHOLDER = "<<blsp-kd:response>>"
# The user message: the instruction, a blank line, then the transcript (teacher) or the speech (student).
DEFAULT_USER_TEMPLATE = "{instruction}\n\n{speech}"


@dataclass
class PromptSegments:
    """Token ids around the speech segment of one instruction's prompt.

    prefix_ids:     chat template up to where the transcript/speech goes
                    (system prompt, user header, instruction)
    suffix_ids:     end of the user turn + assistant header (the generation prompt)
    end_of_turn_id: the token that ends an assistant turn in this template (e.g. <|im_end|>, <|eot_id|>)
    """

    prefix_ids: list[int]
    suffix_ids: list[int]
    end_of_turn_id: int


class PromptBuilder:
    """Tokenises prompts in segments with the tokenizer's chat template.

    The user message is `user_template` with `{instruction}` and `{speech}` filled in. With
    `system_prompt=None` the conversation has no system message, so a template's default system prompt
    (SmolLM2, Qwen2) stays as the template renders it. `pad_id` fills the padding of a batch: the tokenizer's pad
    token, or the end-of-turn token for tokenizers without one (padding is masked, so any id works).
    """

    def __init__(
        self, tokenizer, user_template: str = DEFAULT_USER_TEMPLATE, system_prompt: str | None = None
    ):
        if user_template.count("{speech}") != 1:
            raise ValueError(f"user_template must contain '{{speech}}' exactly once, got {user_template!r}")
        self.tokenizer = tokenizer
        self.user_template = user_template
        self.system_prompt = system_prompt
        self.end_of_turn_id = self._find_end_of_turn_id()
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.end_of_turn_id
        self._segments_by_instruction: dict[str, PromptSegments] = {}

    def segments(self, instruction: str) -> PromptSegments:
        """Prefix and suffix ids for `instruction` (cached): the template rendered with a placeholder for the
        speech, split there, each side tokenised alone."""
        if instruction not in self._segments_by_instruction:
            user_content = self.user_template.format(instruction=instruction, speech=SPEECH_PLACEHOLDER)
            rendered = self._render(user_content, assistant_content=None)
            prefix_text, suffix_text = _split_once(rendered, SPEECH_PLACEHOLDER)
            self._segments_by_instruction[instruction] = PromptSegments(
                prefix_ids=self._encode(prefix_text),
                suffix_ids=self._encode(suffix_text),
                end_of_turn_id=self.end_of_turn_id,
            )
        return self._segments_by_instruction[instruction]

    def transcript_ids(self, text: str) -> list[int]:
        """The transcript tokenised alone. Edge whitespace is stripped: the speech carries none, and a leading
        space would change the first token (e.g. 'Ġhello' instead of 'hello')."""
        return self._encode(text.strip())

    def response_ids(self, text: str) -> list[int]:
        """The assistant's message content tokenised alone (without the end-of-turn token)."""
        return self._encode(text)

    def _find_end_of_turn_id(self) -> int:
        """The first token the template renders after an assistant message's content."""
        rendered = self._render("Hello.", assistant_content=RESPONSE_PLACEHOLDER)
        _, after_response = _split_once(rendered, RESPONSE_PLACEHOLDER)
        after_response_ids = self._encode(after_response)
        if not after_response_ids:
            raise ValueError(
                "the chat template renders nothing after an assistant message, so it has no end-of-turn "
                f"token: {rendered!r}"
            )
        return after_response_ids[0]

    def _render(self, user_content: str, assistant_content: str | None) -> str:
        messages = [] if self.system_prompt is None else [{"role": "system", "content": self.system_prompt}]
        messages.append({"role": "user", "content": user_content})
        if assistant_content is not None:
            messages.append({"role": "assistant", "content": assistant_content})
        return self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=assistant_content is None, tokenize=False
        )

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]


def cut_at_end_of_turn(token_ids: list[int], end_of_turn_id: int) -> tuple[list[int], bool]:
    """(the response before the first end-of-turn token, whether there was one). A generated row without it was
    cut at the length limit (`early_stop`); anything after it (padding of a batch) is not the response."""
    if end_of_turn_id in token_ids:
        return token_ids[: token_ids.index(end_of_turn_id)], True
    return token_ids, False


def _split_once(rendered: str, placeholder: str) -> tuple[str, str]:
    count = rendered.count(placeholder)
    if count != 1:
        raise ValueError(
            f"the chat template rendered {placeholder!r} {count} times, expected once: {rendered!r}"
        )
    before, after = rendered.split(placeholder)
    return before, after
