"""The sentences of the synthetic corpus, from four sources (each record keeps its `source`):

- `fortunes`: natural English sentences from Debian's `fortunes` files;
- `wordnet`: the example sentences of WordNet 3.0 (Debian's `wordnet-base`; Princeton's WordNet licence, permissive,
  docs/CORPUS.md): ~32,000 short everyday sentences written to show one sense of one word each, so together
  they cover a far wider vocabulary than the fortunes ("He chased her barefoot across the meadow.");
- `questions`: spoken questions and requests a chat user would say, written by the LLM from topic seeds
  (data/selfinstruct.py; `blsp-kd prepare questions`), read from a text file, one a line;
- `numbers`: generated sentences with dates, years, prices, counts, clock times and names, written in words
  ("Meet Olivia on March the third at half past four."): every engine says them the same way, and Whisper's
  normaliser turns both the transcript and Whisper's digits ("March 3rd at half past 4") into the same text, so
  they are scored fairly.
"""

import random
import re
from collections.abc import Iterable
from pathlib import Path

FORTUNES_DIR = Path("/usr/share/games/fortunes")
WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_DATA_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
MIN_WORDS, MAX_WORDS = 4, 20
# Words that end with "." without ending a sentence.
ABBREVIATIONS = set(
    "mr mrs ms dr st jr sr vs etc prof gen col lt sgt capt rev vol mt ft co inc ltd"
    " e.g i.e u.s a.m p.m".split()
)
# A natural sentence: capital first, then only letters, spaces and , ; ' - and a lowercase letter before the
# end mark.
NATURAL_SENTENCE = re.compile(r"[A-Z][A-Za-z ,;'\-]*[a-z][.!?]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# Frequent English words; a sentence with none of them is usually another language (fortunes quote Latin).
COMMON_ENGLISH_WORDS = set(
    "the a an is are was were be been of to in on at for with and or but not no it its this that you your i"
    " me my we our he she his her they them their what who how why when where there do does did have has had"
    " can will would should could if so as all one by from".split()
)


def read_fortunes(path: Path) -> list[str]:
    """The fortunes of one file as paragraphs: attribution lines ("-- Mark Twain") and verse are dropped.

    Verse (every line capitalised, some line without an end mark) would join into run-on non-sentences."""
    paragraphs = []
    for block in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
        lines = [line.strip() for line in block.split("\n")]
        lines = [line for line in lines if line and line != "%" and not line.startswith("--")]
        is_verse = len(lines) >= 2 and all(line[0].isupper() for line in lines)
        if is_verse and any(not line.endswith((".", "!", "?")) for line in lines[:-1]):
            continue
        paragraphs.append(" ".join(" ".join(lines).split()))
    return paragraphs


def split_sentences(paragraph: str) -> list[str]:
    """Split at . ! ? followed by whitespace, except after an abbreviation or an initial ("J. Smith")."""
    sentences, current = [], ""
    for piece in SENTENCE_END.split(paragraph):
        current = f"{current} {piece}" if current else piece
        last_word = current.rsplit(" ", 1)[-1][:-1].lower()
        if current.endswith(".") and (
            last_word in ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha())
        ):
            continue
        sentences.append(current)
        current = ""
    if current:
        sentences.append(current)
    return sentences


def is_natural_sentence(sentence: str) -> bool:
    """4-20 words of letters and basic punctuation, no ALL-CAPS word, no quote or dash debris, English."""
    if not NATURAL_SENTENCE.fullmatch(sentence) or "--" in sentence:
        return False
    words = sentence.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return False
    for word in words:
        letters = re.sub(r"[^A-Za-z]", "", word)
        if len(letters) >= 2 and letters.isupper():
            return False
        bare = word.rstrip(".!?,;")
        if bare.startswith(("'", "-")) or bare.endswith(("'", "-")):  # quotes or broken hyphenation
            return False
    return any(word.strip(".!?,;").lower() in COMMON_ENGLISH_WORDS for word in words)


