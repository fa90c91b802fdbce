"""What a BLSP-KD model is: everything needed to rebuild it, in three sections, plus how it runs.

    architecture   the base models by name ('embedded', a folder or a hub id), the adapter and its settings, PLoRA,
                   whether the encoder trains and on which input (what a checkpoint holds)
    prompt         the user-message template and system prompt around the speech (METHOD §3)
    objective      the KD temperature, the τ² factor and the weight of each loss (METHOD §4)
    precision      the one precision setting, fp32 | bf16 | fp16 | auto (`resolve_precision`): inference loads the base
                   models in it; training stores the frozen weights in it and runs the step under its autocast,
                   while the trained weights stay fp32

`save_pretrained` writes it as JSON (blsp_kd_config.json); `BlspKdConfig.from_dict` reads that, and also the flat
layout that checkpoints and run folders' recipe.yaml had before the sections (`nest_flat_keys`).
"""

from dataclasses import asdict, dataclass, field, fields

from blsp_kd.layout.prompt import DEFAULT_USER_TEMPLATE
from blsp_kd.losses import LossWeights
from blsp_kd.models.adapters import ADAPTERS, CFormerConfig, ConvSubsamplerConfig
from blsp_kd.models.encoder import ENCODER_INPUTS
from blsp_kd.models.plora import PLoRAConfig


@dataclass
class ArchitectureConfig:
    whisper: str = "embedded"
    llm: str = "embedded"
    adapter: str = "cformer"  # "cformer" (CIF, one vector per token) | "conv" (BLSP v1 baseline, response losses only)
    cformer: CFormerConfig = field(default_factory=CFormerConfig)  # read when adapter is "cformer"
    conv: ConvSubsamplerConfig = field(default_factory=ConvSubsamplerConfig)  # read when adapter is "conv"
    plora: PLoRAConfig | None = None  # None: the LLM stays exactly the base model
    train_encoder: bool = False
    # False: the adapter is frozen and runs as at inference (no dropout); a stage that trains PLoRA alone, on what the
    # LLM reads through a readout (METHOD §9)
    train_adapter: bool = True
    # "real": the encoder on each clip's own length (METHOD §1) | "padded": on stock Whisper's 30 s-padded input,
    # cut to the clip's frames (an ablation, METHOD §9); models/encoder.py
    encoder_input: str = "real"
    # None: the LLM reads the adapter's vectors (METHOD) | a temperature T: it reads each vector's vocabulary readout,
    # the mean of its input embeddings under softmax(cos(vector, embedding) / T) (METHOD §9; models/adapters.py)
    vocabulary_readout: float | None = None
    # None | a weight λ > 0: that readout fused with Whisper's decoder reading the speech vectors' guesses (METHOD
    # §9; models/decoder_readout.py); needs vocabulary_readout. In training the LLM reads it too (with train_adapter
    # false: PLoRA learns from what it reads at inference)
    decoder_readout: float | None = None
    # None | a weight γ > 0: the decoder readout divides the classifier's distribution by its training prior^γ, the
    # transcript tokens' counts the checkpoint's training wrote (METHOD §9); needs decoder_readout
    readout_prior: float | None = None
    # 1 | n > 1: the decoder readout in n rounds, round r + 1's decoder reading round r's fused distribution as its
    # guesses (METHOD §9; models/decoder_readout.py); needs decoder_readout
    readout_rounds: int = 1
    # None | LoRA (scope "all") on Whisper's decoder inside the decoder readout, on the linear layers its
    # target_modules name (Whisper's: q_proj k_proj v_proj out_proj fc1 fc2): the decoder learns to read the guesses
    # and the real-length frames it gets there (METHOD §9); needs decoder_readout. Trains where a stage adds it
    readout_lora: PLoRAConfig | None = None

    def __post_init__(self):
        if self.adapter not in ADAPTERS:
            raise ValueError(f"unknown adapter {self.adapter!r}; expected one of {sorted(ADAPTERS)}")
        if self.encoder_input not in ENCODER_INPUTS:
            raise ValueError(f"unknown encoder_input {self.encoder_input!r}; expected one of {ENCODER_INPUTS}")
        if self.vocabulary_readout is not None and not self.vocabulary_readout > 0:
            raise ValueError(f"vocabulary_readout {self.vocabulary_readout!r}: a temperature > 0, or null for none")
        if self.decoder_readout is not None and not (self.decoder_readout > 0 and self.vocabulary_readout):
            raise ValueError(f"decoder_readout {self.decoder_readout!r}: a weight > 0 on top of a vocabulary_readout "
                             f"(it is {self.vocabulary_readout!r}), or null for none")
        if self.readout_prior is not None and not (self.readout_prior > 0 and self.decoder_readout):
            raise ValueError(f"readout_prior {self.readout_prior!r}: a weight > 0 on top of a decoder_readout "
                             f"(it is {self.decoder_readout!r}), or null for none")
        if not (self.readout_rounds == 1 or (self.readout_rounds > 1 and self.decoder_readout)):
            raise ValueError(f"readout_rounds {self.readout_rounds!r}: 1, or more on top of a decoder_readout (it is "
                             f"{self.decoder_readout!r})")
        if self.readout_lora is not None and not (self.readout_lora.scope == "all" and self.decoder_readout):
            raise ValueError(f"readout_lora: LoRA of scope 'all' (it is {self.readout_lora.scope!r}) on top of a "
                             f"decoder_readout (it is {self.decoder_readout!r}), or null for none")
        if not (self.train_adapter or self.train_encoder or self.plora or self.readout_lora):
            raise ValueError("train_adapter false with neither plora, readout_lora nor train_encoder: nothing would "
                             "train")

    @property
    def adapter_config(self) -> CFormerConfig | ConvSubsamplerConfig:
        """The settings of the adapter in use (its dimensions are filled in from the base models)."""
        return getattr(self, self.adapter)


