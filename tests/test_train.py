"""Training on tiny configs: exact resume after kill -9, atomic checkpoints, 2-process DDP, recipes, gradient
checkpointing with PLoRA, and the cached top-k teacher."""

import json
import math
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from blsp_kd.models.plora import PLoRAConfig
from blsp_kd.train.checkpoint import latest_checkpoint, lock_run_folder, save_atomically
from blsp_kd.train.config import load_recipe
from blsp_kd.train.loop import epoch_batches
from tiny import save_tiny_base_models, write_tiny_corpus

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-train")
    whisper, llm = save_tiny_base_models(root)
    train, valid = write_tiny_corpus(root / "data")
    return {"root": root, "whisper": whisper, "llm": llm, "train": train, "valid": valid}


# CFormer settings whose post-CIF layers can start from the tiny Whisper's decoder (one layer, 4 heads, FFN 64)
TINY_WHISPER_DECODER = {"model.architecture.cformer.num_post_layers": 1, "model.architecture.cformer.ffn_dim": 64}


def tiny_overrides(setup: dict, output_dir: Path, **extra) -> list[str]:
    settings = {
        "model.architecture.whisper": setup["whisper"], "model.architecture.llm": setup["llm"],
        "model.architecture.cformer.num_heads": 4,
        "data.train": f"[{setup['train']}]", "data.valid": setup["valid"], "data.cache_dir": str(setup["root"] / "cache"),
        "train.output_dir": str(output_dir), "train.batch_size": 4, "train.max_steps": 40, "train.warmup_steps": 2,
        "train.log_every": 1, "train.eval_every": 20, "train.save_every": 10, "train.progress": False,
        "model.precision": "fp32",  # "auto" depends on the CPU; bf16 has its own test
    }
    settings.update(extra)
    return [f"{key}={value}" for key, value in settings.items()]


