"""`blsp-kd prepare ...`: build manifests from corpora, synthesise an offline spoken corpus (and let the LLM write
its spoken questions), or let the LLM write its own responses to a manifest's transcripts.

Each sub-command sets `args.func(args) -> exit code` (0 when records were written, 1 when none were,
2 when the input could not be read) and prints a summary: records written, then every problem, one a line.
"""

import argparse
import sys
from pathlib import Path

from blsp_kd.data.builders import build_commonvoice, build_covost, build_folder, build_librispeech
from blsp_kd.data.manifest import ManifestRecord, Problem
from blsp_kd.data.synth import prepare_synth
from blsp_kd.data.texts import FORTUNES_DIR, WORDNET_DIR
from blsp_kd.models.pretrained import PRECISION_CHOICES


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
    if args.report:
        from blsp_kd.eval.intelligibility import write_report

        for row in write_report(args.report):
            print(f"{row['voice']}: WER {100 * row['wer_flac']:.1f} %")
        print(f"wrote {args.report}")
        return 0
    if not args.out:
        print("error: --out is required (unless --report)", file=sys.stderr)
        return 2
    try:
        records, problems = prepare_synth(args.out, args.num, args.seed, args.workers, args.fortunes_dir,
                                          questions=args.questions, wordnet_dir=args.wordnet)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return print_summary(
        {Path(args.out) / f"{split}.jsonl": split_records for split, split_records in records.items()},
        problems,
    )


def run_questions(args: argparse.Namespace) -> int:
    # Imported here: torch and transformers are only needed by this sub-command.
    from blsp_kd.data.selfinstruct import write_questions
    from blsp_kd.models.pretrained import load_llm

    llm, tokenizer = load_llm(args.llm)
    counts = write_questions(llm, tokenizer, args.out, args.num, args.seed, args.batch_size)
    print(f"kept {counts.pop('kept')} new questions in {args.out}; rejected: "
          + (", ".join(f"{kind} {count}" for kind, count in sorted(counts.items())) or "none"))
    return 0


def run_responses(args: argparse.Namespace) -> int:
    # Imported here: torch and transformers are only needed by this sub-command.
    from blsp_kd.data.responses import load_instructions, parse_mix, parse_shard, prepare_manifest_responses

    try:
        summary = prepare_manifest_responses(
            args.manifest, args.out, args.llm, load_instructions(args.instructions) if args.instructions else None,
            parse_mix(args.mix) if args.mix else None, args.seed, args.max_new_tokens, args.batch_size,
            args.user_template, args.system_prompt, parse_shard(args.shard) if args.shard else None, args.limit,
            args.device, args.precision)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for line in summary.lines():
        print(line)
    return 0 if summary.written or summary.already_done else 1


