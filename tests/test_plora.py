import copy

import pytest
import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from torch.utils.checkpoint import CheckpointError
from transformers import LlamaConfig, LlamaForCausalLM

from blsp_kd.models.plora import (
    PLoRAConfig,
    PLoRALinear,
    adapters_disabled,
    apply_plora,
    enable_gradient_checkpointing,
    plora_parameters,
    speech_positions,
)

BATCH, LENGTH = 2, 10
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=256,
    )
    return LlamaForCausalLM(config).float().eval()


def plora_llama(scope: str) -> tuple[LlamaForCausalLM, LlamaForCausalLM]:
    """(base copy, model with PLoRA), the adapters randomised (B = 0 would make every test trivial)."""
    model = tiny_llama()
    base = copy.deepcopy(model)
    apply_plora(model, PLoRAConfig(rank=4, alpha=8.0, dropout=0.0, target_modules=TARGETS, scope=scope))
    torch.manual_seed(1)
    with torch.no_grad():
        for weight in plora_parameters(model).values():
            weight.normal_(0.0, 0.2)
    return base, model


def peft_twin(base: LlamaForCausalLM, model: LlamaForCausalLM):
    """A peft LoRA model on a copy of the base holding the same A/B weights (rank 4, alpha 8)."""
    lora_config = LoraConfig(r=4, lora_alpha=8.0, lora_dropout=0.0, target_modules=list(TARGETS))
    peft_model = get_peft_model(copy.deepcopy(base), lora_config).eval()
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, PLoRALinear):
                peft_layer = peft_model.base_model.model.get_submodule(name)
                peft_layer.lora_A["default"].weight.copy_(module.lora_A.weight)
                peft_layer.lora_B["default"].weight.copy_(module.lora_B.weight)
    return peft_model


def input_ids() -> torch.Tensor:
    return torch.randint(0, 256, (BATCH, LENGTH), generator=torch.Generator().manual_seed(2))


def mixed_mask() -> torch.Tensor:
    mask = torch.zeros(BATCH, LENGTH, dtype=torch.bool)
    mask[:, 3:7] = True
    return mask


def test_apply_plora_wraps_every_target():
    _, model = plora_llama("speech")
    names = [name for name, module in model.named_modules() if isinstance(module, PLoRALinear)]
    assert len(names) == 2 * len(TARGETS)
    assert len(plora_parameters(model)) == 2 * len(names)
    assert not isinstance(model.lm_head, PLoRALinear)


def test_a_dotted_target_names_the_modules_under_one_parent_alone():
    """"self_attn.q_proj" wraps the attention's q projections and nothing else; a part of a name ("proj") is no
    target."""
    model = tiny_llama()
    wrapped = apply_plora(model, PLoRAConfig(rank=4, target_modules=("self_attn.q_proj", "mlp.up_proj"), scope="all"))
    assert wrapped == [f"model.layers.{layer}.{module}" for layer in (0, 1)
                       for module in ("self_attn.q_proj", "mlp.up_proj")]
    with pytest.raises(ValueError, match="no nn.Linear"):
        apply_plora(tiny_llama(), PLoRAConfig(rank=4, target_modules=("proj",), scope="all"))


def test_mask_all_zero_is_base():
    base, model = plora_llama("speech")
    ids = input_ids()
    with torch.no_grad(), speech_positions(torch.zeros(BATCH, LENGTH)):
        logits = model(ids).logits
    torch.testing.assert_close(logits, base(ids).logits, rtol=0, atol=1e-6)


def test_mask_all_one_is_peft_lora():
    base, model = plora_llama("speech")
    peft_model = peft_twin(base, model)
    ids = input_ids()
    with torch.no_grad():
        with speech_positions(torch.ones(BATCH, LENGTH, dtype=torch.bool)):
            logits = model(ids).logits
        expected = peft_model(ids).logits
        assert (expected - base(ids).logits).abs().max() > 1e-2, "the adapters should change the logits"
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5)


def test_mixed_mask_changes_only_positions_from_first_speech():
    base, model = plora_llama("speech")
    ids = input_ids()
    with torch.no_grad():
        with speech_positions(mixed_mask()):
            logits = model(ids).logits
        base_logits = base(ids).logits
    torch.testing.assert_close(logits[:, :3], base_logits[:, :3], rtol=0, atol=1e-6)
    # Speech positions change directly, later text positions through attention to them.
    assert ((logits[:, 3:] - base_logits[:, 3:]).abs().amax(dim=-1) > 1e-3).all()