def train_command(recipe: Path, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", "blsp_kd.cli", "train", "--recipe", str(recipe), *overrides]


def read_log(output_dir: Path, split: str = "train") -> dict[int, dict]:
    """The last logged record of each step (a resumed run logs its resumed steps again)."""
    records = {}
    for line in (output_dir / "log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["split"] == split:
            records[record["step"]] = record
    return records


def test_resume_after_kill_9_reproduces_the_uninterrupted_run(tiny_setup, tmp_path):
    recipe = REPO / "recipes" / "default-stage1.yaml"
    uninterrupted = tmp_path / "uninterrupted"
    subprocess.run(train_command(recipe, tiny_overrides(tiny_setup, uninterrupted)), check=True,
                   capture_output=True)

    interrupted = tmp_path / "interrupted"
    command = train_command(recipe, tiny_overrides(tiny_setup, interrupted))
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (interrupted / "checkpoints" / "step-0000010").exists():
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = max(read_log(interrupted))
    assert 10 <= killed_at < 40, "the kill must land after the first checkpoint and before the end"
    assert not (interrupted / "final").exists()
    subprocess.run(command, check=True, capture_output=True)

    expected, resumed = read_log(uninterrupted), read_log(interrupted)
    assert sorted(resumed) == sorted(expected) == list(range(1, 41))
    for step in expected:
        for name in ("total", "input_kl", "response_kl", "cif", "lr"):
            assert resumed[step][name] == pytest.approx(expected[step][name], abs=1e-6), (step, name)
    assert read_log(interrupted, "valid")[40]["kl"] == pytest.approx(read_log(uninterrupted, "valid")[40]["kl"],
                                                                      abs=1e-6)
    assert (interrupted / "final" / "model.safetensors").exists() and (interrupted / "best").exists()
    assert len(list((interrupted / "checkpoints").iterdir())) == 2  # keep_last


KILLED_SAVE = """
import sys, time
from pathlib import Path
from blsp_kd.train.checkpoint import save_atomically
def write(tmp_dir):
    (tmp_dir / "model.safetensors").write_bytes(b"new, half written")
    print("writing", flush=True)
    time.sleep(60)
save_atomically(Path(sys.argv[1]), write)
"""


def test_a_killed_checkpoint_save_never_corrupts_the_previous_checkpoint(tmp_path):
    root = tmp_path / "checkpoints"
    save_atomically(root / "step-0000003", lambda d: (d / "model.safetensors").write_bytes(b"good"))
    process = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(root / "step-0000006")],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert latest_checkpoint(root).name == "step-0000003"
    assert (root / "step-0000003" / "model.safetensors").read_bytes() == b"good"
    # Overwriting an existing checkpoint folder that fails half-way keeps the old content too.
    with pytest.raises(RuntimeError):
        save_atomically(root / "step-0000003", lambda d: (_ for _ in ()).throw(RuntimeError("disk full")))
    assert (root / "step-0000003" / "model.safetensors").read_bytes() == b"good"


@pytest.mark.parametrize("stage", ["stage 1", "stage 2 with the encoder trained", "stage 1 out of minutes",
                                   "stage 2, speech-side losses only"])
def test_two_process_ddp_keeps_ranks_in_sync(stage, tiny_setup, tmp_path):
    """The ranks hold the same trained weights after every step; in stage 2 the encoder is one of them (it runs
    inside the DDP-wrapped forward, so its gradients are averaged like the adapter's). Out of minutes, the ranks
    stop together (each measures its own time; they agree on it) and checkpoint that step."""
    output_dir = tmp_path / "ddp"
    settings = {"train.max_steps": 4, "train.batch_size": 2, "train.save_every": 2, "train.group_by_length": True}
    if stage == "stage 2 with the encoder trained":
        settings |= {"model.architecture.train_encoder": "true", "data.feature_cache": "false"}
    if stage == "stage 1 out of minutes":
        settings |= {"train.max_minutes": 1e-6}
    recipe = "default-stage1"
    if stage == "stage 2, speech-side losses only":  # PLoRA is in the model but gets no gradient: not in DDP
        recipe = "default-stage2"
        settings |= {"train.init_from": "null", "model.objective.loss_weights.input_kl": 0,
                     "model.objective.loss_weights.response_kl": 0, "model.objective.loss_weights.token_ce": 1}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "blsp_kd.cli", "train",
               "--recipe", str(REPO / "recipes" / f"{recipe}.yaml"),
               *tiny_overrides(tiny_setup, output_dir, **settings)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    sync = read_log(output_dir, "sync")
    assert sorted(sync) == ([1] if stage == "stage 1 out of minutes" else [2, 4])
    assert all(record["ranks"] == 2 for record in sync.values())
    checkpoint = latest_checkpoint(output_dir / "checkpoints")
    assert (checkpoint / "rng-rank0.pt").exists() and (checkpoint / "rng-rank1.pt").exists()
    assert all(torch.isfinite(torch.tensor(record["total"])) for record in read_log(output_dir).values())
    if stage != "stage 1 out of minutes":  # the schedule steps once per optimiser step, not once per rank
        assert [record["lr"] for record in read_log(output_dir).values()] == one_process_lrs(REPO / "recipes" /
                                                                                               f"{recipe}.yaml", 4)


def one_process_lrs(recipe_path: Path, steps: int) -> list[float]:
    """The lr of steps 1..`steps` under the tiny runs' warm-up and length, as one process schedules it."""
    from transformers import get_cosine_schedule_with_warmup

    lr = load_recipe(recipe_path).train.lr
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = get_cosine_schedule_with_warmup(optimizer, 2, steps)  # tiny_overrides: 2 warm-up steps
    lrs = []
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])
    return lrs


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_two_process_deepspeed_zero2_trains_as_ddp_does_and_resumes_exactly(precision, tiny_setup, tmp_path):
    """The 7B recipe's engine path, run: its accelerate config (DeepSpeed ZeRO stage 2) with 2 processes — on a
    machine without CUDA, DeepSpeed's CPU accelerator over gloo — against torchrun DDP on the same batches, 4 steps
    of 2 micro-batches: the same losses to fp32 rounding, in bf16 too (the loop autocasts under DeepSpeed as
    accelerate does under DDP; the trainable weights stay fp32). Resumed from its step-2 checkpoint (each rank saved
    its own partition of the optimiser state), the ZeRO run repeats steps 3 and 4 exactly."""
    import yaml

    launch = yaml.safe_load((REPO / "recipes" / "accelerate" / "deepspeed-zero2-8gpu.yaml").read_text())
    launch |= {"num_processes": 2, "mixed_precision": {"fp32": "no", "bf16": "bf16"}[precision]}
    launch["deepspeed_config"]["gradient_accumulation_steps"] = 2
    config = tmp_path / "zero2-2.yaml"
    config.write_text(yaml.safe_dump(launch))
    settings = {"train.max_steps": 4, "train.batch_size": 2, "train.grad_accum_steps": 2, "train.save_every": 2,
                "model.precision": precision}
    launchers = {"ddp": [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"],
                 "zero2": [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]}
    logs = {}
    for name, launcher in [*launchers.items(), ("zero2 resumed", launchers["zero2"])]:
        output_dir = tmp_path / name
        if name == "zero2 resumed":  # the ZeRO run as a kill after its step-2 checkpoint leaves it
            shutil.copytree(tmp_path / "zero2", output_dir)
            shutil.rmtree(output_dir / "checkpoints" / "step-0000004")
            log = output_dir / "log.jsonl"
            log.write_text("".join(line + "\n" for line in log.read_text().splitlines()
                                   if json.loads(line)["step"] <= 2))
        command = [*launcher, "-m", "blsp_kd.cli", "train", "--recipe", str(REPO / "recipes" / "default-stage1.yaml"),
                   *tiny_overrides(tiny_setup, output_dir, **settings)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        engine = "DDP" if name == "ddp" else "DeepSpeed ZeRO-2"
        assert f"{engine} over 2 processes" in result.stdout + result.stderr
        logs[name] = read_log(output_dir)
    assert "resumed from" in result.stdout + result.stderr
    assert sorted(logs["ddp"]) == sorted(logs["zero2"]) == [1, 2, 3, 4]
    for step in logs["ddp"]:
        for key in ("input_kl", "response_kl", "cif", "total", "lr"):
            assert logs["zero2"][step][key] == pytest.approx(logs["ddp"][step][key], rel=1e-4, abs=1e-6)
    assert logs["zero2 resumed"] == {step: logs["zero2"][step] | {"seconds": logs["zero2 resumed"][step]["seconds"]}
                                     for step in logs["zero2"]}
    # a DeepSpeed config that accumulates otherwise than the recipe is refused, naming both
    command = [*launchers["zero2"], "-m", "blsp_kd.cli", "train", "--recipe",
               str(REPO / "recipes" / "default-stage1.yaml"),
               *tiny_overrides(tiny_setup, tmp_path / "mismatch", **settings | {"train.grad_accum_steps": 4})]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert "the DeepSpeed config's gradient_accumulation_steps is 2, the recipe's 4" in result.stderr


@pytest.mark.parametrize("world_size", [1, 2])
def test_grouping_by_length_shuffles_the_same_examples_into_batches_with_less_padding(world_size):
    lengths = torch.randint(5, 120, (1003,), generator=torch.Generator().manual_seed(0)).tolist()

    def epoch(grouped: bool, epoch: int = 0) -> list[list[list[int]]]:  # [rank][batch][index]
        return [epoch_batches(len(lengths), 4, epoch, 7, rank, world_size, lengths if grouped else None)
                for rank in range(world_size)]

    def padded_share(ranks) -> float:
        batches = [batch for rank in ranks for batch in rank]
        padded = sum(4 * max(lengths[i] for i in batch) for batch in batches)
        return 1 - sum(lengths[i] for batch in batches for i in batch) / padded

    plain, grouped = epoch(False), epoch(True)
    every = sorted(i for rank in plain for batch in rank for i in batch)
    assert sorted(i for rank in grouped for batch in rank for i in batch) == every  # the same examples, once each
    assert len(every) == 1003 // (4 * world_size) * 4 * world_size
    assert {len(rank) for rank in grouped} == {len(plain[0])}  # every rank takes the same number of steps
    assert padded_share(plain) > 0.3 and padded_share(grouped) < 0.05
    assert epoch(True) == grouped and epoch(True, epoch=1) != grouped  # seeded, reshuffled each epoch
    steps = [max(lengths[i] for i in batch) for batch in grouped[0]]
    assert steps != sorted(steps, reverse=True)  # the steps themselves are shuffled, not longest first


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda path: path.name)
def test_every_recipe_loads_and_dry_runs_on_tiny_models(recipe, tiny_setup, tmp_path):
    """Each recipe is a valid config, and its model/loss settings train for a step on tiny stand-ins (the 7B recipe
    cannot run here; this checks its wiring: CFormer 4+4, gradient checkpointing, its loss weights)."""
    loaded = load_recipe(recipe)
    assert loaded.train.output_dir.startswith("runs/")
    architecture, weights = loaded.model.architecture, asdict(loaded.model.objective.loss_weights)
    if architecture.plora is not None:
        assert architecture.plora.scope in ("speech", "all")
    settings = {"train.max_steps": 1, "train.init_from": "null", "model.precision": "fp32", "data.num_workers": 0, "train.save_every": 1,
                "train.grad_accum_steps": min(loaded.train.grad_accum_steps, 2)}
    if architecture.adapter == "cformer" and architecture.cformer.post_layers == "whisper_decoder":
        settings |= TINY_WHISPER_DECODER  # post-CIF layers started from the tiny Whisper's decoder
    overrides = tiny_overrides(tiny_setup, tmp_path / "run", **settings)
    result = subprocess.run(train_command(recipe, overrides), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    step = read_log(tmp_path / "run")[1]
    saved = json.loads((tmp_path / "run" / "final" / "blsp_kd_config.json").read_text())
    assert saved["architecture"]["encoder_input"] == architecture.encoder_input  # e.g. the padded-encoder ablation
    assert saved["architecture"]["vocabulary_readout"] == architecture.vocabulary_readout  # e.g. stage 3's 0.02
    for name, weight in weights.items():
        if weight and not (architecture.adapter == "conv" and name in ("input_kl", "cif")):
            assert name in step, (name, step)


@pytest.mark.parametrize("recipe_name", ["default-stage1.yaml", "default-stage2.yaml"])
def test_model_precision_sets_the_frozen_weights_and_the_autocast_and_bf16_follows_fp32(recipe_name, tiny_setup,
                                                                                          tmp_path, monkeypatch):
    """model.precision is the training precision. bf16 (what "auto" picks on a CPU with native bf16): the frozen base
    models are stored in bf16 (caches and validation run on them), the step runs under bf16 autocast, the trained
    weights (CFormer; PLoRA in stage 2) stay fp32 masters, and the losses follow the fp32 run of the same seed
    closely; fp32: everything fp32, no autocast. The saved model keeps the setting."""
    from blsp_kd.models.blsp_kd import BlspKdModel

    autocast_seen = set()  # the autocast dtype (None: off) of every forward, in training steps and validation
    forward = BlspKdModel.forward

    def recording_forward(self, *args, **kwargs):
        autocast_seen.add(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(BlspKdModel, "forward", recording_forward)
    recipe_path = REPO / "recipes" / recipe_name
    logs = {}
    for precision in ("fp32", "bf16"):
        output_dir = tmp_path / precision
        recipe = load_recipe(recipe_path, tiny_overrides(tiny_setup, output_dir, **{
            "model.precision": precision, "train.max_steps": 3, "train.eval_every": 3, "train.init_from": "null",
            "data.cache_dir": str(tmp_path / "cache")}))
        autocast_seen.clear()
        trainer = run_in_process(recipe)
        frozen = {p.dtype for p in trainer.model.parameters() if not p.requires_grad}
        trained = {p.dtype for p in trainer.model.parameters() if p.requires_grad}
        assert frozen == {torch.bfloat16 if precision == "bf16" else torch.float32} and trained == {torch.float32}
        assert autocast_seen == {torch.bfloat16 if precision == "bf16" else None}
        assert json.loads((output_dir / "final" / "blsp_kd_config.json").read_text())["precision"] == precision
        if trainer.model.config.architecture.plora is not None:
            assert any("lora_" in name for name, p in trainer.model.named_parameters() if p.requires_grad)
        logs[precision] = read_log(output_dir)
        logs[precision + " valid"] = read_log(output_dir, "valid")
    for step in (1, 2, 3):
        assert logs["bf16"][step]["total"] == pytest.approx(logs["fp32"][step]["total"], rel=0.03), step
    assert logs["bf16 valid"][3]["kl"] == pytest.approx(logs["fp32 valid"][3]["kl"], rel=0.03)


def run_in_process(recipe):
    """Trainer(recipe).train() in this process; accelerate's state is a singleton, reset around the run."""
    from accelerate.state import AcceleratorState

    from blsp_kd.train.loop import Trainer

    AcceleratorState._reset_state(reset_partial_state=True)
    try:
        trainer = Trainer(recipe)
        trainer.train()
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    return trainer


def cli_in_process(arguments: list[str]) -> int:
    """`blsp-kd ARGUMENTS` in this process (its exit code); accelerate's state is reset around it, as above."""
    from accelerate.state import AcceleratorState

    from blsp_kd import cli

    AcceleratorState._reset_state(reset_partial_state=True)
    try:
        return cli.main(arguments)
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)


def test_max_minutes_counts_the_runs_it_resumes_too(tiny_setup, tmp_path):
    """train.max_minutes is a budget over a run and its resumptions: rerunning a command whose minutes are spent trains
    no further (make reference can be rerun after a kill or when done), a larger budget goes on."""
    output_dir = tmp_path / "run"

    def run(minutes):
        return run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
            tiny_setup, output_dir, **{"train.max_minutes": minutes, "train.max_steps": 5, "train.eval_every": 0})))

    first = run(1e-6)  # out of time after its first step, which it checkpoints
    assert first.step == 1 and latest_checkpoint(output_dir / "checkpoints").name == "step-0000001"
    again = run(1e-6)
    assert again.step == 1 and sorted(read_log(output_dir)) == [1]
    assert again.trained_seconds == pytest.approx(first.trained_seconds) and first.trained_seconds > 0
    more = run(10.0)
    assert more.step == 5 and sorted(read_log(output_dir)) == [1, 2, 3, 4, 5]
    assert more.trained_seconds > first.trained_seconds


