"""Spoken forms around numbers for `filters.normalize`: digits read one by one, units, fractions, clock phrases.

Two halves, because Whisper's number step sits between them. `spoken_tokens` runs before it, on words: it decides
what a word next to a number means while the number is still a word ("one second" is a duration, "twenty second"
an ordinal; "oh" is a zero in "oh one two", not in "oh, I see"). `spoken_numbers` runs after it, on digits: it
reads clock phrases ("quarter to 4" -> "345"), mixed fractions and pence, then joins digits read one by one
("5 5 5 1 2 3 4" -> "5551234", as the number step already does for "five five five ...").

All work is one left-to-right scan over tokens or a regex without nested quantifiers: linear in the input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from filters.normalize_tables import (
    CLOCK_RELATIONS,
    FRACTION_PLURAL,
    FRACTION_SINGULAR,
    FRACTION_SINGULAR_AFTER,
    REPEATS,
    SECOND_UNIT_AFTER,
    SINGLE_DIGITS,
    TEMPERATURE_SCALES,
    UNIT_PAIRS,
    UNIT_PHRASES,
    UNITS,
)

__all__ = ["LEADING_ZERO", "SPOKEN_ZEROS", "spoken_numbers", "spoken_tokens"]

SPOKEN_ZEROS = frozenset({"o", "oh"})
_ONE_WORD = frozenset({"a", "an"})  # "a hundred" -> "one hundred"
_NUMBER_TOKEN = re.compile(r"[$£€]?\d+(?:\.\d+)?")
# Words that may start a unit after a number: the unit rule is tried only for these.
_UNIT_STARTS = frozenset({*UNITS, "second", *(phrase[0] for phrase in UNIT_PHRASES), *(pair[0] for pair in UNIT_PAIRS)})
# A digit string with a leading zero is a code ("0123", "007"): Whisper's number step would read it as an int.
LEADING_ZERO = re.compile(r"0\d+")


class _Scan:
    """Read position over the input tokens and the rewritten output, so rules can look both ways."""

    def __init__(self, tokens: list[str], number_words: frozenset[str]) -> None:
        self.tokens, self.number_words, self.out = tokens, number_words, []
        self.i = 0

    def ahead(self, k: int) -> str:
        j = self.i + k
        return self.tokens[j] if j < len(self.tokens) else ""

    def is_number(self, token: str) -> bool:
        return token in self.number_words or bool(_NUMBER_TOKEN.fullmatch(token))

    @property
    def prev(self) -> str:
        return self.out[-1] if self.out else ""


def _zero(scan: _Scan) -> str | None:
    """ "oh" is a zero after a number ("nineteen oh five") or before two digits read one by one ("oh one two")."""
    if scan.is_number(scan.prev) or (scan.ahead(1) in SINGLE_DIGITS and scan.is_number(scan.ahead(2))):
        return "zero"
    return None


def _repeat(scan: _Scan, count: int) -> list[str] | None:
    """ "double five" -> "five five", "triple 7" -> "7 7 7", "double oh seven" -> "zero zero seven"."""
    digit = scan.ahead(1)
    if digit not in SINGLE_DIGITS:
        return None
    scan.i += 1
    return ["zero" if digit in SPOKEN_ZEROS else digit] * count


def _fraction(scan: _Scan, word: str) -> list[str] | None:
    """ "three quarters", "two thirds", "one half", "a quarter" -> "<n> over <d>"; not "a quarter past three"."""
    if scan.ahead(1) in CLOCK_RELATIONS:
        return None
    if word in FRACTION_PLURAL and scan.is_number(scan.prev):
        return ["over", str(FRACTION_PLURAL[word])]
    denominator = FRACTION_SINGULAR.get(word)
    if denominator in FRACTION_SINGULAR_AFTER.get(scan.prev, ()):
        scan.out[-1] = "one" if scan.prev == "a" else scan.prev
        return ["over", str(denominator)]
    return None


def _unit(scan: _Scan, word: str) -> list[str] | None:
    """A unit after a number -> its canonical token ("kilometers" -> "km", "degrees c" -> "degrees celsius")."""
    if not scan.is_number(scan.prev) or (word == "p" and scan.ahead(1) == "m"):  # "3 p m" is a time, not pence
        return None
    phrase = UNIT_PHRASES.get((word, scan.ahead(1), scan.ahead(2)))
    if phrase:
        scan.i += 2
        return [phrase]
    pair = UNIT_PAIRS.get((word, scan.ahead(1)))
    if pair:
        scan.i += 1
        return [pair]
    unit = UNITS.get(word) or ("sec" if word == "second" and scan.prev in SECOND_UNIT_AFTER else None)
    if unit == "degrees" and scan.ahead(1) in TEMPERATURE_SCALES:
        scan.i += 1
        return [unit, TEMPERATURE_SCALES[scan.tokens[scan.i]]]
    return [unit] if unit else None


def spoken_tokens(tokens: list[str], number_words: frozenset[str], multipliers: frozenset[str]) -> list[str]:
    """Rewrite the words around numbers into the forms Whisper's number step and `spoken_numbers` expect."""
    scan = _Scan(tokens, number_words)
    while scan.i < len(tokens):
        word = tokens[scan.i]
        rewritten: list[str] | str | None = None
        if word in SPOKEN_ZEROS:
            rewritten = _zero(scan)
        elif word in REPEATS:
            rewritten = _repeat(scan, REPEATS[word])
        elif word in _ONE_WORD and scan.ahead(1) in multipliers:
            rewritten = "one"
        elif word in FRACTION_PLURAL or word in FRACTION_SINGULAR:
            rewritten = _fraction(scan, word)
        if rewritten is None and word in _UNIT_STARTS:
            rewritten = _unit(scan, word)
        if rewritten is None:
            scan.out.append(word)
        elif isinstance(rewritten, str):
            scan.out.append(rewritten)
        else:
            scan.out.extend(rewritten)
        scan.i += 1
    return scan.out