def test_scope_all_is_peft_lora_and_disabled_is_base():
    base, model = plora_llama("all")
    peft_model = peft_twin(base, model)
    ids = input_ids()
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, peft_model(ids).logits, rtol=0, atol=1e-5)
        with adapters_disabled():
            torch.testing.assert_close(model(ids).logits, base(ids).logits, rtol=0, atol=1e-6)


def test_adapters_disabled_wins_over_speech_mask():
    base, model = plora_llama("speech")
    ids = input_ids()
    with torch.no_grad(), speech_positions(torch.ones(BATCH, LENGTH)), adapters_disabled():
        logits = model(ids).logits
    torch.testing.assert_close(logits, base(ids).logits, rtol=0, atol=1e-6)


def test_kv_cache_decode_outside_mask_matches_full_forward():
    _, model = plora_llama("speech")
    prompt = input_ids()
    num_new_tokens = 4
    step_logits = []
    with torch.no_grad():
        with speech_positions(mixed_mask()):
            output = model(prompt, use_cache=True)
        step_logits.append(output.logits[:, -1])
        sequence = prompt
        for _ in range(num_new_tokens):
            next_token = step_logits[-1].argmax(dim=-1, keepdim=True)
            sequence = torch.cat([sequence, next_token], dim=1)
            # Decode steps are text: no speech mask is active.
            output = model(next_token, cache=output.cache, use_cache=True)
            step_logits.append(output.logits[:, -1])
        full_mask = F.pad(mixed_mask(), (0, num_new_tokens), value=False)
        with speech_positions(full_mask):
            full_logits = model(sequence).logits
    expected = full_logits[:, LENGTH - 1 :]
    torch.testing.assert_close(torch.stack(step_logits, dim=1), expected, rtol=0, atol=1e-5)


def lora_loss_and_grads(model: LlamaForCausalLM, ids: torch.Tensor) -> tuple[torch.Tensor, dict]:
    with speech_positions(mixed_mask()):
        logits = model(ids, use_cache=False).logits
    loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
    loss.backward()
    return loss.detach(), {name: weight.grad.clone() for name, weight in plora_parameters(model).items()}


def test_gradient_checkpointing_keeps_forward_time_mask():
    _, model = plora_llama("speech")
    model.requires_grad_(False)
    for weight in plora_parameters(model).values():
        weight.requires_grad_(True)
    checkpointed = copy.deepcopy(model)
    naive = copy.deepcopy(model)
    for module in (model, checkpointed, naive):
        module.train()
    enable_gradient_checkpointing(checkpointed)
    # Plain HF checkpointing recomputes the layers after the mask context has exited.
    naive.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    ids = input_ids()

    loss, grads = lora_loss_and_grads(model, ids)
    checkpointed_loss, checkpointed_grads = lora_loss_and_grads(checkpointed, ids)

    torch.testing.assert_close(checkpointed_loss, loss, rtol=0, atol=1e-6)
    for name, grad in grads.items():
        torch.testing.assert_close(checkpointed_grads[name], grad, rtol=0, atol=1e-6, msg=name)
    # Without the forward-time mask the recomputation differs: torch notices it, or the gradients are wrong.
    with pytest.raises((CheckpointError, AssertionError)):
        _, naive_grads = lora_loss_and_grads(naive, ids)
        for name, grad in grads.items():
            torch.testing.assert_close(naive_grads[name], grad, rtol=0, atol=1e-6)


def test_frozen_base_only_lora_gets_gradients():
    _, model = plora_llama("speech")
    lora_weights = plora_parameters(model)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in lora_weights)
    _, grads = lora_loss_and_grads(model.train(), input_ids())
    with_grad = {name for name, parameter in model.named_parameters() if parameter.grad is not None}
    assert with_grad == set(lora_weights)
    assert all(grad.abs().sum() > 0 for grad in grads.values())


def test_mismatched_mask_shape_raises():
    _, model = plora_llama("speech")
    with (
        speech_positions(torch.ones(BATCH, LENGTH + 1)),
        pytest.raises(ValueError, match="speech mask has shape"),
    ):
        model(input_ids())


def test_invalid_scope_raises():
    with pytest.raises(ValueError, match="scope"):
        PLoRAConfig(scope="text")
