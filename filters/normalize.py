"""Canonical English text, so a written query and the ASR transcript of its TTS rendering compare equal.

A query such as "Dr. Smith paid $3.50 at 3:30 pm" is spoken by TTS and transcribed by Whisper, which may write
"Doctor Smith paid three dollars fifty at three thirty p.m." or use digits. Judging that round trip by WER needs
both sides in one form first. `normalize_text` produces that form: lowercase words with no punctuation, numbers as
digits, abbreviations and contractions expanded, units as one short token, American spelling. The output is meant
for comparison, not reading ("it's" and the possessive "John's" both become "... is"; "St.", "saint" and "street"
all become "street"; "one" becomes "1"; "5 kilometres" becomes "5 km"; "3/4" and "three quarters" "3 over 4").

Pipeline, in order (later steps rely on what earlier ones removed or kept):

1. NFKC, lowercase, one apostrophe character, one space between words.
2. Drop ASR annotations in [brackets] and <tags>; keep (parenthesised) words, since TTS reads those aloud.
3. Join dotted acronyms ("u.s." -> "us", "p.m." -> "pm", "e.g." -> "eg"); "no." before a digit -> "number",
   "fig. 3" -> "figure 3" (and "eq.", "vol.", "ch.", "sec.", "pt.": words only before a number).
4. Clock times to the form "three thirty" parses to: "3:30" -> "330", "10:00" -> "10"; "o'clock" dropped;
   ISO dates as read: "2024-05-21" -> "may 21st 2024".
5. Symbols read as words: "&" "+" "@" "#1", a leading minus ("-5" -> "minus 5"), "°C" -> "degrees c",
   "km/h" -> "kph", and a slash between digits -> "over" ("3/4" is read "three over four").
6. Contractions expanded ("don't" -> "do not", "won't" -> "will not", "I'm" -> "i am").
7. Punctuation: thousands commas dropped; other punctuation (commas, sentence periods, ...) splits the text into
   segments so numbers do not merge across it in this pass; decimal points and "$ % ¢ € £" are kept for the number
   step; other symbols and diacritics are dropped.
8. Per word (after splitting "1999grey" but not "21st"): fillers ("um", "uh") dropped, abbreviations and titles
   expanded ("dr" -> "doctor", "gen" -> "general"), British -> American spelling (`breame`'s 1,700-word table).
9. Words next to numbers (`filters.normalize_spoken.spoken_tokens`): "oh" as zero after a number or before two
   digits ("oh one two"), "double"/"triple" a digit, fraction words ("two thirds" -> "2 over 3"; "a third time" and
   "twenty third" are no fractions), units after a number ("kilometers" -> "km", "miles per hour" -> "mph",
   "degrees c" -> "degrees celsius"; "one second" is a duration, "twenty second" an ordinal).
10. Spelled numbers -> digits per segment, by Whisper's `EnglishNumberNormalizer` from `transformers`: cardinals,
    ordinals ("twenty first" -> "21st"), years ("nineteen oh five" -> "1905"), decimals, money, percent. Codes with
    a leading zero ("0123", "007") pass around it: it would read them as integers and drop the zero.
11. Tidy-ups the library lacks: "$3 50" / "$3.5" -> "$3.50", "$3.00" -> "$3", "3 p m" -> "3 pm", "3.30 pm" -> "330
    pm", ".5" -> "0.5"; stray symbols dropped; then `spoken_numbers`: clock phrases ("half past 3" -> "330",
    "quarter to 4" -> "345", "10 past 3" -> "310"), mixed fractions ("2 and 1 over 2" -> "2.5", like "two and a
    half"), pence ("£0.50" -> "50 pence"), and neighbouring integers joined ("0 1 2 3" -> "0123", "555 1234" ->
    "5551234"), since Whisper's number step joins "five five five" the same way.

Deliberate limits, so that real mishearings still count: "three fifty" with no currency word stays "350" (it is as
likely 3:50 or 350 as $3.50); "twenty to four" stays as it is (a score as often as 3:40; "twenty minutes to four"
is a time); "noon", "midnight" and "in the afternoon" are left alone (no TTS reading of a written time produces
them); "5k" is not kelvin. Joining integers means "one, two, three" ends as "123", like "one hundred twenty three":
a digit string reads either way, and no recognizer confuses a count with a number.

The whole pipeline is repeated until its output stops changing (one extra check pass for real text), which makes
`normalize_text` idempotent by construction: step 7's segment breaks are gone from the output, so a second pass
could otherwise still merge "5" and "dollars" from "5, dollars". It is deterministic, linear in the input length,
and never raises on a `str`. The `transformers` import (~1 s) is deferred to the first call so that importing this
module (and `filters.wer`) stays cheap.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from breame.data.spelling_constants import BRITISH_ENGLISH_SPELLINGS

from filters.normalize_spoken import LEADING_ZERO, SPOKEN_ZEROS, spoken_numbers, spoken_tokens
from filters.normalize_tables import (
    ABBREVIATIONS,
    ABBREVIATIONS_BEFORE_NUMBER,
    BEFORE_NUMBER_WITH_DOT_ONLY,
    CONTRACTIONS,
    MONTHS,
)
from filters.whisper_english import english_normalizer

if TYPE_CHECKING:
    from transformers.models.whisper.english_normalizer import EnglishNumberNormalizer

__all__ = ["normalize_text"]

# --- step 1: characters -------------------------------------------------------------------------------------------

# Typographic apostrophes and primes, so "don’t" meets the contraction table below.
_APOSTROPHES = re.compile(r"[\u2018\u2019\u201b\u2032\u02bc\u0060\u00b4]")
_SPACES = re.compile(r"\s+")

# --- step 2: annotations ------------------------------------------------------------------------------------------

# Excluding the opening character from the body keeps this linear on unbalanced input like "[[[[...".
_ANNOTATIONS = re.compile(r"\[[^\[\]]*\]|<[^<>]*>")

# --- step 3: dotted acronyms --------------------------------------------------------------------------------------

# Bounded repetition keeps long "a.b.c.d..." runs linear.
_DOTTED_ACRONYM = re.compile(r"(?<![\w.])[a-z](?:\.[a-z]){1,9}\.?(?![\w])")
_NUMBER_SIGN = re.compile(r"\bno\.\s?(?=\d)")
_BEFORE_NUMBER = re.compile(
    r"\b(?:("
    + "|".join(sorted(set(ABBREVIATIONS_BEFORE_NUMBER) - BEFORE_NUMBER_WITH_DOT_ONLY))
    + r")\.?|("
    + "|".join(sorted(BEFORE_NUMBER_WITH_DOT_ONLY))
    + r")\.)\s?(?=\d)"
)

# --- step 4: clock times ------------------------------------------------------------------------------------------

_COLON_TIME = re.compile(r"(?<![\d:.$£€])(\d{1,2}):(\d{2})(?![\d:])")
_OCLOCK = re.compile(r"\bo\s?'?\s?clock\b")
# ISO dates are read "May twenty-first, 2024" (as `datagen.speakable` says them).
_ISO_DATE = re.compile(r"\b((?:1[6-9]|20)\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\b")

# --- step 5: symbols spoken as words ------------------------------------------------------------------------------

_SPOKEN_SYMBOLS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"&"), " and "),
    (re.compile(r"\+"), " plus "),
    (re.compile(r"@"), " at "),
    (re.compile(r"#(?=\s?\d)"), " number "),
    (re.compile(r"(?<![\w.])-(?=\d)"), " minus "),
    (re.compile(r"(?<=\d) %"), "%"),
    (re.compile(r"(?<=\d) ?¢(?!\d)"), " cents"),
    (re.compile(r"(?<=\d) ?° ?([cfk])\b"), r" degrees \1 "),  # "20°C", "20 °F"; NFKC made "℃" into "°c"
    (re.compile(r"(?<=\d) ?°"), " degrees "),
    (re.compile(r"(?<=\d) ?km ?/ ?hr?\b"), " kph "),
    (re.compile(r"(?<=\d) ?m ?/ ?s\b"), " mps "),
    (re.compile(r"(?<=\d) ?/ ?(?=\d)"), " over "),  # "3/4" is read "three over four" (or "three quarters")
)

# --- step 6: contractions -----------------------------------------------------------------------------------------

_CONTRACTIONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement) for pattern, replacement in CONTRACTIONS
)

# --- step 7: punctuation ------------------------------------------------------------------------------------------

_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SENTENCE_PERIOD = re.compile(r"\.(?!\d)")
_SEGMENT = "\n"  # whitespace was collapsed to " " in step 1, so newlines are free to mark segment boundaries
_KEEP_SYMBOLS = ".%$¢€£" + _SEGMENT
_WORD_BREAKS = frozenset("-\u2010\u2011_'")  # in-word marks: "twenty-one", "o'brien" become two words, not segments

# --- step 8: words ------------------------------------------------------------------------------------------------

# Possessive runs (each letter class is distinct, so nothing needs to be given back): "mmm…x" fails in one pass
# instead of trying every split of its m's (`m+h*m+` was quadratic). `m{2,}+|m++h++m++` is `m+h*m+`.
_FILLER = re.compile(r"u++h++m*+|u++m++|h++m++|m{2,}+|m++h++m++|e++r++m++")

# --- step 10: numbers ---------------------------------------------------------------------------------------------

_DIGITS = re.compile(r"\d")
# "1999grey" -> "1999 grey" so the word step sees "grey"; ordinal/plural suffixes ("21st", "1990s") stay attached.
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])(?!(?:st|nd|rd|th|s)\b)")

# --- step 11: tidy-ups -------------------------------------------------------------------------------------------

_LEADING_DECIMAL = re.compile(r"(?<![\w.])\.(?=\d)")
_AM_PM = re.compile(r"(?<=\d) ([ap]) m\b")
_DOTTED_TIME = re.compile(r"(?<![\d.$£€])(\d{1,2})\.(\d{2})(?= [ap]m\b)")
# Whisper writes "ten oh five" as "10.05" after "at"/"until": a time there, as "3:30" is ("at 3.14" is rare).
_DOTTED_TIME_AFTER = re.compile(r"\b(at|until|till|by|before|after|from|around) (1[0-2]|[1-9])\.([0-5]\d)(?![\d.])")
_DOLLARS_CENTS = re.compile(r"([$£€])(\d+) (\d{2})(?![\w.%])")
_CENTS_SYMBOL = re.compile(r"([$£€])(\d+) (?:and )?¢(\d{1,2})(?![\w.])")
_ONE_DECIMAL = re.compile(r"([$£€]\d+\.\d)(?![\d.])")
_ZERO_CENTS = re.compile(r"([$£€]\d+)\.00(?![\d.])")
_ONLY_CENTS = re.compile(r"[$€]0\.(\d{2})(?![\d.])")
_STRAY_PREFIX = re.compile(r"[.$¢€£](?!\d)")
_STRAY_PERCENT = re.compile(r"(?<!\d)%")


_MAX_PASSES = 6


class _Whisper(NamedTuple):
    numbers: EnglishNumberNormalizer
    number_words: frozenset[str]
    multipliers: frozenset[str]
    strip_symbols: Callable[..., str]


@functools.cache
def _whisper() -> _Whisper:
    """Whisper's normalizer pieces, built on first use."""
    whisper = english_normalizer()
    numbers = whisper.EnglishNumberNormalizer()
    # Whisper reads "o"/"oh" as zero anywhere ("oh my" -> "0 my"); step 9 decides where they are zeros.
    numbers.zeros = {"zero"}
    numbers.words -= SPOKEN_ZEROS
    numbers.decimals -= SPOKEN_ZEROS
    number_words = frozenset({*numbers.ones, *numbers.tens, *numbers.zeros, *numbers.multipliers})
    return _Whisper(numbers, number_words, frozenset(numbers.multipliers), whisper.remove_symbols_and_diacritics)


