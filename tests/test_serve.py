"""`blsp-kd serve`: the OpenAI-compatible API (official client, raw server-sent events, bad requests, a load test)
and the page, driven in a real browser (Debian's Chromium through Playwright)."""

import base64
import io
import json
import os
import re
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from blsp_kd.data.audio import load_audio
from blsp_kd.models.adapters import CFormerConfig
from blsp_kd.models.blsp_kd import BlspKdModel
from blsp_kd.models.config import ArchitectureConfig, BlspKdConfig
from blsp_kd.models.plora import PLoRAConfig, PLoRALinear
from blsp_kd.serve.app import ServeConfig, cif_trace, create_app, serving
from blsp_kd.serve.model import ModelNotFound, load_model
from tiny import save_tiny_base_models

INSTRUCTION = "repeat what was said."
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def noise(seconds: float, seed: int, sample_rate: int = 16000) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(sample_rate * seconds)) * 0.1).astype(np.float32)


def wav_bytes(samples: np.ndarray, sample_rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def as_16_bit(samples: np.ndarray) -> np.ndarray:
    """What the model hears after a 16-bit WAV round trip."""
    return soundfile.read(io.BytesIO(wav_bytes(samples)), dtype="float32")[0]


def audio_part(samples: np.ndarray, audio_format: str = "wav") -> dict:
    return {"type": "input_audio",
            "input_audio": {"data": base64.b64encode(wav_bytes(samples)).decode(), "format": audio_format}}


def save_seeded_model(folder: Path, whisper: str, llm: str, adapter_config: dict | None = None) -> Path:
    """A CFormer and PLoRA with seeded random weights on the given base models, saved as a model folder."""
    config = BlspKdConfig(ArchitectureConfig(whisper=whisper, llm=llm,
                                             cformer=CFormerConfig(**{"dropout": 0.0, **(adapter_config or {})}),
                                             plora=PLoRAConfig(rank=4, alpha=8, dropout=0.0)))
    torch.manual_seed(0)
    model = BlspKdModel.from_config(config)
    generator = torch.Generator().manual_seed(1)
    for module in model.llm.modules():  # LoRA B starts at 0: make PLoRA matter
        if isinstance(module, PLoRALinear):
            with torch.no_grad():
                module.lora_B.weight.copy_(torch.randn(module.lora_B.weight.shape, generator=generator) * 0.05)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny-serve")
    whisper, llm = save_tiny_base_models(root / "base")
    return save_seeded_model(root / "model", whisper, llm, {"num_heads": 4})


@pytest.fixture(scope="module")
def tiny_server(tiny_model_dir):
    model = load_model(str(tiny_model_dir))
    with serving(create_app(model, ServeConfig(model_name="tiny"))) as url:
        yield model, url


def post(url: str, body: bytes | dict, path: str = "/v1/chat/completions") -> tuple[int, dict | str]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            text = response.read().decode()
            status, content_type = response.status, response.headers["content-type"]
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    return status, json.loads(text) if content_type.startswith("application/json") else text


def speech_request(samples: np.ndarray, model: str = "tiny", **extra) -> dict:
    return {"model": model, "max_tokens": 12, **extra,
            "messages": [{"role": "user", "content": [{"type": "text", "text": INSTRUCTION}, audio_part(samples)]}]}


def test_load_model_names_what_is_wrong(tmp_path):
    for folder in (tmp_path / "nothing", tmp_path):
        with pytest.raises(ModelNotFound, match=r"not a BLSP-KD checkpoint \(no blsp_kd_config.json\)"):
            load_model(str(folder))


def test_models_and_a_plain_completion(tiny_server):
    model, url = tiny_server
    with urllib.request.urlopen(url + "/v1/models") as response:
        assert [entry["id"] for entry in json.loads(response.read())["data"]] == ["tiny"]
    samples = noise(1.2, 0)
    status, body = post(url, speech_request(samples))
    assert status == 200 and body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["content"] == model.generate([as_16_bit(samples)], INSTRUCTION, 12)[0]
    assert choice["finish_reason"] in ("stop", "length")


def test_streamed_events_make_up_the_plain_answer(tiny_server):
    model, url = tiny_server
    request = speech_request(noise(0.9, 1))
    status, plain = post(url, request)
    status, stream = post(url, {**request, "stream": True})
    assert status == 200
    events = re.findall(r"data: (.*)\n\n", stream)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == plain["choices"][0]["finish_reason"]
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert len(chunks) > 3 and text == plain["choices"][0]["message"]["content"]


@pytest.mark.parametrize("audio_format, subtype", [("flac", "PCM_16"), ("ogg", "VORBIS"), ("mp3", "MPEG_LAYER_III")])
def test_flac_ogg_and_mp3_clips_are_heard(tiny_server, tmp_path, audio_format, subtype):
    model, url = tiny_server
    path = tmp_path / f"clip.{audio_format}"
    soundfile.write(path, noise(1.1, 4), 16000, format=audio_format.upper(), subtype=subtype)
    part = {"type": "input_audio",
            "input_audio": {"data": base64.b64encode(path.read_bytes()).decode(), "format": audio_format}}
    status, body = post(url, {"model": "tiny", "max_tokens": 8, "messages": [
        {"role": "user", "content": [{"type": "text", "text": INSTRUCTION}, part]}]})
    assert status == 200
    expected = model.generate([load_audio(path).samples], INSTRUCTION, 8)[0]
    assert body["choices"][0]["message"]["content"] == expected


def test_bad_requests_get_4xx_naming_the_problem_and_the_next_request_is_answered(tiny_server):
    model, url = tiny_server
    good = speech_request(noise(1.0, 2))
    ten_minutes = np.zeros(8000 * 600, dtype=np.float32)  # 8 kHz, so the request stays under the size limit
    long_part = {"type": "input_audio", "input_audio": {
        "data": base64.b64encode(wav_bytes(ten_minutes, 8000)).decode(), "format": "wav"}}

    def with_part(part):
        return {"model": "tiny", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, part]}]}

    def audio(data, audio_format="wav"):
        return with_part({"type": "input_audio", "input_audio": {"data": data, "format": audio_format}})

    cases = [
        (b"x" * (26 * 2**20), 413, "larger than the limit of 25 MB"),
        (b"{not json", 400, "not valid JSON"),
        (audio(base64.b64encode(b"these bytes are not audio at all" * 10).decode()), 400, "not decodable as audio"),
        (audio("@@@ not base64 @@@"), 400, "not valid base64"),
        (audio(""), 400, "is empty"),
        (audio(base64.b64encode(wav_bytes(noise(1, 0))).decode(), "aac"), 400, "format must be one of"),
        (with_part(long_part), 400, "600.00 s, longer than the maximum 120"),
        (audio(base64.b64encode(wav_bytes(noise(0.0005, 0))).decode()), 400, "too short"),
        ({"model": "tiny"}, 400, "'messages' is required"),
        ({"messages": good["messages"]}, 400, "'model' is required"),
        ({**good, "model": "gpt-4o"}, 404, "'gpt-4o' does not exist"),
        ({**good, "max_tokens": 0}, 400, "'max_tokens' must be an integer"),
        ({**good, "messages": [{"role": "robot", "content": "hi"}]}, 400, "messages[0].role must be one of"),
        ({**good, "messages": [{"role": "assistant", "content": [audio_part(noise(1, 0))]}]}, 400,
         "must be a 'text' part"),
    ]
    expected = post(url, good)[1]["choices"][0]["message"]["content"]
    for body, status, message in cases:
        got_status, error = post(url, body)
        assert got_status == status, (message, error)
        assert message in error["error"]["message"] and error["error"]["type"], error
        assert post(url, good)[1]["choices"][0]["message"]["content"] == expected
    assert post(url, {}, "/v1/nothing-here")[0] == 404


