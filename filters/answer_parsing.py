"""Pure-text helpers behind `filters.answers`: find the final answer in a text, read exact numbers.

Everything here is regex and string work with linear-time patterns and hard length caps, so it is safe on any
model output (nothing is evaluated). Numbers become `fractions.Fraction`, never floats, so `0.33` stays `33/100`
and can never be mistaken for `1/3`.
"""

from __future__ import annotations

import re
from fractions import Fraction

from filters.answer_units import UNIT_WORDS

__all__ = ["MAX_ANSWER_CHARS", "choice_letter", "extract_answer", "parse_number", "strip_wrappers"]

MAX_TEXT_CHARS = 100_000  # only the tail of a longer text is scanned: the final answer is at the end
MAX_ANSWER_CHARS = 1_000  # an "answer" longer than this is not an answer
_MAX_BRACE_SCAN = 5_000
_PHRASE_WINDOW = 500  # characters read after "the answer is"
_MAX_NUMBER_CHARS = 100  # digits we are willing to turn into an exact Fraction

_ALLOWED_WORDS = set(UNIT_WORDS) | {
    "pi",
    "sqrt",
    "frac",
    "percent",
    "and",
    "or",
    "ln",
    "log",
    "sin",
    "cos",
    "tan",
    "inf",
    "infinity",
    "per",
}

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_GSM_RE = re.compile(r"####[ \t]*([^\n]*)")
_PHRASE_RE = re.compile(r"(?i)\banswer\b[\s*_]*(?:is\b|:|=)[\s*_:]*")
_OPTION_RE = re.compile(r"(?i)\b(?:option|choice)\s*\(?([A-H])\)?(?![\w])")
# a letter named as the choice inside a sentence: "I choose B", "the correct one is (C)", "B is correct"; the letter
# must be upper-case (or parenthesised) so the article "a" in "a is correct"-like prose is not read as choice A
_CHOICE_SENTENCE_RE = re.compile(
    r"\b(?i:choose|chose|pick|picked|select|selected|go with|correct (?:answer|option|choice|one) is|right "
    r"(?:answer|option|choice) is)\s*(?:\(([A-Ha-h])\)|([A-H])\b)(?![\w)])"
    r"|(?:^|[\s*])(?:\(([A-Ha-h])\)|([A-H]))\s+is\s+(?i:the\s+)?(?i:correct|right)\b"
)
# a phrase's answer ends at a sentence end, a clause word, or a comma opening a clause ("N = 8, which is ...");
# a comma before a one-letter name ("x = 5, y = 3") or a digit ("1,234") stays inside the answer
_CUT_RE = re.compile(r"\.(?=\s|$)|,\s+(?=[A-Za-z]{2,})|\s(?:because|since|as|which|so|given|where|when)\b|\n")
_NUMBER_RE = re.compile(r"(?:(?<![\w)])-|(?<![\w.]))\$?\d(?:[\d,]*\d)?(?:\.\d+)?(?:/\d+)?%?")
_COUNT_RE = re.compile(r"^-?\$?\d[\d,.]*\s+[A-Za-z]{2,}$")  # a whole text "18 apples": the count and its noun
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


def strip_wrappers(s: str) -> str:
    s = s.strip().strip("*").strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
            s = s[len(left) : -len(right)].strip()
    return s.rstrip(".!;,").strip()


def choice_letter(s: str) -> str | None:
    """The multiple-choice letter `s` names ("(B)", "B)", "B", "option B", "(B) 42"), upper-cased, or None."""
    s = strip_wrappers(s)
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


def _from_phrase(rest: str, truncated: bool) -> str | None:
    cut = _CUT_RE.search(rest)
    if cut is None and truncated:  # the answer runs past the window: refused, never cut short
        return None
    candidate = strip_wrappers(rest[: cut.start()] if cut else rest)
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
    `#### 42`, the last "answer is / Answer: / final answer:" phrase, "option B", a choice named in a sentence
    ("I choose B", "(C) is correct"), the whole text when it is itself a bare answer, else the last number.
    An answer longer than `MAX_ANSWER_CHARS` is None on every path.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    text = text[-MAX_TEXT_CHARS:]
    boxes = list(_BOX_RE.finditer(text))
    if boxes:
        content = _braced(text, boxes[-1].end())
        if content is None:
            return None
        return _capped(strip_wrappers(content))
    gsm = _last(_GSM_RE, text)
    if gsm is not None:
        return _capped(strip_wrappers(gsm.group(1)))
    phrase = _last(_PHRASE_RE, text)
    if phrase is not None:
        end = phrase.end() + _PHRASE_WINDOW
        found = _from_phrase(text[phrase.end() : end], truncated=len(text) > end)
        if found:
            return found
    option = _last(_OPTION_RE, text)
    if option is not None:
        return option.group(1).upper()
    sentence = _last(_CHOICE_SENTENCE_RE, text)
    if sentence is not None:
        return next(g for g in sentence.groups() if g).upper()
    bare = strip_wrappers(text)
    if _looks_like_answer(bare) or _COUNT_RE.match(bare):
        return choice_letter(bare) or bare
    number = _last(_NUMBER_RE, text)
    return _capped(number.group(0)) if number is not None else None


def _capped(answer: str) -> str | None:
    """An answer over the cap is refused, never cut: a truncated number or expression is a different answer."""
    return answer if 0 < len(answer) <= MAX_ANSWER_CHARS else None


# ---------------------------------------------------------------------------------------------- exact numbers

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