def collect_sentences(fortunes_dir: Path = FORTUNES_DIR) -> list[str]:
    """Natural English sentences from every fortunes file (not the .dat/.u8 indexes), deduplicated
    case-insensitively, in file order."""
    paths = sorted(p for p in Path(fortunes_dir).iterdir() if p.is_file() and "." not in p.name)
    if not paths:
        raise FileNotFoundError(f"no fortunes files in {fortunes_dir}: install the Debian package 'fortunes'")
    return natural_and_new(sentence for path in paths for paragraph in read_fortunes(path)
                           for sentence in split_sentences(paragraph))


def natural_and_new(candidates: Iterable[str]) -> list[str]:
    """The candidates that are natural sentences (`is_natural_sentence`), each once (case-insensitively), in order."""
    sentences, seen = [], set()
    for sentence in candidates:
        if is_natural_sentence(sentence) and sentence.lower() not in seen:
            seen.add(sentence.lower())
            sentences.append(sentence)
    return sentences




def read_wordnet_examples(wordnet_dir: str | Path = WORDNET_DIR) -> list[str]:
    """WordNet's example sentences that are natural sentences, capitalised and ended with a full stop when they
    lack one, deduplicated case-insensitively, in file order.

    A synset line of data.noun etc. ends with " | " and its gloss: a definition, then examples in double quotes,

        02084071 05 n 02 dog 0 domestic_dog 0 ... | a member of the genus Canis; "the dog barked all night"

    gives "The dog barked all night." (License lines at the top of each file start with two spaces.)"""
    wordnet_dir = Path(wordnet_dir)
    paths = [wordnet_dir / name for name in WORDNET_DATA_FILES if (wordnet_dir / name).is_file()]
    if not paths:
        raise FileNotFoundError(f"no WordNet data files in {wordnet_dir}: install the Debian package 'wordnet-base'")
    candidates = []
    for path in paths:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("  ") or " | " not in line:
                continue
            for example in re.findall(r'"([^"]+)"', line.split(" | ", 1)[1]):
                sentence = example.strip()
                sentence = sentence[:1].upper() + sentence[1:]
                candidates.append(sentence if sentence.endswith((".", "!", "?")) else sentence + ".")
    return natural_and_new(candidates)


