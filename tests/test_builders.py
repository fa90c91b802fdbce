import argparse
import json

import numpy as np
import pytest
import soundfile

from blsp_kd.cli.prepare import add_prepare_parser
from blsp_kd.data.audio import check_records
from blsp_kd.data.builders import build_commonvoice, build_covost, build_folder, build_librispeech
from blsp_kd.data.manifest import read_manifest


def write_audio(path, seconds=0.3):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * 16000)) / 16000
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * 300 * t), 16000)


def manifest_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def make_librispeech(root):
    """Two chapters; one line whose flac is missing, one line without words."""
    chapter = root / "19" / "198"
    write_audio(chapter / "19-198-0000.flac")
    write_audio(chapter / "19-198-0001.flac")
    (chapter / "19-198.trans.txt").write_text(
        "19-198-0000 NORTHANGER ABBEY\n19-198-0001 THIS  LITTLE WORK\n19-198-0002 GONE MISSING\n"
    )
    chapter = root / "26" / "495"
    write_audio(chapter / "26-495-0000.flac")
    (chapter / "26-495.trans.txt").write_text("26-495-0000 CHAPTER ONE\n26-495-0001\n")


def test_librispeech(tmp_path):
    root = tmp_path / "LibriSpeech" / "dev-clean"
    make_librispeech(root)
    out = tmp_path / "dev-clean.jsonl"

    records, problems = build_librispeech(root, out)

    assert manifest_lines(out) == [
        {
            "id": "19-198-0000",
            "audio": "LibriSpeech/dev-clean/19/198/19-198-0000.flac",
            "text": "NORTHANGER ABBEY",
        },
        {
            "id": "19-198-0001",
            "audio": "LibriSpeech/dev-clean/19/198/19-198-0001.flac",
            "text": "THIS LITTLE WORK",
        },
        {
            "id": "26-495-0000",
            "audio": "LibriSpeech/dev-clean/26/495/26-495-0000.flac",
            "text": "CHAPTER ONE",
        },
    ]
    assert len(records) == 3
    assert [(p.file, p.line, p.record_id) for p in problems] == [
        (str(root / "19/198/19-198.trans.txt"), 3, "19-198-0002"),
        (str(root / "26/495/26-495.trans.txt"), 2, "26-495-0001"),
    ]
    assert any("audio file not found" in str(p) for p in problems)
    assert any("empty transcript" in str(p) for p in problems)
    # The written manifest reads back and its audio loads.
    read_back, read_problems = read_manifest(out)
    usable, audio_problems = check_records(read_back)
    assert read_problems == [] and audio_problems == [] and len(usable) == 3


def test_librispeech_outside_the_output_folder_gets_absolute_paths(tmp_path):
    make_librispeech(tmp_path / "corpus")
    build_librispeech(tmp_path / "corpus", tmp_path / "manifests" / "m.jsonl")
    first = manifest_lines(tmp_path / "manifests" / "m.jsonl")[0]
    assert first["audio"] == str(tmp_path / "corpus/19/198/19-198-0000.flac")


def test_librispeech_wrong_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="trans.txt"):
        build_librispeech(tmp_path, tmp_path / "m.jsonl")


COMMON_VOICE_TSV = (
    "client_id\tpath\tsentence\tup_votes\n"
    'c1\tcommon_voice_en_1.mp3\tHe said "yes", didn\'t he?\t2\n'
    "c2\tcommon_voice_en_2.mp3\t   \t1\n"
    "c3\tcommon_voice_en_3.mp3\tNo clip for this one.\t0\n"
    "c4\tcommon_voice_en_4.mp3\tA  second   good one.\t5\n"
    "c5\tonly-two-fields\n"
)


def test_commonvoice(tmp_path):
    root = tmp_path / "cv"
    for n in (1, 2, 4):
        write_audio(root / "clips" / f"common_voice_en_{n}.mp3")
    (root / "test.tsv").write_text(COMMON_VOICE_TSV)
    out = tmp_path / "cv_test.jsonl"

    records, problems = build_commonvoice(root, out, tsv="test.tsv")

    assert manifest_lines(out) == [
        {
            "id": "common_voice_en_1",
            "audio": "cv/clips/common_voice_en_1.mp3",
            "text": 'He said "yes", didn\'t he?',
        },
        {"id": "common_voice_en_4", "audio": "cv/clips/common_voice_en_4.mp3", "text": "A second good one."},
    ]
    assert [(p.line, p.record_id) for p in problems] == [
        (3, "common_voice_en_2"),
        (4, "common_voice_en_3"),
        (6, None),
    ]
    assert "empty transcript" in problems[0].reason
    assert "audio file not found" in problems[1].reason and problems[1].file == str(root / "test.tsv")
    assert "expected 4 tab-separated fields, got 2" in problems[2].reason


def test_commonvoice_missing_column_is_an_error(tmp_path):
    (tmp_path / "validated.tsv").write_text("path\ttext\na.mp3\thello\n")
    with pytest.raises(ValueError, match="missing column\\(s\\) sentence"):
        build_commonvoice(tmp_path, tmp_path / "m.jsonl")


