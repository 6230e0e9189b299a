"""Text pieces the QA consistency check compares: sentences, clauses, stemmed content words, numbers, negations.

Everything is a plain regex or table lookup over the text once (linear, so a 100k-character cell costs
milliseconds). Words are stemmed with the Snowball English stemmer, plus a small table of irregular verbs
("took" = "take"), so "finished" in a question finds "finish" in the passage. Numbers are normalized to one
spelling ("1,642" = "1642", "sixteen" = "16", "three hundred" = "300") so a date or an amount can be compared
with the passage's. Pure: imports nothing from datagen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

__all__ = ["Token", "clauses", "is_negated", "sentences", "tokens"]

_STOPWORD_TEXT = (
    "a an the and or but nor of to in on at by for with from as is are was were be been being it its it's this "
    "that these those there their theirs they them he him she his her hers we us our you your i me my mine do "
    "does did done doing has have had having so than then what which who whom whose when where why how can "
    "could would should will shall may might must about into onto over under also very just only some any all "
    "each more most such up down out off again once here both either other own same too while if because "
    "until after before during around roughly approximately nearly almost usually often yes yeah "
    "get got one ones every still across"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_NEGATION_TEXT = "not no never none nothing nobody nowhere neither nor without cannot n't"
NEGATIONS = frozenset(_NEGATION_TEXT.split())
# irregular past forms the stemmer leaves alone: "took" and "taken" are "take"
_IRREGULAR = {
    w: base
    for base, forms in {
        "take": "took taken",
        "build": "built",
        "begin": "began begun",
        "run": "ran",
        "make": "made",
        "write": "wrote written",
        "find": "found",
        "send": "sent",
        "lay": "laid",
        "lead": "led",
        "fall": "fell fallen",
        "grow": "grew grown",
        "give": "gave given",
        "hold": "held",
        "come": "came",
        "go": "went gone",
        "see": "saw seen",
        "know": "knew known",
        "keep": "kept",
        "leave": "left",
        "bring": "brought",
        "think": "thought",
        "tell": "told",
        "win": "won",
        "rise": "rose risen",
        "draw": "drew drawn",
        "speak": "spoke spoken",
        "choose": "chose chosen",
        "freeze": "froze frozen",
        "stand": "stood",
        "strike": "struck stricken",
        "buy": "bought",
        "catch": "caught",
        "teach": "taught",
        "fly": "flew flown",
        "eat": "ate eaten",
        "drive": "drove driven",
        "sell": "sold",
        "pay": "paid",
        "lose": "lost",
    }.items()
    for w in forms.split()
}
_UNITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_NUMBER_WORDS = {
    **{w: v for w, v in _UNITS.items() if w != "one"},  # "one" is more often a pronoun than a count
    **{w: 10 + i for i, w in enumerate(_TEENS)},
    **{w: 20 + 10 * i for i, w in enumerate(_TENS)},
}
_SCALES = {"hundred": 100, "thousand": 1000}
# a token: a number (1,642 / 42.195 / 1:59:40) or a word (letters of any script, inner apostrophes)
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|[^\W\d_]+(?:['’][^\W\d_]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[\"'“(]*[A-Z0-9])")
_CLAUSE_BREAK = re.compile(r"[,;:–—]\s+|\s+(?=\b(?:but|because|while|although|whereas|and then)\b)", re.I)
_UNIT_SIGNS = (
    (re.compile(r"°\s*C\b"), " degrees Celsius"),
    (re.compile(r"°\s*F\b"), " degrees Fahrenheit"),
    (re.compile(r"%"), " percent"),
    (re.compile(r"\$\s*(\d[\d,.]*)"), r"\1 dollars"),
    (re.compile(r"€\s*(\d[\d,.]*)"), r"\1 euros"),
    (re.compile(r"£\s*(\d[\d,.]*)"), r"\1 pounds"),
)
_STEMMER = snowballstemmer.stemmer("english")


@dataclass(slots=True, frozen=True)
class Token:
    """One content word or number: `key` is what is compared (a stem, or a number's one spelling)."""

    key: str
    text: str
    is_number: bool = False
    is_name: bool = False  # capitalized where a common word would not be


def sentences(text: str) -> list[str]:
    """The text's sentences (a line break also ends one); empty pieces dropped."""
    out = []
    for block in text.splitlines():
        out.extend(s.strip() for s in _SENTENCE_END.split(block) if s.strip())
    return out


def clauses(sentence: str) -> list[str]:
    """A sentence cut at commas, semicolons and before "but"/"because": the unit a negation belongs to."""
    return [c.strip() for c in _CLAUSE_BREAK.split(sentence) if c and c.strip()]


def is_negated(text: str) -> bool:
    """Whether the text holds a negation cue ("not", "never", "without", "n't", ...)."""
    lowered = text.lower().replace("’", "'")
    return "n't" in lowered or any(w in NEGATIONS for w in _TOKEN.findall(lowered))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    word = word.lower().replace("’", "'").removesuffix("'s")
    return _STEMMER.stemWord(_IRREGULAR.get(word, word))


def _number_key(raw: str) -> str:
    """One spelling per number: thousands separators and trailing zeros of decimals removed."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw):
        raw = raw.replace(",", "")
    if re.fullmatch(r"\d+\.\d+", raw):
        raw = raw.rstrip("0").rstrip(".")
    return raw.lstrip("0") or "0"


def tokens(text: str, *, one_is_number: bool = False) -> list[Token]:
    """Content words (stopwords dropped, stemmed) and numbers (number words included), in order. "one" is a
    number only where asked (a passage, the answer to "how many"): elsewhere it is mostly a pronoun."""
    for pattern, repl in _UNIT_SIGNS:
        text = pattern.sub(repl, text)
    raw = _TOKEN.findall(text)
    out: list[Token] = []
    i = 0
    while i < len(raw):
        value, used = (1, 1) if one_is_number and raw[i].lower() == "one" else _read_number_words(raw, i)
        if used:
            out.append(Token(str(value), " ".join(raw[i : i + used]), is_number=True))
            i += used
            continue
        word = raw[i]
        if word[0].isdigit():
            out.append(Token(_number_key(word), word, is_number=True))
        elif word.lower() not in STOPWORDS and word.lower() not in NEGATIONS:
            out.append(Token(stem(word), word, is_name=word[0].isupper() and i > 0 and not raw[i - 1][0].isdigit()))
        i += 1
    return out


def _read_number_words(raw: list[str], i: int) -> tuple[int, int]:
    """A spelled-out number starting at raw[i] ("three hundred", "twenty-one"): (value, words used) or (0, 0)."""
    first = raw[i].lower()
    if first not in _NUMBER_WORDS:
        return 0, 0
    value, used = _NUMBER_WORDS[first], 1
    if first in _TENS and i + 1 < len(raw) and raw[i + 1].lower() in _UNITS:
        value, used = value + _UNITS[raw[i + 1].lower()], 2
    if i + used < len(raw) and raw[i + used].lower() in _SCALES:
        value, used = value * _SCALES[raw[i + used].lower()], used + 1
    return value, used
