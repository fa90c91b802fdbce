"""Stage-1 training time on the embedded default (batch 8), with every optimisation on against the same code with
them off, and what each optimisation is worth (goal ≥ 2.5× for 3 epochs over 2,000 utterances, caches included).

The optimisations and what "off" means here:
    feature_cache        Whisper encodes every clip once before training   | off: the encoder runs in every step
    real_length_encoder  the encoder runs on each clip's real length        | off: stock WhisperEncoder on the
                                                                              feature extractor's 30 s padding, cut
                                                                              to the real frames for the adapter
    teacher_cache        the teacher (as the recipe caches it: its last     | off: teacher recomputed every step
                         hidden states at the used positions) runs once     |
    used_logits          LM head only at the positions a loss reads         | off: the whole sequence through the LLM
                                                                              with its LM head, the used logits
                                                                              gathered afterwards (the stock path)
    prompt_prefix_cache  the prompt columns before the speech run once      | off: the whole sequence runs with
                         without autograd (`cache_prompt_prefix`)          |      autograd
    vector_cif           `cif` as one batched matmul                        | off: the per-frame Python loop
    bf16                 frozen base models stored in bf16, bf16 autocast   | off: fp32 throughout
                         (`model.precision=auto` on a CPU with native       |
                         bf16 matmuls: AVX-512-BF16 or AMX; its caches too) |
A full 3-epoch run is ~750 steps, far too long to repeat per configuration on this CPU, so the script measures
unit costs (the caches for N clips, the median step of each configuration over the same batches, configurations
interleaved step by step so that load from other jobs hits them alike) and extrapolates the 1- and 3-epoch totals.

    .venv/bin/python benchmarks/bench_stage1.py [--quick]
"""

import shutil
import statistics
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, fields, replace
from pathlib import Path
from unittest import mock

import torch
from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).parent))
from common import loop_cif, machine, parse_args, print_table, synth_records, text_examples  # noqa: E402

from blsp_kd.data.audio import load_record_audio  # noqa: E402
from blsp_kd.data.features import FeatureCache  # noqa: E402
from blsp_kd.layout.batch import SpeechInput, collate_text, pad_hidden  # noqa: E402
from blsp_kd.models import adapters  # noqa: E402
from blsp_kd.models.blsp_kd import BlspKdModel, place_speech  # noqa: E402
from blsp_kd.models.plora import adapters_disabled  # noqa: E402
from blsp_kd.models.pretrained import llm_checkpoint, native_bf16  # noqa: E402
from blsp_kd.models.teacher import TeacherCache  # noqa: E402
from blsp_kd.train.config import load_recipe  # noqa: E402

RECIPE = Path(__file__).parent.parent / "recipes" / "default-stage1.yaml"
CACHE_DIR = Path("/tmp/blsp-kd-bench/stage1-cache")
CORPUS_UTTERANCES, EPOCHS = 2000, (1, 3)


@dataclass(frozen=True)
class Flags:
    feature_cache: bool = True
    real_length_encoder: bool = True
    teacher_cache: bool = True
    used_logits: bool = True
    prompt_prefix_cache: bool = True
    vector_cif: bool = True
    bf16: bool = True


OPTIMISED = Flags(bf16=native_bf16())  # as the recipe's precision "auto" decides on this machine
BASELINE = Flags(**{field.name: False for field in fields(Flags)})


def configurations() -> dict[str, Flags]:
    """All on, all off, and each optimisation off alone (the encoder's length matters only without the cache)."""
    configs = {"all on": OPTIMISED}
    configs |= {f"{field.name} off": replace(OPTIMISED, **{field.name: False}) for field in fields(Flags)
                if field.name != "real_length_encoder" and getattr(OPTIMISED, field.name)}
    configs["feature_cache + real_length_encoder off"] = replace(OPTIMISED, feature_cache=False,
                                                                 real_length_encoder=False)
    configs["all off (baseline)"] = BASELINE
    return configs


# ------------------------------------------------------------------------------------- the "off" implementations


