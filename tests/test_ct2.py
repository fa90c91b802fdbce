"""The CTranslate2 reader: a round trip through our own minimal writer, the real tiny.en file, and bad files."""

import struct
from pathlib import Path

import numpy as np
import pytest

from blsp_kd.models.ct2 import CT2FormatError, read_ct2_model, whisper_state_dict
from blsp_kd.models.pretrained import WHISPER_PACKAGE, WHISPER_PACKAGE_VERSION, package_dir

CODES = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
         np.dtype(np.float16): 4}


def write_ct2(path: Path, spec: str, variables: dict[str, np.ndarray], aliases: dict[str, str]) -> None:
    """A minimal writer of the version-6 layout, independent of the reader (test oracle)."""

    def string(value: str) -> bytes:
        encoded = value.encode() + b"\0"
        return struct.pack("<H", len(encoded)) + encoded

    out = struct.pack("<I", 6) + string(spec) + struct.pack("<I", 3) + struct.pack("<I", len(variables))
    for name, array in variables.items():
        out += string(name) + struct.pack("<B", array.ndim) + struct.pack(f"<{array.ndim}I", *array.shape)
        out += struct.pack("<B", CODES[array.dtype]) + struct.pack("<I", array.nbytes) + array.tobytes()
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += string(alias) + string(target)
    path.write_bytes(out)


def test_round_trip_every_dtype_and_rank(tmp_path):
    rng = np.random.default_rng(0)
    variables = {
        "a/scalar_int8": np.array(3, dtype=np.int8),
        "a/scalar_int16": np.array(-2, dtype=np.int16),
        "b/vector_f16": rng.standard_normal(7).astype(np.float16),
        "b/matrix_f32": rng.standard_normal((3, 5)).astype(np.float32),
        "c/tensor_i32": rng.integers(-9, 9, (2, 3, 4)).astype(np.int32),
    }
    write_ct2(tmp_path / "model.bin", "TestSpec", variables, {"c/alias": "b/matrix_f32"})
    model = read_ct2_model(tmp_path / "model.bin")
    assert model.spec == "TestSpec" and model.revision == 3
    assert model.aliases == {"c/alias": "b/matrix_f32"}
    for name, array in variables.items():
        assert model.variables[name].shape == array.shape
        assert model.variables[name].dtype == array.dtype
        np.testing.assert_array_equal(model.variables[name], array)
    np.testing.assert_array_equal(model.variables["c/alias"], variables["b/matrix_f32"])


def real_model_bin() -> Path:
    return package_dir(WHISPER_PACKAGE, WHISPER_PACKAGE_VERSION) / "model" / "model.bin"


def test_real_tiny_en_file_reads_completely():
    model = read_ct2_model(real_model_bin())
    assert model.spec == "WhisperSpec"
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert model.variables["decoder/embeddings/weight"].shape == (51864, 384)
    assert model.variables["decoder/embeddings/weight"].dtype == np.float16
    assert model.variables["encoder/layer_0/self_attention/linear_0/weight"].shape == (3 * 384, 384)
    assert model.variables["encoder/conv1/weight"].shape == (384, 80, 3)
    state = whisper_state_dict(model)
    assert state["model.encoder.layers.3.self_attn.k_proj.weight"].shape == (384, 384)
    assert "model.encoder.layers.3.self_attn.k_proj.bias" not in state  # Whisper's k has no bias
    np.testing.assert_array_equal(  # q is the first third of the fused projection
        state["model.decoder.layers.1.self_attn.q_proj.weight"].numpy(),
        model.variables["decoder/layer_1/self_attention/linear_0/weight"][:384].astype(np.float32),
    )


@pytest.mark.parametrize("keep_fraction", [0.0, 0.0001, 0.5, 0.999])
def test_truncated_file_gives_a_clear_error(tmp_path, keep_fraction):
    data = real_model_bin().read_bytes()
    broken = tmp_path / "model.bin"
    broken.write_bytes(data[: int(len(data) * keep_fraction)])
    with pytest.raises(CT2FormatError, match="truncated"):
        read_ct2_model(broken)


def test_wrong_version_and_trailing_bytes(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(struct.pack("<I", 5) + b"\0" * 32)
    with pytest.raises(CT2FormatError, match="version 5"):
        read_ct2_model(bad)
    write_ct2(bad, "TestSpec", {"x": np.zeros(2, np.float32)}, {})
    bad.write_bytes(bad.read_bytes() + b"junk")
    with pytest.raises(CT2FormatError, match="unexpected bytes"):
        read_ct2_model(bad)
