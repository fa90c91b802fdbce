"""Reader for CTranslate2 `model.bin` files (format version 6), and the CTranslate2 → Hugging Face Whisper mapping.

The binary layout, all little-endian:

    uint32 version (= 6)
    string spec name (e.g. "WhisperSpec")          string = uint16 byte length (incl. NUL) + bytes
    uint32 spec revision
    uint32 number of variables, then for each:
        string name, uint8 rank, uint32 × rank shape, uint8 dtype code, uint32 byte count, raw bytes
    uint32 number of aliases, then for each: string alias, string target

Aliases share storage with their target (Whisper: `decoder/projection/weight` → `decoder/embeddings/weight`).
"""

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SUPPORTED_VERSION = 6
# CTranslate2's DType enum order.
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}


class CT2FormatError(ValueError):
    """The file is not a readable CTranslate2 model (wrong version, truncated, unknown dtype)."""


@dataclass
class CT2Model:
    spec: str
    revision: int
    variables: dict[str, np.ndarray]  # name → array (aliases included, sharing the target's array)
    dtype_codes: dict[str, int]
    aliases: dict[str, str]


class _Cursor:
    """Reads little-endian fields from a bytes buffer, raising CT2FormatError at the end of the data."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.offset, self.path = data, 0, path

    def take(self, num_bytes: int, what: str) -> bytes:
        end = self.offset + num_bytes
        if end > len(self.data):
            raise CT2FormatError(
                f"{self.path}: file ends at byte {len(self.data)} while reading {what} "
                f"(needs bytes {self.offset}..{end}); the file is truncated or not a CTranslate2 model"
            )
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def string(self, what: str) -> str:
        (length,) = self.unpack("H", f"{what} length")
        return self.take(length, what).rstrip(b"\0").decode("utf-8")


def read_ct2_model(path: str | Path) -> CT2Model:
    """Read every tensor of a CTranslate2 `model.bin` into numpy arrays (no CTranslate2 install needed)."""
    path = Path(path)
    cursor = _Cursor(path.read_bytes(), path)
    (version,) = cursor.unpack("I", "format version")
    if version != SUPPORTED_VERSION:
        raise CT2FormatError(f"{path}: CTranslate2 format version {version}, only {SUPPORTED_VERSION} is supported")
    spec = cursor.string("spec name")
    (revision,) = cursor.unpack("I", "spec revision")
    (num_variables,) = cursor.unpack("I", "variable count")
    variables, dtype_codes = {}, {}
    for index in range(num_variables):
        name = cursor.string(f"name of variable {index}")
        (rank,) = cursor.unpack("B", f"rank of {name}")
        shape = cursor.unpack("I" * rank, f"shape of {name}")
        (dtype_code,) = cursor.unpack("B", f"dtype of {name}")
        (num_bytes,) = cursor.unpack("I", f"byte count of {name}")
        raw = cursor.take(num_bytes, f"data of {name}")
        if dtype_code not in DTYPES:
            raise CT2FormatError(f"{path}: variable {name} has unknown dtype code {dtype_code}")
        dtype = DTYPES[dtype_code]
        if dtype == "bfloat16":  # numpy has no bfloat16: widen the 16 bits into float32's high half
            array = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=dtype)
        if array.size != int(np.prod(shape, dtype=np.int64)):
            raise CT2FormatError(f"{path}: variable {name} has {array.size} values for shape {shape}")
        variables[name] = array.reshape(shape)
        dtype_codes[name] = dtype_code
    (num_aliases,) = cursor.unpack("I", "alias count")
    aliases = {}
    for _ in range(num_aliases):
        alias = cursor.string("alias name")
        aliases[alias] = cursor.string(f"target of alias {alias}")
        if aliases[alias] not in variables:
            raise CT2FormatError(f"{path}: alias {alias} points to missing variable {aliases[alias]}")
        variables[alias] = variables[aliases[alias]]
        dtype_codes[alias] = dtype_codes[aliases[alias]]
    if cursor.offset != len(cursor.data):
        raise CT2FormatError(f"{path}: {len(cursor.data) - cursor.offset} unexpected bytes after the aliases")
    return CT2Model(spec=spec, revision=revision, variables=variables, dtype_codes=dtype_codes, aliases=aliases)


def whisper_state_dict(model: CT2Model) -> dict[str, torch.Tensor]:
    """Map a CTranslate2 `WhisperSpec` to the state dict of `transformers.WhisperForConditionalGeneration` (float32).

    CTranslate2 fuses self-attention q/k/v into one `linear_0` ([3D, D]) and cross-attention k/v into `linear_1`
    ([2D, D]); Whisper's k projections have no bias, so the k slice of a fused bias is dropped.
    """
    if model.spec != "WhisperSpec":
        raise CT2FormatError(f"expected a WhisperSpec model, got {model.spec}")
    source = {name: torch.from_numpy(array.astype(np.float32)) for name, array in model.variables.items()
              if array.dtype.kind == "f"}
    state = {}

    def copy_linear(target: str, prefix: str) -> None:
        state[f"{target}.weight"] = source[f"{prefix}/weight"]
        state[f"{target}.bias"] = source[f"{prefix}/bias"]

    def copy_norm(target: str, prefix: str) -> None:
        state[f"{target}.weight"] = source[f"{prefix}/gamma"]
        state[f"{target}.bias"] = source[f"{prefix}/beta"]

    def split_projections(target: str, prefix: str, names: list[str]) -> None:
        weights = source[f"{prefix}/weight"].chunk(len(names))
        biases = source[f"{prefix}/bias"].chunk(len(names))
        for name, weight, bias in zip(names, weights, biases, strict=True):
            state[f"{target}.{name}.weight"] = weight.clone()
            if name != "k_proj":
                state[f"{target}.{name}.bias"] = bias.clone()

    def copy_block(target: str, prefix: str, cross_attention: bool) -> None:
        copy_norm(f"{target}.self_attn_layer_norm", f"{prefix}/self_attention/layer_norm")
        split_projections(f"{target}.self_attn", f"{prefix}/self_attention/linear_0", ["q_proj", "k_proj", "v_proj"])
        copy_linear(f"{target}.self_attn.out_proj", f"{prefix}/self_attention/linear_1")
        if cross_attention:
            copy_norm(f"{target}.encoder_attn_layer_norm", f"{prefix}/attention/layer_norm")
            copy_linear(f"{target}.encoder_attn.q_proj", f"{prefix}/attention/linear_0")
            split_projections(f"{target}.encoder_attn", f"{prefix}/attention/linear_1", ["k_proj", "v_proj"])
            copy_linear(f"{target}.encoder_attn.out_proj", f"{prefix}/attention/linear_2")
        copy_norm(f"{target}.final_layer_norm", f"{prefix}/ffn/layer_norm")
        copy_linear(f"{target}.fc1", f"{prefix}/ffn/linear_0")
        copy_linear(f"{target}.fc2", f"{prefix}/ffn/linear_1")

    copy_linear("model.encoder.conv1", "encoder/conv1")
    copy_linear("model.encoder.conv2", "encoder/conv2")
    state["model.encoder.embed_positions.weight"] = source["encoder/position_encodings/encodings"]
    copy_norm("model.encoder.layer_norm", "encoder/layer_norm")
    state["model.decoder.embed_tokens.weight"] = source["decoder/embeddings/weight"]
    state["model.decoder.embed_positions.weight"] = source["decoder/position_encodings/encodings"]
    copy_norm("model.decoder.layer_norm", "decoder/layer_norm")
    for index in range(count_layers(model, "encoder")):
        copy_block(f"model.encoder.layers.{index}", f"encoder/layer_{index}", cross_attention=False)
    for index in range(count_layers(model, "decoder")):
        copy_block(f"model.decoder.layers.{index}", f"decoder/layer_{index}", cross_attention=True)
    state["proj_out.weight"] = source["decoder/projection/weight"]
    return state


def count_layers(model: CT2Model, stack: str) -> int:
    pattern = re.compile(rf"{stack}/layer_(\d+)/")
    indices = {int(match.group(1)) for name in model.variables if (match := pattern.match(name))}
    return max(indices) + 1 if indices else 0
