"""Pure-text helpers behind `filters.answers`: find the final answer in a text, normalize it, read exact numbers.

Everything here is regex and string work with linear-time patterns and hard length caps, so it is safe on any
model output (nothing is evaluated). Numbers become `fractions.Fraction`, never floats, so `0.33` stays `33/100`
and can never be mistaken for `1/3`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Normalized", "choice_letter", "extract_answer", "is_text", "normalize", "parse_number"]

MAX_TEXT_CHARS = 100_000  # only the tail of a longer text is scanned: the final answer is at the end
MAX_ANSWER_CHARS = 1_000  # an "answer" longer than this is not an answer
_MAX_BRACE_SCAN = 5_000
_MAX_NUMBER_CHARS = 100  # digits we are willing to turn into an exact Fraction

UNITS = {
    # length, area, volume, mass, time, speed, money, angles, misc counts that show up after GSM8K-style numbers
    "mm", "cm", "m", "km", "in", "inch", "inches", "ft", "foot", "feet", "yd", "yard", "yards", "mi", "mile",
    "miles", "meter", "meters", "metre", "metres", "centimeter", "centimeters", "kilometer", "kilometers",
    "sq", "square", "cubic", "l", "ml", "liter", "liters", "litre", "litres", "gallon", "gallons", "mg", "g", "kg",
    "gram", "grams", "kilogram", "kilograms", "lb", "lbs", "pound", "pounds", "oz", "ounce", "ounces", "ton", "tons",
    "s", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes", "h", "hr", "hrs", "hour", "hours",
    "day", "days", "week", "weeks", "month", "months", "year", "years", "mph", "kmh", "kph",
    "dollar", "dollars", "usd", "euro", "euros", "cent", "cents", "degree", "degrees", "deg", "units", "unit",
}  # fmt: skip
_ALLOWED_WORDS = UNITS | {"pi", "sqrt", "frac", "percent", "and", "or", "ln", "log", "sin", "cos", "tan", "inf"}

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_GSM_RE = re.compile(r"####[ \t]*([^\n]*)")
_PHRASE_RE = re.compile(r"(?i)\banswer\b[\s*_]*(?:is\b|:|=)[\s*_:]*")
_OPTION_RE = re.compile(r"(?i)\b(?:option|choice)\s*\(?([A-H])\)?(?![\w])")
# a phrase's answer ends at a sentence end, a clause word, or a comma opening a clause ("N = 8, which is ...");
# a comma before a one-letter name ("x = 5, y = 3") or a digit ("1,234") stays inside the answer
_CUT_RE = re.compile(r"\.(?=\s|$)|,\s+(?=[A-Za-z]{2,})|\s(?:because|since|as|which|so|given|where|when)\b|\n")
_NUMBER_RE = re.compile(r"(?:(?<![\w)])-|(?<![\w.]))\$?\d(?:[\d,]*\d)?(?:\.\d+)?(?:/\d+)?%?")
_WORD_RE = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_CHOICE_RES = [
    re.compile(r"^\(([A-Ha-h])\)[.:]?$"),
    re.compile(r"^([A-H])[.):]?$"),
    re.compile(r"^(?i:option|choice)\s*\(?([A-Ha-h])\)?\.?$"),
    re.compile(r"^\(([A-Ha-h])\)\s+\S"),  # "(B) 42": the letter is the answer
    re.compile(r"^([A-H])\)\s+\S"),
]


def _braced(text: str, pos: int) -> str | None:
    """Content of the `{...}` group starting at `pos` (escaped braces skipped), or of `\\boxed 5`'s single token."""
    while pos < len(text) and text[pos] == " ":
        pos += 1
    if pos >= len(text):
        return None
    if text[pos] != "{":
        token = re.match(r"[^\s$]+", text[pos : pos + 200])
        return token.group(0) if token else None
    depth, i, end = 0, pos, min(len(text), pos + _MAX_BRACE_SCAN)
    while i < end:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[pos + 1 : i]
        i += 1
    return None


