"""The composed model on tiny random configs: oracle alignment, batch invariance, PLoRA in generation, optimisation,
save/load; and the oracle on the real SmolLM2."""

import collections
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from blsp_kd.layout.batch import SpeechInput, collate_text
from blsp_kd.losses import LossWeights, kd_kl, speech_rms_loss, speech_token_ce
from blsp_kd.models.adapters import CFormerConfig, ConvSubsamplerConfig, vocabulary_readout
from blsp_kd.models.blsp_kd import CONFIG_FILE, WEIGHTS_FILE, BlspKdModel, place_speech
from blsp_kd.models.config import ArchitectureConfig, BlspKdConfig, ObjectiveConfig
from blsp_kd.models.plora import PLoRAConfig, PLoRALinear
from blsp_kd.models.teacher import used_positions
from tiny import (
    STYLES,
    OracleAdapter,
    count_writes,
    save_tiny_base_models,
    tiny_chat_tokenizer,
    tiny_llama,
    tiny_whisper,
)

INSTRUCTION = "repeat what was said."
RECORDS = [
    {"id": "a", "text": "the cat sat on the mat", "instruction": INSTRUCTION, "response_ids": None},
    {"id": "b", "text": "hello world", "instruction": "continue the following text in a coherent style",
     "response_ids": None},
    {"id": "c", "text": "the weather is nice today and the sun is out", "instruction": INSTRUCTION,
     "response_ids": None, "early_stop": True},
]


def clip(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(16000 * seconds)).astype(np.float32) * 0.1


def tiny_model(adapter: str = "cformer", plora: dict | None = None, seed: int = 0,
               loss_weights: dict | None = None, vocabulary_readout: float | None = None) -> BlspKdModel:
    tokenizer = tiny_chat_tokenizer(STYLES["smollm2"])
    encoder, feature_extractor = tiny_whisper(seed)
    architecture = ArchitectureConfig(whisper="tiny", llm="tiny", adapter=adapter,
                                      cformer=CFormerConfig(num_heads=4, dropout=0.0),
                                      conv=ConvSubsamplerConfig(bottleneck_dim=32),
                                      plora=PLoRAConfig(**plora) if plora is not None else None,
                                      vocabulary_readout=vocabulary_readout)
    blsp_config = BlspKdConfig(architecture, objective=ObjectiveConfig(loss_weights=LossWeights(**(loss_weights or {}))))
    torch.manual_seed(seed)
    model = BlspKdModel(blsp_config, encoder, feature_extractor, tiny_llama(tokenizer, seed), tokenizer).eval()
    for record in RECORDS:  # responses as token ids, as `prepare responses` stores them
        record["response_ids"] = tokenizer.encode(" and the dog sat on the log", add_special_tokens=False)
    return model


