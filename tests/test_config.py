"""The model config's sections, and the flat layout of checkpoints and run folders written before them: the shipped
model's config and the reference run's recipe.yaml files read as they are."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from blsp_kd.losses import LossWeights
from blsp_kd.models.adapters import CFormerConfig, ConvSubsamplerConfig
from blsp_kd.models.blsp_kd import CONFIG_FILE, SHIPPED_MODELS
from blsp_kd.models.config import (
    ArchitectureConfig,
    BlspKdConfig,
    ObjectiveConfig,
    PromptConfig,
    architecture_overrides,
)
from blsp_kd.models.plora import PLoRAConfig
from blsp_kd.train.config import load_recipe

REPO = Path(__file__).resolve().parents[1]
# blsp_kd_config.json as the code before the sections wrote it (every field, flat).
FLAT_CONV_CONFIG = {
    "whisper": "openai/whisper-small", "llm": "Qwen/Qwen2.5-7B-Instruct", "adapter": "conv",
    "adapter_config": {"bottleneck_dim": 32}, "plora": None, "train_encoder": True,
    "user_template": "{speech}\n{instruction}", "system_prompt": "Be brief.", "temperature": 2.0,
    "scale_by_t2": True, "loss_weights": {"input_kl": 0.0, "response_kl": 1.0, "cif": 0.0, "response_ce": 1.0,
                                          "speech_rms": 0.0, "token_ce": 0.0},
    "dtype": "bfloat16", "cache_prompt_prefix": False,
}


def test_a_flat_config_from_before_the_sections_reads_into_them():
    """The first shipped model's config (written before the sections), and today's shipped model, which has the
    same architecture in the sectioned layout but for its post-CIF layers (from Whisper's decoder since the tenth
    session), its vocabulary readout (since the twenty-first) and decoder readout (since the twenty-eighth; in 5
    rounds since the thirty-seventh), and
    records the objective it was last trained with (the speech-side losses alone since the twenty-third: `token_ce`
    1, no KL terms; with `readout_ce` 1 since the thirty-first)."""
    data = json.loads((Path(__file__).parent / "data" / "flat-config-first-reference-run.json").read_text())
    assert "adapter_config" in data  # the old layout
    config = BlspKdConfig.from_dict(data)
    shipped = BlspKdConfig.from_dict(json.loads((SHIPPED_MODELS["default"] / CONFIG_FILE).read_text()))
    assert shipped.architecture.cformer.post_layers == "whisper_decoder"
    assert shipped.architecture.vocabulary_readout == 0.02 and shipped.architecture.decoder_readout == 2.0
    assert shipped.architecture.readout_prior is None  # its token counts are shipped: --readout-prior 1 reads with it
    assert shipped.architecture.readout_rounds == 5  # since the thirty-seventh session
    assert shipped.objective == replace(config.objective, loss_weights=LossWeights(
        input_kl=0.0, response_kl=0.0, speech_rms=3.0, token_ce=1.0, readout_ce=1.0))
    assert replace(shipped, architecture=replace(
        shipped.architecture, cformer=replace(shipped.architecture.cformer, post_layers="encoder"),
        vocabulary_readout=None, decoder_readout=None, readout_rounds=1), objective=config.objective) == config
    assert config.architecture == ArchitectureConfig(
        adapter="cformer", cformer=CFormerConfig(num_pre_layers=2, num_post_layers=2, num_heads=6, dropout=0.1),
        plora=PLoRAConfig(rank=16, alpha=16, dropout=0.05))
    assert config.prompt == PromptConfig()
    assert config.objective == ObjectiveConfig(temperature=1.0, loss_weights=LossWeights(speech_rms=3.0, token_ce=0.5))
    assert config.precision == "fp32" and config.cache_prompt_prefix
    assert config.architecture.encoder_input == "real"  # written before the option: the encoder on the real length


def test_every_flat_key_has_its_place():
    config = BlspKdConfig.from_dict(FLAT_CONV_CONFIG)
    assert config == BlspKdConfig(
        ArchitectureConfig(whisper="openai/whisper-small", llm="Qwen/Qwen2.5-7B-Instruct", adapter="conv",
                           conv=ConvSubsamplerConfig(bottleneck_dim=32), train_encoder=True),
        PromptConfig(user_template="{speech}\n{instruction}", system_prompt="Be brief."),
        ObjectiveConfig(temperature=2.0, scale_by_t2=True,
                        loss_weights=LossWeights(input_kl=0.0, cif=0.0, response_ce=1.0)),
        precision="bf16", cache_prompt_prefix=False)
    assert config.architecture.adapter_config == ConvSubsamplerConfig(bottleneck_dim=32)
    with pytest.raises(ValueError, match="unknown model config key 'adapter_cfg'"):
        BlspKdConfig.from_dict({"adapter_cfg": {}})


def test_the_sectioned_config_round_trips_through_json():
    config = BlspKdConfig.from_dict(FLAT_CONV_CONFIG)
    assert BlspKdConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


# The reference recipes' post-CIF layers start from Whisper's decoder since the ninth session, stage 1 at token_ce 2
# (docs/RESULTS.md); the first reference run had encoder layers and token_ce 0.5.
CHANGED_SINCE_THE_FIRST_REFERENCE_RUN = {
    "reference-stage1": ["model.architecture.cformer.post_layers=encoder", "model.objective.loss_weights.token_ce=0.5"],
    "reference-stage2-plora": ["model.architecture.cformer.post_layers=encoder"],
    "reference-stage2-encoder": ["model.architecture.cformer.post_layers=encoder"],
}


def test_the_last_speech_side_recipe_describes_the_shipped_model():
    """`make reference`'s last stage (stage 3 continued with readout_ce) trains the model `default` is
    (architecture, vocabulary and decoder readouts, objective, prompt); only the precision and the readout's rounds
    differ — the shipped config says fp32, as its evaluation ran, the recipe trains in auto; it was trained through
    one round and is read in 5 (chosen on validation after training, docs/RESULTS.md). Stage 3 itself differs by the
    decoder readout and readout_ce alone."""
    shipped = BlspKdConfig.from_dict(json.loads((SHIPPED_MODELS["default"] / CONFIG_FILE).read_text()))
    shipped = replace(shipped, architecture=replace(shipped.architecture, readout_rounds=1))
    recipe = load_recipe("reference-stage3-readout-ce").model
    assert replace(recipe, precision=shipped.precision) == shipped
    stage3 = load_recipe("reference-stage3-speech").model
    assert stage3.architecture.decoder_readout is None and stage3.objective.loss_weights.readout_ce == 0.0
    assert replace(stage3, precision=shipped.precision, architecture=replace(stage3.architecture, decoder_readout=2.0),
                   objective=replace(stage3.objective, loss_weights=replace(stage3.objective.loss_weights,
                                                                           readout_ce=1.0))) == shipped


@pytest.mark.parametrize("run", ["reference-stage1", "reference-stage2-plora", "reference-stage2-encoder",
                                 "reference-blsp"])
def test_a_run_folders_flat_recipe_reads_as_the_shipped_recipe(run):
    """docs/reference-run/RUN/recipe.yaml was written with a flat `model`; it describes the same model as the shipped
    recipe of that name in the sectioned layout, with the settings the recipe changed since set back."""
    old = load_recipe(REPO / "docs" / "reference-run" / run / "recipe.yaml")
    assert old.model == load_recipe(run, CHANGED_SINCE_THE_FIRST_REFERENCE_RUN.get(run, [])).model


@pytest.mark.parametrize(("model_section", "mixed_precision", "expected"), [
    ("  dtype: float32\n", "auto", "auto"),  # a run folder's flat recipe.yaml: loaded fp32, trained in auto
    ("  precision: fp32\n", "bf16", "bf16"),
    ("  precision: bf16\n", "bf16", "bf16"),  # the 7B recipe: loaded and trained in bf16
    ("  architecture: {adapter: cformer}\n", "fp32", "fp32"),  # model.precision not set
])
def test_an_old_recipes_train_mixed_precision_becomes_model_precision(model_section, mixed_precision, expected,
                                                                     tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"model:\n{model_section}train:\n  lr: 0.01\n  mixed_precision: {mixed_precision}\n")
    loaded = load_recipe(recipe)
    assert loaded.model.precision == expected and loaded.train.lr == 0.01
    assert not hasattr(loaded.train, "mixed_precision")


def test_an_old_recipe_with_two_different_precisions_is_a_one_line_error(tmp_path, capsys):
    from blsp_kd import cli

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("model:\n  precision: bf16\ntrain:\n  mixed_precision: fp32\n")
    with pytest.raises(ValueError, match="train.mixed_precision fp32 and model.precision bf16: there is one"):
        load_recipe(recipe)
    assert cli.main(["train", "--recipe", str(recipe)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: train.mixed_precision fp32 and model.precision bf16") and "\n" not in error


def test_a_vocabulary_readout_is_a_positive_temperature_that_a_stage_may_change():
    assert ArchitectureConfig(vocabulary_readout=0.01).vocabulary_readout == 0.01
    for bad in (0.0, -0.1):
        with pytest.raises(ValueError, match="vocabulary_readout"):
            ArchitectureConfig(vocabulary_readout=bad)
    # Not a weight's shape: a checkpoint trained without it loads into a recipe with it, and back.
    assert architecture_overrides(ArchitectureConfig(), ArchitectureConfig(vocabulary_readout=0.01)) == []


def test_a_frozen_adapter_needs_something_else_to_train_and_a_stage_may_freeze_it():
    assert ArchitectureConfig(train_adapter=False, plora=PLoRAConfig()).train_adapter is False
    assert ArchitectureConfig(train_adapter=False, train_encoder=True).train_encoder
    with pytest.raises(ValueError, match="nothing would train"):
        ArchitectureConfig(train_adapter=False)
    frozen = ArchitectureConfig(train_adapter=False, plora=PLoRAConfig())
    assert architecture_overrides(ArchitectureConfig(), frozen) == []


def test_readout_ce_needs_a_decoder_readout_to_read_its_distribution():
    assert load_recipe("reference-stage3-readout-ce").model.objective.loss_weights.readout_ce == 1.0
    with pytest.raises(ValueError, match="readout_ce.*decoder_readout"):
        load_recipe("reference-stage3-readout-ce", ["model.architecture.decoder_readout=null"])
