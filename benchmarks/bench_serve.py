"""Serving: time to first token of `blsp-kd serve` for a 5 s clip, and `blsp-kd generate`'s utterances/s against
the cascade (Whisper ASR → the same LLM, src/blsp_kd/eval/cascade.py) at the same batch size.

Model: the embedded Whisper tiny.en + SmolLM2-135M with an untrained CFormer (speed does not depend on the adapter's
weights). Clips: espeak-ng sentences (the 5 s clips padded with silence to exactly 5 s).

1. TTFT: a streamed request through HTTP on 127.0.0.1 (request sent → first content chunk), against the same
   conversation through `model.chat_stream` in process (no HTTP), interleaved; a new clip each time, so each KV
   cache (the server's, and one `ChatCache` in process) only holds the shared prompt prefix (a new conversation).
2. Throughput: `generate_manifest` (files in, JSONL out, length-bucketed batches) against the cascade on the same
   files and batch size: `transcribe` (Whisper greedy, batched) then `cascade.chat` (the LLM one prompt at a time,
   as cascade.py runs it), and the same ASR with the LLM batched (`generate_ids_from_text`). Same max_new_tokens;
   the mean answer length is printed beside, since an answer that stops earlier costs less.

    .venv/bin/python benchmarks/bench_serve.py --threads 1 [--quick]
"""

import base64
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, parse_args, print_table  # noqa: E402

from blsp_kd.data.audio import load_audio  # noqa: E402
from blsp_kd.eval.cascade import chat as cascade_chat  # noqa: E402
from blsp_kd.eval.cascade import transcribe  # noqa: E402
from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.chat import ChatCache  # noqa: E402
from blsp_kd.models.config import BlspKdConfig  # noqa: E402
from blsp_kd.models.pretrained import load_whisper  # noqa: E402
from blsp_kd.serve.app import create_app, serving  # noqa: E402
from blsp_kd.serve.batch import generate_manifest  # noqa: E402

INSTRUCTION = "Continue the following text in a coherent style:"
SENTENCES = [
    "the weather was cold and windy when we left the house this morning",
    "she asked me whether the train to the city would leave on time",
    "a small boat drifted slowly across the quiet lake at sunset",
    "the children laughed as the dog chased its tail around the garden",
    "he wrote a long letter to his brother who lives far away",
    "the museum opens at nine and closes early on sundays",
    "we planted tomatoes and beans in the field behind the old barn",
    "the teacher explained the lesson twice so that everyone understood",
    "after dinner they walked along the river and talked about the future",
    "the market was full of fresh bread, cheese and ripe fruit",
    "my neighbour repairs old clocks in a workshop under the stairs",
    "the storm knocked down two trees and the power went out for hours",
    "please remember to close the windows before you go to bed",
    "the library has a new collection of books about the ocean",
    "our team practised every evening before the final match",
    "the baker gets up at four to prepare the first loaves of the day",
]


def speak(text: str, path: Path, seconds: float | None = None) -> Path:
    subprocess.run([shutil.which("espeak-ng"), "-w", str(path), text], check=True)
    if seconds is not None:  # exactly `seconds`: cut or padded with silence
        samples = load_audio(path).samples[: int(16000 * seconds)]
        soundfile.write(path, np.pad(samples, (0, int(16000 * seconds) - len(samples))), 16000)
    return path