def test_a_run_checkpointed_with_a_scalar_alpha_bias_resumes_as_it_would_have(tiny_setup, tmp_path):
    """A checkpoint written before the CFormer's alpha_bias became shape [1] (weights and AdamW moments 0-dim)
    resumes, and trains on exactly as the same checkpoint in today's shape does."""
    from safetensors.torch import load_file, save_file

    from blsp_kd.train.loop import TRAINING_STATE

    def run(output_dir, steps):
        return run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
            tiny_setup, output_dir, **{"train.max_steps": 4, "train.eval_every": 0, "train.save_every": steps})))

    run(tmp_path / "new", 2)  # checkpoints at steps 2 and 4
    shutil.copytree(tmp_path / "new", tmp_path / "old")
    for run_dir in ("new", "old"):  # both resume from step 2
        shutil.rmtree(tmp_path / run_dir / "checkpoints" / "step-0000004")
    checkpoint = tmp_path / "old" / "checkpoints" / "step-0000002"
    weights = load_file(checkpoint / "model.safetensors")
    weights["adapter.alpha_bias"] = weights["adapter.alpha_bias"].reshape(())
    save_file(weights, checkpoint / "model.safetensors", metadata={"format": "pt"})
    state = torch.load(checkpoint / TRAINING_STATE, weights_only=False)
    scalars = 0
    for moments in state["optimizer"]["state"].values():
        for name, value in moments.items():
            if name != "step" and value.shape == (1,):
                moments[name] = value.reshape(())
                scalars += 1
    assert scalars == 2  # exp_avg and exp_avg_sq of alpha_bias
    torch.save(state, checkpoint / TRAINING_STATE)
    resumed = {run_dir: run(tmp_path / run_dir, 2) for run_dir in ("new", "old")}
    assert resumed["old"].step == resumed["new"].step == 4
    assert read_log(tmp_path / "old")[4]["total"] == read_log(tmp_path / "new")[4]["total"]


