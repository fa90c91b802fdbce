"""`blsp-kd serve`: an OpenAI-compatible chat-completions server with speech input, and a web page.

    POST /v1/chat/completions   OpenAI chat completions; user content parts "text" and "input_audio" (base64
                                wav/mp3/flac/ogg); "stream": true answers as server-sent events ending "data: [DONE]"
    GET  /v1/models             the one model served
    POST /v1/cif                {"input_audio": {...}} → the clip's log-mel spectrogram, CIF α per encoder frame and
                                the frames where each token fires (what the page draws)
    GET  /                      the page (static/, served from the package: no external asset)

One worker thread runs the model: requests wait in its queue and are answered one at a time, so the model and its
KV cache (reused across requests that share a conversation prefix) are never used by two threads. Requests are
checked before they queue: body size (413), JSON and fields, audio decoding and length (400), model name (404).
"""

import asyncio
import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from importlib.resources import files

import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from blsp_kd.layout.clips import SAMPLE_RATE
from blsp_kd.models.chat import ChatCache, generate_tokens, stream_text
from blsp_kd.serve.openai_api import (
    ApiError,
    check_model,
    chunk,
    completion,
    completion_id,
    decode_audio,
    parse_chat_request,
    parse_json,
)

STATIC = files("blsp_kd.serve") / "static"
SPECTROGRAM_COLUMNS = 800  # the page's picture is at most this many columns wide


@dataclass
class ServeConfig:
    model_name: str = "blsp-kd"
    max_request_bytes: int = 25 * 1024 * 1024
    max_audio_seconds: float = 120.0
    max_tokens: int = 1024  # the largest max_tokens a request may ask for


@dataclass
class Finish:
    reason: str  # "stop" (end of turn) | "length" (max_tokens reached)


class ModelWorker:
    """A thread that owns the model. `submit(work)` queues `work(model, cache)` (an iterator) and returns an async
    iterator of its items, delivered to the caller's event loop as they are produced."""

    def __init__(self, model):
        self.model, self.cache = model, ChatCache()
        self.jobs: queue.Queue = queue.Queue()
        threading.Thread(target=self.run, name="blsp-kd-model", daemon=True).start()

    def run(self) -> None:
        while True:
            work, deliver, cancelled = self.jobs.get()
            if cancelled.is_set():  # the client went away while the job waited
                continue
            try:
                for item in work(self.model, self.cache):
                    if cancelled.is_set():  # the client went away: stop generating for it
                        break
                    deliver("item", item)
                deliver("done", None)
            except Exception as error:  # noqa: BLE001 - handed to the request that caused it
                deliver("error", error)

    async def submit(self, work: Callable) -> AsyncIterator:
        loop, results, cancelled = asyncio.get_running_loop(), asyncio.Queue(), threading.Event()

        def deliver(kind, value):
            if not loop.is_closed():  # closed: the server stopped, nobody waits for this
                loop.call_soon_threadsafe(results.put_nowait, (kind, value))

        self.jobs.put((work, deliver, cancelled))
        try:
            while True:
                kind, value = await results.get()
                if kind == "error":
                    raise value
                if kind == "done":
                    return
                yield value
        finally:
            cancelled.set()


def answer_work(request, max_audio_seconds: float) -> Callable:
    """The work of one chat request: text pieces, then a `Finish`."""

    def work(model, cache: ChatCache) -> Iterator[str | Finish]:
        tokens = []

        def counted():
            for token in generate_tokens(model, request.messages, request.max_tokens, request.temperature, cache,
                                         max_audio_seconds):
                tokens.append(token)
                yield token

        yield from stream_text(model.tokenizer, counted())
        yield Finish("stop" if tokens[-1] == model.prompts.end_of_turn_id else "length")

    return work