def _clock(hours: str, minutes: str) -> str:
    """Spell a clock time the way the number step parses its spoken form: "three thirty" -> 330, "ten" -> 10."""
    return hours if minutes == "00" else hours + minutes


def _iso_date(match: re.Match[str]) -> str:
    day = int(match[3])
    suffix = "th" if day in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{MONTHS[int(match[2]) - 1]} {day}{suffix} {match[1]}"


def _segment_punctuation(text: str) -> str:
    """Turn sentence punctuation into segment breaks and in-word joiners into spaces; leave symbols for later."""
    out: list[str] = []
    for char in text:
        if char in _WORD_BREAKS:
            out.append(" ")
        elif char in _KEEP_SYMBOLS or not unicodedata.category(char).startswith("P"):
            out.append(char)
        else:
            out.append(_SEGMENT)
    return "".join(out)


def _words(words: Iterable[str]) -> Iterator[str]:
    """Drop fillers, expand abbreviations, and Americanize spelling, one word at a time."""
    prev = ""
    for word in words:
        if _FILLER.fullmatch(word) and not (word == "mm" and _DIGITS.search(prev)):  # keep "5 mm"
            continue
        prev = word
        word = ABBREVIATIONS.get(word, word)
        yield BRITISH_ENGLISH_SPELLINGS.get(word, word)


