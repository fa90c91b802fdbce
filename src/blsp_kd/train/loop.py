"""The training loop, read top to bottom: set up (model, data, caches, optimiser), then for each optimiser step get
`grad_accum_steps` micro-batches, forward, backward, clip, step, log, validate, checkpoint.

One process or many: `blsp-kd train` runs as is on one CPU/GPU; `torchrun --nproc-per-node N -m blsp_kd.cli train …`
(GPUs with NCCL, CPUs with gloo) or `accelerate launch -m blsp_kd.cli train …` (GPUs) runs DDP, each rank reading
its own slice of every epoch's permutation; the 7B recipe's accelerate config adds DeepSpeed ZeRO-2 (GPUs, or
DeepSpeed's CPU accelerator), with the same batches, accumulation, clipping and mixed precision as DDP. Resuming is
exact: a checkpoint holds the trainable weights, optimiser, scheduler, every RNG and the data position (epoch,
micro-batch).
"""

import json
import math
import os
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator, InitProcessGroupKwargs
from torch import Tensor
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm
from transformers import get_cosine_schedule_with_warmup

from blsp_kd.data.audio import check_records
from blsp_kd.data.dataset import speech_loader, text_example
from blsp_kd.data.features import FeatureCache
from blsp_kd.data.manifest import filter_by_text_tokens, mix_manifests, read_manifest, require_records
from blsp_kd.eval.alignment import KL_NAMES, cif_count_error, held_out_alignment
from blsp_kd.models.blsp_kd import BlspKdModel, read_config, read_token_counts
from blsp_kd.models.config import ArchitectureMismatch, architecture_overrides
from blsp_kd.models.decoder_readout import transcript_token_counts
from blsp_kd.models.encoder import min_clip_samples
from blsp_kd.models.plora import enable_gradient_checkpointing
from blsp_kd.models.pretrained import blsp_home, resolve_precision
from blsp_kd.models.teacher import TeacherCache
from blsp_kd.train.checkpoint import latest_checkpoint, lock_run_folder, prune_checkpoints, save_atomically
from blsp_kd.train.config import Recipe, save_recipe

TRAINING_STATE = "training_state.pt"
# model.precision, resolved, in accelerate's words: the autocast of the training step
ACCELERATE_MIXED_PRECISION = {torch.float32: "no", torch.bfloat16: "bf16", torch.float16: "fp16"}


# ------------------------------------------------------------------------------------------------------------ data


def parse_source(entry: str) -> tuple[str, float]:
    """'path' or 'path:weight' → (path, weight)."""
    path, separator, weight = entry.rpartition(":")
    try:
        return (path, float(weight)) if separator else (entry, 1.0)
    except ValueError:
        return entry, 1.0


def read_records(recipe: Recipe, tokenizer, log) -> tuple[list, list]:
    """Training and validation records; every record left out is reported with its reason."""
    train_records, problems = mix_manifests([parse_source(entry) for entry in recipe.data.train],
                                                   seed=recipe.train.seed)
    valid_records = []
    if recipe.data.valid:
        valid_records, valid_problems = read_manifest(recipe.data.valid)
        valid_records = valid_records[: recipe.data.max_valid_examples]
        problems += valid_problems
    if recipe.data.max_text_tokens:
        train_records, dropped = filter_by_text_tokens(train_records, tokenizer, recipe.data.max_text_tokens)
        valid_records, valid_dropped = filter_by_text_tokens(valid_records, tokenizer, recipe.data.max_text_tokens)
        problems += dropped + valid_dropped
    for problem in problems:
        log(f"skipped: {problem}")
    require_usable(recipe, train_records, valid_records, problems)
    return train_records, valid_records


def require_usable(recipe: Recipe, train_records: list, valid_records: list, problems: list) -> None:
    """A one-line error (NoUsableRecords) when the training manifests, or the validation manifest that the recipe
    names, left no record."""
    require_records(train_records, problems, f"data.train ({', '.join(recipe.data.train) or 'no manifest given'})")
    if recipe.data.valid:
        require_records(valid_records, problems, f"data.valid ({recipe.data.valid})")