def test_fifty_concurrent_requests_are_all_answered_each_with_its_own_answer(tiny_server):
    model, url = tiny_server
    clips = [noise(0.5 + 0.1 * index, 10 + index) for index in range(5)]
    expected = [model.generate([as_16_bit(samples)], INSTRUCTION, 6)[0] for samples in clips]
    results = [None] * 50

    def ask(index):
        results[index] = post(url, speech_request(clips[index % 5], max_tokens=6, stream=index % 2 == 1))

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, (status, body) in enumerate(results):
        assert status == 200
        if isinstance(body, dict):
            assert body["choices"][0]["message"]["content"] == expected[index % 5]
        else:
            chunks = [json.loads(event) for event in re.findall(r"data: (.*)\n\n", body)[:-1]]
            assert "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks) == expected[index % 5]


def test_the_worker_runs_one_job_at_a_time_in_submission_order():
    import asyncio
    import time

    from blsp_kd.serve.app import ModelWorker

    worker, running, log = ModelWorker(model=None), [], []

    def job(number):
        def work(model, cache):
            running.append(number)
            log.append(len(running))  # how many jobs run right now
            for step in range(3):
                time.sleep(0.002)
                yield (number, step)
            running.remove(number)

        return work

    async def main():
        async def collect(number):
            return [item async for item in worker.submit(job(number))]

        return await asyncio.gather(*(collect(number) for number in range(20)))

    results = asyncio.run(main())
    assert results == [[(number, step) for step in range(3)] for number in range(20)]
    assert log == [1] * 20