@pytest.mark.parametrize("encoder_lr", [None, 0.0])
def test_the_unfrozen_encoder_trains_at_its_own_lr(encoder_lr, tiny_setup, tmp_path):
    """train.encoder_lr sets the Whisper encoder's lr apart from the adapter's: at 0 the encoder keeps its pretrained
    weights exactly (AdamW's decoupled decay is scaled by the lr too) while the adapter trains; unset, it trains at `lr`."""
    from blsp_kd.models.pretrained import load_whisper_encoder

    settings = {"model.architecture.train_encoder": "true", "data.feature_cache": "false", "train.max_steps": 3,
                "train.eval_every": 0, "train.encoder_lr": "null" if encoder_lr is None else encoder_lr}
    trainer = run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml",
                                         tiny_overrides(tiny_setup, tmp_path / "run", **settings)))
    pretrained, _, _ = load_whisper_encoder(tiny_setup["whisper"], dtype=torch.float32)
    trained = dict(trainer.model.encoder.encoder.named_parameters())
    unchanged = [torch.equal(trained[name], parameter) for name, parameter in pretrained.named_parameters()]
    assert all(unchanged) if encoder_lr == 0.0 else not any(unchanged)
    assert read_log(tmp_path / "run")[3]["encoder_lr"] == (0.0 if encoder_lr == 0.0 else read_log(tmp_path / "run")[3]["lr"])


def test_the_rank_sync_checksum_goes_to_the_log_file_not_the_console(tiny_setup, tmp_path, capsys):
    output_dir = tmp_path / "run"
    run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
        tiny_setup, output_dir, **{"train.max_steps": 2, "train.save_every": 1, "train.eval_every": 0})))
    console = capsys.readouterr().out
    assert "[train step 1]" in console and "[sync" not in console and "checksum" not in console
    assert sorted(read_log(output_dir, "sync")) == [1, 2]


def test_the_7b_recipe_settings_train_and_round_trip_on_tiny_models(tiny_setup, tmp_path):
    """The 7B recipe as it is (precision bf16: bf16 frozen base models under bf16 autocast, CFormer 4 + 4, gradient checkpointing, the
    hidden-state teacher cache) on tiny stand-ins without DeepSpeed: two steps, then the saved model loads back with
    the same weights and the same loss."""
    from blsp_kd.data.audio import load_record_audio
    from blsp_kd.data.dataset import SpeechCollator, SpeechDataset
    from blsp_kd.models.blsp_kd import BlspKdModel

    recipe_path = REPO / "recipes" / "qwen2.5-7b-whisper-small.yaml"
    output_dir = tmp_path / "run"
    recipe = load_recipe(recipe_path, tiny_overrides(tiny_setup, output_dir, **{
        "train.max_steps": 2, "train.batch_size": 2, "train.grad_accum_steps": 2, "train.save_every": 2,
        "train.eval_every": 2, "data.num_workers": 0, "data.cache_dir": str(tmp_path / "cache"),
        "model.precision": "bf16"}))
    original = load_recipe(recipe_path)
    assert recipe.model.precision == original.model.precision == "bf16"
    assert recipe.train.gradient_checkpointing and recipe.model.architecture.cformer.num_pre_layers == 4
    trainer = run_in_process(recipe)
    assert sorted(read_log(output_dir)) == [1, 2]
    assert all(math.isfinite(value) for value in read_log(output_dir)[2].values() if isinstance(value, float))
    assert {p.dtype for p in trainer.model.parameters() if not p.requires_grad} == {torch.bfloat16}

    loaded = BlspKdModel.from_pretrained(output_dir / "final")
    assert loaded.config == trainer.model.config
    saved, reloaded = trainer.model.trainable_state_dict(), loaded.trainable_state_dict()
    assert saved.keys() == reloaded.keys() and all(torch.equal(saved[name], reloaded[name]) for name in saved)
    batch = SpeechCollator(loaded.prompts)(
        [SpeechDataset(trainer.valid_records, feature_extractor=loaded.feature_extractor)[i] for i in (0, 1)])
    losses = []
    for model in (trainer.model, loaded):  # under bf16 autocast, as validation runs (accelerate wraps the trained
        model.eval()                       # model's forward in it)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            losses.append(model(batch.text, batch.speech).loss.item())
    assert losses[0] == losses[1]
    # Inference runs without autocast: bf16 base models, the fp32 adapter.
    audio = load_record_audio(trainer.valid_records[0]).samples
    assert len(loaded.generate_ids([audio], "Repeat what was said.", max_new_tokens=2)[0]) >= 1