def _segment(segment: str, whisper: _Whisper) -> str:
    """Words, then spelled numbers -> digits, within one segment; on a library error, keep the words as they are."""
    numbers = whisper.numbers
    segment = _STRAY_PERCENT.sub(" ", _STRAY_PREFIX.sub(" ", segment))  # "that$theatre": expose the word first
    segment = " ".join(_words(_LETTER_DIGIT.sub(" ", segment).split()))
    try:
        tokens = numbers.preprocess(segment).split()  # "and a half" -> "point five"
        tokens = spoken_tokens(tokens, whisper.number_words, whisper.multipliers)
        return " ".join(_numbers(tokens, whisper))
    except Exception:  # e.g. ints past Python's 4300-digit str limit; the contract is "never raise"
        return segment


def _numbers(tokens: list[str], whisper: _Whisper) -> Iterator[str]:
    """Spelled numbers -> digits, passing codes with a leading zero through: the library would drop their zero."""
    start = 0
    for i, token in enumerate(tokens):
        if LEADING_ZERO.fullmatch(token):
            yield from whisper.numbers.process_words(tokens[start:i])
            yield token
            start = i + 1
    yield from whisper.numbers.process_words(tokens[start:])


def _combine_cents(match: re.Match[str]) -> str:
    return f"{match[1]}{match[2]}.{int(match[3]):02d}"


