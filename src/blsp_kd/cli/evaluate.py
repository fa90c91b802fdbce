"""`blsp-kd evaluate`: a trained BLSP-KD model side by side with the text upper bound and the Whisper → LLM
cascade built from the same parts, on the same clips (see `blsp_kd.eval.evaluate`)."""

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from blsp_kd.layout.clips import DEFAULT_MAX_SECONDS
from blsp_kd.layout.tasks import EVALUATION_SYSTEMS, EVALUATION_TASKS
from blsp_kd.models.pretrained import EMBEDDED, PRECISION_CHOICES

if TYPE_CHECKING:
    from blsp_kd.models.blsp_kd import Reading

SYSTEM_NAME = re.compile(r"[A-Za-z0-9_.-]+")  # names end up in file names of plots


def parse_choices(value: str, allowed: tuple[str, ...], what: str) -> list[str]:
    """'speech,text' → ['speech', 'text'], in the given order; an unknown or repeated name is an error."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown or not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"--{what}: got {value!r}; give distinct names from "
                                         f"{', '.join(allowed)}")
    return names


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return number


def zero_or_positive(what: str):
    """An argparse type: a number > 0 (a `what`: temperature, weight), or 0 for none."""
    def parse(value: str) -> float:
        number = float(value)
        if not number >= 0:
            raise argparse.ArgumentTypeError(f"must be a {what} > 0, or 0 for none; got {value}")
        return number
    parse.__name__ = what  # argparse names it in "invalid temperature value: 'x'"
    return parse


def add_readout_argument(parser: argparse.ArgumentParser) -> None:
    """--readout, --decoder-readout, --readout-prior and --readout-rounds, on every command that loads a trained
    model (evaluate, chat, generate, serve)."""
    parser.add_argument("--readout", type=zero_or_positive("temperature"), metavar="T",
                        help="read the speech vectors through the LLM's vocabulary at temperature T (each vector "
                             "becomes the mean token embedding under softmax(cosine / T); docs/METHOD.md §9), or 0: "
                             "the adapter's own vectors (default: the model's own setting; the shipped model's is "
                             "0.02)")
    parser.add_argument("--decoder-readout", type=zero_or_positive("weight"), metavar="LAMBDA",
                        help="fuse that readout with Whisper's decoder reading the vectors' guesses, weight λ "
                             "(docs/METHOD.md §9), or 0: the vocabulary readout alone (default: the model's own "
                             "setting; the shipped model's is 2)")
    parser.add_argument("--readout-prior", type=zero_or_positive("weight"), metavar="GAMMA",
                        help="in the decoder readout, divide the vocabulary readout's distribution by the model's "
                             "training prior^γ, from the token counts its training wrote (docs/METHOD.md §9), or 0: "
                             "not (default: the model's own setting; the shipped model reads without, its counts are "
                             "there for γ = 1)")
    parser.add_argument("--readout-rounds", type=positive_int, metavar="N",
                        help="run the decoder readout N rounds, each round's decoder reading the round before's "
                             "fused choices as its guesses (docs/METHOD.md §9; default: the model's own setting)")


def reading_from_args(args: argparse.Namespace) -> "Reading":
    """What add_readout_argument's options ask of every model a command loads."""
    from blsp_kd.models.blsp_kd import Reading

    return Reading(args.readout, args.decoder_readout, args.readout_prior, args.readout_rounds)


def parse_compare(entries: list[str]) -> dict[str, str]:
    """['base=runs/a/best', ...] → {'base': 'runs/a/best', ...}."""
    compare = {}
    for entry in entries:
        name, separator, checkpoint = entry.partition("=")
        if not separator or not SYSTEM_NAME.fullmatch(name) or not checkpoint:
            raise argparse.ArgumentTypeError(f"--compare {entry!r}: expected NAME=CHECKPOINT_DIR with NAME "
                                             "made of letters, digits, '_', '.', '-'")
        if name in compare or name in EVALUATION_SYSTEMS or name == "asr":
            raise argparse.ArgumentTypeError(f"--compare {entry!r}: the name {name!r} is already taken")
        compare[name] = checkpoint
    return compare


