"""Partial LoRA (PLoRA): LoRA on LLM linear layers whose update is added only at speech positions.

    y_t = W x_t + m_t * (B A dropout(x_t)) * alpha / r

with m_t = 1 on speech positions and 0 elsewhere (scope "speech"), or m_t = 1 everywhere (scope "all", plain
LoRA, for ablation). With m = 0 the layer is exactly the base layer, so the teacher (the base LLM) is the same
model with every adapter off. The update depends on the position, so it can never be merged into W.

The speech mask is passed explicitly through a context manager and lives in a `ContextVar`, never on modules:

    with speech_positions(speech_mask):        # [B, L], the positions of this forward's input that are speech
        student_logits = llm(inputs_embeds=embeds, attention_mask=attention_mask).logits
    with adapters_disabled():
        teacher_logits = llm(inputs_embeds=text_embeds, attention_mask=text_attention_mask).logits

Without an active mask (scope "speech") every layer is the base layer: KV-cache decode steps run outside the
context are text steps, which is what inference needs (PLoRA during the prompt prefill only).
"""

import contextlib
import math
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

import torch.nn as nn
from torch import Tensor

SCOPES = ("speech", "all")

_speech_mask: ContextVar[Tensor | None] = ContextVar("plora_speech_mask", default=None)
_adapters_off: ContextVar[bool] = ContextVar("plora_adapters_off", default=False)


@dataclass
class PLoRAConfig:
    rank: int = 16
    alpha: float = 16.0
    dropout: float = 0.05
    target_modules: tuple[str, ...] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    )
    scope: str = "speech"  # "speech" (PLoRA) | "all" (plain LoRA)

    def __post_init__(self):
        self.target_modules = tuple(self.target_modules)  # a list when read from JSON or YAML
        if self.scope not in SCOPES:
            raise ValueError(f"PLoRAConfig.scope must be one of {SCOPES}, got {self.scope!r}")
        if self.rank < 1:
            raise ValueError(f"PLoRAConfig.rank must be >= 1, got {self.rank}")


@contextlib.contextmanager
def speech_positions(mask: Tensor | None) -> Iterator[None]:
    """Mark the positions of the forward passes run inside the block that are speech.

    mask: [B, L] bool or 0/1 float, matching the leading dims of the LLM input (inputs_embeds [B, L, D]),
    or None for "no speech" (every layer is the base layer in scope "speech").
    """
    token = _speech_mask.set(mask)
    try:
        yield
    finally:
        _speech_mask.reset(token)


@contextlib.contextmanager
def adapters_disabled() -> Iterator[None]:
    """Turn every PLoRA/LoRA update off (both scopes, any mask): the model is exactly the base LLM (the teacher)."""
    token = _adapters_off.set(True)
    try:
        yield
    finally:
        _adapters_off.reset(token)


class PLoRALinear(nn.Module):
    """An `nn.Linear` (held as `.base`) plus a low-rank update B A, scaled by alpha / rank.

    forward: x [B, L, in] -> [B, L, out]. Scope "speech": the update is added where the active speech mask
    ([B, L], must equal x.shape[:-1]) is 1, nowhere without an active mask. Scope "all": added everywhere,
    the mask is ignored. `adapters_disabled()` removes it in both scopes.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float, scope: str):
        super().__init__()
        if scope not in SCOPES:
            raise ValueError(f"PLoRALinear scope must be one of {SCOPES}, got {scope!r}")
        self.base = base
        self.scope = scope
        self.scaling = alpha / rank
        self.lora_dropout = nn.Dropout(dropout)
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Linear(base.in_features, rank, bias=False, **factory)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False, **factory)
        # LoRA initialisation: B = 0, so the wrapped model starts as the base model.
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x: Tensor) -> Tensor:
        output = self.base(x)
        if _adapters_off.get():
            return output
        speech_mask = _speech_mask.get()
        if self.scope == "speech":
            if speech_mask is None:
                return output
            if speech_mask.shape != x.shape[:-1]:
                raise ValueError(
                    f"PLoRA speech mask has shape {tuple(speech_mask.shape)} but the layer input has leading "
                    f"dims {tuple(x.shape[:-1])}; the mask must be [batch, length] of the current forward input "
                    "(run KV-cache decode steps outside speech_positions)"
                )
        # The adapters may be kept in another dtype than the base (e.g. fp32 adapters on a bf16 LLM).
        update = self.lora_B(self.lora_A(self.lora_dropout(x.to(self.lora_A.weight.dtype)))) * self.scaling
        if self.scope == "speech":
            update = update * speech_mask.to(device=update.device, dtype=update.dtype).unsqueeze(-1)
        return output + update.to(output.dtype)

    def extra_repr(self) -> str:
        return f"rank={self.lora_A.out_features}, scaling={self.scaling}, scope={self.scope!r}"


def apply_plora(model: nn.Module, config: PLoRAConfig) -> list[str]:
    """Replace, in place, every `nn.Linear` whose name ends with one of `config.target_modules` by a PLoRALinear:
    a module's own name ("q_proj": every one so named) or its last dotted parts ("encoder_attn.q_proj": those of
    the cross-attention alone).

    Returns the names of the replaced modules. The base weights keep their `requires_grad`; freeze them yourself.
    """
    targets = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear)
        and any(f".{name}".endswith(f".{target}") for target in config.target_modules)
    ]
    if not targets:
        raise ValueError(
            f"apply_plora: no nn.Linear in {type(model).__name__} matches {config.target_modules}"
        )
    for name, linear in targets:
        parent_name, _, child_name = name.rpartition(".")
        wrapped = PLoRALinear(linear, config.rank, config.alpha, config.dropout, config.scope)
        setattr(model.get_submodule(parent_name), child_name, wrapped)
    return [name for name, _ in targets]


def plora_parameters(model: nn.Module) -> dict[str, Tensor]:
    """The adapter weights {"<module>.lora_A.weight": [r, in], "<module>.lora_B.weight": [out, r], ...}.

    The names are those of `model.state_dict()`, so `model.load_state_dict(weights, strict=False)` restores them.
    """
    return {
        f"{name}.{part}.weight": getattr(module, part).weight
        for name, module in model.named_modules()
        if isinstance(module, PLoRALinear)
        for part in ("lora_A", "lora_B")
    }


def _checkpoint_contexts() -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """`context_fn` for torch's non-reentrant checkpoint, called at forward time.

    The recomputation runs during backward, after `speech_positions`/`adapters_disabled` have exited, so the
    state active at forward time is captured here and re-established around the recomputation.
    """
    speech_mask, adapters_off = _speech_mask.get(), _adapters_off.get()

    @contextlib.contextmanager
    def forward_time_state() -> Iterator[None]:
        mask_token, off_token = _speech_mask.set(speech_mask), _adapters_off.set(adapters_off)
        try:
            yield
        finally:
            _adapters_off.reset(off_token)
            _speech_mask.reset(mask_token)

    return contextlib.nullcontext(), forward_time_state()


def enable_gradient_checkpointing(model: nn.Module) -> None:
    """Hugging Face gradient checkpointing of the decoder layers, recomputed with the forward-time PLoRA state."""
    kwargs = {"use_reentrant": False, "context_fn": _checkpoint_contexts}
    # transformers >= 5.x renamed the method and deprecated the old name.
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