def test_covost(tmp_path):
    root = tmp_path / "covost"
    write_audio(root / "clips" / "common_voice_en_10.mp3")
    write_audio(root / "clips" / "common_voice_en_11.mp3")
    (root / "covost_v2.en_de.dev.tsv").write_text(
        "path\tsentence\ttranslation\tclient_id\n"
        "common_voice_en_10.mp3\tGood morning.\tGuten Morgen.\tc1\n"
        "common_voice_en_11.mp3\tNo translation here.\t\tc2\n"
    )
    out = tmp_path / "out" / "covost_dev.jsonl"

    records, problems = build_covost(root, out, tsv="covost_v2.en_de.dev.tsv", target_lang="de")

    assert manifest_lines(out) == [
        {
            "id": "common_voice_en_10",
            "audio": str(root / "clips" / "common_voice_en_10.mp3"),
            "text": "Good morning.",
            "task": "translation",
            "translation": "Guten Morgen.",
            "target_lang": "de",
        }
    ]
    assert [(p.line, p.record_id, p.reason) for p in problems] == [
        (3, "common_voice_en_11", "empty 'translation'")
    ]


def make_folder(root):
    write_audio(root / "a.wav")
    (root / "a.txt").write_text("first  transcript\n")
    write_audio(root / "speaker2" / "b.wav")
    (root / "speaker2" / "b.txt").write_text("second one")
    write_audio(root / "no_text.wav")
    write_audio(root / "empty.wav")
    (root / "empty.txt").write_text("\n")
    (root / "orphan.txt").write_text("text without audio")


def test_folder(tmp_path):
    make_folder(tmp_path / "data")
    out = tmp_path / "data" / "manifest.jsonl"

    records, problems = build_folder(tmp_path / "data", out)

    assert manifest_lines(out) == [
        {"id": "a", "audio": "a.wav", "text": "first transcript"},
        {"id": "speaker2/b", "audio": "speaker2/b.wav", "text": "second one"},
    ]
    assert [(p.record_id, p.reason) for p in problems] == [
        ("empty", "empty transcript"),
        ("no_text", "no transcript file no_text.txt"),
        ("orphan", f"audio file not found: {tmp_path / 'data' / 'orphan.wav'}"),
    ]


def test_folder_keeps_the_case_of_extensions_and_skips_a_transcript_that_is_not_utf8(tmp_path):
    write_audio(tmp_path / "data" / "upper.WAV")
    (tmp_path / "data" / "upper.txt").write_text("loud and clear")
    write_audio(tmp_path / "data" / "latin.wav")
    (tmp_path / "data" / "latin.txt").write_bytes("un café".encode("latin-1"))
    write_audio(tmp_path / "data" / "good.wav")
    (tmp_path / "data" / "good.txt").write_text("fine")

    records, problems = build_folder(tmp_path / "data", tmp_path / "m.jsonl")

    assert [(record.id, record.audio, record.text) for record in records] == [
        ("good", str(tmp_path / "data" / "good.wav"), "fine"),
        ("upper", str(tmp_path / "data" / "upper.WAV"), "loud and clear")]
    assert [str(problem) for problem in problems] == [
        f"{tmp_path / 'data' / 'latin.txt'}, id 'latin': not UTF-8 (byte 0xe9 at offset 6)"]


def test_folder_that_does_not_exist_is_an_error_naming_it(tmp_path, capsys):
    assert run_cli(["prepare", "folder", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m.jsonl")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'nowhere'}: no such directory\n"
    assert not (tmp_path / "m.jsonl").exists()


def test_librispeech_transcript_that_is_not_utf8_is_skipped_naming_it(tmp_path):
    make_librispeech(tmp_path / "ls")
    chapter = tmp_path / "ls" / "26" / "495"
    (chapter / "26-495.trans.txt").write_bytes("26-495-0000 CAFÉ\n".encode("latin-1"))

    records, problems = build_librispeech(tmp_path / "ls", tmp_path / "m.jsonl")

    assert [record.id for record in records] == ["19-198-0000", "19-198-0001"]
    assert f"{chapter / '26-495.trans.txt'}: not UTF-8 (byte 0xc9 at offset 15); its utterances are skipped" in [
        str(problem) for problem in problems]


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="blsp-kd")
    add_prepare_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_prepare_folder_prints_summary(tmp_path, capsys):
    make_folder(tmp_path / "data")
    out = tmp_path / "m.jsonl"

    exit_code = run_cli(["prepare", "folder", str(tmp_path / "data"), "--out", str(out)])

    printed = capsys.readouterr().out.splitlines()
    assert exit_code == 0
    assert printed[0] == f"wrote 2 records to {out}"
    assert printed[1] == "3 problem(s):"
    assert printed[2] == f"  {tmp_path / 'data' / 'empty.txt'}, id 'empty': empty transcript"
    assert len(printed) == 5


def test_cli_prepare_librispeech_on_a_wrong_folder_exits_2(tmp_path, capsys):
    exit_code = run_cli(["prepare", "librispeech", str(tmp_path), "--out", str(tmp_path / "m.jsonl")])
    assert exit_code == 2
    assert "not a LibriSpeech split folder" in capsys.readouterr().err


def test_cli_prepare_covost_passes_options(tmp_path, capsys):
    write_audio(tmp_path / "cv" / "clips" / "x.mp3")
    (tmp_path / "cv" / "t.tsv").write_text("path\tsentence\ttranslation\nx.mp3\tHello.\tBonjour.\n")
    argv = ["prepare", "covost", str(tmp_path / "cv"), "--out", str(tmp_path / "m.jsonl")]
    exit_code = run_cli(argv + ["--tsv", "t.tsv", "--target-lang", "fr"])
    assert exit_code == 0
    assert manifest_lines(tmp_path / "m.jsonl")[0]["target_lang"] == "fr"
    assert capsys.readouterr().out.splitlines()[-1] == "0 problem(s)"