def write_manifest_with_bad_records(setup: dict, root: Path) -> Path:
    """The tiny training manifest plus a 10 ms clip, a 40 s clip (over max_audio_seconds) and a missing file."""
    root.mkdir()
    lines = Path(setup["train"]).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        record["audio"] = str(Path(setup["train"]).parent / record["audio"])
    for name, seconds in (("ten-ms", 0.01), ("forty-s", 40.0)):
        soundfile.write(root / f"{name}.wav", np.full(int(16000 * seconds), 0.1, dtype=np.float32), 16000)
        records.insert(3, {**records[0], "id": name, "audio": str(root / f"{name}.wav")})
    records.insert(5, {**records[0], "id": "missing", "audio": str(root / "missing.wav")})
    manifest = root / "train.jsonl"
    manifest.write_text("".join(json.dumps(record) + "\n" for record in records))
    return manifest


@pytest.mark.parametrize("feature_cache", [True, False])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_bad_clips_are_skipped_and_named_with_or_without_the_feature_cache(feature_cache, precision, tiny_setup,
                                                                          tmp_path, capsys):
    manifest = write_manifest_with_bad_records(tiny_setup, tmp_path / "data")
    output_dir = tmp_path / "run"
    trainer = run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
        tiny_setup, output_dir, **{"data.train": f"[{manifest}]", "data.feature_cache": feature_cache,
                                   "model.precision": precision, "train.max_steps": 2, "train.eval_every": 1,
                                   "data.cache_dir": str(tmp_path / "cache"), "data.teacher_cache": "none"})))
    console = capsys.readouterr().out
    assert sorted(read_log(output_dir)) == [1, 2] and sorted(read_log(output_dir, "valid")) == [0, 1, 2]
    assert len(trainer.train_records) == 16
    for name, reason in (("ten-ms", "too short"), ("forty-s", "longer than the maximum 30"),
                         ("missing", "missing.wav")):
        (line,) = [line for line in console.splitlines() if f"id {name!r}" in line]
        assert line.startswith("skipped: ") and str(manifest) in line and reason in line, line


@pytest.mark.parametrize("case", ["empty", "no words", "all too short"])
def test_a_training_manifest_without_usable_records_is_a_one_line_error(case, tiny_setup, tmp_path, capsys):
    records = [json.loads(line) for line in Path(tiny_setup["train"]).read_text().splitlines()]
    for record in records:
        record["audio"] = str(Path(tiny_setup["train"]).parent / record["audio"])
        if case == "no words":
            record["text"] = "..."
        if case == "all too short":
            record["audio"] = str(tmp_path / "ten-ms.wav")
    soundfile.write(tmp_path / "ten-ms.wav", np.full(160, 0.1, dtype=np.float32), 16000)
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("" if case == "empty" else "".join(json.dumps(record) + "\n" for record in records))
    code = cli_in_process(["train", "--recipe", "default-stage1", *tiny_overrides(
        tiny_setup, tmp_path / "run", **{"data.train": f"[{manifest}]", "data.cache_dir": str(tmp_path / "cache")})])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: data.train ({manifest}): no usable records (")
    expected = {"empty": "it is empty", "no words": "16 record(s) skipped, the first: ",
                "all too short": "16 record(s) skipped, the first: "}[case]
    assert expected in error
    if case != "empty":
        assert f"{manifest}, line " in error and ", id 'train-" in error  # the mix shuffles the records
        assert ("no words" if case == "no words" else "audio too short") in error


def test_auto_precision_is_bf16_only_where_bf16_matmuls_are_native(monkeypatch):
    from blsp_kd.models import pretrained
    from blsp_kd.models.pretrained import native_bf16, resolve_precision

    assert not native_bf16("meta") and resolve_precision("fp32") == torch.float32
    assert resolve_precision("auto", "cpu") == (torch.bfloat16 if native_bf16("cpu") else torch.float32)
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("float16")
    monkeypatch.setattr(pretrained, "native_bf16", lambda device=None: True)
    assert resolve_precision("auto") == torch.bfloat16
    monkeypatch.setattr(pretrained, "native_bf16", lambda device=None: False)
    assert resolve_precision("auto") == torch.float32
    assert resolve_precision("bf16") == torch.bfloat16 and resolve_precision("fp16") == torch.float16


def test_deepspeed_config_matches_the_7b_recipe():
    import yaml

    recipe = load_recipe(REPO / "recipes" / "qwen2.5-7b-whisper-small.yaml")
    launch = yaml.safe_load((REPO / "recipes" / "accelerate" / "deepspeed-zero2-8gpu.yaml").read_text())
    assert launch["distributed_type"] == "DEEPSPEED" and launch["deepspeed_config"]["zero_stage"] == 2
    assert launch["num_processes"] == 8 and launch["mixed_precision"] == recipe.model.precision == "bf16"
    assert launch["deepspeed_config"]["gradient_accumulation_steps"] == recipe.train.grad_accum_steps
    assert recipe.train.batch_size * recipe.train.grad_accum_steps * launch["num_processes"] == 768
    assert recipe.train.gradient_checkpointing


def test_overrides_are_type_checked():
    recipe = load_recipe(REPO / "recipes" / "default-stage1.yaml", ["train.lr=3e-4", "model.architecture.plora.rank=4"])
    assert recipe.train.lr == 3e-4 and recipe.model.architecture.plora == PLoRAConfig(rank=4)
    with pytest.raises(Exception, match="batch_size"):
        load_recipe(REPO / "recipes" / "default-stage1.yaml", ["train.batch_size=many"])
    with pytest.raises(ValueError, match="section.key=value"):
        load_recipe(None, ["train.lr"])


@pytest.mark.parametrize("select_by", ["kl", "response_kl"])
def test_best_is_the_checkpoint_with_the_lowest_selected_validation_kl(select_by, tiny_setup, tmp_path):
    """train.select_by names the validation KL that keeps `best`: reloaded, `best` measures the lowest value of that
    KL over the run's validations; a name validation does not measure is refused before training."""
    from blsp_kd.eval.alignment import held_out_alignment

    output_dir = tmp_path / "run"
    trainer = run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
        tiny_setup, output_dir, **{"train.max_steps": 12, "train.eval_every": 2, "train.select_by": select_by})))
    logged = read_log(output_dir, "valid")
    assert len(logged) == 7  # step 0 and every 2 steps
    lowest = min(entry[select_by] for entry in logged.values())
    by_kl, by_response_kl = (min(logged, key=lambda step: logged[step][name]) for name in ("kl", "response_kl"))
    assert by_kl != by_response_kl  # on this run the two choices keep different checkpoints
    assert trainer.best_kl == lowest
    trainer.model.load_weights(output_dir / "best")
    measured = held_out_alignment(trainer.model, trainer.valid_records, 4, trainer.feature_cache)
    assert measured[select_by] == pytest.approx(lowest, rel=1e-5)
    with pytest.raises(ValueError, match="train.select_by 'loss'"):
        run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
            tiny_setup, tmp_path / "refused", **{"train.select_by": "loss"})))


