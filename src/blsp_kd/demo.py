"""`blsp-kd demo` (= `make demo`): the whole method on the embedded default, on a CPU, in one command.

    1. synthesise a spoken corpus with espeak-ng + Festival (test split: unseen voices and unseen sentences)
    2. let SmolLM2 write its own responses (continuation + "repeat what was said")
    3. measure held-out alignment with the untrained adapter
    4. stage-1 KD training of the CFormer (Whisper tiny.en and SmolLM2 frozen), within a time budget
    5. measure again: KD KL (τ = 1, true n) and CIF token-count error, before vs after, and the KL with every clip's
       audio swapped for another clip's (if the adapter carries what was said, its own audio must do clearly better)
    6. let the model shipped with the package (`--model default`, the reference run's) answer a few held-out clips
       beside the text path (the LLM reading the transcript) and the cascade (Whisper ASR → the same LLM)

Every phase shows a progress bar; the work folder is reused, so a second run skips what is already there.
"""

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

RECIPE = "demo-stage1"  # the training settings; the demo replaces only its paths (and what its options set)


@dataclass
class DemoConfig:
    work_dir: str = "runs/demo"
    num_utterances: int = 1200  # split 80/10/10 into train/valid/test by the synthesiser
    max_new_tokens: int = 32  # response length written by the LLM
    train_minutes: float | None = None  # None: the recipe's train.max_minutes (the phase stops with a checkpoint)
    max_steps: int | None = None  # None: the recipe's train.max_steps
    num_test: int = 64  # held-out clips for the before/after table
    num_shown: int = 4  # held-out clips the shipped model answers at the end
    seed: int = 0


def responses_manifest(work: Path, split: str) -> Path:
    return work / "synth" / f"{split}.responses.jsonl"


def demo_recipe(config: DemoConfig):
    """The demo-stage1 recipe with this run's paths, seed and (when given) time and step limits."""
    from blsp_kd.train.config import load_recipe

    work = Path(config.work_dir)
    overrides = [f"data.train=[{responses_manifest(work, 'train')}]", f"data.valid={responses_manifest(work, 'valid')}",
                 f"train.output_dir={work / 'stage1'}", f"train.seed={config.seed}"]
    if config.train_minutes is not None:
        overrides.append(f"train.max_minutes={config.train_minutes}")
    if config.max_steps is not None:
        overrides.append(f"train.max_steps={config.max_steps}")
    return load_recipe(RECIPE, overrides)


def run_demo(config: DemoConfig) -> dict:
    # Imported here, not at the top: `blsp-kd --help` reads DemoConfig and should not wait for torch.

    from blsp_kd.data.manifest import read_manifest
    from blsp_kd.data.responses import prepare_responses
    from blsp_kd.data.synth import prepare_synth
    from blsp_kd.models.blsp_kd import BlspKdModel
    from blsp_kd.models.pretrained import load_llm, native_bf16, resolve_precision
    from blsp_kd.train.loop import Trainer, set_seed

    started = time.perf_counter()
    work = Path(config.work_dir)
    recipe = demo_recipe(config)
    train_minutes = recipe.train.max_minutes
    # Measured on a 2-core CPU: the phases besides training took 4 min with native bf16 (responses, caches and
    # metrics in bf16) and 8 min in fp32 (docs/RESULTS.md).
    other_minutes = 4 if native_bf16() else 8
    print(f"blsp-kd demo in {work}: about {train_minutes + other_minutes:.0f} minutes on a 2-core CPU "
          f"(training {train_minutes:.0f} min; synthesis, responses, caches and evaluation the rest)")
    timings = {}

    def phase(name: str, since: float) -> float:
        timings[name] = time.perf_counter() - since
        print(f"  {name}: {timings[name]:.0f} s")
        return time.perf_counter()

    print(f"[1/6] synthesising {config.num_utterances} utterances")
    now = time.perf_counter()
    splits, problems = prepare_synth(work / "synth", config.num_utterances, seed=config.seed)
    for problem in problems:
        print(f"  skipped: {problem}")
    now = phase("synthesis", now)

    print("[2/6] the LLM writes its own responses (continuation + repeat)")
    llm, tokenizer = load_llm(dtype=resolve_precision("auto", "cpu"))  # it runs here on the CPU; bf16 where native there
    manifests = {}
    for split in ("train", "valid", "test"):
        records, read_problems = read_manifest(work / "synth" / f"{split}.jsonl")
        if split == "test":
            records = records[: config.num_test]
        manifests[split] = responses_manifest(work, split)
        summary = prepare_responses(records, llm, tokenizer, manifests[split], seed=config.seed,
                                    max_new_tokens=config.max_new_tokens)
        for line in summary.lines():
            print(f"  {split}: {line}")
    del llm
    now = phase("responses", now)

    print("[3/6] held-out alignment of the untrained adapter (test split: unseen voices and sentences)")
    set_seed(config.seed)  # the same initialisation the trainer will start from
    untrained = BlspKdModel.from_config(replace(recipe.model, precision="fp32"))  # both tables are in fp32
    before = held_out_metrics(untrained, manifests["test"])
    del untrained
    now = phase("evaluation before", now)

    print(f"[4/6] stage-1 KD training (≤ {train_minutes:.0f} min)")
    trainer = Trainer(recipe)
    trained = trainer.train()
    now = phase("training (with caches)", now)

    print("[5/6] held-out alignment after training")
    del trainer  # it may hold the base models in bf16 (the recipe's precision auto); both tables are in fp32
    model = BlspKdModel.from_pretrained(work / "stage1" / "best", precision="fp32")  # keep-best by validation KL
    after = held_out_metrics(model, manifests["test"], with_shuffled=True)
    phase("evaluation after", now)

    results = {"before": before, "after": after, "training": trained, "timings_s": timings,
               "total_s": time.perf_counter() - started}
    (work / "demo_results.json").write_text(json.dumps(results, indent=2))
    print(results_table(before, after))
    print("[6/6] the shipped model (--model default) beside the text path and the cascade, on held-out clips")
    print(shipped_model_answers(manifests["test"], config.num_shown))
    print(f"demo finished in {results['total_s'] / 60:.1f} min; results in {work / 'demo_results.json'}")
    return results


