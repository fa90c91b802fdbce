"""`blsp-kd chat`: one answer streamed to the terminal, or a conversation where each line is text or a clip's path."""

import sys
from pathlib import Path
from typing import TextIO

from blsp_kd.data.audio import AudioError, load_audio
from blsp_kd.layout.clips import DEFAULT_MAX_SECONDS
from blsp_kd.models.chat import ChatCache

EXIT_WORDS = ("exit", "quit")


def user_turn(text: str | None, audio_path: str | None, max_audio_seconds: float | None) -> dict:
    """A user message: the instruction text and/or the clip (raises AudioError for an unusable clip)."""
    parts = [] if text is None else [{"type": "text", "text": text}]
    if audio_path is not None:
        parts.append({"type": "audio", "audio": load_audio(audio_path, max_seconds=max_audio_seconds).samples})
    return {"role": "user", "content": parts}


def answer(model, messages: list[dict], cache: ChatCache, output: TextIO, max_new_tokens: int,
           temperature: float, max_audio_seconds: float | None) -> str:
    """Stream the answer to `output` and return it."""
    pieces = []
    for piece in model.chat_stream(messages, max_new_tokens, temperature, cache, max_audio_seconds):
        output.write(piece)
        output.flush()
        pieces.append(piece)
    output.write("\n")
    return "".join(pieces)


def run_chat(model, instruction: str | None = None, audio: str | None = None, max_new_tokens: int = 256,
             temperature: float = 0.0, max_audio_seconds: float | None = DEFAULT_MAX_SECONDS,
             input_stream: TextIO | None = None, output: TextIO | None = None) -> int:
    """With an instruction (and/or --audio): answer once. Without one: read lines until EOF or 'exit'; a line that
    is the path of an existing file is a clip, any other line is text; the conversation is kept."""
    input_stream, output = input_stream or sys.stdin, output or sys.stdout
    cache = ChatCache()
    if instruction is not None:
        try:
            turn = user_turn(instruction, audio, max_audio_seconds)
        except AudioError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        try:
            answer(model, [turn], cache, output, max_new_tokens, temperature, max_audio_seconds)
        except ValueError as error:  # a clip the model cannot take (e.g. too short)
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    messages, pending_audio = [], audio
    print("Type a message, or the path of an audio file; 'exit' or Ctrl-D ends.", file=sys.stderr)
    while True:
        print("> ", end="", file=sys.stderr, flush=True)
        line = input_stream.readline()
        if not line or line.strip() in EXIT_WORDS:
            return 0
        line = line.strip()
        if not line:
            continue
        is_clip = Path(line).is_file()
        try:
            turn = user_turn(None if is_clip else line, line if is_clip else pending_audio, max_audio_seconds)
        except AudioError as error:
            print(f"error: {error}", file=sys.stderr)
            continue
        pending_audio = None
        try:
            reply = answer(model, [*messages, turn], cache, output, max_new_tokens, temperature, max_audio_seconds)
        except ValueError as error:  # a clip the model cannot take (e.g. too short): the turn is dropped
            print(f"error: {error}", file=sys.stderr)
            continue
        messages += [turn, {"role": "assistant", "content": reply}]
