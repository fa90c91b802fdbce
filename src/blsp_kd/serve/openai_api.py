"""The OpenAI chat-completions request and response shapes, checked field by field.

A request is turned into `blsp_kd.models.chat` messages with every clip decoded (to 16 kHz mono float32 by
`load_audio`, which rejects what cannot be used), or into an `ApiError` that names the field and what is wrong.
"""

import base64
import binascii
import json
import tempfile
import time
import uuid
from dataclasses import dataclass

from blsp_kd.data.audio import AudioError, load_audio

AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg")
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class ApiError(Exception):
    """An error answered as an OpenAI error object with an HTTP status."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


@dataclass
class ChatRequest:
    messages: list[dict]  # blsp_kd.models.chat messages, clips decoded
    max_tokens: int
    temperature: float
    stream: bool


def parse_json(body: bytes) -> dict:
    try:
        request = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(400, f"the request body is not valid JSON ({error})") from error
    if not isinstance(request, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return request


def check_model(request: dict, served: str) -> None:
    model = request.get("model")
    if not isinstance(model, str):
        raise ApiError(400, "'model' is required (a string; GET /v1/models lists it)", "model", "missing_model")
    if model != served:
        raise ApiError(404, f"the model {model!r} does not exist; this server serves {served!r}", "model",
                       "model_not_found")


def decode_audio(input_audio: object, param: str, max_seconds: float) -> "object":
    """An `input_audio` object ({"data": base64, "format": ...}) → 16 kHz mono float32 samples."""
    if not isinstance(input_audio, dict):
        raise ApiError(400, f"{param} must be an object with 'data' (base64) and 'format'", param)
    audio_format, data = input_audio.get("format"), input_audio.get("data")
    if audio_format not in AUDIO_FORMATS:
        raise ApiError(400, f"{param}.format must be one of {', '.join(AUDIO_FORMATS)}, got {audio_format!r}",
                       f"{param}.format")
    if not isinstance(data, str):
        raise ApiError(400, f"{param}.data is required: the clip's bytes as a base64 string", f"{param}.data")
    try:
        audio_bytes = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ApiError(400, f"{param}.data is not valid base64 ({error})", f"{param}.data") from error
    if not audio_bytes:
        raise ApiError(400, f"{param}.data is empty: no audio", f"{param}.data")
    with tempfile.NamedTemporaryFile(suffix=f".{audio_format}") as file:  # libsndfile reads files
        file.write(audio_bytes)
        file.flush()
        try:
            return load_audio(file.name, max_seconds=max_seconds).samples
        except AudioError as error:
            raise ApiError(400, f"{param}: {error.reason}", f"{param}.data") from error


def parse_content(content: object, role: str, param: str, max_seconds: float) -> str | list[dict]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise ApiError(400, f"{param} must be a string or a non-empty list of content parts", param)
    parts = []
    for index, part in enumerate(content):
        part_param = f"{param}[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "input_audio" and role == "user":
            parts.append({"type": "audio",
                          "audio": decode_audio(part.get("input_audio"), f"{part_param}.input_audio", max_seconds)})
        else:
            allowed = "'text' or 'input_audio'" if role == "user" else "'text'"
            raise ApiError(400, f"{part_param} must be a {allowed} part, got {json.dumps(part)[:80]}", part_param)
    return parts


def parse_chat_request(request: dict, max_audio_seconds: float, max_tokens_limit: int) -> ChatRequest:
    """Everything but 'model' (checked first, by `check_model`)."""
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' is required: a non-empty list of messages", "messages")
    parsed = []
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            raise ApiError(400, f"{param}.role must be one of {', '.join(ROLES)}, got {role!r}", f"{param}.role")
        if "content" not in message:
            raise ApiError(400, f"{param}.content is required", f"{param}.content")
        parsed.append({"role": ROLES[role],
                       "content": parse_content(message["content"], ROLES[role], f"{param}.content",
                                                max_audio_seconds)})
    max_tokens = request.get("max_completion_tokens", request.get("max_tokens"))
    max_tokens = 256 if max_tokens is None else max_tokens
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= max_tokens_limit:
        raise ApiError(400, f"'max_tokens' must be an integer from 1 to {max_tokens_limit}, got {max_tokens!r}",
                       "max_tokens")
    temperature = request.get("temperature")
    temperature = 0.0 if temperature is None else temperature
    if not isinstance(temperature, int | float) or isinstance(temperature, bool) or not 0 <= temperature <= 2:
        raise ApiError(400, f"'temperature' must be a number from 0 to 2, got {temperature!r}", "temperature")
    stream = request.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError(400, f"'stream' must be true or false, got {stream!r}", "stream")
    return ChatRequest(parsed, max_tokens, float(temperature), stream)


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion(completion_id: str, model: str, text: str, finish_reason: str) -> dict:
    return {"id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": finish_reason}]}


def chunk(completion_id: str, model: str, delta: dict, finish_reason: str | None = None) -> str:
    """One server-sent event of a streamed completion."""
    body = {"id": completion_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"
