"""A training run is fully described by a recipe: YAML with three sections, plus `key=value` overrides.

    blsp-kd train --recipe recipes/default-stage1.yaml train.max_steps=200 model.architecture.cformer.num_pre_layers=1

A recipe is a YAML path, or the name of a recipe shipped in the package (`default-stage1`, also spelled
`default-stage1.yaml` or `recipes/default-stage1.yaml`, so the README's commands work from any folder);
`blsp-kd recipes` lists them. `model` holds the `BlspKdConfig` sections (architecture, prompt, objective) and
precision (the frozen weights' precision and the step's autocast), `data` the `DataConfig` and `train` the
`TrainConfig` below. The resolved recipe is written to `OUTPUT_DIR/recipe.yaml`, so the same YAML reproduces the
run; a run folder's recipe.yaml from before the sections (a flat `model`) or from before the one precision setting
(`train.mixed_precision`, `old_mixed_precision`) is read too.
"""

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from blsp_kd.layout.clips import DEFAULT_MAX_SECONDS
from blsp_kd.layout.tasks import DEFAULT_INSTRUCTION
from blsp_kd.models.config import BlspKdConfig, nest_flat_keys

# Package data (in a source checkout a link to the top-level recipes/ folder).
RECIPES_DIR = Path(__file__).parents[1] / "recipes"


@dataclass
class DataConfig:
    train: list[str] = field(default_factory=list)  # manifests; "path" or "path:weight" for weighted mixing
    valid: str | None = None  # held-out manifest for periodic validation (KD KL at τ = 1, CIF count error)
    max_valid_examples: int | None = None
    default_instruction: str = DEFAULT_INSTRUCTION  # for records without their own instruction
    max_text_tokens: int | None = 96  # records with longer transcripts are skipped (and reported)
    max_audio_seconds: float | None = DEFAULT_MAX_SECONDS  # longer clips are skipped (and reported); see data/audio.py
    feature_cache: bool = True  # frozen-encoder outputs computed once (refused when the encoder trains)
    teacher_cache: str = "none"  # "hidden": exact, computed once | "topk": approximate | "none": every step
    teacher_cache_topk: int = 64  # k for teacher_cache="topk"
    cache_dir: str | None = None  # default: $BLSP_KD_HOME/cache
    num_workers: int = 0


@dataclass
class TrainConfig:
    output_dir: str = "runs/default-stage1"
    init_from: str | None = None  # a checkpoint folder to start from (stage 2 starts from stage 1's best)
    seed: int = 0
    batch_size: int = 8  # per process, per micro-batch
    grad_accum_steps: int = 1
    group_by_length: bool = False  # examples of similar length share a batch: less padding (epoch_batches)
    lr: float = 1e-3
    encoder_lr: float | None = None  # the Whisper encoder's peak lr when it trains (stage 2); None: `lr` like the rest
    weight_decay: float = 0.01
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    warmup_steps: int = 50
    epochs: float = 1.0
    max_steps: int | None = None  # optimizer steps; overrides epochs when set
    max_minutes: float | None = None  # stop (with a checkpoint) once the training loop has run this long, summed
    # over the run and the runs it resumes: rerunning a finished command does not train further
    clip_grad_norm: float = 1.0
    log_every: int = 10
    eval_every: int = 100  # 0: only at the end
    select_by: str = "kl"  # the validation KL whose lowest value keeps `best`: kl (all positions), input_kl
    # (transcript positions) or response_kl (response positions: what the answers are made of)
    save_every: int = 100
    keep_last: int = 2
    gradient_checkpointing: bool = False
    progress: bool = True


@dataclass
class Recipe:
    model: BlspKdConfig = field(default_factory=BlspKdConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        # a training setting (a checkpoint trained with it may be read without the readout)
        weights, architecture = self.model.objective.loss_weights, self.model.architecture
        for name, what in READOUT_LOSSES.items():
            if getattr(weights, name) and architecture.decoder_readout is None:
                raise ValueError(f"loss weight {name}: {what} needs model.architecture.decoder_readout (it is null)")


# The losses that read the decoder readout, and what each is
READOUT_LOSSES = {"readout_ce": "the transcript tokens' cross-entropy under the decoder readout",
                  "decoder_kd": "the classifier taught by Whisper's decoder",
                  "decoder_ce": "the cross-entropy of the readout's Whisper decoder"}


def shipped_recipes() -> dict[str, Path]:
    """Name → path of every recipe shipped in the package."""
    return {path.stem: path for path in sorted(RECIPES_DIR.glob("*.yaml"))}


def resolve_recipe(recipe: str | Path) -> Path:
    """The recipe file: `recipe` itself when it exists, else the shipped recipe of that name (a bare name, with or
    without .yaml, or recipes/NAME.yaml)."""
    path = Path(recipe)
    if path.is_file():
        return path
    shipped = shipped_recipes()
    if path.parent in (Path("."), Path("recipes")) and path.name.removesuffix(".yaml") in shipped:
        return shipped[path.name.removesuffix(".yaml")]
    raise FileNotFoundError(f"recipe {recipe}: no such file and no shipped recipe of that name "
                            f"(shipped: {', '.join(shipped)})")


def load_recipe(recipe: str | Path | None = None, overrides: list[str] | None = None) -> Recipe:
    """Defaults ← YAML (a path or a shipped recipe's name) ← `section.key=value` overrides, type-checked against
    the dataclasses."""
    config = OmegaConf.structured(Recipe)
    if recipe is not None:
        sections = OmegaConf.to_container(OmegaConf.load(resolve_recipe(recipe)))
        if sections.get("model"):
            sections["model"] = nest_flat_keys(sections["model"])
        if "mixed_precision" in (sections.get("train") or {}):
            sections = old_mixed_precision(sections)
        config = OmegaConf.merge(config, sections)
    for override in overrides or []:
        if "=" not in override:
            raise ValueError(f"override {override!r} is not of the form section.key=value")
    config = OmegaConf.merge(config, OmegaConf.from_dotlist(list(overrides or [])))
    return OmegaConf.to_object(config)


def old_mixed_precision(sections: dict) -> dict:
    """A recipe from before the one precision setting: `train.mixed_precision` set the frozen weights' precision
    and the autocast, `model.precision` the precision the base models were loaded in (fp32 by default; training
    then cast the frozen weights). fp32 loading + mixed precision X is precision X now, as is X + X; any other pair
    is an error."""
    train = dict(sections["train"])
    mixed_precision = train.pop("mixed_precision")
    model = dict(sections.get("model") or {})
    loaded = model.get("precision", "fp32")
    if loaded not in ("fp32", mixed_precision):
        raise ValueError(f"train.mixed_precision {mixed_precision} and model.precision {loaded}: there is one "
                         "precision setting now, model.precision; keep one of the two")
    return {**sections, "model": {**model, "precision": mixed_precision}, "train": train}


def save_recipe(recipe: Recipe, path: str | Path) -> None:
    Path(path).write_text(OmegaConf.to_yaml(OmegaConf.structured(recipe)))
