"""Evaluation metrics, each over a whole evaluation set (corpus level, not a mean of per-utterance scores).

- Error rate of a transcript-like output: WER = Σ (S + D + I) / Σ N over all utterances, after Whisper's
  text normaliser (English: `EnglishTextNormalizer`, which also spells out "Mr." and writes numbers as digits;
  other languages: `BasicTextNormalizer`). Languages written without spaces between words (zh, ja, th, ...)
  get the CER instead, over characters with whitespace removed.
- BLEU and chrF from sacrebleu (0–100), one hypothesis and one reference per utterance.
"""

import statistics
from functools import cache

import jiwer
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


def error_rate(references: list[str], hypotheses: list[str], language: str = "en") -> dict[str, float]:
    """{"wer": ..., "median_utterance_wer": ...} (or "cer" for character languages) of the hypotheses against the
    references, both normalised. The corpus rate pools the errors of all utterances, so one rambling answer can
    weigh like many good ones; the median of the per-utterance rates (over references that are not empty after
    normalisation) says what a typical clip gets. A reference that normalises to nothing counts its hypothesis'
    words as insertions in the corpus rate."""
    check_pairs(references, hypotheses)
    references = [normalize(text, language) for text in references]
    hypotheses = [normalize(text, language) for text in hypotheses]
    if not any(references):
        raise ValueError("every reference is empty after normalisation; an error rate is undefined")
    name = "cer" if uses_characters(language) else "wer"
    process = jiwer.process_characters if name == "cer" else jiwer.process_words
    per_utterance = [getattr(process(reference, hypothesis), name)
                     for reference, hypothesis in zip(references, hypotheses, strict=True) if reference]
    return {name: getattr(process(references, hypotheses), name),
            f"median_utterance_{name}": float(statistics.median(per_utterance))}


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