def _tidy(text: str) -> str:
    """Canonicalize money, times and decimals the number step leaves in several spellings."""
    text = _LEADING_DECIMAL.sub("0.", text)
    text = _AM_PM.sub(r" \1m", text)
    text = _DOTTED_TIME.sub(lambda m: _clock(m[1], m[2]), text)
    text = _DOTTED_TIME_AFTER.sub(lambda m: f"{m[1]} {_clock(m[2], m[3])}", text)
    text = _DOLLARS_CENTS.sub(r"\1\2.\3", text)
    text = _CENTS_SYMBOL.sub(_combine_cents, text)
    text = _ONE_DECIMAL.sub(r"\g<1>0", text)
    text = _ZERO_CENTS.sub(r"\1", text)
    text = _ONLY_CENTS.sub(lambda m: f"¢{int(m[1])}", text)
    text = _STRAY_PREFIX.sub(" ", text)
    return _STRAY_PERCENT.sub(" ", text)


def _pass(text: str, whisper: _Whisper) -> str:
    """One run of the pipeline in the module docstring."""
    # 1. characters
    text = unicodedata.normalize("NFKC", text).lower()
    text = _SPACES.sub(" ", _APOSTROPHES.sub("'", text))
    # 2. annotations
    text = _ANNOTATIONS.sub(" ", text)
    # 3. dotted acronyms
    text = _NUMBER_SIGN.sub("number ", text)
    text = _BEFORE_NUMBER.sub(lambda m: ABBREVIATIONS_BEFORE_NUMBER[m[1] or m[2]] + " ", text)
    text = _DOTTED_ACRONYM.sub(lambda m: m[0].replace(".", ""), text)
    # 4. clock times
    text = _COLON_TIME.sub(lambda m: _clock(m[1], m[2]), text)
    text = _OCLOCK.sub(" ", text)
    text = _ISO_DATE.sub(_iso_date, text)
    # 5. symbols read as words
    for pattern, replacement in _SPOKEN_SYMBOLS:
        text = pattern.sub(replacement, text)
    # 6. contractions
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    # 7. punctuation
    text = _THOUSANDS_COMMA.sub("", text)
    text = _SENTENCE_PERIOD.sub(_SEGMENT, text)
    text = _segment_punctuation(text)
    text = unicodedata.normalize("NFC", whisper.strip_symbols(text, keep=_KEEP_SYMBOLS)).lower()
    # 8. words, 9. words next to numbers and 10. numbers, per segment
    text = " ".join(_segment(segment, whisper) for segment in text.split(_SEGMENT) if segment.strip())
    # 11. tidy-ups, then clock phrases, fractions, pence and digit runs
    return spoken_numbers(" ".join(_tidy(text).split()))


def normalize_text(text: str) -> str:
    """Return the canonical comparison form of `text` (see the module docstring for the steps and their order).

    The output has lost the punctuation that kept numbers apart ("5, dollars" is "5 dollars" after one pass), so
    the pipeline is re-run until nothing changes; that makes the result idempotent by construction. Real text
    settles after one extra pass; the cap only bounds adversarial input.
    """
    whisper = _whisper()
    text = str(text)
    for _ in range(_MAX_PASSES):
        normalized = _pass(text, whisper)
        if normalized == text:
            break
        text = normalized
    return text
