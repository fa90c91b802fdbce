"""pack.py RUN OUT LOG: a run's best checkpoint (fp16, base models back to 'embedded'), log.jsonl, recipe.yaml and
console log in one tar, cut into 15 MiB pieces (the device returns files of at most 16 MiB)."""
import io, json, sys, tarfile
from pathlib import Path
from safetensors.torch import load_file, save
run, out, log = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode="w") as tar:
    def add(name, data):
        info = tarfile.TarInfo(name); info.size = len(data); tar.addfile(info, io.BytesIO(data))
    for kind in ("best",):
        folder = run / kind
        if not folder.exists():
            continue
        weights = {k: v.half() if v.is_floating_point() else v for k, v in load_file(folder / "model.safetensors").items()}
        add(f"{kind}/model.safetensors", save(weights, metadata={"format": "pt"}))
        config = json.loads((folder / "blsp_kd_config.json").read_text())
        arch = config["architecture"] if "architecture" in config else config["model"]["architecture"]
        arch["whisper"] = arch["llm"] = "embedded"
        add(f"{kind}/blsp_kd_config.json", json.dumps(config, indent=2).encode())
        for extra in folder.iterdir():
            if extra.name not in ("model.safetensors", "blsp_kd_config.json") and extra.is_file():
                add(f"{kind}/{extra.name}", extra.read_bytes())
    for source, name in ((run / "log.jsonl", "log.jsonl"), (run / "recipe.yaml", "recipe.yaml"), (log, "console.log")):
        if source.exists():  # a run stopped early has what it wrote so far
            add(name, source.read_bytes())
data, piece = buffer.getvalue(), 15 * 2**20
for i in range(0, len(data), piece):
    (out / f"part{i // piece}").write_bytes(data[i : i + piece])
print(out, len(data), "bytes")