def first_chunk_seconds(url: str, request: dict) -> float:
    data = json.dumps(request).encode()
    start = time.perf_counter()
    http_request = urllib.request.Request(url + "/v1/chat/completions", data=data,
                                          headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(http_request) as response:
        for line in response:
            if line.startswith(b"data: ") and b'"content": "' in line and b'"content": ""' not in line:
                elapsed = time.perf_counter() - start
                response.read()
                return elapsed
    raise RuntimeError("the stream had no content")


def in_process_first_piece_seconds(model, samples: np.ndarray, cache: ChatCache) -> float:
    start = time.perf_counter()
    pieces = model.chat_stream([{"role": "user", "content": [{"type": "text", "text": INSTRUCTION},
                                                             {"type": "audio", "audio": samples}]}], 8, cache=cache)
    next(pieces)
    elapsed = time.perf_counter() - start
    pieces.close()
    return elapsed


def main():
    args = parse_args(__doc__.splitlines()[0])
    num_ttft, num_clips, batch_size, max_new_tokens = (3, 8, 8, 16) if args.quick else (8, 16, 8, 32)
    print(f"machine: {machine()}")
    work = Path(tempfile.mkdtemp(prefix="blsp-kd-bench-serve-"))
    model = BlspKdModel.from_config(BlspKdConfig())
    whisper, processor = load_whisper()

    # 1. time to first token, 5 s clips
    five_second = [speak(SENTENCES[index], work / f"five-{index}.wav", 5.0) for index in range(num_ttft + 1)]
    http, local, local_cache = [], [], ChatCache()  # both reuse the shared prompt prefix, as the server does
    with serving(create_app(model)) as url:
        for index, path in enumerate(five_second):
            part = {"type": "input_audio", "input_audio": {"data": base64.b64encode(path.read_bytes()).decode(),
                                                           "format": "wav"}}
            request = {"model": "blsp-kd", "stream": True, "max_tokens": 8, "messages": [
                {"role": "user", "content": [{"type": "text", "text": INSTRUCTION}, part]}]}
            server_seconds = first_chunk_seconds(url, request)
            local_seconds = in_process_first_piece_seconds(model, load_audio(path).samples, local_cache)
            if index:  # the first of each is a warm-up
                http.append(server_seconds)
                local.append(local_seconds)
    print(f"\nTime to first token, 5.0 s clips, batch 1: median of {num_ttft} clips (after one warm-up)\n")
    print_table(["path", "median TTFT, s", "min, s", "max, s"], [
        ["serve: HTTP streamed request → first content chunk", f"{statistics.median(http):.3f}", f"{min(http):.3f}",
         f"{max(http):.3f}"],
        ["model.chat_stream in process → first piece", f"{statistics.median(local):.3f}", f"{min(local):.3f}",
         f"{max(local):.3f}"]])
    print(f"\nserve / in process: {statistics.median(http) / statistics.median(local):.2f}×")

    # 2. throughput at the same batch size
    paths = [speak(sentence, work / f"utt-{index}.wav") for index, sentence in enumerate(SENTENCES[:num_clips])]
    manifest = work / "in.jsonl"
    manifest.write_text("".join(json.dumps({"id": f"utt-{index}", "audio": str(path), "text": sentence}) + "\n"
                                for index, (path, sentence) in enumerate(zip(paths, SENTENCES, strict=False))))
    seconds = [len(load_audio(path).samples) / 16000 for path in paths]
    out = work / "out.jsonl"
    start = time.perf_counter()
    generate_manifest(model, manifest, out, INSTRUCTION, batch_size, max_new_tokens, progress=False)
    speech_seconds = time.perf_counter() - start
    speech_answers = [json.loads(line)["response"] for line in out.read_text().splitlines()]

    start = time.perf_counter()
    audios = [load_audio(path).samples for path in paths]
    transcripts = transcribe(whisper, processor, audios, batch_size=batch_size)
    asr_seconds = time.perf_counter() - start
    start = time.perf_counter()
    cascade_answers = cascade_chat(model.llm, model.tokenizer, [f"{INSTRUCTION}\n\n{text}" for text in transcripts],
                                   max_new_tokens)
    unbatched_llm_seconds = time.perf_counter() - start
    start = time.perf_counter()
    batched_ids = []
    for first in range(0, len(transcripts), batch_size):
        batched_ids += model.generate_ids_from_text(transcripts[first : first + batch_size], INSTRUCTION,
                                                    max_new_tokens)
    batched_llm_seconds = time.perf_counter() - start

    def tokens(texts):
        return statistics.mean(len(model.tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts)

    count = len(paths)
    print(f"\nThroughput: {count} espeak-ng clips ({min(seconds):.1f}–{max(seconds):.1f} s, mean "
          f"{statistics.mean(seconds):.1f} s), batch {batch_size}, greedy, max_new_tokens {max_new_tokens}\n")
    cascade_seconds = asr_seconds + unbatched_llm_seconds
    batched_cascade_seconds = asr_seconds + batched_llm_seconds
    print_table(["system", "utterances/s", "wall, s", "mean answer tokens"], [
        ["blsp-kd generate (speech → LLM, batched)", f"{count / speech_seconds:.2f}", f"{speech_seconds:.1f}",
         f"{tokens(speech_answers):.1f}"],
        ["cascade.py: Whisper ASR (batched) → LLM one at a time", f"{count / cascade_seconds:.2f}",
         f"{cascade_seconds:.1f}", f"{tokens(cascade_answers):.1f}"],
        ["cascade, LLM batched too (generate_ids_from_text)", f"{count / batched_cascade_seconds:.2f}",
         f"{batched_cascade_seconds:.1f}", f"{tokens(model.tokenizer.batch_decode(batched_ids, skip_special_tokens=True)):.1f}"]])
    print(f"\ngenerate / cascade.py: {cascade_seconds / speech_seconds:.2f}× the utterances/s; "
          f"/ batched cascade: {batched_cascade_seconds / speech_seconds:.2f}× (ASR alone: {asr_seconds:.1f} s)")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