def add_prepare_parser(subparsers) -> None:
    """Add `prepare` with sub-commands librispeech, commonvoice, covost, folder, synth and responses."""
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
        "Synthesise an offline English corpus: sentences from Debian's fortunes, generated sentences with numbers, "
        "dates and names, (with --questions) questions the LLM wrote and (with --wordnet) WordNet's example "
        "sentences, spoken by Piper (en_US-joe-medium), flite, "
        "espeak-ng and Festival, half the training utterances augmented (speed, noise, gain). Writes OUT/audio/*.flac "
        "(16 kHz mono) and OUT/train.jsonl, OUT/valid.jsonl, OUT/test.jsonl, disjoint by sentence and by voice "
        "(valid: flite awb held out; test: the Kal speaker held out; each: unseen espeak-ng voices). Resumable: "
        "audio files already in OUT/audio are kept. docs/CORPUS.md describes the corpus. With --report FILE.md it "
        "instead measures Whisper's WER on every voice and writes that table."
    )
    synth = corpora.add_parser(
        "synth", help="synthesise an offline spoken corpus (Piper, flite, espeak-ng, Festival)", description=synth_help
    )
    synth.add_argument("--out", help="output folder")
    synth.add_argument(
        "--num", type=int, default=1000, help="utterances in all, split 80/10/10 (default: 1000)"
    )
    synth.add_argument("--seed", type=int, default=0, help="chooses sentences, voice splits, prosody, augmentation")
    synth.add_argument("--workers", type=int, default=None, help="parallel TTS jobs (default: CPU count)")
    synth.add_argument(
        "--fortunes-dir", default=str(FORTUNES_DIR), help=f"sentence source (default: {FORTUNES_DIR})"
    )
    synth.add_argument("--questions", metavar="FILE.txt",
                       help="spoken questions, one a line (from `blsp-kd prepare questions`); without it the "
                            "questions source is not used")
    synth.add_argument("--wordnet", nargs="?", const=str(WORDNET_DIR), metavar="DIR",
                       help=f"also speak WordNet's example sentences (~32,000, a wide everyday vocabulary; Debian "
                            f"package wordnet-base; DIR default {WORDNET_DIR}); without it the source is not used")
    synth.add_argument("--report", metavar="FILE.md",
                       help="instead of synthesising, write Whisper tiny.en's WER on every voice to FILE.md")
    synth.set_defaults(func=run_synth)

    questions_help = (
        "Let the chat LLM write spoken questions and requests a user would say (self-instruct from topic seeds), "
        "filtered (refusals, duplicates, too short or long, digits or symbols, not English) and appended to OUT, "
        "one a line, until it holds --num. Resumable."
    )
    questions = corpora.add_parser("questions", help="let the LLM write spoken questions for the corpus",
                                   description=questions_help)
    questions.add_argument("--out", required=True, help="text file to append to")
    questions.add_argument("--num", type=int, default=1000, help="questions the file should hold (default: 1000)")
    questions.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    questions.add_argument("--batch-size", type=int, default=16, help="prompts sampled together (default: 16)")
    questions.add_argument("--llm", default="embedded",
                           help="chat LLM: 'embedded' (SmolLM2-135M-Instruct), a folder or a hub id")
    questions.set_defaults(func=run_questions)

    responses_help = (
        "Let the chat LLM write its own training targets: for every transcript, greedy-decode a response from "
        "exactly the training prompt's segment ids and write the manifest with instruction, task, response, "
        "response_ids (without the end-of-turn token) and early_stop (cut at --max-new-tokens). Refusals and "
        "degenerate responses are reported, not written. Append-only and resumable: re-running skips ids already "
        "in OUT. With --shard i/N it writes OUT.shard-i-of-N.jsonl; concatenate the shards with "
        "`cat OUT.shard-*-of-N.jsonl > OUT.jsonl`."
    )
    responses = corpora.add_parser(
        "responses", help="let the LLM write responses to a manifest's transcripts", description=responses_help
    )
    responses.add_argument("--manifest", required=True, help="input manifest (JSONL) with transcripts")
    responses.add_argument("--out", required=True, help="output manifest (JSONL), appended to")
    responses.add_argument("--llm", default="embedded",
                           help="chat LLM: 'embedded' (SmolLM2-135M-Instruct), a folder or a hub id")
    responses.add_argument("--instructions", metavar="FILE.yaml",
                           help="YAML mapping task name to instruction (default: continuation and repeat)")
    responses.add_argument("--mix", help="task weights, e.g. continuation=0.5,repeat=0.5 (default: that for the "
                                         "built-in instructions, equal weights for --instructions)")
    responses.add_argument("--max-new-tokens", type=int, default=48, help="response length limit (default: 48)")
    responses.add_argument("--batch-size", type=int, default=16, help="prompts decoded together (default: 16)")
    responses.add_argument("--shard", metavar="i/N", help="process only records whose index %% N == i")
    responses.add_argument("--limit", type=int, help="process at most this many records (of the shard)")
    responses.add_argument("--seed", type=int, default=0, help="chooses each record's task (default: 0)")
    responses.add_argument("--user-template",
                           help="user message with {instruction} and {speech}, as the model config's user_template "
                                "(default: the same as there: instruction, blank line, transcript)")
    responses.add_argument("--system-prompt", help="system message (default: the chat template's own)")
    responses.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: cuda if available)")
    responses.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                           help="the LLM's precision; auto = bf16 where the device has native bf16 matmuls (as "
                                "training's model.precision auto, whose teacher then runs in bf16 too), else fp32")
    responses.set_defaults(func=run_responses)
