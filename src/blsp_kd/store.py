"""A folder of small safetensors files addressed by a content key (sha256 hex), written atomically.

Used by the frozen-encoder feature cache and the teacher top-k cache: one file per record, so a cache grows
incrementally, a killed build loses at most the file being written, any record can be read on its own, and two
processes filling one cache at once (two seeds started together) share the work (`in_own_order`).
"""

import hashlib
import json
import os
import random
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor


def content_key(*parts) -> str:
    """sha256 over the JSON of the parts (strings, numbers, lists, dicts)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def tensor_fingerprint(tensors: dict[str, Tensor]) -> str:
    """sha256 over names, shapes, dtypes and bytes: identifies weights exactly (e.g. which encoder wrote a cache)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def as_if_created_plainly(path: str | Path) -> None:
    """Give a file or folder made by `tempfile` (0600 / 0700) the mode open() or mkdir() would have given it: 0666 or
    0777 less the process umask. Atomic writes go through temporary names; what they leave must not be private."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~umask)


def save_tensors(tensors: dict[str, Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """safetensors' `save_file`, leaving the file with the mode a plain open() would give it (save_file makes it
    0600). Every safetensors file the project writes goes through here."""
    save_file(tensors, str(path), metadata=metadata)
    as_if_created_plainly(path)


def in_own_order(batches: list[list]) -> list[list]:
    """The batches of a cache build in an order of this process's own (shuffled by its pid). A builder that, on
    reaching a batch, computes only its entries not yet in the store then shares the work with any other process
    filling the same cache: each writes what the other has not reached yet, instead of both writing all of it."""
    batches = list(batches)
    random.Random(os.getpid()).shuffle(batches)
    return batches


class TensorStore:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.safetensors"

    def __contains__(self, key: str) -> bool:
        return self.path(key).exists()

    def save(self, key: str, tensors: dict[str, Tensor]) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".safetensors")
        os.close(handle)
        try:
            save_tensors({name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}, tmp_name)
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def load(self, key: str) -> dict[str, Tensor]:
        return load_file(self.path(key))