def test_post_cif_decoder_layers_start_from_whispers_decoder_and_a_checkpoint_keeps_its_own(tiny_setup, tmp_path):
    """cformer.post_layers: whisper_decoder — a new model's post-CIF layers are Whisper's decoder layers; training
    moves them; the saved model loads back with its trained weights, not Whisper's."""
    from blsp_kd.models.blsp_kd import BlspKdModel
    from blsp_kd.models.pretrained import load_whisper_encoder

    settings = {"model.architecture.cformer.post_layers": "whisper_decoder", "train.max_steps": 2,
                **TINY_WHISPER_DECODER, "train.eval_every": 0}
    recipe = load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(tiny_setup, tmp_path / "run",
                                                                                    **settings))
    _, _, whisper_decoder = load_whisper_encoder(tiny_setup["whisper"], with_decoder=True)
    whisper_layer = whisper_decoder.layers[0]
    assert torch.equal(BlspKdModel.from_config(recipe.model).adapter.post_layers[0].linear1.weight,
                       whisper_layer.fc1.weight)
    trained = run_in_process(recipe).model.adapter.state_dict()
    assert not torch.equal(trained["post_layers.0.linear1.weight"], whisper_layer.fc1.weight)
    loaded = BlspKdModel.from_pretrained(tmp_path / "run" / "final").adapter.state_dict()
    assert loaded.keys() == trained.keys()
    for name, tensor in trained.items():
        assert torch.equal(loaded[name], tensor), name


def test_checkpoints_keep_their_training_transcripts_token_counts_and_a_continued_run_adds_its_own(tiny_setup,
                                                                                                    tmp_path):
    """The classifier's training prior (`readout_prior`): every checkpoint of a run holds how often each LLM token
    occurs in its training transcripts; a run started from a checkpoint adds its own transcripts to the checkpoint's
    counts (here the same data once more: twice the counts)."""
    from collections import Counter

    from blsp_kd.models.blsp_kd import read_token_counts

    first, second = tmp_path / "first", tmp_path / "second"
    settings = {"train.max_steps": 1, "train.save_every": 1, "train.eval_every": 0}
    trainer = run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml",
                                         tiny_overrides(tiny_setup, first, **settings)))
    tokenizer = trainer.model.tokenizer
    expected = Counter(token for record in trainer.train_records
                       for token in tokenizer(record.text.strip(), add_special_tokens=False).input_ids)
    counts = read_token_counts(first / "final")
    assert len(counts) == trainer.model.llm.get_input_embeddings().weight.shape[0]
    assert {token: count for token, count in enumerate(counts.tolist()) if count} == dict(expected)
    assert torch.equal(read_token_counts(first / "checkpoints" / "step-0000001"), counts)
    run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
        tiny_setup, second, **settings, **{"train.init_from": str(first / "final")})))
    assert torch.equal(read_token_counts(second / "final"), 2 * counts)


def test_a_new_model_with_whisper_decoder_layers_reads_the_whisper_checkpoint_once(tiny_setup, tmp_path, monkeypatch):
    """The encoder and the decoder that starts the post-CIF layers come from one read of the Whisper checkpoint."""
    from transformers import WhisperModel

    from blsp_kd.models.blsp_kd import BlspKdModel

    reads, read = [], WhisperModel.from_pretrained.__func__
    monkeypatch.setattr(WhisperModel, "from_pretrained",
                        classmethod(lambda cls, *args, **kwargs: reads.append(args) or read(cls, *args, **kwargs)))
    recipe = load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
        tiny_setup, tmp_path / "run", **{"model.architecture.cformer.post_layers": "whisper_decoder",
                                         **TINY_WHISPER_DECODER}))
    BlspKdModel.from_config(recipe.model)
    assert len(reads) == 1


def test_a_stage_2_recipe_that_does_not_build_the_checkpoints_architecture_is_refused_with_the_fix(tiny_setup, tmp_path,
                                                                                                   capsys):
    """train.init_from a stage 1 with Whisper-decoder post-CIF layers, into the stage-2 recipe (encoder post-CIF
    layers): a one-line error before the model is built, naming the overrides that make the recipe build stage 1's
    adapter; with them, stage 2 starts from stage 1's trained layers (at lr 0 it keeps them) and adds PLoRA."""
    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    decoder = {"model.architecture.cformer.post_layers": "whisper_decoder", **TINY_WHISPER_DECODER}
    first = run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
        tiny_setup, stage1, **decoder, **{"train.max_steps": 1, "train.eval_every": 0})))
    settings = tiny_overrides(tiny_setup, stage2, **{"train.init_from": str(stage1 / "final"), "train.max_steps": 1,
                                                     "train.eval_every": 0, "train.lr": 0.0})
    code = cli_in_process(["train", "--recipe", "default-stage2", *settings])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"error: train.init_from {stage1 / 'final'} was trained with another architecture")
    overrides = error.split("; add: ")[1].split()
    assert sorted(overrides) == sorted(f"{key}={value}" for key, value in decoder.items())
    assert not stage2.exists()  # refused before anything was written

    second = run_in_process(load_recipe(REPO / "recipes" / "default-stage2.yaml", settings + overrides))
    assert second.step == 1 and second.model.config.architecture.plora is not None
    trained = first.model.adapter.state_dict()
    started = second.model.adapter.state_dict()  # at lr 0: what stage 2 started from
    assert started.keys() == trained.keys() and "post_layers.0.multihead_attn.in_proj_weight" in started
    for name, tensor in trained.items():
        assert torch.equal(started[name], tensor), name