def _strip_wrappers(s: str) -> str:
    s = s.strip().strip("*").strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
            s = s[len(left) : -len(right)].strip()
    return s.rstrip(".!;,").strip()


def choice_letter(s: str) -> str | None:
    """The multiple-choice letter `s` names ("(B)", "B)", "B", "option B", "(B) 42"), upper-cased, or None."""
    s = _strip_wrappers(s)
    for pattern in _CHOICE_RES:
        m = pattern.match(s)
        if m:
            return m.group(1).upper()
    return None


def _looks_like_answer(s: str) -> bool:
    """A bare answer rather than a sentence: math, or a number with units, or a few words."""
    if not s or len(s) > 200 or "\n" in s or s.endswith("?"):
        return False
    words = [w.lower() for w in _WORD_RE.findall(s)]
    if any(c.isdigit() for c in s):
        return all(w in _ALLOWED_WORDS for w in words)
    return len(words) <= 4 and not re.search(r"[.!?]\s", s)


def _from_phrase(rest: str) -> str | None:
    cut = _CUT_RE.search(rest)
    candidate = _strip_wrappers(rest[: cut.start()] if cut else rest)
    if not candidate:
        return None
    letter = choice_letter(candidate)
    if letter:
        return letter
    if _looks_like_answer(candidate):
        return candidate
    number = _NUMBER_RE.search(candidate)
    return number.group(0) if number else (candidate[:100] if len(candidate) <= 100 else None)


