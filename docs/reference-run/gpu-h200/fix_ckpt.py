"""fix_ckpt.py CONFIG WHISPER LLM: point a checkpoint's base models at these folders (LLM/WHISPER 'embedded' back home)."""
import json, sys
path, whisper, llm = sys.argv[1:4]
config = json.load(open(path))
arch = config["architecture"] if "architecture" in config else config["model"]["architecture"]
arch["whisper"], arch["llm"] = whisper, llm
json.dump(config, open(path, "w"), indent=2); print(path, whisper, llm)