HOLD_LOCK = """
import sys, time
from pathlib import Path
from blsp_kd.train.checkpoint import lock_run_folder
lock = lock_run_folder(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(120)
"""


def test_with_the_adapter_frozen_a_stage_trains_plora_alone_and_keeps_the_classifiers_counts(tiny_setup, tmp_path):
    """`model.architecture.train_adapter: false` (reference-stage4-plora-readout, where the LLM reads a readout of
    the frozen adapter's vectors): stage 2 from a stage 1 leaves every adapter weight as it was and trains PLoRA; its
    checkpoints keep stage 1's token counts (the classifier's training prior; this stage does not train the
    classifier) and load with the adapter frozen."""
    from blsp_kd.models.blsp_kd import BlspKdModel, read_token_counts

    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
        tiny_setup, stage1, **{"train.max_steps": 2, "train.eval_every": 0})))
    frozen = {"train.init_from": str(stage1 / "final"), "train.max_steps": 3, "train.eval_every": 0,
              "model.architecture.train_adapter": False, "model.architecture.vocabulary_readout": 0.5,
              "model.architecture.decoder_readout": 2.0}
    second = run_in_process(load_recipe(REPO / "recipes" / "default-stage2.yaml",
                                        tiny_overrides(tiny_setup, stage2, **frozen)))
    started = BlspKdModel.from_pretrained(stage1 / "final").adapter.state_dict()
    trained = BlspKdModel.from_pretrained(stage2 / "final")
    assert trained.config.architecture.train_adapter is False and trained.readout_decoder is not None
    assert second.step == 3
    assert all(torch.equal(tensor, started[name]) for name, tensor in trained.adapter.state_dict().items())
    lora_b = [tensor for name, tensor in trained.llm.state_dict().items() if "lora_B" in name]
    assert lora_b and all(tensor.abs().sum() > 0 for tensor in lora_b)  # PLoRA starts with B = 0
    assert torch.equal(read_token_counts(stage2 / "final"), read_token_counts(stage1 / "final"))


def speech_side_stage(tiny_setup, stage1: Path, stage2: Path, **overrides):
    """Two steps of stage 1, then 16 of a speech-side stage from it (the KL terms off, lr 3e-3, the vocabulary and
    decoder readouts on) with `overrides` (its loss weights); the second stage's trainer."""
    run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
        tiny_setup, stage1, **{"train.max_steps": 2, "train.eval_every": 0})))
    speech_side = {"train.init_from": str(stage1 / "final"), "train.max_steps": 16, "train.eval_every": 0,
                   "train.lr": 3e-3, "model.architecture.vocabulary_readout": 0.5,
                   "model.architecture.decoder_readout": 2.0, "model.objective.loss_weights.input_kl": 0.0,
                   "model.objective.loss_weights.response_kl": 0.0}
    return run_in_process(load_recipe(REPO / "recipes" / "default-stage2.yaml",
                                      tiny_overrides(tiny_setup, stage2, **speech_side | overrides)))


def test_a_speech_side_stage_learns_to_name_the_transcript_tokens_through_the_decoder_readout(tiny_setup, tmp_path):
    """readout_ce (reference-stage3-readout-ce): without running the LLM, a stage trains the adapter so that the
    decoder readout's fused distribution names each transcript token: on the training clips the loss falls, and
    validation reports how many tokens the readout names (`readout_token_accuracy`). PLoRA is untouched."""
    from blsp_kd.models.blsp_kd import BlspKdModel

    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    trainer = speech_side_stage(tiny_setup, stage1, stage2, **{"train.eval_every": 16,
                                                               "model.objective.loss_weights.readout_ce": 1.0})
    assert not trainer.model.runs_llm
    losses = [record["readout_ce"] for record in read_log(stage2).values()]
    assert len(losses) == 16 and sum(losses[-4:]) < sum(losses[:4])
    assert 0 <= read_log(stage2, "valid")[16]["readout_token_accuracy"] <= 1
    started, trained = (BlspKdModel.from_pretrained(folder / "final") for folder in (stage1, stage2))
    assert any(not torch.equal(tensor, started.adapter.state_dict()[name])
               for name, tensor in trained.adapter.state_dict().items())
    lora_b = [tensor for name, tensor in trained.llm.state_dict().items() if "lora_B" in name]
    assert lora_b and all(tensor.abs().sum() == 0 for tensor in lora_b)  # PLoRA starts with B = 0 and got no step


def test_a_speech_side_stage_learns_from_whispers_decoder_reading_the_transcript(tiny_setup, tmp_path):
    """decoder_kd alone: without running the LLM, the classifier of the adapter's vectors moves towards Whisper's
    decoder's distribution (reading the true transcript) on the training clips; a recipe without a decoder readout
    is refused."""
    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    decoder_kd_alone = {"model.objective.loss_weights.cif": 0.0, "model.objective.loss_weights.decoder_kd": 1.0}
    trainer = speech_side_stage(tiny_setup, stage1, stage2, **decoder_kd_alone)
    assert not trainer.model.runs_llm
    losses = [record["decoder_kd"] for record in read_log(stage2).values()]
    assert len(losses) == 16 and sum(losses[-4:]) < sum(losses[:4])
    without_readout = tiny_overrides(tiny_setup, tmp_path / "refused", **decoder_kd_alone,
                                     **{"model.architecture.decoder_readout": "null"})
    with pytest.raises(ValueError, match="decoder_kd"):
        load_recipe(REPO / "recipes" / "default-stage2.yaml", without_readout)