class ArchitectureMismatch(ValueError):
    """A checkpoint's trained weights belong to another architecture than the one a recipe builds."""


# What a trained adapter's weights do not depend on: a stage may change them.
STAGE_SETTINGS = frozenset({"plora", "train_encoder", "train_adapter", "dropout", "alpha_bias_init",
                            "vocabulary_readout", "decoder_readout", "readout_prior", "readout_rounds",
                            "readout_lora"})


def architecture_overrides(trained: ArchitectureConfig, recipe: ArchitectureConfig) -> list[str]:
    """The overrides (`model.architecture.cformer.post_layers=whisper_decoder`, ...) that make `recipe` build the
    architecture whose weights `trained` describes: base models, adapter and its settings, encoder input. PLoRA, an
    unfrozen encoder, dropout and initialisation may differ between stages (stage 2 adds PLoRA to stage 1's
    adapter). Empty when the checkpoint's weights fit the recipe's model."""
    def settings(architecture: ArchitectureConfig) -> dict:
        flat = {key: value for key, value in asdict(architecture).items()
                if key not in STAGE_SETTINGS and key not in ADAPTERS}
        adapter = asdict(architecture.adapter_config)
        return flat | {f"{architecture.adapter}.{key}": value for key, value in adapter.items()
                       if key not in STAGE_SETTINGS}

    def override_value(value) -> str:
        return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    wanted, built = settings(trained), settings(recipe)
    return [f"model.architecture.{key}={override_value(value)}" for key, value in wanted.items()
            if built.get(key, object()) != value]


@dataclass
class PromptConfig:
    user_template: str = DEFAULT_USER_TEMPLATE
    system_prompt: str | None = None  # None: the chat template's own default


@dataclass
class ObjectiveConfig:
    temperature: float = 2.0  # KD temperature in training; evaluation metrics use 1
    scale_by_t2: bool = False
    loss_weights: LossWeights = field(default_factory=LossWeights)


@dataclass
class BlspKdConfig:
    architecture: ArchitectureConfig = field(default_factory=ArchitectureConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    precision: str = "fp32"
    cache_prompt_prefix: bool = True  # run the speech-independent prompt prefix without autograd (same logits)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "BlspKdConfig":
        """A config from `to_dict`'s layout, or from the flat layout of older checkpoints."""
        data = nest_flat_keys(data)
        architecture = dict(data.get("architecture", {}))
        for kind, config_class in (("cformer", CFormerConfig), ("conv", ConvSubsamplerConfig)):
            architecture[kind] = config_class(**architecture.get(kind, {}))
        for lora in ("plora", "readout_lora"):
            if architecture.get(lora) is not None:
                architecture[lora] = PLoRAConfig(**architecture[lora])
        objective = dict(data.get("objective", {}))
        objective["loss_weights"] = LossWeights(**objective.get("loss_weights", {}))
        return cls(ArchitectureConfig(**architecture), PromptConfig(**data.get("prompt", {})),
                   ObjectiveConfig(**objective), **{key: data[key] for key in ("precision", "cache_prompt_prefix")
                                                    if key in data})


# The flat layout (before the sections): key → (section, key in the section).
FLAT_KEYS = {
    "whisper": ("architecture", "whisper"), "llm": ("architecture", "llm"), "adapter": ("architecture", "adapter"),
    "plora": ("architecture", "plora"), "train_encoder": ("architecture", "train_encoder"),
    "user_template": ("prompt", "user_template"), "system_prompt": ("prompt", "system_prompt"),
    "temperature": ("objective", "temperature"), "scale_by_t2": ("objective", "scale_by_t2"),
    "loss_weights": ("objective", "loss_weights"),
}
FLAT_DTYPES = {"float32": "fp32", "bfloat16": "bf16"}


def nest_flat_keys(data: dict) -> dict:
    """The sectioned layout of a config written in the flat one (`adapter_config` goes to the section of its
    adapter, `dtype` float32/bfloat16 becomes `precision` fp32/bf16); a sectioned config is returned as it is."""
    sections = {field.name for field in fields(BlspKdConfig)}
    nested = {key: dict(value) if isinstance(value, dict) else value
              for key, value in data.items() if key in sections}
    for key, value in data.items():
        if key in FLAT_KEYS:
            section, name = FLAT_KEYS[key]
            nested.setdefault(section, {})[name] = value
        elif key == "adapter_config":
            adapter = data.get("adapter", ArchitectureConfig.adapter)
            nested.setdefault("architecture", {})[adapter] = value
        elif key == "dtype":
            nested["precision"] = FLAT_DTYPES.get(value, value)
        elif key not in sections:
            raise ValueError(f"unknown model config key {key!r}")
    return nested
