import os
import re

import pytest
from whisper_normalizer.english import EnglishTextNormalizer

from blsp_kd.data.texts import (
    DAYS,
    WORDNET_DIR,
    collect_sentences,
    is_natural_sentence,
    number_sentences,
    number_words,
    ordinal_words,
    read_fortunes,
    read_lines,
    read_wordnet_examples,
    split_sentences,
    year_words,
)

FORTUNES_TEXT = """A banker is a fellow who lends you his umbrella when the sun is shining.
		-- Mark Twain
%
Roses are red
Violets are blue
Sugar is sweet
%
Mr. Smith went to Washington with a plan. It failed, as plans do! Did anyone notice it?
%
a banker is a fellow who lends you his umbrella when the sun is shining.
%
FORTUNE: You will meet a TALL stranger today.  Quote "this" please.
"""


@pytest.mark.parametrize(
    "sentence, natural",
    [
        ("The family that slays together stays together.", True),
        ("Don't lose your head to gain a minute.", True),
        ("Is this the real life, or is it fantasy?", True),
        ("Too short here.", False),  # three words
        (" ".join(["word"] * 21) + ".", False),  # too long
        ("You will meet a TALL stranger today.", False),  # ALL-CAPS word
        ('He said "hello" to the crowd.', False),  # quotes
        ("There are 10 kinds of people in the world.", False),  # digits
        ("Q: Why did the chicken cross the road?", False),  # dialogue debris
        ("it starts with a lower case letter.", False),
        ("This sentence has no end mark at all", False),
        ("Adde parvum parvo manus acervus erit.", False),  # not English
        ("And then -- the thing happened to us.", False),
    ],
)
def test_is_natural_sentence(sentence, natural):
    assert is_natural_sentence(sentence) is natural


def test_split_sentences_keeps_abbreviations_and_initials():
    paragraph = "Mr. Smith met J. R. Jones at noon. They talked! Did it help? No."
    assert split_sentences(paragraph) == [
        "Mr. Smith met J. R. Jones at noon.",
        "They talked!",
        "Did it help?",
        "No.",
    ]


def test_collect_sentences_strips_attribution_verse_and_duplicates(tmp_path):
    (tmp_path / "wisdom").write_text(FORTUNES_TEXT)
    (tmp_path / "wisdom.dat").write_bytes(b"\x00\x01binary index")
    paragraphs = read_fortunes(tmp_path / "wisdom")
    assert paragraphs[0] == "A banker is a fellow who lends you his umbrella when the sun is shining."
    assert not any("Roses" in paragraph for paragraph in paragraphs)
    # "Mr. Smith went ..." is one sentence (the split keeps "Mr."), dropped for its inner period: no
    # fragment "Smith went to Washington with a plan." may appear.
    assert collect_sentences(tmp_path) == [
        "A banker is a fellow who lends you his umbrella when the sun is shining.",
        "It failed, as plans do!",
        "Did anyone notice it?",
    ]


def test_collect_sentences_without_fortunes_says_what_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="install the Debian package 'fortunes'"):
        collect_sentences(tmp_path)



WORDNET_NOUN = """  1 This software and database is being provided to you, the LICENSEE, by "Princeton University".
  2 Permission to use, copy, modify and distribute this software and database.
02084071 05 n 02 dog 0 domestic_dog 0 000 | a member of the genus Canis; "the dog barked all night"
03091374 06 n 01 gate 0 000 | a movable barrier; "he opened the gate slowly"; "the gate"; "GATE OPEN here"
"""
WORDNET_VERB = """00001740 29 v 04 breathe 0 000 | draw air into and expel out of the lungs; "She breathed deeply and slowly!"
00002325 29 v 01 respire 0 000 | undergo cellular respiration; "the dog barked all night"
00002573 29 v 01 choke 0 000 | breathe with great difficulty, as when experiencing a strong emotion
"""


def test_read_wordnet_examples_takes_the_quoted_examples_of_the_glosses(tmp_path):
    (tmp_path / "data.noun").write_text(WORDNET_NOUN)
    (tmp_path / "data.verb").write_text(WORDNET_VERB)
    # Capitalised and ended with a full stop; the licence lines, fragments under four words, all-caps debris and
    # the repeated example are left out; files in noun, verb, adj, adv order.
    assert read_wordnet_examples(tmp_path) == [
        "The dog barked all night.", "He opened the gate slowly.", "She breathed deeply and slowly!"]
    with pytest.raises(FileNotFoundError, match="install the Debian package 'wordnet-base'"):
        read_wordnet_examples(tmp_path / "nowhere")


@pytest.mark.skipif(not (WORDNET_DIR / "data.noun").is_file() and not os.environ.get("CI"),
                    reason="Debian package wordnet-base not installed (CI installs it: make setup)")
def test_wordnet_gives_tens_of_thousands_of_natural_sentences():
    sentences = read_wordnet_examples()
    assert len(sentences) > 30_000 and len({s.lower() for s in sentences}) == len(sentences)
    assert all(is_natural_sentence(sentence) for sentence in sentences)
    assert "He chased her barefoot across the meadow." in sentences


def test_number_words_by_hand():
    assert [number_words(n) for n in (7, 13, 40, 21, 105, 1000, 1005, 2300)] == [
        "seven", "thirteen", "forty", "twenty one", "one hundred and five", "one thousand", "one thousand and five",
        "two thousand three hundred",
    ]
    assert [ordinal_words(n) for n in (1, 2, 3, 5, 12, 20, 23)] == [
        "first", "second", "third", "fifth", "twelfth", "twentieth", "twenty third",
    ]
    assert [year_words(y) for y in (1905, 1984, 2000, 2007, 2019)] == [
        "nineteen oh five", "nineteen eighty four", "two thousand", "two thousand and seven", "twenty nineteen",
    ]


def test_whisper_normaliser_reads_our_number_words_as_the_digits_whisper_writes():
    # The transcripts are in words, Whisper writes digits: scoring is fair only if the normaliser maps both to
    # the same text, for every number the generator can say.
    normalise = EnglishTextNormalizer()
    for number in range(2, 10000):
        assert normalise(number_words(number)) == str(number), number
    for year in range(1920, 2026):
        assert normalise(year_words(year)) == str(year), year
    for day in DAYS:
        suffix = "th" if 10 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
        assert normalise(f"on May the {ordinal_words(day)}") == normalise(f"on May the {day}{suffix}"), day


def test_number_sentences_are_distinct_spoken_words_and_seeded():
    sentences = number_sentences(500, seed=3)
    assert len(sentences) == len(set(sentences)) == 500
    assert not any(re.search(r"[0-9$%:]", sentence) for sentence in sentences)
    assert number_sentences(500, seed=3) == sentences
    assert number_sentences(500, seed=4) != sentences
    # A sample reads like what a user would say.
    assert any(re.fullmatch(r"Meet [A-Z][a-z]+ on [A-Z][a-z]+ the [a-z ]+ at [a-z' ]+\.", s) for s in sentences)


def test_read_lines_skips_blank_lines_and_names_a_missing_file(tmp_path):
    (tmp_path / "q.txt").write_text("How are you?\n\n  Tell me a joke.  \n")
    assert read_lines(tmp_path / "q.txt") == ["How are you?", "Tell me a joke."]
    with pytest.raises(FileNotFoundError, match="no sentence file .*missing.txt"):
        read_lines(tmp_path / "missing.txt")