def test_the_cif_trace_matches_the_adapter(tiny_server):
    model, url = tiny_server
    samples = noise(1.5, 3)
    status, trace = post(url, {"input_audio": audio_part(samples)["input_audio"]}, "/v1/cif")
    assert status == 200
    assert trace == json.loads(json.dumps(cif_trace(model, as_16_bit(samples))))
    assert sum(trace["alpha"]) == pytest.approx(trace["num_tokens"], abs=1e-2)
    assert len(trace["fires"]) == trace["num_tokens"] and trace["fires"] == sorted(trace["fires"])
    assert len(trace["alpha"]) == trace["num_frames"] == 75  # 1.5 s at 50 encoder frames per second
    spectrogram = trace["spectrogram"]
    assert len(spectrogram["values"]) == spectrogram["columns"] * spectrogram["mels"]
    assert post(url, {"input_audio": {"data": "", "format": "wav"}}, "/v1/cif")[0] == 400


def test_the_page_uses_only_its_own_assets():
    static = Path(__file__).parents[1] / "src" / "blsp_kd" / "serve" / "static"
    for path in static.iterdir():
        assert not re.search(r"https?://", path.read_text()), f"{path.name} names an external URL"
    assert set(re.findall(r'(?:src|href)="([^"]+)"', (static / "index.html").read_text())) == {
        "/static/style.css", "/static/app.js"}


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; `make setup` installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return CHROMIUM


def test_the_page_in_a_browser_streams_the_answer_and_draws_the_cif(tiny_server, chromium, tmp_path_factory):
    from playwright.sync_api import expect, sync_playwright

    model, url = tiny_server
    samples = noise(1.4, 5)
    clip_path = tmp_path_factory.mktemp("browser") / "clip.wav"
    clip_path.write_bytes(wav_bytes(samples))
    heard = as_16_bit(samples)
    messages = [{"role": "user", "content": [{"type": "text", "text": INSTRUCTION}, {"type": "audio", "audio": heard}]}]
    expected = model.chat(messages, max_new_tokens=256)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url + "/")
        expect(page.locator("#model-name")).to_have_text("tiny")
        page.set_input_files("#file", str(clip_path))
        expect(page.locator("#clip")).to_contain_text("clip.wav")
        page.fill("#instruction", INSTRUCTION)
        page.click("#send")
        expect(page.locator("#status")).to_have_text("done", timeout=120_000)
        assert page.locator(".message.assistant").inner_text() == expected.strip()
        expect(page.locator("#cif")).to_be_visible()
        tokens = cif_trace(model, heard)["num_tokens"]
        expect(page.locator("#cif-canvas")).to_have_attribute("data-tokens", str(tokens))
        colours = page.evaluate("""() => {
            const canvas = document.getElementById('cif-canvas');
            const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            const seen = new Set();
            for (let i = 0; i < pixels.length; i += 4) seen.add(pixels[i] * 65536 + pixels[i + 1] * 256 + pixels[i + 2]);
            return seen.size;
        }""")
        assert colours > 20  # a spectrogram, α bars and fire lines, not a blank canvas
        screenshot = tmp_path_factory.getbasetemp() / "serve-page.png"
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")


