"""Canonical form of one extracted answer, keeping apart what changes its meaning: unit, percent, variable, equation.

`normalize` unwraps LaTeX presentation (`\\text{}`, `\\dfrac`, spacing, `$`) and writes infinity one way (`∞`,
`\\infin`, `inf`, `infinity`, `oo`, `+\\infty` are all `\\infty`), number words as digits ("twenty one" -> 21), and
mixed numbers as fractions ("1 1/2" -> 3/2: never "11/2", which removing the space would give). What it strips it
records, because it decides the comparison: the unit ("5 cm" -> "5" + cm; see `filters.answer_units`), a percent
sign, the variable of a single assignment ("x = 5" -> "5" + x), and whether an `=` is left (an equation, which is
not the value on its right: `5 = 42` is not 42).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from filters.answer_parsing import MAX_ANSWER_CHARS, strip_wrappers
from filters.answer_units import UNIT_WORDS
from filters.whisper_english import english_normalizer

__all__ = ["Normalized", "is_text", "normalize", "text_key", "unwrap_latex"]

NUMBER_WORDS = {
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty",
    "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand", "million", "billion", "and", "minus",
    "negative", "point",
}  # fmt: skip

_WRAPPER_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACING_RE = re.compile(r"\\[!,;:> ]|\\(?:quad|qquad|displaystyle|left|right)(?![A-Za-z])|~")
_TEMPERATURE_RE = re.compile(r"(?:\^\s*\{?\s*\\circ\s*\}?|\\circ|°|\\degree)\s*([CF])\s*$")
_DEGREE_RE = re.compile(r"(?:\^\s*\{?\s*\\circ\s*\}?|\\circ|°|\\degree)\s*$")
_PERCENT_RE = re.compile(r"\s*(?:\\%|%|\bpercent\b)\s*$")
_CURRENCY_RE = re.compile(r"^(-?)\s*(\\\$|\$|usd\b|€|£)\s*", re.IGNORECASE)
_UNIT_ALT = "|".join(re.escape(w) for w in UNIT_WORDS)
_ONE_UNIT = rf"(?:(?:sq|square|cubic)\.?\s+)?(?:{_UNIT_ALT})\.?(?:\^\{{?[23]\}}?)?"
_UNIT_RE = re.compile(rf"\s*\b((?:{_ONE_UNIT})?(?:\s*(?:/|\bper\b)\s*{_ONE_UNIT})?)\s*$", re.IGNORECASE)
# "5 apples": a count noun after a plain number is a unit the table does not know (equal only by name)
_NOUN_RE = re.compile(r"^([+-]?[\d.,/]*\d)\s+([A-Za-z]{2,})$")
_NOT_NOUNS = {
    "pi",
    "sqrt",
    "frac",
    "ln",
    "log",
    "sin",
    "cos",
    "tan",
    "and",
    "or",
    "per",
    "inf",
    "infty",
    "times",
    "cdot",
    "percent",
}
_VAR = r"[A-Za-z](?:_\{?\w+\}?)?"
_ASSIGN_RE = re.compile(rf"^({_VAR})\s*=\s*([^=]+)$")
_MIXED_RE = re.compile(r"^(-?)(\d{1,9})\s+(?:(\d{1,9})/(\d{1,9})|\\frac\{(\d{1,9})\}\{(\d{1,9})\})$")
_MIXED_TEX_RE = re.compile(r"^(-?)(\d{1,9})\\frac\{(\d{1,9})\}\{(\d{1,9})\}$")
_INFINITY_RE = re.compile(r"∞|\\infin(?![A-Za-z])|(?<![\\A-Za-z])(?:inf|infinity|oo)(?![A-Za-z])", re.IGNORECASE)
_TEXT_RE = re.compile(r"^[A-Za-z][A-Za-z '\-]*$")
_ARTICLE_RE = re.compile(r"^(?:the|a|an)\s+")


@dataclass(frozen=True)
class Normalized:
    """An answer in canonical form (`text`, no spaces for math) and what was taken off it to get there."""

    text: str
    percent: bool = False
    unit: str | None = None  # as written, lower-cased ("cm", "km/h", "$"); None: no unit
    var: str | None = None  # "x" for "x = 5"
    equation: bool = False  # an `=` remains: "5 = 42", "y = 2x + 1 = 3", "2x + 1 = y"


def unwrap_latex(answer: str) -> str:
    """Presentation taken off (NFKC, `$`, `\\text{}`, `\\dfrac`, spacing) and infinity written one way."""
    s = unicodedata.normalize("NFKC", answer[:MAX_ANSWER_CHARS]).replace("\u2044", "/").replace("\u2212", "-")
    s = s.replace("\u03c0", "\\pi").replace("\u00d7", "\\times")
    s = strip_wrappers(s)
    for _ in range(5):
        unwrapped = _WRAPPER_RE.sub(r"\1", s)
        if unwrapped == s:
            break
        s = unwrapped
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = _SPACING_RE.sub(" ", s)
    s = _INFINITY_RE.sub(r"\\infty", s)
    return re.sub(r"(^|[(\[,])\s*\+\s*\\infty", r"\1\\infty", s).strip()


def _take_unit(s: str) -> tuple[str, str | None]:
    """The value and its unit: a temperature, a degree sign, a currency prefix, or a trailing unit phrase."""
    m = _TEMPERATURE_RE.search(s)
    if m:
        return s[: m.start()].strip(), "°" + m.group(1).lower()
    m = _DEGREE_RE.search(s)
    if m and any(c.isdigit() for c in s[: m.start()]):
        return s[: m.start()].strip(), "°"
    unit = None
    m = _CURRENCY_RE.match(s)
    if m:
        s, unit = (m.group(1) + s[m.end() :]).strip(), m.group(2).lower().replace("\\$", "$")
    m = _UNIT_RE.search(s)
    before = s[: m.start()].rstrip() if m and m.group(1) else ""
    if before and (before[-1].isdigit() or before[-1] in "})"):  # a unit follows a value, not a variable
        written = " ".join(m.group(1).lower().replace(".", " ").split())  # type: ignore[union-attr]
        s = before
        if written in ("unit", "units", "square units", "sq units", "cubic units"):  # unnamed: no unit
            return s, unit
        # "$3 per hour" is dollars per hour; "$5 dollars" is dollars
        unit = written if unit is None or written in ("dollar", "dollars", "usd") else f"{unit} {written}"
    m = _NOUN_RE.match(s)
    if unit is None and m and m.group(2).lower() not in _NOT_NOUNS:
        s, unit = m.group(1), m.group(2).lower()
    return s, unit


def normalize(answer: str) -> Normalized:
    """Canonical form for comparison (see the module docstring); never raises on a `str`."""
    s = unwrap_latex(answer)
    s, unit = _take_unit(s)
    percent = bool(_PERCENT_RE.search(s))
    s = _PERCENT_RE.sub("", s)
    var = None
    m = _ASSIGN_RE.match(s)
    if m:
        var, s = m.group(1), m.group(2).strip()
    s = strip_wrappers(s)
    spelled = _number_from_words(s)
    if spelled is not None:
        return Normalized(spelled, percent, unit, var)
    if _TEXT_RE.match(s):
        return Normalized(" ".join(s.split()), percent, unit, var)
    s = _mixed_number(s)
    s = s.replace("**", "^")
    s = re.sub(r"(?<![\\A-Za-z])pi(?![A-Za-z])", r"\\pi", s)
    return Normalized("".join(s.split()), percent, unit, var, equation="=" in s)


def _mixed_number(s: str) -> str:
    m = _MIXED_RE.match(s) or _MIXED_TEX_RE.match(s)
    if not m:
        return s
    sign, whole, *parts = m.groups()
    num, den = (int(p) for p in parts if p is not None)
    return f"{sign}{int(whole) * den + num}/{den}" if den else s


@functools.cache
def _number_normalizer() -> Any:
    # Whisper's English normalizer reads cardinals ("one hundred and five" -> 105)
    return english_normalizer().EnglishNumberNormalizer()


_SMALL = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_PARTS = {"half": (1, 2), "halves": (1, 2), "third": (1, 3), "thirds": (1, 3), "quarter": (1, 4), "quarters": (1, 4),
          "fourth": (1, 4), "fourths": (1, 4), "fifth": (1, 5), "fifths": (1, 5), "dozen": (12, 1)}  # fmt: skip


def _number_from_words(s: str) -> str | None:
    """Digits for an answer that is only number words ("twenty-one", "minus five", "two thirds"), else None."""
    words = s.lower().replace("-", " ").split()
    if len(words) == 2 and words[0] in _SMALL and words[1] in _PARTS:  # "a dozen", "one half", "three quarters"
        num, den = _PARTS[words[1]]
        return f"{_SMALL[words[0]] * num}/{den}"
    if not words or len(words) > 12 or not all(w in NUMBER_WORDS for w in words) or words[0] in ("and", "point"):
        return None
    digits = _number_normalizer()(" ".join(words)).replace(" ", "")
    return digits if re.fullmatch(r"-?\d+(?:\.\d+)?", digits) else None


def is_text(s: str) -> bool:
    """Plain words (compared case-insensitively), as opposed to math."""
    return bool(_TEXT_RE.match(s))


def text_key(s: str) -> str:
    return _ARTICLE_RE.sub("", " ".join(s.lower().replace("-", " ").split()))
