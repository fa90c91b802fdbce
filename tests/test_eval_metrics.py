"""Evaluation metrics against hand-computed values, and the shape of the results table."""

import math

import pytest

from blsp_kd.eval.metrics import (
    bleu_tokenizer,
    corpus_bleu,
    corpus_chrf,
    error_rate,
    error_rate_difference,
    normalize,
    utterance_errors,
)
from blsp_kd.eval.report import MISSING, format_value, markdown_table


def test_wer_uses_whispers_english_normaliser():
    # "Mr." → "mister", case and punctuation dropped: one substitution (went → goes) in four words.
    assert error_rate(["Mr. Smith went home."], ["mister smith goes home"])["wer"] == 0.25
    assert error_rate(["It's 5 o'clock, OK?"], ["it is five o'clock ok"])["wer"] == 0.0


def test_wer_is_corpus_level_not_a_mean_of_utterances():
    # 1 error in 4 words + 0 errors in 2 words = 1/6 (the mean of per-utterance WERs would be 1/8).
    result = error_rate(["red green blue black", "cats sit"], ["red green glue black", "cats sit"])
    assert result["wer"] == pytest.approx(1 / 6)


def test_median_utterance_wer_says_what_a_typical_clip_gets():
    # Per utterance 0, 1/4 and 6/2 (one answer rambles): the corpus WER (7/10) is pulled up by the rambler, the
    # median (1/4) is not.
    result = error_rate(["red green blue black", "cats sit", "a b c d"],
                        ["red green glue black", "cats sit on the mat every day now", "a b c d"])
    assert result["wer"] == pytest.approx(7 / 10)
    assert result["median_utterance_wer"] == pytest.approx(1 / 4)


def test_utterance_errors_sum_to_the_corpus_rate():
    # S+D+I and N per utterance: "red green glue black" 1 of 4; "cats sit on the mat" 3 insertions over 2;
    # "" against "b c" 2 deletions; an empty reference counts its answer's words as insertions, with length 0.
    references = ["red green blue black", "cats sit", "a b c", ""]
    hypotheses = ["red green glue black", "cats sit on the mat", "a", "hello there"]
    counts = utterance_errors(references, hypotheses)
    assert counts.tolist() == [[1, 4], [3, 2], [2, 3], [2, 0]]
    assert counts[:, 0].sum() / counts[:, 1].sum() == pytest.approx(error_rate(references, hypotheses)["wer"])


def test_error_rate_difference_with_its_paired_bootstrap_interval():
    references = ["red green", "blue black", "cats sit", "dogs run"] * 10
    good = list(references)
    bad = [f"{reference} and some rambling on" for reference in references]
    # A perfect and a rambling system (4 insertions per 2 words): A − B = −160/80 exactly, and every resample
    # says so.
    difference = error_rate_difference(references, good, bad)
    assert difference["difference"] == pytest.approx(-2.0)
    assert difference["low"] == pytest.approx(-2.0) and difference["high"] == pytest.approx(-2.0)
    # The docstring's example: A 0, 2, 0 errors, B 1, 1, 1 on 2-word references: −1/6, an interval around it.
    references = ["a b", "c d", "e f"]
    difference = error_rate_difference(references, ["a b", "x y", "e f"], ["a x", "c y", "e z"])
    assert difference["difference"] == pytest.approx(-1 / 6)
    assert difference["low"] < -1 / 6 < difference["high"]
    # Half the clips better, half worse by the same amount: the difference is 0 and the interval holds it on both
    # sides; the same seed draws the same interval.
    references = [f"red green blue {i}" for i in range(30)]
    mixed_a = [r if i % 2 else "red" for i, r in enumerate(references)]
    mixed_b = [r if i % 2 == 0 else "red" for i, r in enumerate(references)]
    difference = error_rate_difference(references, mixed_a, mixed_b)
    assert difference["difference"] == 0 and difference["low"] < 0 < difference["high"]
    assert error_rate_difference(references, mixed_a, mixed_b) == difference
    with pytest.raises(ValueError, match="empty"):
        error_rate_difference(["", " "], ["a", "b"], ["c", "d"])


def test_wer_counts_deletions_and_insertions():
    # 3 reference words deleted + 2 words inserted where the reference normalises to nothing (fillers, a tag).
    result = error_rate(["cats sit here", "Uh, um [noise]"], ["", "hello there"])
    assert result["wer"] == pytest.approx(5 / 3)
    assert result["median_utterance_wer"] == 1.0  # only the first reference has words: all 3 deleted


