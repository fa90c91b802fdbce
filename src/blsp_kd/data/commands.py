"""`blsp-kd prepare ...`: build manifests from corpora, or synthesise an offline spoken corpus.

Each sub-command sets `args.func(args) -> exit code` (0 when records were written, 1 when none were,
2 when the input could not be read) and prints a summary: records written, then every problem, one a line.
"""

import argparse
import sys
from pathlib import Path

from blsp_kd.data.builders import build_commonvoice, build_covost, build_folder, build_librispeech
from blsp_kd.data.manifest import ManifestRecord, Problem
from blsp_kd.data.synth import FORTUNES_DIR, prepare_synth


def print_summary(written: dict[Path, list[ManifestRecord]], problems: list[Problem]) -> int:
    for path, records in written.items():
        print(f"wrote {len(records)} records to {path}")
    print(f"{len(problems)} problem(s){':' if problems else ''}")
    for problem in problems:
        print(f"  {problem}")
    return 0 if any(written.values()) else 1


def _run_builder(build, args: argparse.Namespace, **options) -> int:
    try:
        records, problems = build(args.root, args.out, **options)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return print_summary({Path(args.out): records}, problems)


def run_librispeech(args: argparse.Namespace) -> int:
    return _run_builder(build_librispeech, args)


def run_commonvoice(args: argparse.Namespace) -> int:
    return _run_builder(build_commonvoice, args, tsv=args.tsv, clips_dir=args.clips_dir)


def run_covost(args: argparse.Namespace) -> int:
    return _run_builder(
        build_covost, args, tsv=args.tsv, target_lang=args.target_lang, clips_dir=args.clips_dir
    )


def run_folder(args: argparse.Namespace) -> int:
    return _run_builder(build_folder, args)


def run_synth(args: argparse.Namespace) -> int:
    try:
        records, problems = prepare_synth(args.out, args.num, args.seed, args.workers, args.fortunes_dir)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return print_summary(
        {Path(args.out) / f"{split}.jsonl": split_records for split, split_records in records.items()},
        problems,
    )


def add_prepare_parser(subparsers) -> None:
    """Add `prepare` with sub-commands librispeech, commonvoice, covost, folder and synth."""
    prepare = subparsers.add_parser(
        "prepare", help="build speech manifests (JSONL) from corpora or synthesise one"
    )
    corpora = prepare.add_subparsers(dest="corpus", required=True, metavar="CORPUS")

    def add_corpus(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = corpora.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("root", metavar="DIR", help="corpus folder")
        parser.add_argument("--out", required=True, help="manifest to write (JSONL), e.g. data/train.jsonl")
        return parser

    librispeech = add_corpus(
        "librispeech",
        "Write a manifest for a LibriSpeech split folder (DIR/SPEAKER/CHAPTER/*.trans.txt, flac beside).",
    )
    librispeech.set_defaults(func=run_librispeech)

    commonvoice = add_corpus(
        "commonvoice", "Write a manifest for a Common Voice TSV (columns path, sentence; audio in DIR/clips)."
    )
    commonvoice.add_argument("--tsv", default="validated.tsv", help="TSV inside DIR (default: validated.tsv)")
    commonvoice.add_argument("--clips-dir", help="audio folder (default: DIR/clips)")
    commonvoice.set_defaults(func=run_commonvoice)

    covost = add_corpus(
        "covost",
        "Write a speech-translation manifest (task 'translation') for a CoVoST-2 TSV "
        "(columns path, sentence, translation; Common Voice audio in DIR/clips).",
    )
    covost.add_argument("--tsv", required=True, help="TSV inside DIR, e.g. covost_v2.en_de.test.tsv")
    covost.add_argument("--target-lang", required=True, help="language of the translations, e.g. de")
    covost.add_argument("--clips-dir", help="audio folder (default: DIR/clips)")
    covost.set_defaults(func=run_covost)

    folder = add_corpus(
        "folder", "Write a manifest for every DIR/**/x.wav that has a transcript x.txt beside it."
    )
    folder.set_defaults(func=run_folder)

    synth_help = (
        "Synthesise an offline English corpus: sentences from Debian's fortunes spoken by espeak-ng and "
        "Festival. "
        "Writes OUT/audio/*.wav (16 kHz mono) and OUT/train.jsonl, OUT/valid.jsonl, OUT/test.jsonl, disjoint "
        "by sentence and by voice (test: held-out espeak voices and the Festival engine). Resumable: wav "
        "files already in OUT/audio are kept. Needs Debian packages fortunes, espeak-ng, festival, "
        "festvox-kallpc16k."
    )
    synth = corpora.add_parser(
        "synth", help="synthesise an offline spoken corpus with espeak-ng + Festival", description=synth_help
    )
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument(
        "--num", type=int, default=1000, help="utterances in all, split 80/10/10 (default: 1000)"
    )
    synth.add_argument("--seed", type=int, default=0, help="chooses sentences, voice splits, rates, pitches")
    synth.add_argument("--workers", type=int, default=None, help="parallel TTS jobs (default: CPU count)")
    synth.add_argument(
        "--fortunes-dir", default=str(FORTUNES_DIR), help=f"sentence source (default: {FORTUNES_DIR})"
    )
    synth.set_defaults(func=run_synth)