GROUP_WINDOW = 50  # batches per window that group_by_length sorts (as in the transformers Trainer's megabatches)


def epoch_batches(num_examples: int, batch_size: int, epoch: int, seed: int, rank: int, world_size: int,
                  lengths: list[int] | None = None) -> list:
    """This rank's micro-batches (lists of indices) for an epoch: a seeded permutation, dealt round-robin to the
    ranks, the tail that does not fill a batch on every rank dropped (so all ranks take the same number of steps).

    With `lengths` (train.group_by_length), examples of similar length share a batch, so less of each batch is
    padding: the permutation is cut into windows of GROUP_WINDOW steps, each window is sorted by length (longest
    first) and cut into steps, and the steps are shuffled again. Still a seeded shuffle of every example, once per
    epoch; only which examples share a step changes. Example: lengths [9, 2, 8, 1], batch 2, one window →
    steps {9, 8} and {2, 1} in a random order, where a plain shuffle could pad {9, 1} and {8, 2} to 9 and 8."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(num_examples, generator=generator).tolist()
    step_size = batch_size * world_size
    order = order[: len(order) // step_size * step_size]
    if lengths is not None:
        window = GROUP_WINDOW * step_size
        steps = []
        for start in range(0, len(order), window):
            ranked = sorted(order[start : start + window], key=lambda index: -lengths[index])
            steps += [ranked[first : first + step_size] for first in range(0, len(ranked), step_size)]
        shuffled = torch.randperm(len(steps), generator=generator).tolist()
        order = [index for position in shuffled for index in steps[position]]
    mine = order[rank::world_size]
    return [mine[start : start + batch_size] for start in range(0, len(mine), batch_size)]


# ------------------------------------------------------------------------------------------------------- the run


class Trainer:
    def __init__(self, recipe: Recipe):
        self.recipe = recipe
        config = recipe.train
        architecture = recipe.model.architecture
        if config.init_from:  # before anything is written or built for a model the checkpoint would not fit
            overrides = architecture_overrides(read_config(config.init_from).architecture, architecture)
            if overrides:
                raise ArchitectureMismatch(f"train.init_from {config.init_from} was trained with another architecture "
                                           f"than the recipe's; add: {' '.join(overrides)}")
        self.output_dir = Path(config.output_dir)
        precision = resolve_precision(recipe.model.precision)
        # cpu=True on a machine without CUDA lets torchrun / accelerate launch start gloo DDP across CPU processes.
        # DeepSpeed (`accelerate launch` with a DeepSpeed config) wants cpu=False, and there gloo named: it then runs
        # on DeepSpeed's CPU accelerator. The scheduler steps once per optimiser step (accelerate's default: once per
        # process).
        self.deepspeed = deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
        cuda = torch.cuda.is_available()
        gloo = [InitProcessGroupKwargs(backend="gloo")] if deepspeed and not cuda else None
        # Under DeepSpeed with bf16 the loop autocasts itself and the engine runs in fp32, so that the trainable
        # weights and their gradients stay fp32 as under DDP (DeepSpeed's own bf16 trains them in bf16:
        # docs/RESULTS.md, "DeepSpeed ZeRO-2 against DDP"); fp16 stays DeepSpeed's own (its loss scaling).
        self.own_autocast = deepspeed and precision == torch.bfloat16
        mixed_precision = "no" if self.own_autocast else ACCELERATE_MIXED_PRECISION[precision]
        self.accelerator = Accelerator(mixed_precision=mixed_precision,
                                       cpu=not (cuda or deepspeed), step_scheduler_with_optimizer=False,
                                       gradient_accumulation_steps=config.grad_accum_steps, kwargs_handlers=gloo)
        self.is_main = self.accelerator.is_main_process
        if self.accelerator.num_processes > 1:
            engine = (f"DeepSpeed ZeRO-{self.accelerator.state.deepspeed_plugin.zero_stage}" if deepspeed else "DDP")
            self.log(f"{engine} over {self.accelerator.num_processes} processes on {self.accelerator.device.type}")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.lock = lock_run_folder(self.output_dir) if self.is_main else None  # released when train() returns or raises
        self.log_file = self.output_dir / "log.jsonl"
        self.tensorboard = SummaryWriter(self.output_dir / "tensorboard") if self.is_main else None
        set_seed(config.seed)
        self.log(f"building the model ({architecture.whisper} → {architecture.adapter} → {architecture.llm})")
        model = BlspKdModel.from_config(recipe.model, dtype=torch.float32)  # fp32 for what trains; frozen: below
        if config.init_from:
            new = model.load_weights(config.init_from, partial=True)
            self.log(f"initialised from {config.init_from}; {len(new)} tensors new in this model keep their init")
        if not model.runs_llm:  # speech-side losses only: PLoRA gets no gradient; keep it out of DDP and AdamW
            model.llm.requires_grad_(False)
        if config.gradient_checkpointing:
            enable_gradient_checkpointing(model.llm)
        if precision != torch.float32:  # before the caches: they hold what the base models compute in it
            cast = model.store_frozen_weights(precision)
            name = ACCELERATE_MIXED_PRECISION[precision]
            self.log(f"{name} mixed precision: {cast / 1e6:.1f} M frozen weights stored in {name}, trainable ones in "
                     "fp32")
        model.to(self.accelerator.device)
        self.model = model
        self.setup_data()
        # the classifier's training prior, saved with every checkpoint (`readout_prior` reads it at inference):
        # this run's transcripts when it trains the adapter (the classifier), plus those of the runs it continues
        classifier_records = self.train_records if architecture.train_adapter else []
        model.token_counts = transcript_token_counts((model.prompts.transcript_ids(record.text)
                                                      for record in classifier_records),
                                                     model.llm.get_input_embeddings().weight.shape[0])
        if config.init_from and (earlier := read_token_counts(config.init_from)) is not None:
            model.token_counts += earlier
        parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
        self.log(f"trainable parameters: {sum(p.numel() for p in parameters) / 1e6:.2f} M "
                 f"(of {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M)")
        # A pretrained encoder that trains wants a gentler lr than the freshly trained adapter: its own group.
        encoder_parameters = {id(parameter) for parameter in model.encoder.parameters()}
        groups = [{"params": [p for p in parameters if id(p) not in encoder_parameters], "lr": config.lr},
                  {"params": [p for p in parameters if id(p) in encoder_parameters],
                   "lr": config.lr if config.encoder_lr is None else config.encoder_lr}]
        optimizer = torch.optim.AdamW([group for group in groups if group["params"]], weight_decay=config.weight_decay,
                                      betas=tuple(config.adam_betas))
        steps_per_epoch = len(self.batches_for_epoch(0)) // config.grad_accum_steps
        if steps_per_epoch == 0:
            raise ValueError(f"{len(self.train_records)} training examples are fewer than one optimiser step "
                             f"({config.batch_size} × {config.grad_accum_steps} × {self.accelerator.num_processes})")
        self.total_steps = config.max_steps or math.ceil(steps_per_epoch * config.epochs)
        self.steps_per_epoch = steps_per_epoch
        scheduler = get_cosine_schedule_with_warmup(optimizer, min(config.warmup_steps, self.total_steps),
                                                    self.total_steps)
        if deepspeed:  # its engine batches, accumulates and clips: as the recipe says, or a one-line error
            settings = self.accelerator.state.deepspeed_plugin.deepspeed_config
            settings["train_micro_batch_size_per_gpu"] = config.batch_size
            for key, value in (("gradient_accumulation_steps", config.grad_accum_steps),
                               ("gradient_clipping", config.clip_grad_norm)):
                if settings.get(key, "auto") not in ("auto", value):
                    raise ValueError(f"the DeepSpeed config's {key} is {settings[key]}, the recipe's {value}: make "
                                     "them one")
                settings[key] = value
        self.ddp_model, self.optimizer, self.scheduler = self.accelerator.prepare(model, optimizer, scheduler)
        self.step, self.epoch, self.micro_batch = 0, 0, 0
        if config.select_by not in KL_NAMES:
            raise ValueError(f"train.select_by {config.select_by!r}: choose from {list(KL_NAMES)}")
        self.best_kl = math.inf  # the lowest validation `select_by` so far
        self.trained_seconds = 0.0  # the training loop's time over this run and the runs it resumes
        if self.is_main:
            save_recipe(recipe, self.output_dir / "recipe.yaml")

    def autocast(self):
        """The forward's autocast in training and validation: accelerate's (model.precision), or the loop's own bf16
        under DeepSpeed."""
        if self.own_autocast:
            return torch.autocast(self.accelerator.device.type, dtype=torch.bfloat16)
        return self.accelerator.autocast()

    def log(self, message: str) -> None:
        if self.is_main:
            tqdm.write(message)

    def setup_data(self) -> None:
        recipe, model = self.recipe, self.model
        train_records, valid_records = read_records(recipe, model.tokenizer, self.log)
        cache_dir = Path(recipe.data.cache_dir) if recipe.data.cache_dir else blsp_home() / "cache"
        feature_cache = teacher_cache = None
        with self.accelerator.main_process_first():  # rank 0 fills the caches, the others then read them
            if recipe.data.feature_cache:
                feature_cache = FeatureCache(cache_dir / "features", model)
                train_records, problems = feature_cache.build(train_records, max_seconds=recipe.data.max_audio_seconds,
                                                              progress=recipe.train.progress and self.is_main)
                valid_records, valid_problems = feature_cache.build(valid_records,
                                                                    max_seconds=recipe.data.max_audio_seconds,
                                                                    progress=recipe.train.progress and self.is_main)
            else:  # audio is read batch by batch: check every clip now, so a bad one is skipped, not fatal later
                min_samples = min_clip_samples(model.feature_extractor)
                train_records, problems = check_records(train_records, recipe.data.max_audio_seconds, min_samples)
                valid_records, valid_problems = check_records(valid_records, recipe.data.max_audio_seconds,
                                                              min_samples)
            for problem in problems + valid_problems:
                self.log(f"skipped: {problem}")
            if recipe.data.teacher_cache != "none" and model.runs_llm:
                teacher_cache = TeacherCache(cache_dir / "teacher", model, recipe.data.teacher_cache,
                                             recipe.data.teacher_cache_topk, model.config.objective.temperature)
                teacher_cache.build([text_example(record, recipe.data.default_instruction)
                                     for record in train_records], progress=recipe.train.progress and self.is_main)
        require_usable(recipe, train_records, valid_records, problems + valid_problems)  # on every rank
        self.train_records, self.valid_records = train_records, valid_records
        self.feature_cache, self.teacher_cache = feature_cache, teacher_cache
        # LLM tokens per example (transcript + response), which set most of a step's cost
        self.train_lengths = ([len(model.tokenizer(record.text).input_ids) + len(record.response_ids or ())
                               for record in train_records] if recipe.train.group_by_length else None)
        self.log(f"data: {len(train_records)} training and {len(valid_records)} validation examples")

    def batches_for_epoch(self, epoch: int) -> list:
        config = self.recipe.train
        return epoch_batches(len(self.train_records), config.batch_size, epoch, config.seed,
                             self.accelerator.process_index, self.accelerator.num_processes, self.train_lengths)

    def loader(self, batches: list[list[int]]) -> torch.utils.data.DataLoader:
        # Its own generator: creating a DataLoader iterator draws a worker seed, which must not come from the
        # global RNG (that would shift the dropout masks of a resumed run against the uninterrupted one).
        data = self.recipe.data
        return speech_loader(self.model, self.train_records, batches, self.feature_cache, self.teacher_cache,
                             data.default_instruction, data.max_audio_seconds, data.max_text_tokens,
                             data.num_workers, generator=torch.Generator().manual_seed(self.recipe.train.seed))

    def micro_batches(self):
        """Endless stream of (epoch, index in epoch, batch) from the saved data position on."""
        while True:
            batches = self.batches_for_epoch(self.epoch)
            usable = len(batches) // self.recipe.train.grad_accum_steps * self.recipe.train.grad_accum_steps
            start = self.micro_batch
            for offset, batch in enumerate(self.loader(batches[start:usable])):
                yield start + offset, batch
            self.epoch, self.micro_batch = self.epoch + 1, 0

    # ------------------------------------------------------------------------------------------------ training

    def train(self) -> dict:
        try:
            return self.train_until_done()
        finally:
            if self.lock is not None:
                self.lock.close()

    def train_until_done(self) -> dict:
        config = self.recipe.train
        self.resume()
        accumulated = config.grad_accum_steps
        stream = self.micro_batches()
        started = clock = time.perf_counter()
        budget = None if config.max_minutes is None else 60 * config.max_minutes
        bar = tqdm(total=self.total_steps, initial=self.step, desc="training", unit="step",
                   disable=not (config.progress and self.is_main))
        self.log(f"training for {self.total_steps} optimiser steps ({self.steps_per_epoch} per epoch)")
        if budget is not None and self.trained_seconds >= budget and self.step < self.total_steps:
            self.log(f"not training: train.max_minutes={config.max_minutes} already spent "
                     f"({self.trained_seconds / 60:.1f} min up to step {self.step}); raise it to go on")
        if self.step == 0 and self.valid_records:
            self.validate()
        while self.step < self.total_steps and (budget is None or self.trained_seconds < budget):
            self.ddp_model.train()
            step_metrics = []
            for _ in range(accumulated):
                index, batch = next(stream)
                batch = batch.to(self.accelerator.device)
                # accelerate's accumulation: no gradient sync but on the step's last micro-batch, the loss divided by
                # `grad_accum_steps` (DeepSpeed's engine divides and steps itself)
                with self.accelerator.accumulate(self.ddp_model):
                    with self.autocast():
                        output = self.ddp_model(batch.text, batch.speech, teacher=batch.teacher)
                    self.accelerator.backward(output.loss)
                step_metrics.append(micro_batch_metrics(output, batch.text.num_tokens))
                self.micro_batch = index + 1
            grad_norm = self.accelerator.clip_grad_norm_(self.model.parameters(), config.clip_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.step += 1
            bar.update(1)
            now = time.perf_counter()
            self.trained_seconds, clock = self.trained_seconds + now - clock, now
            if self.step % config.log_every == 0 or self.step == 1:
                metrics = self.reduce_metrics(step_metrics)
                lrs = self.scheduler.get_last_lr()  # [adapter (+ PLoRA)] or [adapter (+ PLoRA), encoder]
                metrics |= {"lr": lrs[0]} | ({"encoder_lr": lrs[1]} if len(lrs) > 1 else {})
                # seconds: the training loop's time so far (validation included), so a log gives the step rate
                metrics |= {"grad_norm": float(grad_norm), "epoch": self.epoch, "seconds": self.trained_seconds}
                bar.set_postfix(loss=f"{metrics['total']:.3f}")
                self.write_log("train", metrics)
            out_of_time = budget is not None and self.any_rank(self.trained_seconds >= budget)
            finished = self.step >= self.total_steps or out_of_time
            if self.valid_records and ((config.eval_every and self.step % config.eval_every == 0) or finished):
                self.validate()
            if self.step % config.save_every == 0 or finished:
                self.save_checkpoint()
            if out_of_time:
                self.log(f"stopping at step {self.step}: train.max_minutes={config.max_minutes} reached (over this "
                         "run and the runs it resumed)")
                break
        bar.close()
        if self.is_main:
            self.model.save_pretrained(self.output_dir / "final")
        self.accelerator.wait_for_everyone()
        return {"steps": self.step, "seconds": time.perf_counter() - started, "best_kl": self.best_kl}

    def any_rank(self, flag: bool) -> bool:
        """Whether `flag` holds on any rank: every rank then takes the same branch (each measures its own time)."""
        if self.accelerator.num_processes == 1:
            return flag
        return self.accelerator.reduce(torch.tensor([float(flag)], device=self.accelerator.device), "sum").item() > 0

    def reduce_metrics(self, step_metrics: list[dict[str, Tensor]]) -> dict[str, float]:
        """The step's metrics: each the mean over its micro-batches and over the ranks, in one collective (the
        only host sync of a logged step's metrics)."""
        names = list(step_metrics[0])
        means = torch.stack([torch.stack([metrics[name] for metrics in step_metrics]).double().mean().float()
                             for name in names])
        return dict(zip(names, self.accelerator.reduce(means, "mean").tolist(), strict=True))

    def validate(self) -> dict:
        """Held-out KD KL (τ = 1, true n) and CIF count error on the main process; keeps the checkpoint with the
        lowest `train.select_by` as `best`."""
        metrics = {}
        if self.is_main:
            data = self.recipe.data
            with self.autocast():
                metrics = held_out_alignment(self.model, self.valid_records, self.recipe.train.batch_size,
                                             self.feature_cache, data.default_instruction, data.max_audio_seconds,
                                             data.max_text_tokens, progress=self.recipe.train.progress)
            self.write_log("valid", metrics)
            select_by = self.recipe.train.select_by
            if select_by not in metrics:  # the conv adapter has no transcript positions
                raise ValueError(f"train.select_by {select_by!r}: validation measures only "
                                 f"{[name for name in KL_NAMES if name in metrics]} for this model")
            if metrics[select_by] < self.best_kl:
                self.best_kl = metrics[select_by]
                save_atomically(self.output_dir / "best", self.model.save_pretrained)
        self.accelerator.wait_for_everyone()
        return metrics

    def write_log(self, split: str, metrics: dict, show: bool = True) -> None:
        """Append to log.jsonl and tensorboard; `show` also prints the line (the console gets what a user reads)."""
        if not self.is_main:
            return
        record = {"split": split, "step": self.step, **metrics}
        with self.log_file.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        for name, value in metrics.items():
            if isinstance(value, int | float):
                self.tensorboard.add_scalar(f"{split}/{name}", value, self.step)
        self.tensorboard.flush()
        shown = ", ".join(f"{name} {value:.4g}" for name, value in metrics.items()
                          if isinstance(value, float) and name not in ("epoch",))
        if show:
            self.log(f"[{split} step {self.step}] {shown}")

    # --------------------------------------------------------------------------------------------- checkpoints

    def save_checkpoint(self) -> None:
        """checkpoints/step-N: trainable weights + config, optimiser, scheduler, RNGs, data position. Written into
        a temporary folder and renamed, so a kill during the save never touches the previous checkpoint."""
        self.check_ranks_in_sync()
        # each rank's own: its RNGs and, under DeepSpeed ZeRO, its partition of the optimiser state (under DDP every
        # rank holds the whole, saved once)
        rank_state = {"rng": rng_state()} | ({"optimizer": self.optimizer.state_dict()} if self.deepspeed else {})
        directory = self.output_dir / "checkpoints" / f"step-{self.step:07d}"
        if self.is_main:
            def write(tmp_dir: Path) -> None:
                self.model.save_pretrained(tmp_dir)
                torch.save({"optimizer": None if self.deepspeed else self.optimizer.state_dict(),
                            "scheduler": self.scheduler.state_dict(),
                            "step": self.step, "epoch": self.epoch, "micro_batch": self.micro_batch,
                            "best_kl": self.best_kl, "trained_seconds": self.trained_seconds,
                            "recipe": asdict(self.recipe)}, tmp_dir / TRAINING_STATE)
                torch.save(rank_state, rank_state_file(tmp_dir, 0))

            save_atomically(directory, write)
            prune_checkpoints(self.output_dir / "checkpoints", self.recipe.train.keep_last)
        self.accelerator.wait_for_everyone()
        if not self.is_main:  # the other ranks add their own state into the finished folder
            torch.save(rank_state, rank_state_file(directory, self.accelerator.process_index))
        self.accelerator.wait_for_everyone()

    def check_ranks_in_sync(self) -> None:
        """Every rank must hold the same trainable weights (DDP averages gradients); fail loudly if not."""
        checksum = torch.stack([parameter.detach().double().sum() for parameter in self.model.parameters()
                                if parameter.requires_grad]).sum()
        gathered = self.accelerator.gather(checksum.reshape(1).to(self.accelerator.device))
        spread = (gathered.max() - gathered.min()).item()
        if spread > 1e-9 * max(1.0, gathered.abs().max().item()):
            raise RuntimeError(f"ranks diverged at step {self.step}: weight checksums {gathered.tolist()}")
        self.write_log("sync", {"ranks": self.accelerator.num_processes, "weight_checksum": checksum.item()},
                       show=False)

    def resume(self) -> None:
        directory = latest_checkpoint(self.output_dir / "checkpoints")
        if directory is None:
            return
        state = torch.load(directory / TRAINING_STATE, weights_only=False)
        rank = self.accelerator.process_index
        own = torch.load(rank_state_file(directory, rank), weights_only=False)  # its RNGs (and ZeRO partition)
        self.model.load_weights(directory)
        if self.deepspeed:  # ZeRO reads its own partition from the list of every rank's, master weights included
            partitions = [own["optimizer"] if other == rank else
                          torch.load(rank_state_file(directory, other), weights_only=False)["optimizer"]
                          for other in range(self.accelerator.num_processes)]
            self.optimizer.optimizer.load_state_dict(partitions, load_from_fp32_weights=True)
        else:
            self.optimizer.load_state_dict(state["optimizer"])
            # a checkpoint from before a parameter changed shape (the CFormer's alpha_bias: 0-dim → [1]) holds that
            # parameter's moments in the old shape: the same numbers, reshaped
            for parameter, moments in self.optimizer.state.items():
                for name, value in moments.items():
                    if name != "step" and torch.is_tensor(value) and value.shape != parameter.shape:
                        moments[name] = value.reshape(parameter.shape)
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.epoch, self.micro_batch = state["step"], state["epoch"], state["micro_batch"]
        self.best_kl = state["best_kl"]
        self.trained_seconds = state.get("trained_seconds", 0.0)  # checkpoints older than the field: from 0
        set_rng_state(own["rng"])
        self.log(f"resumed from {directory} (step {self.step}, epoch {self.epoch}, micro-batch {self.micro_batch}, "
                 f"{self.trained_seconds / 60:.1f} min trained)")


# ------------------------------------------------------------------------------------------------------- helpers


def rank_state_file(checkpoint: Path, rank: int) -> Path:
    """A rank's own part of a checkpoint: its RNG states and, under DeepSpeed ZeRO, its optimiser partition."""
    return checkpoint / f"rng-rank{rank}.pt"


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def micro_batch_metrics(output, num_tokens: Tensor) -> dict[str, Tensor]:
    """Every loss component, the total and (CFormer) the CIF count error of one micro-batch, as detached 0-d
    tensors: nothing waits for the device until a logged step reduces them."""
    metrics = {name: loss.detach() for name, loss in output.losses.items()} | {"total": output.loss.detach()}
    if output.speech.alpha_sum is not None:
        metrics["cif_count_error"] = cif_count_error(output.speech.alpha_sum, num_tokens)
    return metrics


def run(recipe: Recipe) -> dict:
    trainer = Trainer(recipe)
    result = trainer.train()
    trainer.log(f"done: {result['steps']} steps in {result['seconds']:.0f} s; outputs in {trainer.output_dir}")
    return result

