"""Issue #13, twenty-ninth session: a checkpoint read with `decoder_readout: 2.0` and `readout_prior: 1.0` — its
config with those settings and the token counts of a manifest's transcripts (as `blsp-kd train` counts them:
`PromptBuilder.transcript_ids`) beside its weights, which are not touched (copy model.safetensors yourself).

usage: PYTHONPATH=src python with_prior.py CHECKPOINT MANIFEST OUT
"""
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
from transformers import AutoConfig, AutoTokenizer

from blsp_kd.data.manifest import read_manifest
from blsp_kd.layout.prompt import PromptBuilder
from blsp_kd.models.blsp_kd import CONFIG_FILE, COUNTS_FILE, read_config
from blsp_kd.models.decoder_readout import transcript_token_counts
from blsp_kd.models.pretrained import llm_checkpoint
from blsp_kd.store import save_tensors

checkpoint, manifest, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
config = read_config(checkpoint)
config = replace(config, architecture=replace(config.architecture, decoder_readout=2.0, readout_prior=1.0))
records, problems = read_manifest(manifest)
assert not problems, problems[:3]
llm = llm_checkpoint(config.architecture.llm)
tokenizer, rows = AutoTokenizer.from_pretrained(llm), AutoConfig.from_pretrained(llm).vocab_size  # embedding rows
prompts = PromptBuilder(tokenizer, config.prompt.user_template, config.prompt.system_prompt)
counts = transcript_token_counts((prompts.transcript_ids(record.text) for record in records), rows)
out.mkdir(parents=True, exist_ok=True)
(out / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2))
save_tensors({"counts": counts.to(torch.int32)}, out / COUNTS_FILE, metadata={"format": "pt"})
print(json.dumps({"records": len(records), "tokens": int(counts.sum()), "distinct": int((counts > 0).sum())}))