@pytest.mark.parametrize("loss", ["readout_ce", "decoder_ce"])
def test_a_speech_side_stage_can_adapt_whispers_decoder_inside_the_readout_and_nothing_else(tiny_setup, tmp_path,
                                                                                             loss):
    """readout_lora with the adapter frozen: readout_ce (the fused distribution) or decoder_ce (the decoder alone on
    the guesses) trains LoRA on the readout's Whisper decoder alone (the loss falls on the training clips); the
    checkpoint holds those weights, `from_pretrained` reads through them, and the adapter and the decoder's own
    weights are the stage's start's. Neither loss nor the LoRA is accepted without a decoder readout."""
    from blsp_kd.models.blsp_kd import BlspKdModel
    from blsp_kd.models.pretrained import load_whisper_encoder

    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    lora = "{rank: 4, alpha: 8, dropout: 0.0, target_modules: [q_proj, v_proj, out_proj, fc1], scope: all}"
    trainer = speech_side_stage(tiny_setup, stage1, stage2, **{
        f"model.objective.loss_weights.{loss}": 1.0, "model.architecture.train_adapter": False,
        "model.architecture.readout_lora": lora})
    losses = [record[loss] for record in read_log(stage2).values()]
    assert len(losses) == 16 and sum(losses[-4:]) < sum(losses[:4])
    started, trained = (BlspKdModel.from_pretrained(folder / "final") for folder in (stage1, stage2))
    assert trained.config.architecture.readout_lora.rank == 4
    assert BlspKdModel.from_pretrained(stage2 / "final", decoder_readout=0).readout_decoder is None  # read without
    assert {name.split(".")[0] for name, parameter in trainer.model.named_parameters()
            if parameter.requires_grad} == {"readout_decoder"}
    decoder = trained.readout_decoder.state_dict()
    lora_b = [tensor for name, tensor in decoder.items() if "lora_B" in name]
    per_layer = 2 * 3 + 1  # q, v, out of self- and cross-attention, fc1
    assert len(lora_b) == per_layer * len(trained.readout_decoder.layers)
    assert all(tensor.abs().sum() > 0 for tensor in lora_b)
    whisper = load_whisper_encoder(tiny_setup["whisper"], torch.float32, with_decoder=True)[2].state_dict()
    base = {name.replace(".base.", "."): tensor for name, tensor in decoder.items() if "lora_" not in name}
    assert base.keys() == whisper.keys() and all(torch.equal(tensor, base[name]) for name, tensor in whisper.items())
    assert all(torch.equal(tensor, started.adapter.state_dict()[name])
               for name, tensor in trained.adapter.state_dict().items())
    refused = {"readout_lora": ("model.architecture.readout_lora", lora),
               loss: (f"model.objective.loss_weights.{loss}", 1.0)}
    for name, (key, value) in refused.items():  # default-stage2 has no decoder readout
        with pytest.raises(ValueError, match=name):
            load_recipe(REPO / "recipes" / "default-stage2.yaml",
                        tiny_overrides(tiny_setup, tmp_path / "refused", **{key: value}))


def test_a_second_training_process_into_the_same_folder_is_refused_until_the_first_one_dies(tiny_setup, tmp_path,
                                                                                            capsys):
    """Two runs into one output folder would interleave their log lines and checkpoints: while another process
    holds the folder, `blsp-kd train` into it is a one-line error naming the holder's pid, before anything is
    written; once that process is killed (-9), the folder is free again and training runs."""
    run = tmp_path / "run"
    run.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        arguments = ["train", "--recipe", "default-stage1", *tiny_overrides(
            tiny_setup, run, **{"train.max_steps": 1, "train.eval_every": 0})]
        assert cli_in_process(arguments) == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert error == (f"error: {run} is being trained by another process (pid {holder.pid}); wait for it or stop "
                         "it (a stopped run resumes from its last checkpoint)")
        assert sorted(path.name for path in run.iterdir()) == [".train-lock"]  # nothing else written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert cli_in_process(arguments) == 0
    assert read_log(run).keys() == {1} and (run / "final" / "model.safetensors").exists()


def test_a_run_that_fails_midway_frees_its_folder(tiny_setup, tmp_path, monkeypatch):
    """The lock is released when train() raises, not only when it returns: a caller in the same process that still
    holds the error (a notebook keeps the last traceback, and with it the trainer) can start the folder again."""
    from blsp_kd.train.loop import Trainer

    def disk_full(self):
        raise OSError("No space left on device")

    monkeypatch.setattr(Trainer, "save_checkpoint", disk_full)
    run = tmp_path / "run"
    recipe = load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
        tiny_setup, run, **{"train.max_steps": 1, "train.eval_every": 0}))
    with pytest.raises(OSError, match="No space left") as failure:
        run_in_process(recipe)
    assert failure.traceback  # the failed trainer stays referenced from here on
    lock_run_folder(run).close()  # would raise RunFolderBusy if the failed run still held it


def test_speech_side_training_builds_no_teacher_cache_and_lowers_token_ce(tiny_setup, tmp_path):
    output_dir, cache = tmp_path / "run", tmp_path / "cache"
    weights = {f"model.objective.loss_weights.{name}": value
               for name, value in {"input_kl": 0, "response_kl": 0, "token_ce": 1, "speech_rms": 3}.items()}
    trainer = run_in_process(load_recipe(REPO / "recipes" / "default-stage1.yaml", tiny_overrides(
        tiny_setup, output_dir, **weights, **{"data.cache_dir": str(cache), "train.lr": 3e-3})))
    assert trainer.teacher_cache is None and not (cache / "teacher").exists() and (cache / "features").is_dir()
    log = read_log(output_dir)
    assert set(log[1]) >= {"token_ce", "cif", "speech_rms"} and "input_kl" not in log[1]
    first, last = (sum(log[step]["token_ce"] for step in steps) for steps in (range(1, 6), range(36, 41)))
    assert last < 0.8 * first, (first, last)
    assert sorted(read_log(output_dir, "valid")) == [0, 20, 40]  # validation still measures the KL
    assert 0 < log[1]["seconds"] < log[20]["seconds"] < log[40]["seconds"]  # the loop's time, for the step rate