# --- after the number step ----------------------------------------------------------------------------------------

_HOUR = r"(1[0-2]|[1-9])"
_HALF_PAST = re.compile(r"\b(?:a )?(half|quarter) (?:past|after) " + _HOUR + r"\b(?![.\d])")
_QUARTER_TO = re.compile(r"\b(?:a )?quarter (?:to|till) " + _HOUR + r"\b(?![.\d])")
_MINUTES_PAST = re.compile(r"(?<![\d.$£€])([1-9]|[1-5]\d) (?:min )?(?:past|after) " + _HOUR + r"\b(?![.\d])")
_MINUTES_TO = re.compile(r"(?<![\d.$£€])([1-9]|[1-5]\d) min (?:to|till) " + _HOUR + r"\b(?![.\d])")
_MIXED_HALF = re.compile(r"(?<![\d.])(\d+) (?:and )?1 over 2\b(?! \d)")
_MIXED_AND = re.compile(r"(?<![\d.])(\d+) and (?=\d+ over \d)")
_PENNIES = re.compile(r"£0\.(\d\d)(?![\d.])")
_POUNDS_AND_PENCE = re.compile(r"£(\d+) (?:and )?(\d{1,2}) pence\b")
_BARE_INTEGER = re.compile(r"\d+")


def _hour_before(hour: str) -> str:
    return str(int(hour) - 1 or 12)


def _joined_digit_runs(tokens: list[str]) -> Iterator[str]:
    """Join neighbouring bare integers ("0 1 2 3" -> "0123"), except the parts of a fraction ("2 3 over 4")."""
    run = ""
    for i, token in enumerate(tokens):
        nearby = (tokens[i - 1] if i else "", tokens[i + 1] if i + 1 < len(tokens) else "")
        if _BARE_INTEGER.fullmatch(token) and "over" not in nearby:
            run += token
            continue
        if run:
            yield run
            run = ""
        yield token
    if run:
        yield run


def spoken_numbers(text: str) -> str:
    """Clock phrases, mixed fractions and pence to one form, then digit runs joined (see the module docstring)."""
    text = _HALF_PAST.sub(lambda m: m[2] + ("30" if m[1] == "half" else "15"), text)
    text = _QUARTER_TO.sub(lambda m: _hour_before(m[1]) + "45", text)
    text = _MINUTES_PAST.sub(lambda m: f"{m[2]}{int(m[1]):02d}", text)
    text = _MINUTES_TO.sub(lambda m: f"{_hour_before(m[2])}{60 - int(m[1]):02d}", text)
    text = _MIXED_HALF.sub(r"\1.5", text)
    text = _MIXED_AND.sub(r"\1 ", text)
    text = _PENNIES.sub(lambda m: f"{int(m[1])} pence", text)
    text = _POUNDS_AND_PENCE.sub(lambda m: f"£{m[1]}.{int(m[2]):02d}", text)
    return " ".join(_joined_digit_runs(text.split()))