def test_non_english_uses_the_basic_normaliser():
    assert error_rate(["Hallo, Welt! Wie geht's?"], ["hallo welt wie geht s"], "de")["wer"] == 0.0
    # The basic normaliser does not spell out English abbreviations: "mr" ≠ "mister".
    assert error_rate(["Mr. Smith"], ["mister smith"], "de")["wer"] == 0.5


def test_cer_for_languages_without_spaces():
    assert normalize("你好，世界。", "zh") == "你好世界"
    # 4 characters, one substituted; punctuation and spaces are not characters to score.
    assert error_rate(["你好，世界。"], ["你好 是界"], "zh-CN") == {"cer": 0.25, "median_utterance_cer": 0.25}


def test_error_rate_rejects_mismatched_or_empty_input():
    with pytest.raises(ValueError, match="2 hypotheses for 1 references"):
        error_rate(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="no utterances"):
        error_rate([], [])


def test_bleu_by_hand_with_exponential_smoothing():
    # 1- to 4-gram precisions 3/4, 2/3, 1/2 and 0/1, which sacrebleu's default 'exp' smoothing turns into
    # 1/(2·1); equal lengths, so no brevity penalty.
    expected = 100 * (3 / 4 * 2 / 3 * 1 / 2 * 1 / 2) ** (1 / 4)
    assert corpus_bleu(["a b c d"], ["a b c e"]) == pytest.approx(expected)


def test_bleu_sums_ngram_counts_over_the_corpus():
    # counts summed over both sentences: 1-grams 5/6, 2-grams 3/4, 3-grams 2/2, 4-grams 1/1; lengths 6 = 6.
    expected = 100 * (5 / 6 * 3 / 4 * 1 * 1) ** (1 / 4)
    assert corpus_bleu(["a b c d", "e f"], ["a b c d", "e g"]) == pytest.approx(expected)


def test_bleu_tokenises_chinese_by_character():
    assert [bleu_tokenizer(language) for language in ("zh-CN", "ja", "de")] == ["zh", "char", "13a"]
    # 4 of 7 characters, all n-grams match: BLEU = brevity penalty exp(1 − 7/4).
    assert corpus_bleu(["我爱北京"], ["我爱北京天安门"], "zh") == pytest.approx(100 * math.exp(1 - 7 / 4))
    assert corpus_bleu(["我爱北京"], ["我爱北京天安门"], "en") == pytest.approx(0.0)


def test_chrf_by_hand():
    # "ab" vs "abc": 1-grams P = 2/2, R = 2/3; 2-grams P = 1/1, R = 1/2; the hypothesis has no longer n-grams.
    # Averaged: P = 1, R = 7/12; F_β=2 = 5PR / (4P + R) = 35/55.
    assert corpus_chrf(["ab"], ["abc"]) == pytest.approx(100 * 35 / 55)
    assert corpus_chrf(["the same sentence"], ["the same sentence"]) == pytest.approx(100.0)


def test_markdown_table_rows_are_systems_and_columns_task_metrics():
    results = {
        "speech": {"repeat": {"wer": 0.1234567, "num_utterances": 3}, "alignment": {"kl": 1.5}},
        "text": {"repeat": {"wer": 0.0, "num_utterances": 3}},
        "cascade": {"asr": {"wer": 0.05}, "repeat": {"wer": 0.2}, "latency": {"first_token_s": 0.31}},
    }
    lines = markdown_table(results).strip().splitlines()
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    assert cells[0] == ["system", "repeat wer", "alignment kl", "asr wer", "latency first_token_s"]
    assert [row[0] for row in cells[2:]] == ["speech", "text", "cascade"]
    assert all(len(row) == 5 for row in cells)
    assert cells[2] == ["speech", "0.1235", "1.5", MISSING, MISSING]
    assert cells[4] == ["cascade", "0.2", MISSING, "0.05", "0.31"]


def test_markdown_table_follows_the_task_order():
    results = {"speech": {"repeat": {"wer": 0.3}, "latency": {"total_s": 1.0}},
               "cascade": {"asr": {"wer": 0.1}}}
    header = markdown_table(results, task_order=("asr", "repeat", "latency")).splitlines()[0]
    assert header == "| system | asr wer | repeat wer | latency total_s |"


def test_format_value():
    assert format_value(3) == "3" and format_value(23.456789) == "23.46" and format_value(0.056) == "0.056"