def read_lines(path: str | Path) -> list[str]:
    """The non-empty lines of a text file (e.g. the questions written by `blsp-kd prepare questions`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sentence file {path}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------------------------- numbers, dates and names

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
        " seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
ORDINAL_ENDINGS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                   "nine": "ninth", "twelve": "twelfth"}
MONTHS = ("January February March April May June July August September October November December").split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
FIRST_NAMES = ("Olivia Liam Emma Noah Ava Oliver Sophia Elijah Mia James Amelia William Harper Benjamin Evelyn Lucas"
               " Grace Henry Chloe Daniel Sarah Michael Laura David Anna Thomas Maria Peter Helen George").split()
LAST_NAMES = ("Smith Johnson Brown Miller Davis Wilson Taylor Anderson Thomas Moore Martin Jackson White Harris"
              " Clark Lewis Walker Hall Young King Wright Green Baker Adams Nelson Carter").split()
THINGS = ("chairs tickets apples boxes books candles plates cups notebooks shirts bottles lamps").split()
PURCHASES = ("the groceries", "a new jacket", "the train ticket", "two coffees", "the taxi", "a birthday cake",
             "the concert tickets", "a pair of shoes", "the repair", "lunch")
NUMBER_TEMPLATES = (
    "Meet {name} on {month} the {day} at {clock}.",
    "Remind me on {weekday} to call {name} {surname}.",
    "The meeting with {name} {surname} is on {month} the {day}.",
    "I paid {price} for {purchase}.",
    "{name} was born in {year}.",
    "We need {count} {thing} by {weekday}.",
    "Set an alarm for {clock} tomorrow.",
    "The train to the city leaves at {clock} from platform {small}.",
    "Please book a table for {small} on {weekday} at {clock}.",
    "{name} {surname} moved here in {year}.",
    "The tickets cost {price} each.",
    "My appointment is on {weekday}, {month} the {day}.",
    "There were {count} people at the party on {weekday}.",
    "Can you send {name} the report by {month} the {day}?",
)
# Whisper's normaliser turns "third" into "3rd" but leaves "ninth" as it is, so a correct "9th" would count as an
# error: days 1-28 without the 9th.
DAYS = tuple(day for day in range(1, 29) if day != 9)
NUMBER_SENTENCES = 6000  # a fixed pool, so the plan does not depend on the corpus size


def number_words(number: int) -> str:
    """0-9999 in words, British-American style: 105 → "one hundred and five", 2300 → "two thousand three hundred"."""
    if number < 20:
        return ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return TENS[tens] + (f" {ONES[ones]}" if ones else "")
    if number < 1000:
        hundreds, rest = divmod(number, 100)
        return f"{ONES[hundreds]} hundred" + (f" and {number_words(rest)}" if rest else "")
    thousands, rest = divmod(number, 1000)
    words = f"{number_words(thousands)} thousand"
    if rest:
        words += f" and {number_words(rest)}" if rest < 100 else f" {number_words(rest)}"
    return words


def ordinal_words(number: int) -> str:
    """1-99 as an ordinal: 3 → "third", 21 → "twenty first", 30 → "thirtieth"."""
    words = number_words(number).split()
    last = words[-1]
    if last in ORDINAL_ENDINGS:
        words[-1] = ORDINAL_ENDINGS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_words(year: int) -> str:
    """1900-2029 as said: 1984 → "nineteen eighty four", 1905 → "nineteen oh five", 2007 → "two thousand and
    seven", 2019 → "twenty nineteen"."""
    if 2000 <= year < 2010:
        return "two thousand" + (f" and {ONES[year - 2000]}" if year > 2000 else "")
    century, rest = divmod(year, 100)
    if rest == 0:
        return f"{number_words(century)} hundred"
    return f"{number_words(century)} {'oh ' + ONES[rest] if rest < 10 else number_words(rest)}"


def clock_words(rng: random.Random) -> str:
    """A time of day as people say it, in forms Whisper's normaliser scores fairly: "four o'clock",
    "half past six", "a quarter to nine", "noon"."""
    hour = number_words(rng.randint(1, 12))
    return rng.choice((f"{hour} o'clock", f"half past {hour}", f"a quarter past {hour}", f"a quarter to {hour}",
                       "noon", "midnight"))


def price_words(rng: random.Random) -> str:
    dollars, cents = rng.randint(2, 250), rng.choice((0, 0, 25, 50, 75, 99))
    words = f"{number_words(dollars)} dollars"
    return words + (f" and {number_words(cents)} cents" if cents else "")


def number_sentence(rng: random.Random) -> str:
    """One sentence of a random template, every number in words."""
    template = rng.choice(NUMBER_TEMPLATES)
    fields = {
        "name": rng.choice(FIRST_NAMES),
        "surname": rng.choice(LAST_NAMES),
        "month": rng.choice(MONTHS),
        "day": ordinal_words(rng.choice(DAYS)),
        "weekday": rng.choice(WEEKDAYS),
        "clock": clock_words(rng),
        "price": price_words(rng),
        "purchase": rng.choice(PURCHASES),
        "year": year_words(rng.randint(1920, 2025)),
        "count": number_words(rng.choice((rng.randint(2, 99), rng.randint(100, 2000)))),
        "thing": rng.choice(THINGS),
        "small": number_words(rng.randint(2, 12)),
    }
    return template.format(**fields)


def number_sentences(count: int = NUMBER_SENTENCES, seed: int = 0) -> list[str]:
    """`count` distinct sentences of `number_sentence` (fewer only if the templates run out of variety)."""
    rng = random.Random(f"numbers-{seed}")
    sentences = {}
    for _ in range(count * 20):
        sentences.setdefault(number_sentence(rng), None)
        if len(sentences) == count:
            break
    return list(sentences)