def add_evaluate_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="evaluate against the Whisper → LLM cascade and the text upper bound",
        description="Run the systems side by side on the same clips and write results.json, results.md, "
                    "utterances.jsonl, plots/ and report.md into --out. Without --model, the text and "
                    "cascade systems use the base models (--whisper, --llm) and the speech system is "
                    "skipped.")
    parser.add_argument("--manifest", required=True, type=Path, help="JSONL manifest of the test clips")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--model", type=Path, help="BLSP-KD checkpoint folder (save_pretrained output) or a shipped "
                        "model's name ('default': the reference run's model)")
    parser.add_argument("--systems", default="speech,text,cascade",
                        type=lambda value: parse_choices(value, EVALUATION_SYSTEMS, "systems"),
                        help="comma-separated, from speech,text,cascade (default: all)")
    parser.add_argument("--tasks", default=",".join(EVALUATION_TASKS),
                        type=lambda value: parse_choices(value, EVALUATION_TASKS, "tasks"),
                        help="comma-separated, from repeat,continuation,translation,alignment (default: all)")
    parser.add_argument("--compare", nargs="+", action="extend", default=[], metavar="NAME=CKPT",
                        help="more BLSP-KD checkpoints, evaluated as speech systems called NAME")
    parser.add_argument("--limit", type=positive_int, help="evaluate only the first N records of the manifest")
    parser.add_argument("--max-audio-seconds", type=float, default=DEFAULT_MAX_SECONDS,
                        help=f"skip (and report) longer clips (default {DEFAULT_MAX_SECONDS:g}: the adapter's "
                             "attention memory grows with the square of the length)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--language", default="en", help="language of the speech and transcripts")
    parser.add_argument("--latency-clips", type=int, default=8,
                        help="clips timed one at a time per system (0: no latency)")
    parser.add_argument("--plot-clips", type=int, default=3,
                        help="clips whose CIF is plotted, per speech system")
    parser.add_argument("--group-by", metavar="FIELD",
                        help="also score each task per value of this manifest field (e.g. source, engine, voice)")
    parser.add_argument("--log-dir", type=Path, help="training run folder: plot its log.jsonl")
    parser.add_argument("--train-manifest", type=Path, nargs="+", default=[], metavar="MANIFEST",
                        help="the model's training manifest(s): also split alignment's token accuracy by how often "
                             "the training transcripts hold each token (100+, 10-99, 1-9, 0 times)")
    parser.add_argument("--device", help="cuda, cpu, ... (default: cuda when available)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES,
                        help="the base models' precision (default: each model's own, as trained; fp32 without "
                             "--model); auto = bf16 where the device multiplies bf16 natively, else fp32")
    add_readout_argument(parser)
    parser.add_argument("--whisper", help=f"without --model: the Whisper checkpoint (default {EMBEDDED})")
    parser.add_argument("--llm", help=f"without --model: the chat LLM (default {EMBEDDED})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from blsp_kd.eval.evaluate import EvaluationOptions, evaluate_manifest

    options = EvaluationOptions(tasks=tuple(args.tasks), language=args.language,
                                max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                                latency_clips=args.latency_clips, plot_clips=args.plot_clips,
                                max_audio_seconds=args.max_audio_seconds,
                                log_dir=args.log_dir, group_by=args.group_by,
                                train_manifests=tuple(args.train_manifest), progress=not args.no_progress)
    try:
        compare = parse_compare(args.compare)
        evaluate_manifest(args.manifest, args.out, args.model, tuple(args.systems), compare, options, args.limit,
                          args.whisper, args.llm, args.device, args.precision, reading_from_args(args))
    except (argparse.ArgumentTypeError, FileNotFoundError, NotADirectoryError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print((args.out / "results.md").read_text(encoding="utf-8"))
    print(f"report: {args.out / 'report.md'}")
    return 0