@torch.inference_mode()
def cif_trace(model, samples: np.ndarray) -> dict:
    """What the page draws for a clip: log-mel [frames, mels] scaled to 0–255 (at most SPECTROGRAM_COLUMNS frames),
    α per encoder frame (scaled as CIF integrates it: Σα = n̂) and the (fractional) frame where each token fires."""
    features, lengths = model.features([samples])
    hidden, frame_mask = model.encode(features, lengths)
    speech = model.speech(hidden, frame_mask, num_tokens=None)
    if speech.cif_weights is None:
        raise ApiError(400, "this model's adapter has no CIF (the conv baseline): nothing to draw", "model")
    num_frames = int(frame_mask[0].sum())
    alpha = speech.cif_weights[0].sum(0)[:num_frames].double().cpu().numpy()
    ends = np.cumsum(alpha)
    fires = []
    for token in range(int(speech.num_tokens[0]) - 1):  # the last token takes what is left: it fires at the end
        frame = int(np.searchsorted(ends, token + 1))
        before = ends[frame - 1] if frame else 0.0
        fires.append(frame + (token + 1 - before) / max(alpha[frame], 1e-9))
    fires.append(float(num_frames))
    mel = features[0, : int(lengths[0])].float().cpu().numpy()
    step = max(1, -(-len(mel) // SPECTROGRAM_COLUMNS))
    mel = mel[: len(mel) // step * step].reshape(-1, step, mel.shape[1]).mean(1)  # mean over `step` frames
    low, high = float(mel.min()), float(mel.max())
    scaled = np.round(255 * (mel - low) / max(high - low, 1e-6)).astype(np.uint8)
    return {"seconds": len(samples) / SAMPLE_RATE, "num_tokens": int(speech.num_tokens[0]), "num_frames": num_frames,
            "alpha": [round(float(value), 4) for value in alpha], "fires": [round(float(f), 3) for f in fires],
            "spectrogram": {"columns": scaled.shape[0], "mels": scaled.shape[1], "values": scaled.T.ravel().tolist()}}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


def create_app(model, config: ServeConfig | None = None) -> FastAPI:
    config = config or ServeConfig()
    worker = ModelWorker(model)
    app = FastAPI(title="blsp-kd", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error)

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> JSONResponse:
        return error_response(ApiError(500, f"internal error: {error!r}", kind="server_error"))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
        return error_response(ApiError(error.status_code, f"{request.method} {request.url.path}: {error.detail}",
                                       kind=kind))

    async def read_body(request: Request) -> bytes:
        """The body, or 413 past the limit (the rest is read and dropped, up to 4× the limit, so that the client
        gets the answer instead of a reset connection)."""
        limit = config.max_request_bytes
        declared = request.headers.get("content-length", "")
        too_large = declared.isdigit() and int(declared) > limit
        body, size = bytearray(), 0
        async for part in request.stream():
            size += len(part)
            too_large = too_large or size > limit
            if not too_large:
                body += part
            elif size > 4 * limit:
                break
        if too_large:
            raise ApiError(413, f"the request body is larger than the limit of {limit / 2**20:g} MB",
                           code="request_too_large")
        return bytes(body)

    @app.get("/")
    async def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": config.model_name, "object": "model", "created": 0,
                                            "owned_by": "blsp-kd"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        body = parse_json(await read_body(request))
        check_model(body, config.model_name)
        chat = await run_in_threadpool(parse_chat_request, body, config.max_audio_seconds, config.max_tokens)
        identifier = completion_id()
        items = worker.submit(answer_work(chat, config.max_audio_seconds))
        try:
            first = await anext(items)  # a conversation the model refuses is a 400 before anything is sent
        except ValueError as error:
            raise ApiError(400, str(error), "messages") from error
        if not chat.stream:
            pieces = [first]
            async for item in items:
                pieces.append(item)
            finish = pieces.pop()
            return completion(identifier, config.model_name, "".join(pieces), finish.reason)

        async def events():
            yield chunk(identifier, config.model_name, {"role": "assistant", "content": ""})
            try:
                item = first
                while not isinstance(item, Finish):
                    yield chunk(identifier, config.model_name, {"content": item})
                    item = await anext(items)
                yield chunk(identifier, config.model_name, {}, item.reason)
            except Exception as error:  # noqa: BLE001 - the status is sent already: report in the stream
                failure = ApiError(500, f"generation failed: {error}", kind="server_error")
                yield f"data: {json.dumps(failure.body())}\n\n"
            finally:
                await items.aclose()
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/v1/cif")
    async def cif(request: Request):
        body = parse_json(await read_body(request))
        samples = await run_in_threadpool(decode_audio, body.get("input_audio"), "input_audio",
                                          config.max_audio_seconds)
        return [trace async for trace in worker.submit(lambda model, cache: iter([cif_trace(model, samples)]))][0]

    return app


@contextlib.contextmanager
def serving(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run `app` with uvicorn in a background thread of this process (tests, benchmarks, notebooks); yields the
    base URL. Port 0: a free port, bound before the server starts (no race)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server thread stopped before it started")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