def held_out_metrics(model, manifest: Path, with_shuffled: bool = False) -> dict:
    """Alignment metrics of a BlspKdModel on a manifest with responses (encoder outputs from the feature cache)."""
    from blsp_kd.data.features import FeatureCache
    from blsp_kd.data.manifest import read_manifest
    from blsp_kd.eval.alignment import held_out_alignment
    from blsp_kd.models.pretrained import blsp_home

    records, _ = read_manifest(manifest)
    cache = FeatureCache(blsp_home() / "cache" / "features", model)
    records, problems = cache.build(records)
    for problem in problems:
        print(f"  skipped: {problem}")
    return held_out_alignment(model, records, batch_size=8, feature_cache=cache, with_shuffled=with_shuffled,
                              progress=True)


def shipped_model_answers(manifest: Path, num_clips: int, task: str = "repeat") -> str:
    """What the shipped model answers to `num_clips` clips of the manifest, beside the text path and the cascade
    of the same base models (greedy, one line each)."""
    from blsp_kd.data.manifest import read_manifest
    from blsp_kd.eval.evaluate import CascadeSystem, SpeechSystem, TextSystem, load_clips
    from blsp_kd.layout.tasks import INSTRUCTIONS
    from blsp_kd.models.blsp_kd import BlspKdModel
    from blsp_kd.models.encoder import min_clip_samples
    from blsp_kd.models.pretrained import load_whisper

    records, _ = read_manifest(manifest)
    model = BlspKdModel.from_pretrained("default")
    clips, _ = load_clips(records[:num_clips], min_clip_samples(model.feature_extractor), progress=False)
    whisper, processor = load_whisper(model.config.architecture.whisper, dtype=model.dtype)
    systems = {"text path (transcript)": TextSystem(model), "cascade (Whisper ASR)": CascadeSystem(model, whisper,
               processor), "shipped model (speech)": SpeechSystem(model)}
    instruction = INSTRUCTIONS[task]
    instructions = [instruction] * len(clips)
    answers = {name: [model.tokenizer.decode(ids, skip_special_tokens=True).strip()
                      for ids in system.response_ids(clips, instructions, max_new_tokens=48)]
               for name, system in systems.items()}
    lines = [f'instruction: "{instruction}"']
    for index, clip in enumerate(clips):
        lines.append(f"clip {clip.record.id}: {clip.record.text}")
        lines += [f"  {name:<24} {answers[name][index]}" for name in systems]
    return "\n".join(lines)


def results_table(before: dict, after: dict) -> str:
    def change(name: str) -> str:
        return f"{(after[name] - before[name]) / before[name]:+.0%}" if before[name] else "—"

    rows = [
        "| held-out (unseen voices + sentences) | before | after | change |",
        "|---|---|---|---|",
        f"| KD KL, transcript positions (τ=1) | {before['input_kl']:.3f} | {after['input_kl']:.3f} | "
        f"{change('input_kl')} |",
        f"| KD KL, response positions (τ=1) | {before['response_kl']:.3f} | {after['response_kl']:.3f} | "
        f"{change('response_kl')} |",
        f"| KD KL, all positions (τ=1) | {before['kl']:.3f} | {after['kl']:.3f} | {change('kl')} |",
        f"| CIF token-count error | {before['cif_count_error']:.3f} | {after['cif_count_error']:.3f} | "
        f"{change('cif_count_error')} |",
        f"| speech vectors nearest to their own token's embedding | {before['token_accuracy']:.1%} | "
        f"{after['token_accuracy']:.1%} | {100 * (after['token_accuracy'] - before['token_accuracy']):+.0f} points |",
        "",
        f"After training, KL with each clip's own audio {after['kl']:.3f} vs another clip's audio "
        f"{after['shuffled_kl']:.3f}: {(after['shuffled_kl'] - after['kl']) / after['shuffled_kl']:.0%} lower with "
        "its own.",
    ]
    return "\n".join(rows)
