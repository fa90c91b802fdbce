"""Evaluation metrics, each over a whole evaluation set (corpus level, not a mean of per-utterance scores).

- Error rate of a transcript-like output: WER = Σ (S + D + I) / Σ N over all utterances, after Whisper's
  text normaliser (English: `EnglishTextNormalizer`, which also spells out "Mr." and writes numbers as digits;
  other languages: `BasicTextNormalizer`). Languages written without spaces between words (zh, ja, th, ...)
  get the CER instead, over characters with whitespace removed.
- BLEU and chrF from sacrebleu (0–100), one hypothesis and one reference per utterance.
- How sure a difference in error rate is, between two systems answering the same utterances: a paired bootstrap
  interval (`error_rate_difference`). A corpus rate over ~160 answers is dominated by a few rambling ones, so two
  systems 0.2 apart may not differ at all.
"""

import statistics
from functools import cache

import jiwer
import numpy as np
import sacrebleu
from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

# Written without spaces between words, so a "word" error rate would count whole sentences.
CHARACTER_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "yue", "bo"})


def base_language(language: str) -> str:
    """'zh-CN' → 'zh', 'sv_SE' → 'sv', 'EN' → 'en'."""
    return language.lower().replace("_", "-").split("-")[0]


def uses_characters(language: str) -> bool:
    return base_language(language) in CHARACTER_LANGUAGES


@cache
def text_normalizer(language: str):
    """Whisper's English normaliser for English, its basic (language-independent) normaliser otherwise."""
    return EnglishTextNormalizer() if base_language(language) == "en" else BasicTextNormalizer()


def normalize(text: str, language: str = "en") -> str:
    """Normalised text for scoring: single spaces between words, no spaces at all for character languages."""
    words = text_normalizer(language)(text).split()
    return "".join(words) if uses_characters(language) else " ".join(words)


def error_rate_name(language: str) -> str:
    """"cer" for languages written without spaces between words, "wer" otherwise."""
    return "cer" if uses_characters(language) else "wer"


def utterance_errors(references: list[str], hypotheses: list[str], language: str = "en") -> np.ndarray:
    """[N, 2] per utterance: its errors (S + D + I) and its reference length (S + D + hits), in words (characters
    for character languages), after normalisation; their column sums give `error_rate`'s corpus rate."""
    check_pairs(references, hypotheses)
    references = [normalize(text, language) for text in references]
    hypotheses = [normalize(text, language) for text in hypotheses]
    process = jiwer.process_characters if uses_characters(language) else jiwer.process_words
    counts = np.zeros((len(references), 2), dtype=np.int64)
    for index, chunks in enumerate(process(references, hypotheses).alignments):
        for chunk in chunks:
            reference_span = chunk.ref_end_idx - chunk.ref_start_idx
            if chunk.type == "insert":
                counts[index, 0] += chunk.hyp_end_idx - chunk.hyp_start_idx
            elif chunk.type in ("substitute", "delete"):
                counts[index, 0] += reference_span
            counts[index, 1] += reference_span
    return counts


def corpus_rate(counts: np.ndarray) -> float:
    """Σ errors / Σ reference length of `utterance_errors`' counts."""
    if not counts[:, 1].any():
        raise ValueError("every reference is empty after normalisation; an error rate is undefined")
    return float(counts[:, 0].sum() / counts[:, 1].sum())


def error_rate(references: list[str], hypotheses: list[str], language: str = "en") -> dict[str, float]:
    """{"wer": ..., "median_utterance_wer": ...} (or "cer" for character languages) of the hypotheses against the
    references, both normalised. The corpus rate pools the errors of all utterances, so one rambling answer can
    weigh like many good ones; the median of the per-utterance rates (over references that are not empty after
    normalisation) says what a typical clip gets. A reference that normalises to nothing counts its hypothesis'
    words as insertions in the corpus rate."""
    counts = utterance_errors(references, hypotheses, language)
    name = error_rate_name(language)
    spoken = counts[counts[:, 1] > 0]
    return {name: corpus_rate(counts),
            f"median_utterance_{name}": float(statistics.median((spoken[:, 0] / spoken[:, 1]).tolist()))}


def error_rate_difference(references: list[str], hypotheses: list[str], baseline: list[str], language: str = "en",
                          resamples: int = 2000, seed: int = 0) -> dict[str, float]:
    """{"difference", "low", "high"}: corpus error rate of `hypotheses` minus that of `baseline` on the same
    references, and its 95 % paired bootstrap interval: the utterances are drawn with replacement `resamples`
    times, the two systems' answers to a drawn utterance together, and the interval is the 2.5th to 97.5th
    percentile of the drawn sets' differences. An interval that holds 0 means the two are not told apart.

    Example: 3 references of 2 words each; A gets 0, 2, 0 errors, B 1, 1, 1: difference (2 − 3) / 6 = −1/6.
    """
    a = utterance_errors(references, hypotheses, language)
    b = utterance_errors(references, baseline, language)
    difference = corpus_rate(a) - corpus_rate(b)  # the same references: the same lengths
    draws = np.random.default_rng(seed).integers(0, len(a), size=(resamples, len(a)))
    lengths = a[draws, 1].sum(axis=1)
    drawn = (a[draws, 0].sum(axis=1) - b[draws, 0].sum(axis=1))[lengths > 0] / lengths[lengths > 0]
    low, high = np.percentile(drawn, [2.5, 97.5])
    return {"difference": difference, "low": float(low), "high": float(high)}


def bleu_tokenizer(language: str) -> str:
    """sacrebleu's tokeniser for a target language: its Chinese one, characters for the other languages
    written without spaces, 13a (the WMT default) otherwise."""
    if base_language(language) == "zh":
        return "zh"
    return "char" if uses_characters(language) else "13a"


def corpus_bleu(hypotheses: list[str], references: list[str], language: str = "en") -> float:
    """sacrebleu corpus BLEU (n-gram counts summed over all sentences, then one score), 0–100."""
    check_pairs(references, hypotheses)
    return sacrebleu.corpus_bleu(hypotheses, [references], tokenize=bleu_tokenizer(language)).score


def corpus_chrf(hypotheses: list[str], references: list[str]) -> float:
    """sacrebleu corpus chrF (character 6-grams, β = 2), 0–100."""
    check_pairs(references, hypotheses)
    return sacrebleu.corpus_chrf(hypotheses, [references]).score


def check_pairs(references: list[str], hypotheses: list[str]) -> None:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    if not references:
        raise ValueError("no utterances to score")
