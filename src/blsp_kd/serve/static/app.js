// The blsp-kd page: a clip (recorded or uploaded) + an instruction → /v1/chat/completions (streamed), and the clip's
// CIF firing (/v1/cif) drawn over its spectrogram. Plain browser APIs only; every asset comes from this server.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { model: null, history: [], clip: null, recorder: null };

function bytesToBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function setClip(bytes, format, name) {
  state.clip = { data: bytesToBase64(bytes), format };
  $("clip").textContent = `${name} (${(bytes.length / 1024).toFixed(0)} kB)`;
}

// ------------------------------------------------------------------------------------------------ audio input

$("file").addEventListener("change", async () => {
  const file = $("file").files[0];
  if (!file) return;
  const extension = file.name.split(".").pop().toLowerCase();
  const format = ["wav", "mp3", "flac", "ogg"].includes(extension) ? extension : "wav";
  setClip(new Uint8Array(await file.arrayBuffer()), format, file.name);
});

function encodeWav(chunks, sampleRate) {
  const length = chunks.reduce((total, chunk) => total + chunk.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * length));
  const text = (offset, value) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * length, true); text(8, "WAVE"); text(12, "fmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true); view.setUint32(28, 2 * sampleRate, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, 2 * length, true);
  let offset = 44;
  for (const chunk of chunks) {
    for (const sample of chunk) {
      view.setInt16(offset, Math.max(-1, Math.min(1, sample)) * 0x7fff, true);
      offset += 2;
    }
  }
  return new Uint8Array(view.buffer);
}

$("record").addEventListener("click", async () => {
  if (state.recorder) {  // stop
    const { stream, context, processor, chunks } = state.recorder;
    processor.disconnect();
    stream.getTracks().forEach((track) => track.stop());
    await context.close();
    state.recorder = null;
    $("record").classList.remove("recording");
    $("record").textContent = "● Record";
    setClip(encodeWav(chunks, context.sampleRate), "wav", "recording.wav");
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const context = new AudioContext();
    const source = context.createMediaStreamSource(stream);
    const processor = context.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    processor.onaudioprocess = (event) => chunks.push(new Float32Array(event.inputBuffer.getChannelData(0)));
    source.connect(processor);
    processor.connect(context.destination);
    state.recorder = { stream, context, processor, chunks };
    $("record").classList.add("recording");
    $("record").textContent = "■ Stop";
  } catch (error) {
    showError(`microphone: ${error.message}`);
  }
});

// -------------------------------------------------------------------------------------------------- messages

function bubble(role, text) {
  const element = document.createElement("div");
  element.className = `message ${role}`;
  element.textContent = text;
  $("conversation").appendChild(element);
  return element;
}

function showError(message) {
  bubble("error", message);
}

async function errorMessage(response) {
  try {
    return (await response.json()).error.message;
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function streamAnswer(messages, answer) {
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: state.model, messages, stream: true }),
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith("data: ")) continue;
      const data = event.slice(6);
      if (data === "[DONE]") return answer.textContent;
      const body = JSON.parse(data);
      if (body.error) throw new Error(body.error.message);
      answer.textContent += body.choices[0].delta.content || "";
    }
  }
  return answer.textContent;
}

$("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  const instruction = $("instruction").value.trim();
  if (!instruction && !state.clip) return showError("type an instruction or give a clip");
  const content = [];
  if (instruction) content.push({ type: "text", text: instruction });
  if (state.clip) content.push({ type: "input_audio", input_audio: state.clip });
  const clip = state.clip;
  const messages = [...state.history, { role: "user", content }];
  bubble("user", instruction + (clip ? `  [${$("clip").textContent}]` : ""));
  const answer = bubble("assistant", "");
  $("send").disabled = true;
  $("status").textContent = "answering…";
  try {
    if (clip) await drawCif(clip);
    const text = await streamAnswer(messages, answer);
    state.history = [...messages, { role: "assistant", content: text }];
    state.clip = null;
    $("clip").textContent = "no clip";
    $("file").value = "";
    $("status").textContent = "done";
  } catch (error) {
    answer.remove();
    showError(error.message);
    $("status").textContent = "";
  } finally {
    $("send").disabled = false;
  }
});

$("reset").addEventListener("click", () => {
  state.history = [];
  $("conversation").replaceChildren();
  $("cif").hidden = true;
});

// ------------------------------------------------------------------------------------------------ CIF picture

function colour(value) {  // dark blue → teal → yellow
  const t = value / 255;
  return [Math.round(255 * Math.min(1, Math.max(0, 1.8 * t - 0.6))), Math.round(40 + 200 * t),
    Math.round(110 + 60 * Math.sin(Math.PI * t) - 60 * t)];
}

async function drawCif(clip) {
  const response = await fetch("/v1/cif", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ input_audio: clip }),
  });
  if (!response.ok) throw new Error(await errorMessage(response));
  const trace = await response.json();
  const canvas = $("cif-canvas");
  const context = canvas.getContext("2d");
  const { columns, mels, values } = trace.spectrogram;
  const image = new ImageData(columns, mels);
  for (let mel = 0; mel < mels; mel++) {
    for (let column = 0; column < columns; column++) {
      const [r, g, b] = colour(values[mel * columns + column]);
      const pixel = 4 * ((mels - 1 - mel) * columns + column);  // low frequencies at the bottom
      image.data.set([r, g, b, 255], pixel);
    }
  }
  const picture = document.createElement("canvas");
  picture.width = columns;
  picture.height = mels;
  picture.getContext("2d").putImageData(image, 0, 0);
  const spectrogramHeight = 190;
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = "#000";
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.imageSmoothingEnabled = false;
  context.drawImage(picture, 0, 0, canvas.width, spectrogramHeight);
  const frameWidth = canvas.width / trace.num_frames;
  const alphaTop = spectrogramHeight + 8, alphaHeight = canvas.height - alphaTop - 4;
  const largest = Math.max(1e-6, ...trace.alpha);
  context.fillStyle = "#7cc";
  trace.alpha.forEach((alpha, frame) => {
    const height = (alpha / largest) * alphaHeight;
    context.fillRect(frame * frameWidth, alphaTop + alphaHeight - height, Math.max(1, frameWidth - 0.5), height);
  });
  context.strokeStyle = "#f55";
  context.lineWidth = 1.5;
  for (const fire of trace.fires) {
    const x = Math.min(canvas.width - 1, fire * frameWidth);
    context.beginPath();
    context.moveTo(x, 0);
    context.lineTo(x, canvas.height);
    context.stroke();
  }
  $("cif-caption").textContent = `${trace.seconds.toFixed(2)} s, ${trace.num_frames} encoder frames: ` +
    `CIF fires ${trace.num_tokens} speech tokens (red lines; bars: α per frame, Σα = ${trace.num_tokens})`;
  $("cif").hidden = false;
  canvas.dataset.tokens = String(trace.num_tokens);
}

fetch("/v1/models").then((response) => response.json()).then((models) => {
  state.model = models.data[0].id;
  $("model-name").textContent = state.model;
});