def randomise_plora(model: BlspKdModel, seed: int = 1) -> None:
    """LoRA B starts at zero; randomise it so PLoRA really changes the output."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.llm.modules():
        if isinstance(module, PLoRALinear):
            with torch.no_grad():
                module.lora_B.weight.copy_(torch.randn(module.lora_B.weight.shape, generator=generator) * 0.3)


def encode_clips(model: BlspKdModel, clips: list[np.ndarray]):
    return model.encode(*model.features(clips))


def test_oracle_student_equals_teacher_and_generates_the_same():
    model = tiny_model()
    records = RECORDS[:2]
    batch = collate_text(records, model.prompts)
    transcripts = [model.prompts.transcript_ids(record["text"]) for record in records]
    model.adapter = OracleAdapter(model.llm.get_input_embeddings(), transcripts)
    clips = [clip(1.0, 0), clip(1.5, 1)]
    hidden, frame_mask = encode_clips(model, clips)
    output = model(batch, SpeechInput(hidden, frame_mask), temperature=1.0)
    assert output.losses["input_kl"].item() <= 1e-6
    assert output.losses["response_kl"].item() <= 1e-6
    speech_ids = model.generate_ids(clips, [record["instruction"] for record in records], max_new_tokens=8)
    text_ids = model.generate_ids_from_text([r["text"] for r in records], [r["instruction"] for r in records],
                                            max_new_tokens=8)
    assert speech_ids == text_ids and all(len(ids) > 0 for ids in speech_ids)


def test_generation_refuses_a_prompt_that_ends_in_speech():
    """Generation prefills all but the last prompt position, which must be text; a row ending in speech (no
    suffix after it) is a clear error, not a silently wrong prefill."""
    model = tiny_model()
    batch = collate_text(RECORDS[:1], model.prompts)
    suffix = batch.speech_mask.shape[1] - int(batch.speech_mask[0].nonzero().max()) - 1
    assert suffix > 0  # the real template has a suffix; cut it off
    cut = type(batch)(**{name: getattr(batch, name)[:, :-suffix] for name in
                         ("input_ids", "attention_mask", "position_ids", "speech_mask", "response_mask")},
                      num_tokens=batch.num_tokens)
    embeds = model.llm.get_input_embeddings()(cut.input_ids)
    with pytest.raises(ValueError, match="must end in text after the speech"):
        model.generate_from_embeds(embeds, cut, max_new_tokens=2)


def test_generate_takes_int16_and_lists_and_names_a_bad_clip():
    model = tiny_model()
    audio = clip(1.0, 0)
    pcm16 = np.round(audio.clip(-1, 1) * 32767).astype(np.int16)
    expected = model.generate_ids([pcm16.astype(np.float32) / 32768], INSTRUCTION, max_new_tokens=4)
    assert model.generate_ids([pcm16], INSTRUCTION, max_new_tokens=4) == expected
    assert model.generate_ids([audio.tolist()], INSTRUCTION, max_new_tokens=4) == \
        model.generate_ids([audio], INSTRUCTION, max_new_tokens=4)
    broken = audio.copy()
    broken[10] = np.nan
    with pytest.raises(ValueError, match="audio 1: 1 NaN/inf samples"):
        model.generate([audio, broken], INSTRUCTION, max_new_tokens=4)
    with pytest.raises(ValueError, match="audio 0: 31.00 s, longer than the maximum 30.0 s"):
        model.generate([np.zeros(16000 * 31, np.float32)], INSTRUCTION, max_new_tokens=4)


def per_sample_kl(model: BlspKdModel, batch, hidden, frame_mask) -> list[float]:
    """Input+response KL of each row, from one batched forward (rows are contiguous in the row-major gather)."""
    speech = model.speech(hidden, frame_mask, batch.num_tokens)
    used = used_positions(batch)
    teacher = model.teacher_logits(batch, used)
    student = model.student_logits(batch, speech, used)
    rows = used.nonzero()[:, 0]
    return [kd_kl(teacher[rows == row], student[rows == row], torch.ones(int((rows == row).sum()), dtype=torch.bool))
            .item() for row in range(batch.input_ids.shape[0])]


@pytest.mark.parametrize("plora", [None, {"rank": 4, "alpha": 8, "dropout": 0.0}])
def test_batch_invariance_of_losses_and_generation(plora):
    model = tiny_model(plora=plora)
    if plora:
        randomise_plora(model)
    clips = [clip(0.7, 0), clip(2.0, 1), clip(1.2, 2)]
    batch = collate_text(RECORDS, model.prompts)
    hidden, frame_mask = encode_clips(model, clips)
    batched = per_sample_kl(model, batch, hidden, frame_mask)
    batched_ids = model.generate_ids(clips, INSTRUCTION, max_new_tokens=6)
    for index, record in enumerate(RECORDS):
        alone_batch = collate_text([record], model.prompts)
        alone_hidden, alone_mask = encode_clips(model, [clips[index]])
        assert per_sample_kl(model, alone_batch, alone_hidden, alone_mask)[0] == pytest.approx(batched[index],
                                                                                               abs=1e-5)
        assert model.generate_ids([clips[index]], INSTRUCTION, max_new_tokens=6)[0] == batched_ids[index]
    assert len(set(batched)) == 3  # the rows really differ


def test_plora_acts_in_the_prefill_only():
    """Greedy generation from the KV cache equals the argmax of one full forward pass over the final sequence
    with PLoRA at the speech positions only."""
    model = tiny_model(plora={"rank": 4, "alpha": 8, "dropout": 0.0})
    randomise_plora(model)
    clips = [clip(1.3, 3)]
    generated = model.generate_ids(clips, INSTRUCTION, max_new_tokens=6)[0]
    from blsp_kd.layout.batch import build_inference_inputs

    hidden, frame_mask = encode_clips(model, clips)
    speech = model.speech(hidden, frame_mask)
    prompt = build_inference_inputs([model.prompts.segments(INSTRUCTION)], speech.num_tokens.tolist(), model.prompts.pad_id)
    embeds = place_speech(model.llm.get_input_embeddings()(prompt.input_ids), prompt.speech_mask, speech)
    full_embeds = torch.cat([embeds, model.llm.get_input_embeddings()(torch.tensor([generated[:-1]]))], dim=1)
    length = full_embeds.shape[1]
    speech_mask = torch.zeros(1, length, dtype=torch.bool)
    speech_mask[:, : prompt.speech_mask.shape[1]] = prompt.speech_mask
    with torch.no_grad(), model.plora_scope(speech_mask):
        logits = model.llm(inputs_embeds=full_embeds, position_ids=torch.arange(length)[None]).logits
    prompt_length = prompt.input_ids.shape[1]
    assert logits[0, prompt_length - 1 :].argmax(-1).tolist() == generated
    with torch.no_grad():  # and PLoRA matters: without it the first token's distribution differs
        base = model.llm(inputs_embeds=embeds, position_ids=torch.arange(prompt_length)[None]).logits
    assert not torch.allclose(base[0, -1], logits[0, prompt_length - 1], atol=1e-4)


@pytest.mark.parametrize("adapter", ["cformer", "conv"])
def test_a_few_steps_lower_the_loss_on_a_fixed_batch(adapter):
    weights = {"input_kl": 1.0, "response_kl": 1.0, "cif": 1.0, "response_ce": 0.0 if adapter == "cformer" else 1.0}
    model = tiny_model(adapter=adapter, loss_weights=weights).train()
    batch = collate_text(RECORDS, model.prompts)
    hidden, frame_mask = encode_clips(model, [clip(0.7, 0), clip(2.0, 1), clip(1.2, 2)])
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    assert trainable and all(not p.requires_grad for p in model.llm.parameters())
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    main_loss = "input_kl" if adapter == "cformer" else "response_ce"
    losses, main_losses = [], []
    for _ in range(12):
        output = model(batch, SpeechInput(hidden, frame_mask))
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(output.loss.item())
        main_losses.append(output.losses[main_loss].item())
    expected = {"cformer": {"input_kl", "response_kl", "cif"}, "conv": {"response_kl", "response_ce"}}[adapter]
    assert set(output.losses) == expected
    assert main_losses[-1] < 0.9 * main_losses[0], main_losses
    assert losses[-1] < 0.85 * losses[0], losses


def test_speech_rms_loss_is_a_weighted_component_towards_the_token_embedding_rms():
    weights = {"input_kl": 1.0, "response_kl": 1.0, "cif": 1.0, "speech_rms": 2.0}
    model = tiny_model(loss_weights=weights)
    batch = collate_text(RECORDS, model.prompts)
    hidden, frame_mask = encode_clips(model, [clip(0.7, 0), clip(2.0, 1), clip(1.2, 2)])
    output = model(batch, SpeechInput(hidden, frame_mask))
    token_rms = model.llm.get_input_embeddings().weight.pow(2).mean(-1).sqrt().median().item()
    assert model.token_rms == pytest.approx(token_rms)
    speech = output.speech
    assert output.losses["speech_rms"].item() == pytest.approx(
        speech_rms_loss(speech.embeds, speech.mask, token_rms).item(), rel=1e-6)
    assert output.losses["speech_rms"].item() > 0
    expected_total = sum(weights[name] * value.item() for name, value in output.losses.items())
    assert output.loss.item() == pytest.approx(expected_total, rel=1e-6)
    assert "speech_rms" not in tiny_model()(batch, SpeechInput(hidden, frame_mask)).losses  # weight 0 (default): not computed


def test_token_ce_names_each_speech_vector_after_its_transcript_token_and_trains_it():
    weights = {"input_kl": 0.0, "response_kl": 0.0, "cif": 0.0, "token_ce": 1.0}
    model = tiny_model(loss_weights=weights).train()
    batch = collate_text(RECORDS, model.prompts)
    hidden, frame_mask = encode_clips(model, [clip(0.7, 0), clip(2.0, 1), clip(1.2, 2)])
    output = model(batch, SpeechInput(hidden, frame_mask))
    speech = output.speech
    transcript_ids = batch.input_ids[batch.speech_mask]  # row-major, as the vectors
    assert transcript_ids.numel() == int(speech.mask.sum())
    expected = speech_token_ce(speech.embeds[speech.mask], transcript_ids, model.llm.get_input_embeddings().weight)
    assert output.losses["token_ce"].item() == pytest.approx(expected.item(), rel=1e-6)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(10):
        output = model(batch, SpeechInput(hidden, frame_mask))
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(output.losses["token_ce"].item())
    assert losses[-1] < 0.7 * losses[0], losses
    assert "token_ce" not in tiny_model()(batch, SpeechInput(hidden, frame_mask)).losses  # weight 0 (default): not computed


def test_with_a_vocabulary_readout_the_llm_reads_embedding_mixtures_and_the_losses_train_through_them(tmp_path):
    weights = {"input_kl": 1.0, "response_kl": 1.0, "cif": 1.0, "token_ce": 1.0, "speech_rms": 1.0}
    plain, readout = tiny_model(loss_weights=weights), tiny_model(loss_weights=weights, vocabulary_readout=0.05)
    batch = collate_text(RECORDS, plain.prompts)
    hidden, frame_mask = encode_clips(plain, [clip(0.7, 0), clip(2.0, 1), clip(1.2, 2)])
    embeddings = readout.llm.get_input_embeddings().weight
    speech = readout.speech(hidden, frame_mask, batch.num_tokens)
    own = plain.speech(hidden, frame_mask, batch.num_tokens)  # same seed: the same adapter weights
    assert torch.equal(speech.vectors, own.embeds)
    assert torch.allclose(speech.embeds, vocabulary_readout(own.embeds, own.mask, embeddings, 0.05))
    assert not torch.allclose(speech.embeds, own.embeds)
    # token_ce and speech_rms train the adapter's own vectors; the KD terms read what the LLM reads.
    output, plain_output = readout(batch, SpeechInput(hidden, frame_mask)), plain(batch, SpeechInput(hidden, frame_mask))
    for name in ("token_ce", "speech_rms", "cif"):
        assert output.losses[name].item() == pytest.approx(plain_output.losses[name].item(), rel=1e-6), name
    assert output.losses["input_kl"].item() != pytest.approx(plain_output.losses["input_kl"].item(), rel=1e-3)
    readout.train()
    readout(batch, SpeechInput(hidden, frame_mask)).losses["input_kl"].backward()
    assert readout.adapter.output_layer.weight.grad.abs().sum() > 0
    # The checkpoint's config keeps the readout.
    readout.save_pretrained(tmp_path / "model")
    saved = BlspKdConfig.from_dict(json.loads((tmp_path / "model" / CONFIG_FILE).read_text()))
    assert saved.architecture.vocabulary_readout == 0.05


def test_without_a_loss_on_the_llms_logits_the_llm_is_not_run_and_the_speech_losses_are_unchanged():
    speech_only = {"input_kl": 0.0, "response_kl": 0.0, "response_ce": 0.0, "cif": 1.0, "speech_rms": 3.0,
                   "token_ce": 1.0}
    batch = collate_text(RECORDS, tiny_model().prompts)
    full, fast = tiny_model(loss_weights=speech_only | {"input_kl": 1.0}), tiny_model(loss_weights=speech_only)
    hidden, frame_mask = encode_clips(fast, [clip(0.7, 0), clip(2.0, 1), clip(1.2, 2)])
    calls = []
    fast.llm.get_decoder().register_forward_pre_hook(lambda module, args, kwargs: calls.append(1), with_kwargs=True)
    full_output, fast_output = (model.eval()(batch, SpeechInput(hidden, frame_mask)) for model in (full, fast))
    assert calls == []
    assert set(fast_output.losses) == {"cif", "speech_rms", "token_ce"}
    for name, value in fast_output.losses.items():
        assert value.item() == pytest.approx(full_output.losses[name].item(), rel=1e-6), name
    assert fast_output.loss.item() == pytest.approx(full_output.loss.item() - full_output.losses["input_kl"].item(),
                                                    rel=1e-6)


def test_a_speech_side_step_skips_the_readout_and_trains_exactly_as_without_it(monkeypatch):
    """No speech-side loss reads the readout (they train the adapter's own vectors), so a model that carries one
    computes none in a training step and gets the same losses and gradients as without it."""
    speech_only = {"input_kl": 0.0, "response_kl": 0.0, "cif": 1.0, "speech_rms": 3.0, "token_ce": 1.0}
    plain, readout = tiny_model(loss_weights=speech_only), tiny_model(loss_weights=speech_only, vocabulary_readout=0.05)
    batch = collate_text(RECORDS, plain.prompts)
    hidden, frame_mask = encode_clips(plain, [clip(0.7, 0), clip(2.0, 1), clip(1.2, 2)])
    calls = []
    monkeypatch.setattr("blsp_kd.models.blsp_kd.vocabulary_readout", lambda *args: calls.append(1))
    outputs = [model.train()(batch, SpeechInput(hidden, frame_mask)) for model in (plain, readout)]
    assert calls == []
    for output in outputs:
        output.loss.backward()
    assert torch.equal(outputs[0].loss, outputs[1].loss)
    for (name, a), b in zip(plain.adapter.named_parameters(), readout.adapter.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad), name

def test_save_and_load_give_identical_outputs(tmp_path):
    tokenizer = tiny_chat_tokenizer(STYLES["qwen2"])
    tiny_llama(tokenizer, seed=0).save_pretrained(tmp_path / "llm")
    tokenizer.save_pretrained(tmp_path / "llm")
    encoder, feature_extractor = tiny_whisper(seed=0)
    from transformers import WhisperModel

    whisper = WhisperModel(encoder.config)
    whisper.encoder.load_state_dict(encoder.state_dict())
    whisper.save_pretrained(tmp_path / "whisper")
    feature_extractor.save_pretrained(tmp_path / "whisper")
    config = BlspKdConfig(ArchitectureConfig(whisper=str(tmp_path / "whisper"), llm=str(tmp_path / "llm"),
                                             cformer=CFormerConfig(num_heads=4, dropout=0.0),
                                             plora=PLoRAConfig(rank=4, alpha=8, dropout=0.0)))
    model = BlspKdModel.from_config(config).eval()
    randomise_plora(model)
    clips = [clip(1.0, 5), clip(0.6, 6)]
    before = model.generate_ids(clips, INSTRUCTION, max_new_tokens=5)
    records = [{"text": "the cat sat", "instruction": INSTRUCTION}, {"text": "hello world", "instruction": "x"}]
    batch = collate_text(records, model.prompts)
    loss_before = model(batch, SpeechInput(*encode_clips(model, clips))).loss
    model.save_pretrained(tmp_path / "checkpoint")
    saved = set(model.trainable_state_dict())
    assert saved and all(name.startswith("adapter.") or "lora_" in name for name in saved)

    loaded = BlspKdModel.from_pretrained(tmp_path / "checkpoint").eval()
    assert loaded.generate_ids(clips, INSTRUCTION, max_new_tokens=5) == before
    assert torch.equal(loaded(batch, SpeechInput(*encode_clips(loaded, clips))).loss, loss_before)
    assert loaded.config.precision == "fp32" and loaded.dtype == loaded.encoder.encoder.conv1.weight.dtype == torch.float32

    # The one precision override: base models in bf16, the adapter's trained weights as saved.
    in_bf16 = BlspKdModel.from_pretrained(tmp_path / "checkpoint", precision="bf16").eval()
    assert in_bf16.config.precision == "bf16"
    assert in_bf16.dtype == in_bf16.encoder.encoder.conv1.weight.dtype == torch.bfloat16
    assert all(torch.equal(tensor, model.trainable_state_dict()[name])
               for name, tensor in in_bf16.trainable_state_dict().items() if name.startswith("adapter."))
    assert len(in_bf16.generate_ids(clips, INSTRUCTION, max_new_tokens=5)[0]) >= 1

    # Shipped in half precision: stored as fp16, loaded back into the fp32 model as the fp16-rounded weights.
    model.save_pretrained(tmp_path / "half", dtype=torch.float16)
    stored = load_file(tmp_path / "half" / WEIGHTS_FILE)
    assert {tensor.dtype for tensor in stored.values()} == {torch.float16}
    half = BlspKdModel.from_pretrained(tmp_path / "half")
    for name, tensor in half.trainable_state_dict().items():
        assert tensor.dtype == torch.float32 and torch.equal(tensor, stored[name].float()), name
    with pytest.raises(FileNotFoundError, match="not a BLSP-KD checkpoint"):
        BlspKdModel.from_pretrained(tmp_path / "llm")


def test_a_checkpoint_with_the_flat_config_of_older_versions_loads_unchanged(tmp_path):
    whisper, llm = save_tiny_base_models(tmp_path)
    config = BlspKdConfig(ArchitectureConfig(whisper=whisper, llm=llm, cformer=CFormerConfig(num_heads=4, dropout=0.0),
                                             plora=PLoRAConfig(rank=4, alpha=8, dropout=0.0)),
                          objective=ObjectiveConfig(temperature=1.0))
    model = BlspKdModel.from_config(config).eval()
    randomise_plora(model)
    model.save_pretrained(tmp_path / "checkpoint")
    flat = {"whisper": whisper, "llm": llm, "adapter": "cformer", "adapter_config": {"num_heads": 4, "dropout": 0.0},
            "plora": {"rank": 4, "alpha": 8, "dropout": 0.0}, "train_encoder": False,
            "user_template": "{instruction}\n\n{speech}", "system_prompt": None, "temperature": 1.0,
            "scale_by_t2": False, "loss_weights": {"input_kl": 1.0, "response_kl": 1.0, "cif": 1.0, "response_ce": 0.0},
            "dtype": "float32", "cache_prompt_prefix": True}
    (tmp_path / "checkpoint" / CONFIG_FILE).write_text(json.dumps(flat))
    loaded = BlspKdModel.from_pretrained(tmp_path / "checkpoint").eval()
    assert loaded.config == config
    clips = [clip(1.0, 5), clip(0.6, 6)]
    assert loaded.generate_ids(clips, INSTRUCTION, max_new_tokens=5) == model.generate_ids(clips, INSTRUCTION,
                                                                                           max_new_tokens=5)


def test_a_checkpoint_keeps_its_encoder_input_and_runs_on_it(tmp_path):
    """A model on stock Whisper's 30 s-padded input saves the setting; loaded, it encodes (and answers) as saved."""
    whisper, llm = save_tiny_base_models(tmp_path)
    config = BlspKdConfig(ArchitectureConfig(whisper=whisper, llm=llm, cformer=CFormerConfig(num_heads=4, dropout=0.0),
                                             encoder_input="padded"))
    model = BlspKdModel.from_config(config).eval()
    model.save_pretrained(tmp_path / "checkpoint")
    loaded = BlspKdModel.from_pretrained(tmp_path / "checkpoint").eval()
    assert loaded.config.architecture.encoder_input == loaded.encoder.encoder_input == "padded"
    clips = [clip(1.0, 5), clip(0.6, 6)]
    features = loaded.features(clips)
    hidden, frame_mask = loaded.encode(*features)
    assert torch.equal(hidden, model.encode(*features)[0])
    real_length = BlspKdModel.from_config(replace(config, architecture=replace(config.architecture,
                                                                               encoder_input="real"))).eval()
    assert not torch.allclose(hidden[frame_mask], real_length.encode(*features)[0][frame_mask], atol=1e-3)
    assert loaded.generate_ids(clips, INSTRUCTION, max_new_tokens=5) == model.generate_ids(clips, INSTRUCTION,
                                                                                           max_new_tokens=5)


def test_load_weights_is_exact_unless_partial(tmp_path):
    """Stage 2 starts from stage 1: the PLoRA model takes the CFormer of a checkpoint without PLoRA (partial), and
    says which tensors kept their initialisation; a full load insists on every trainable tensor."""
    stage1, stage2 = tiny_model(seed=1), tiny_model(plora={"rank": 4, "alpha": 8, "dropout": 0.0})
    stage1.save_pretrained(tmp_path / "stage1")
    with pytest.raises(ValueError, match="missing"):
        stage2.load_weights(tmp_path / "stage1")
    new = stage2.load_weights(tmp_path / "stage1", partial=True)
    assert new and all("lora_" in name for name in new)
    assert set(new) == {name for name in stage2.trainable_state_dict() if "lora_" in name}
    for name, tensor in stage1.trainable_state_dict().items():
        assert torch.equal(stage2.state_dict()[name], tensor), name
    stage2.save_pretrained(tmp_path / "stage2")
    with pytest.raises(ValueError, match="unexpected"):
        stage1.load_weights(tmp_path / "stage2", partial=True)


@pytest.mark.real
def test_oracle_on_real_smollm2(embedded_llm):
    """An adapter that returns the transcript's token embeddings makes the real SmolLM2's student logits equal the
    teacher's, and generation from "speech" equal generation from text, stopping at the end-of-turn token."""
    from blsp_kd.models.pretrained import load_whisper_encoder

    llm, tokenizer = embedded_llm
    encoder, feature_extractor, _ = load_whisper_encoder()
    model = BlspKdModel(BlspKdConfig(), encoder, feature_extractor, llm, tokenizer).eval()
    records = [{"text": "The quick brown fox jumps over the lazy dog.", "instruction": "Repeat what was said."},
               {"text": "I would like to visit Paris next summer.",
                "instruction": "Continue the following text in a coherent style:"}]
    instructions = [record["instruction"] for record in records]
    model.adapter = OracleAdapter(llm.get_input_embeddings(),
                                  [model.prompts.transcript_ids(record["text"]) for record in records])
    text_ids = model.generate_ids_from_text([r["text"] for r in records], instructions, max_new_tokens=40)
    for record, ids in zip(records, text_ids, strict=True):
        record["response_ids"] = ids[:-1] if ids[-1] == model.prompts.end_of_turn_id else ids
        record["early_stop"] = ids[-1] != model.prompts.end_of_turn_id
    clips = [clip(1.0, 0), clip(2.0, 1)]
    batch = collate_text(records, model.prompts)
    output = model(batch, SpeechInput(*encode_clips(model, clips)), temperature=1.0)
    assert output.losses["input_kl"].item() <= 1e-4 and output.losses["response_kl"].item() <= 1e-4
    speech_ids = model.generate_ids(clips, instructions, max_new_tokens=40)
    assert speech_ids == text_ids
    assert speech_ids[0][-1] == model.prompts.end_of_turn_id and len(speech_ids[0]) < 40  # stopped by itself
    assert "fox" in tokenizer.decode(speech_ids[0])


def test_streaming_yields_the_generated_text():
    model = tiny_model()
    streamed = []

    class Collect:  # the streamer protocol HF generate uses: put(token ids), end()
        def put(self, value):
            streamed.append(value.reshape(-1).tolist())

        def end(self):
            streamed.append(None)

    clips = [clip(1.0, 7)]
    ids = model.generate_ids(clips, INSTRUCTION, max_new_tokens=6)
    assert model.generate_ids(clips, INSTRUCTION, max_new_tokens=6, streamer=Collect()) == ids
    assert streamed[-1] is None
    new_tokens = [token for chunk in streamed[1:-1] for token in chunk]  # the first put is the prompt
    assert new_tokens[: len(ids[0])] == ids[0]


def test_gradient_checkpointing_gives_the_same_loss_and_gradients_with_plora():
    from blsp_kd.models.plora import enable_gradient_checkpointing

    batch_records = RECORDS[:2]
    results = []
    for checkpointing in (False, True):
        model = tiny_model(plora={"rank": 4, "alpha": 8, "dropout": 0.0})
        randomise_plora(model)
        model.train()
        if checkpointing:
            enable_gradient_checkpointing(model.llm)
        batch = collate_text(batch_records, model.prompts)
        output = model(batch, SpeechInput(*encode_clips(model, [clip(0.8, 0), clip(1.1, 1)])))
        output.loss.backward()
        gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        results.append((output.loss.item(), gradients))
    (loss, gradients), (checkpointed_loss, checkpointed_gradients) = results
    assert checkpointed_loss == pytest.approx(loss, abs=1e-6)
    assert gradients.keys() == checkpointed_gradients.keys() and any("lora_" in name for name in gradients)
    for name in gradients:
        torch.testing.assert_close(checkpointed_gradients[name], gradients[name], atol=1e-6, rtol=1e-5)


def test_two_teacher_cache_builders_filling_one_cache_write_each_entry_once(tmp_path, monkeypatch):
    """As the feature cache (test_features): this builder takes its batches last to first; once it has written its
    first batch, the 'other process' writes example 1; this builder then computes example 0 alone. Every entry is
    written once, and is the teacher's."""
    from blsp_kd.models import teacher
    from blsp_kd.models.teacher import TeacherCache

    monkeypatch.setattr(teacher, "in_own_order", lambda batches: batches[::-1])
    model = tiny_model()
    examples = [{"id": str(index), "text": text, "instruction": "repeat what was said.",
                 "response_ids": model.tokenizer.encode(" and so on", add_special_tokens=False), "early_stop": True}
                for index, text in enumerate(["the cat sat", "hello world", "a nice day", "the dog ran off"])]
    cache, other = TeacherCache(tmp_path / "teacher", model), TeacherCache(tmp_path / "teacher", model)
    writes = collections.Counter()

    def let_the_other_build():
        if sum(writes.values()) == 2:
            other.build(examples[1:], batch_size=1, progress=False)

    cache.store.save = count_writes(cache.store.save, writes, let_the_other_build)
    other.store.save = count_writes(other.store.save, writes)
    cache.build(examples, batch_size=2, progress=False)
    assert len(writes) == len(examples) and set(writes.values()) == {1}
    alone = TeacherCache(tmp_path / "alone", model)
    alone.build(examples, batch_size=1, progress=False)
    for example in examples:
        torch.testing.assert_close(cache.load(example).hidden, alone.load(example).hidden, rtol=0, atol=1e-5)


@pytest.mark.real
def test_cached_teachers_against_the_live_teacher(embedded_llm, espeak, tmp_path):
    """On a fixed batch of real speech: the hidden-state teacher cache gives the live teacher's losses exactly
    (≤ 1e-5); the top-k cache's KL at τ = 1 with k = 4096 is within 2% of the full-vocabulary KL (smaller k or τ = 2
    under-estimate much more on SmolLM2's 49k vocabulary: see docs/RESULTS.md)."""
    from blsp_kd.data.synth import speak
    from blsp_kd.models.pretrained import load_whisper_encoder
    from blsp_kd.models.teacher import TeacherCache, TeacherHidden, TeacherTopK

    llm, tokenizer = embedded_llm
    encoder, feature_extractor, _ = load_whisper_encoder()
    torch.manual_seed(0)
    model = BlspKdModel(BlspKdConfig(), encoder, feature_extractor, llm, tokenizer).eval()
    instruction = "Continue the following text in a coherent style:"
    texts = ["The old castle stands on the hill.", "Please bring your umbrella today.",
             "My brother plays the piano every evening."]
    examples = []
    for index, text in enumerate(texts):
        ids = model.generate_ids_from_text([text], instruction, max_new_tokens=16)[0]
        early_stop = ids[-1] != model.prompts.end_of_turn_id
        examples.append({"id": str(index), "text": text, "instruction": instruction,
                         "response_ids": ids if early_stop else ids[:-1], "early_stop": early_stop})
    batch = collate_text(examples, model.prompts)
    hidden, frame_mask = encode_clips(model, [speak(text) for text in texts])
    caches = {"hidden": TeacherCache(tmp_path / "teacher", model, "hidden"),
              "topk": TeacherCache(tmp_path / "teacher", model, "topk", k=4096, temperature=1.0)}
    teachers = {}
    for name, cache in caches.items():
        cache.build(examples, progress=False)
        parts = [cache.load(example) for example in examples]
        teachers[name] = type(parts[0]).concat(parts)
    assert isinstance(teachers["hidden"], TeacherHidden) and isinstance(teachers["topk"], TeacherTopK)
    with torch.no_grad():
        for temperature in (1.0, 2.0):
            live = model(batch, SpeechInput(hidden, frame_mask), temperature=temperature).losses
            cached = model(batch, SpeechInput(hidden, frame_mask), temperature=temperature,
                           teacher=teachers["hidden"]).losses
            for name in live:
                assert cached[name].item() == pytest.approx(live[name].item(), abs=1e-5), (temperature, name)
        top_k = model(batch, SpeechInput(hidden, frame_mask), temperature=1.0, teacher=teachers["topk"]).losses
    live = model(batch, SpeechInput(hidden, frame_mask), temperature=1.0).losses
    for name in ("input_kl", "response_kl"):
        assert top_k[name].item() == pytest.approx(live[name].item(), rel=0.02), name
        assert top_k[name].item() <= live[name].item() + 1e-6  # merging the tail can only lower the KL