def test_the_page_records_from_the_microphone(tiny_server, chromium):
    """Chromium's fake microphone (a beep) → the page's WAV encoder → the answer to exactly what was sent."""
    from playwright.sync_api import expect, sync_playwright

    model, url = tiny_server
    fake_microphone = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS + fake_microphone)
        page = browser.new_page()
        page.goto(url + "/")
        expect(page.locator("#model-name")).to_have_text("tiny")
        page.click("#record")
        expect(page.locator("#record")).to_have_text("■ Stop")
        page.wait_for_timeout(1200)
        page.click("#record")
        expect(page.locator("#clip")).to_contain_text("recording.wav")
        with page.expect_request("**/v1/chat/completions") as sent:
            page.click("#send")
        expect(page.locator("#status")).to_have_text("done", timeout=120_000)
        shown = page.locator(".message.assistant").inner_text()
        text, part = sent.value.post_data_json["messages"][-1]["content"]
        browser.close()
    assert text == {"type": "text", "text": "Repeat what was said."}  # the page's default instruction
    part = part["input_audio"]
    recorded = soundfile.read(io.BytesIO(base64.b64decode(part["data"])), dtype="float32")
    assert part["format"] == "wav" and len(recorded[0]) / recorded[1] > 0.5 and np.abs(recorded[0]).max() > 0.01
    with tempfile.NamedTemporaryFile(suffix=".wav") as file:
        file.write(base64.b64decode(part["data"]))
        file.flush()
        heard = load_audio(file.name).samples
    messages = [{"role": "user", "content": [text, {"type": "audio", "audio": heard}]}]
    assert shown == model.chat(messages, max_new_tokens=256).strip()


@pytest.mark.real
def test_the_openai_client_gets_generate_answers_from_the_real_models(tmp_path_factory, espeak):
    """Embedded Whisper tiny.en + SmolLM2 with a seeded random CFormer and PLoRA: one plain and one streamed request
    through the official client equal `model.generate` (greedy) on the same clip and instruction."""
    import subprocess

    from openai import OpenAI

    root = tmp_path_factory.mktemp("real-serve")
    model = load_model(str(save_seeded_model(root / "model", "embedded", "embedded")))
    wav = root / "speech.wav"
    subprocess.run([espeak, "-w", str(wav), "the weather is nice today"], check=True)
    data = wav.read_bytes()
    heard = load_audio(wav).samples  # what the server hears: espeak's 22.05 kHz resampled to 16 kHz
    expected = model.generate([heard], INSTRUCTION, max_new_tokens=16)[0]
    with serving(create_app(model, ServeConfig(model_name="blsp-kd"))) as url:
        client = OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        messages = [{"role": "user", "content": [
            {"type": "text", "text": INSTRUCTION},
            {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode(), "format": "wav"}}]}]
        plain = client.chat.completions.create(model="blsp-kd", messages=messages, max_tokens=16, temperature=0)
        stream = client.chat.completions.create(model="blsp-kd", messages=messages, max_tokens=16, temperature=0,
                                                stream=True)
        streamed = [chunk.choices[0].delta.content or "" for chunk in stream]
    assert plain.choices[0].message.content == expected and expected
    assert "".join(streamed) == expected and len([piece for piece in streamed if piece]) > 1