def stock_encoder_outputs(model: BlspKdModel, audios: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Stock Whisper: 30 s-padded log-mel → WhisperEncoder over all 1,500 frames, then cut to the real frames."""
    features = model.feature_extractor(audios, sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        hidden = model.encoder.encoder(features.to(model.dtype)).last_hidden_state
    frame_lengths = model.encoder.frames_for(torch.tensor([len(audio) // 160 for audio in audios]))
    frame_mask = torch.arange(int(frame_lengths.max())) < frame_lengths[:, None]
    return hidden[:, : frame_mask.shape[1]] * frame_mask[..., None], frame_mask


def full_vocab_teacher_logits(model: BlspKdModel):
    @torch.no_grad()
    def teacher_logits(batch, used):
        with adapters_disabled():
            embeds = model.llm.get_input_embeddings()(batch.input_ids)
            return model.llm(inputs_embeds=embeds, attention_mask=batch.attention_mask,
                             position_ids=batch.position_ids, use_cache=False).logits[used]
    return teacher_logits


def full_vocab_student_logits(model: BlspKdModel):
    def student_logits(batch, speech, used):
        embeds = place_speech(model.llm.get_input_embeddings()(batch.input_ids), batch.speech_mask, speech)
        with model.plora_scope(batch.speech_mask):
            return model.llm(inputs_embeds=embeds, attention_mask=batch.attention_mask,
                             position_ids=batch.position_ids, use_cache=False).logits[used]
    return student_logits


def patched(model: BlspKdModel, flags: Flags) -> ExitStack:
    """Swap in the "off" version of the in-model optimisations for the duration of a step."""
    stack = ExitStack()
    if not flags.vector_cif:
        stack.enter_context(mock.patch.object(adapters, "cif", loop_cif))
    if not flags.prompt_prefix_cache:
        stack.enter_context(mock.patch.object(model.config, "cache_prompt_prefix", False))
    if not flags.used_logits:
        stack.enter_context(mock.patch.object(model, "teacher_logits", full_vocab_teacher_logits(model)))
        stack.enter_context(mock.patch.object(model, "student_logits", full_vocab_student_logits(model)))
    return stack


# ------------------------------------------------------------------------------------------------- a step


@dataclass
class Setup:
    """A model in one precision with its optimiser and its caches (bf16 base models compute other caches), and
    what building those caches cost."""

    model: BlspKdModel
    optimizer: torch.optim.Optimizer
    feature_cache: FeatureCache
    teacher_cache: TeacherCache
    feature_cache_seconds: float
    teacher_cache_seconds: float

    @classmethod
    def build(cls, recipe, records: list, bf16: bool) -> "Setup":
        model = stage1_model(recipe, bf16)
        directory = CACHE_DIR / ("bf16" if bf16 else "fp32")
        shutil.rmtree(directory, ignore_errors=True)
        start = time.perf_counter()
        feature_cache = FeatureCache(directory / "features", model)
        feature_cache.build(records, progress=False)
        feature_cache_seconds = time.perf_counter() - start
        start = time.perf_counter()
        teacher_cache = TeacherCache(directory / "teacher", model, recipe.data.teacher_cache,
                                     recipe.data.teacher_cache_topk, model.config.objective.temperature)
        teacher_cache.build(text_examples(records), progress=False)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.train.lr)
        return cls(model, optimizer, feature_cache, teacher_cache, feature_cache_seconds,
                   time.perf_counter() - start)


def stage1_model(recipe, bf16: bool) -> BlspKdModel:
    """The recipe's model in training mode, loaded in fp32 as the trainer loads it; with bf16, its frozen weights
    stored in bf16 as the trainer does under precision bf16."""
    model = BlspKdModel.from_config(recipe.model, dtype=torch.float32)
    if bf16:
        model.store_frozen_weights(torch.bfloat16)
    return model.train()


def load_batch(setup: Setup, records: list, flags: Flags, max_text_tokens: int):
    """What the dataset + collator hand the training loop: text batch, encoder output, cached teacher or None."""
    model = setup.model
    examples = text_examples(records)
    text = collate_text(examples, model.prompts, max_text_tokens)
    teacher = None
    if flags.teacher_cache:
        cached = [setup.teacher_cache.load(example) for example in examples]
        teacher = type(cached[0]).concat(cached)
    if flags.feature_cache:
        hidden, frame_mask = pad_hidden([setup.feature_cache.load(record) for record in records])
    else:
        audios = [load_record_audio(record).samples for record in records]
        if flags.real_length_encoder:
            hidden, frame_mask = model.encode(*model.features(audios))
        else:
            hidden, frame_mask = stock_encoder_outputs(model, audios)
    return text, hidden, frame_mask, teacher


def train_step(setup: Setup, records, flags, max_text_tokens) -> float:
    """One optimiser step as `Trainer.train` does it (data loading included). Returns the loss."""
    model = setup.model
    text, hidden, frame_mask, teacher = load_batch(setup, records, flags, max_text_tokens)
    with patched(model, flags), torch.autocast("cpu", dtype=torch.bfloat16, enabled=flags.bf16):
        output = model(text, SpeechInput(hidden, frame_mask), teacher=teacher)
    output.loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    setup.optimizer.step()
    setup.optimizer.zero_grad(set_to_none=True)
    return output.loss.item()


# ------------------------------------------------------------------------------------------------------- main


def recipe_and_records(num_clips: int) -> tuple:
    """The stage-1 recipe and `num_clips` synthetic training clips; prints the machine line first."""
    recipe = load_recipe(RECIPE)
    print(f"machine: {machine()}; native bf16 matmuls: {native_bf16()}")
    return recipe, synth_records(num_clips, AutoTokenizer.from_pretrained(llm_checkpoint(recipe.model.architecture.llm)))


def main():
    args = parse_args(__doc__.splitlines()[0])
    num_clips, steps = (16, 1) if args.quick else (64, 5)
    recipe, records = recipe_and_records(num_clips)
    batch_size, max_text_tokens = recipe.train.batch_size, recipe.data.max_text_tokens
    seconds = [load_record_audio(record).samples.shape[0] / 16000 for record in records]
    setups = {bf16: Setup.build(recipe, records, bf16) for bf16 in sorted({False, OPTIMISED.bf16})}
    optimised_setup = setups[OPTIMISED.bf16]
    feature_cache_seconds = optimised_setup.feature_cache_seconds
    teacher_cache_seconds = optimised_setup.teacher_cache_seconds

    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(num_clips, generator=generator).tolist()
    batches = [[records[i] for i in order[start : start + batch_size]]
               for start in range(0, num_clips - batch_size + 1, batch_size)]
    configs = configurations()
    timings = {name: [] for name in configs}
    for step in range(steps + 1):  # step 0 warms every configuration up and is not counted
        batch = batches[step % len(batches)]
        for name, flags in configs.items():
            start = time.perf_counter()
            train_step(setups[flags.bf16], batch, flags, max_text_tokens)
            if step > 0:
                timings[name].append(time.perf_counter() - start)
    step_seconds = {name: statistics.median(values) for name, values in timings.items()}

    print(f"{num_clips} synthetic clips ({statistics.mean(seconds):.1f} s mean, {min(seconds):.1f}–"
          f"{max(seconds):.1f} s), batch {batch_size}; median of {steps} steps per configuration, "
          "configurations interleaved step by step after one warm-up step each\n")
    cache_rows = []
    for bf16, setup in setups.items():
        precision = "bf16" if bf16 else "fp32"
        for name, value in (("feature", setup.feature_cache_seconds), ("teacher", setup.teacher_cache_seconds)):
            cache_rows.append([f"{name} cache ({precision}), {num_clips} clips (per clip)",
                               f"{value:.1f} ({value / num_clips:.3f})"])
    print_table(["unit cost", "seconds"], [
        *cache_rows,
        *[[f"step, {name}", f"{seconds:.2f} (runs: {' '.join(f'{t:.2f}' for t in timings[name])})"]
          for name, seconds in step_seconds.items()],
    ])

    steps_per_epoch = CORPUS_UTTERANCES // batch_size
    cache_per_clip = (feature_cache_seconds + teacher_cache_seconds) / num_clips
    baseline, optimised = step_seconds["all off (baseline)"], step_seconds["all on"]
    print(f"\nextrapolated to {CORPUS_UTTERANCES} utterances ({steps_per_epoch} steps per epoch) from the unit costs:\n")
    rows = []
    for epochs in EPOCHS:
        baseline_total = steps_per_epoch * epochs * baseline
        optimised_total = cache_per_clip * CORPUS_UTTERANCES + steps_per_epoch * epochs * optimised
        rows.append([epochs, f"{baseline_total / 60:.1f}", f"{optimised_total / 60:.1f}",
                     f"{baseline_total / optimised_total:.2f}×"])
    print_table(["epochs", "all off, min", "all on incl. caches, min", "speed-up"], rows)

    print("\nwhat each optimisation saves over 3 epochs (its step time off alone − all on, × steps; minus its "
          "cache build):\n")
    total_steps = steps_per_epoch * max(EPOCHS)
    cache_costs = {"feature_cache off": feature_cache_seconds / num_clips * CORPUS_UTTERANCES,
                   "teacher_cache off": teacher_cache_seconds / num_clips * CORPUS_UTTERANCES}
    if OPTIMISED.bf16:  # in fp32 the caches cost more too: a negative cost, i.e. a saving of bf16
        fp32 = setups[False]
        cache_costs["bf16 off"] = -(fp32.feature_cache_seconds + fp32.teacher_cache_seconds - feature_cache_seconds
                                    - teacher_cache_seconds) / num_clips * CORPUS_UTTERANCES
    savings = {}
    for name in configs:
        if name in ("all on", "all off (baseline)", "feature_cache + real_length_encoder off"):
            continue
        savings[name.removesuffix(" off")] = (step_seconds[name] - optimised) * total_steps - cache_costs.get(name, 0)
    savings["real_length_encoder (without the cache)"] = (
        step_seconds["feature_cache + real_length_encoder off"] - step_seconds["feature_cache off"]) * total_steps
    baseline_saving = (baseline - optimised) * total_steps - sum(cache_costs.values())
    print_table(["optimisation", "saves, min", "share of all-on vs all-off saving"],
                [[name, f"{saving / 60:.1f}", f"{saving / baseline_saving:.0%}"] for name, saving in savings.items()])
    print("\n(shares need not add up to 100 %: the optimisations interact, e.g. the encoder's length only matters "
          "when the feature cache is off)")


if __name__ == "__main__":
    main()