def _last(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    found = None
    for found in pattern.finditer(text):  # noqa: B007 - we want the last match
        pass
    return found


def extract_answer(text: str) -> str | None:
    """The final answer in a model output or a reference; None when there is nothing answer-like.

    Priority: last `\\boxed{}`/`\\fbox{}` (if the last one is never closed the output was cut off: None), GSM8K's
    `#### 42`, the last "answer is / Answer: / final answer:" phrase, "option B", the whole text when it is itself
    a bare answer, else the last number.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    text = text[-MAX_TEXT_CHARS:]
    boxes = list(_BOX_RE.finditer(text))
    if boxes:
        content = _braced(text, boxes[-1].end())
        if content is None:
            return None
        return _strip_wrappers(content)[:MAX_ANSWER_CHARS] or None
    gsm = _last(_GSM_RE, text)
    if gsm is not None:
        return _strip_wrappers(gsm.group(1))[:MAX_ANSWER_CHARS] or None
    phrase = _last(_PHRASE_RE, text)
    if phrase is not None:
        found = _from_phrase(text[phrase.end() : phrase.end() + 500])
        if found:
            return found
    option = _last(_OPTION_RE, text)
    if option is not None:
        return option.group(1).upper()
    bare = _strip_wrappers(text)
    if _looks_like_answer(bare):
        return choice_letter(bare) or bare
    number = _last(_NUMBER_RE, text)
    return number.group(0) if number is not None else None


# ---------------------------------------------------------------------------------------------- normalization

_WRAPPER_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|operatorname)\s*\{([^{}]*)\}")
_SPACING_RE = re.compile(r"\\[!,;:> ]|\\(?:quad|qquad|displaystyle|left|right)(?![A-Za-z])|~")
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|°|\\degree")
_PERCENT_RE = re.compile(r"\s*(?:\\%|%|\bpercent\b)\s*$")
_CURRENCY_RE = re.compile(r"^(-?)\s*(?:\\\$|\$|usd\b|€|£)\s*", re.IGNORECASE)
_UNIT_RE = re.compile(r"\s*\b(?:" + "|".join(sorted(UNITS, key=len, reverse=True)) + r")\b\.?(?:\^\{?\d\}?)?\s*$")
_ASSIGN_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*([^=]+)$")
_TEXT_RE = re.compile(r"^[A-Za-z][A-Za-z '\-]*$")
_ARTICLE_RE = re.compile(r"^(?:the|a|an)\s+")


@dataclass(frozen=True)
class Normalized:
    """An answer in canonical form: `text` (no spaces for math), and whether it carried a percent sign."""

    text: str
    percent: bool = False


def normalize(answer: str) -> Normalized:
    """Canonical form for comparison: unwrap `\\text{}`, drop spacing, `$`/currency, degrees, units, `x =`."""
    s = unicodedata.normalize("NFKC", answer[:MAX_ANSWER_CHARS]).replace("\u2044", "/").replace("\u2212", "-")
    s = s.replace("\u03c0", "\\pi").replace("\u00d7", "\\times")
    s = _strip_wrappers(s)
    for _ in range(5):
        unwrapped = _WRAPPER_RE.sub(r"\1", s)
        if unwrapped == s:
            break
        s = unwrapped
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = _SPACING_RE.sub(" ", s)
    s = _DEGREE_RE.sub("", s).strip()
    percent = bool(_PERCENT_RE.search(s))
    s = _PERCENT_RE.sub("", s)
    s = _CURRENCY_RE.sub(r"\1", s).strip()
    for _ in range(3):  # "5 square cm", "3 cm^2", "12 dollars"
        stripped = _UNIT_RE.sub("", s).strip()
        if stripped == s or not any(c.isdigit() for c in stripped):
            break
        s = stripped
    m = _ASSIGN_RE.match(s)
    if m:
        s = m.group(1).strip()
    s = _strip_wrappers(s)
    if _TEXT_RE.match(s):
        return Normalized(" ".join(s.split()), percent)
    s = s.replace("**", "^")
    s = re.sub(r"(?<![\\A-Za-z])pi(?![A-Za-z])", r"\\pi", s)
    s = re.sub(r"(?<![\\A-Za-z])(?:inf|infinity)(?![A-Za-z])", r"\\infty", s)
    return Normalized("".join(s.split()), percent)


def is_text(s: str) -> bool:
    """Plain words (compared case-insensitively), as opposed to math."""
    return bool(_TEXT_RE.match(s))


def text_key(s: str) -> str:
    return _ARTICLE_RE.sub("", " ".join(s.lower().replace("-", " ").split()))


_SIGNED = r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+"
_PLAIN_RE = re.compile(rf"^(?:{_SIGNED})$")
_SCI_RE = re.compile(rf"^({_SIGNED})(?:[eE]|(?:\\times|\\cdot|\*)10\^)\{{?([+-]?\d{{1,3}})\}}?$")
_SLASH_RE = re.compile(rf"^({_SIGNED})/({_SIGNED})$")
_FRAC_RE = re.compile(rf"^([+-]?)\\frac(?:\{{({_SIGNED})\}}\{{({_SIGNED})\}}|(\d)(\d))$")


def _fraction(s: str) -> Fraction:
    return Fraction(s.replace(",", ""))


def parse_number(s: str) -> Fraction | None:
    """An exact value for plain numbers (`1,234`, `-3.50`, `.5`, `2e3`), `a/b` and `\\frac{a}{b}`; else None."""
    if len(s) > _MAX_NUMBER_CHARS:
        return None
    try:
        if _PLAIN_RE.match(s):
            return _fraction(s)
        m = _SCI_RE.match(s)
        if m:
            return _fraction(m.group(1)) * Fraction(10) ** int(m.group(2))
        m = _SLASH_RE.match(s)
        if m:
            return _fraction(m.group(1)) / _fraction(m.group(2))
        m = _FRAC_RE.match(s)
        if m:
            num, den = (m.group(2), m.group(3)) if m.group(2) is not None else (m.group(4), m.group(5))
            value = _fraction(num) / _fraction(den)
            return -value if m.group(1) == "-" else value
    except (ValueError, ZeroDivisionError):
        return None
    return None
