"""Turn written chat text into what a TTS voice should say, and refuse text no voice can say sensibly.

Engines read "Dr." as "D R", "$3.50" as "dollar three point five zero", "x^2" as "x caret two" and markdown,
LaTeX, URLs and emoji as noise; the WER gate would then blame the voice for the text. `speakable(text)` rewrites
those forms deterministically (same text, same output), in an order where later passes rely on earlier ones:
references and markup first (they hide the rest), then math, money, units, times, dates, ordinals, titles, and
the symbols left over. Plain numbers stay digits: the engines' phonemizers read them well, and the WER normalizer
(`filters.normalize`) reads digits and number words alike. Where a number's form matters (clock times, ordinals)
the spoken form is the words a person says, which the normalizer maps back to the written form.

`unspeakable_reason(text)` names what cannot be spoken at all (a code block, a table, a long formula): such a
turn is rejected `not_speakable` rather than read out as symbol soup. Every pattern here is linear in the input
(bounded repetitions, no nested quantifiers), because the text is untrusted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from num2words import num2words

from datagen.records import MEDIA_TAG
from datagen.speakable_tables import (
    ABBREVIATIONS,
    CURRENCIES,
    LATEX_COMMANDS,
    MATH_SYMBOLS,
    MONTHS,
    UNITS,
    UNITS_ATTACHED_ONLY,
)
from filters.text_stats import english_share, foreign_share, words

# --- what cannot be spoken ----------------------------------------------------------------------------------------

# Neither depends on line breaks: speech steps may pass text whose whitespace was already collapsed.
_CODE_FENCE = re.compile(r"```|~~~")
_TABLE_RULE = re.compile(r":?-{3,}:?[ \t]{0,3}\|[ \t]{0,3}:?-{3,}")  # a header rule: "---|---", "--- | :---:"
_DISPLAY_MATH = re.compile(r"\$\$(.{0,4000}?)\$\$|\\\[(.{0,4000}?)\\\]", re.DOTALL)
_INLINE_MATH = re.compile(r"(?<![\\$\w])\$(?!\s)([^$\n]{1,400}?)(?<![\s\\])\$(?![\w$])|\\\((.{1,400}?)\\\)")
MAX_FORMULA_CHARS = 80  # a formula longer than this is not something a listener can follow


def unspeakable_reason(text: str) -> str | None:
    """Why `text` cannot be read aloud sensibly (None when it can)."""
    if not speakable(text) and strip_tags(text):
        return f"nothing a voice can read in {strip_tags(text)[:40]!r}"
    if _CODE_FENCE.search(text):
        return "contains a code block"
    if _TABLE_RULE.search(text):
        return "contains a table"
    for match in (*_DISPLAY_MATH.finditer(text), *_INLINE_MATH.finditer(text)):
        formula = match.group(1) or match.group(2) or ""
        if len(formula) > MAX_FORMULA_CHARS:
            return f"contains a {len(formula)}-character formula"
    return None


# --- references and markup ----------------------------------------------------------------------------------------

_TAG = re.compile(MEDIA_TAG.pattern, re.IGNORECASE)  # "<Image>" is not to be read aloud either
_CITATION = re.compile(r"(?:^|\s)\[\d{1,4}(?:\s?[,–-]\s?\d{1,4}){0,20}\]")  # "x[3]" is an index
_SEE_REFERENCE = re.compile(
    r"\s?\((?:see|cf\.|compare)\s(?:fig\.|figure|table|tab\.|eq\.|equation|section|sec\.|chapter|ch\.|appendix|"
    r"page|p\.)\s?[\w.-]{1,10}\)",
    re.IGNORECASE,
)
_AUTHOR_YEAR = re.compile(r"\s?\([A-Z][\w'-]{1,40}(?: et al\.| and [A-Z][\w'-]{1,40})?,? (?:19|20)\d\d[a-z]?\)")
_LINK = re.compile(r"!?\[([^\[\]\n]{0,200})\]\([^()\s]{0,2000}\)")
_HEADER = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_QUOTE = re.compile(r"^\s{0,3}>\s?", re.MULTILINE)
_BULLET = re.compile(r"^\s{0,8}(?:[-*+•]|\d{1,3}[.)])\s+", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*{1,3}|_{1,3}|~~)(?=\S)([^*_~\n]{1,500}?)(?<=\S)\1")
_CODE_SPAN = re.compile(r"`{1,3}([^`\n]{0,500})`{1,3}")
_LEFTOVER_MARKUP = re.compile(r"[*_`#|~^{}\\]+")


def strip_tags(text: str) -> str:
    return " ".join(_TAG.sub(" ", text).split())


def _markup(text: str) -> str:
    text = _CITATION.sub("", _SEE_REFERENCE.sub("", _AUTHOR_YEAR.sub("", text)))
    text = _LINK.sub(r"\1", text)
    text = _HEADER.sub("", _QUOTE.sub("", text))
    lines = text.split("\n")
    if sum(bool(_BULLET.match(line)) for line in lines) >= 2:  # a list: its items become a spoken series
        items = [_BULLET.sub("", line).strip().rstrip(",;") for line in lines if line.strip()]
        text = ", ".join(items)
    else:
        text = _BULLET.sub("", text)
    text = _CODE_SPAN.sub(r"\1", text)
    return _EMPHASIS.sub(r"\2", text)


# --- URLs and e-mail addresses ------------------------------------------------------------------------------------

_URL = re.compile(r"\b(?:https?://|www\.)([\w-]{1,63}(?:\.[\w-]{1,63}){0,10})[^\s<>\"')\]]{0,2000}")
_EMAIL = re.compile(r"\b([\w.+-]{1,64})@([\w-]{1,63}(?:\.[\w-]{1,63}){1,10})\b")


def _spell_host(host: str) -> str:
    host = host.removeprefix("www.")
    return " dot ".join(host.split("."))


def _links(text: str) -> str:
    text = _EMAIL.sub(lambda m: f"{' dot '.join(m.group(1).split('.'))} at {_spell_host(m.group(2))}", text)
    return _URL.sub(lambda m: _spell_host(m.group(1).rstrip(".")), text)


# --- math ---------------------------------------------------------------------------------------------------------

_FRAC = re.compile(r"\\[dt]?frac\s?\{([^{}]{0,200})\}\s?\{([^{}]{0,200})\}")
_SQRT = re.compile(r"\\sqrt\s?(?:\[(\d)\])?\s?\{([^{}]{0,200})\}")
_POWER = re.compile(r"\^\s?(?:\{([^{}]{1,40})\}|(\w))")
_SUBSCRIPT = re.compile(r"_\s?(?:\{([^{}]{1,40})\}|(\w))")
_TEXT_COMMAND = re.compile(r"\\(?:text|mathrm|mathbf|mathit|operatorname|textbf|textit)\s?\{([^{}]{0,200})\}")
_COMMAND = re.compile(r"\\([A-Za-z]{1,20})")
_BINARY = {"=": " equals ", "+": " plus ", "<": " is less than ", ">": " is greater than ", "*": " times "}
_MINUS = re.compile(r"(?<=[\w)}])\s?-\s?(?=[\w({\\])")
_SLASH = re.compile(r"(?<=[\w)}])\s?/\s?(?=[\w({\\])")
_ROOTS = {"2": "the square root of", "3": "the cube root of"}


def _power(match: re.Match[str]) -> str:
    exponent = (match.group(1) or match.group(2)).strip()
    if exponent in ("\\circ", "°"):
        return " degrees"
    return {"2": " squared", "3": " cubed"}.get(exponent, f" to the power of {exponent}")


def _formula(body: str) -> str:
    """A LaTeX formula's body as words ("\\frac{a}{b}" -> "a over b"), innermost groups first."""
    body = _TEXT_COMMAND.sub(r" \1 ", body)
    for _ in range(8):  # nested groups unwrap from the inside; eight levels is more than any spoken formula has
        rewritten = _FRAC.sub(r" \1 over \2 ", body)
        rewritten = _SQRT.sub(lambda m: f" {_ROOTS.get(m.group(1) or '2', 'the root of')} {m.group(2)} ", rewritten)
        rewritten = _POWER.sub(_power, rewritten)
        rewritten = _SUBSCRIPT.sub(lambda m: f" sub {m.group(1) or m.group(2)}", rewritten)
        if rewritten == body:
            break
        body = rewritten
    body = _COMMAND.sub(lambda m: f" {LATEX_COMMANDS.get(m.group(1), m.group(1))} ", body)
    body = _SLASH.sub(" over ", _MINUS.sub(" minus ", body))
    for symbol, word in _BINARY.items():
        body = body.replace(symbol, word)
    return " ".join(_LEFTOVER_MARKUP.sub(" ", body).split())


def _math(text: str) -> str:
    text = _DISPLAY_MATH.sub(lambda m: f" {_formula(m.group(1) or m.group(2) or '')} ", text)
    text = _INLINE_MATH.sub(lambda m: f" {_formula(m.group(1) or m.group(2) or '')} ", text)
    text = _POWER.sub(_power, text)  # "x^2" written without math delimiters
    for symbol, word in MATH_SYMBOLS.items():
        text = text.replace(symbol, word)
    return text


# --- money, units, times, dates, ordinals -------------------------------------------------------------------------

_SCALE = r"(?:\s(million|billion|thousand|trillion)\b)?"
_MONEY = re.compile(r"([$€£¥₹])\s?(\d{1,15}(?:,\d{3}){0,5})(?:\.(\d{1,2}))?" + _SCALE)
_NUMBER = r"(\d{1,15}(?:,\d{3}){0,5}(?:\.\d{1,10})?)"
_DEGREES = re.compile(_NUMBER + r"\s?[°º](?:\s?([CFK])\b)?")
_UNIT = re.compile(
    _NUMBER + r"(\s?)(" + "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True)) + r")(?![\w/])"
)
_CLOCK = re.compile(r"(?<![\d:.])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])(?:\s?([ap])\.?\s?m\b\.?)?", re.IGNORECASE)
_ISO_DATE = re.compile(r"\b((?:1[6-9]|20)\d\d)-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\b")
_ORDINAL = re.compile(r"\b(\d{1,9})(st|nd|rd|th)\b", re.IGNORECASE)


def _money(match: re.Match[str]) -> str:
    symbol, whole, cents, scale = match.groups()
    one, many, sub_one, sub_many = CURRENCIES[symbol]
    if scale:  # "$1.5 million" -> "1.5 million dollars"
        return f"{whole}{'.' + cents if cents else ''} {scale} {many}"
    words = [] if whole == "0" and cents else [f"{whole} {one if whole == '1' else many}"]
    if cents and int(cents.ljust(2, "0")):
        count = int(cents.ljust(2, "0"))
        words.append(f"{count} {sub_one if count == 1 else sub_many}")
    return " and ".join(words) if words else f"0 {many}"


def _unit(match: re.Match[str]) -> str:
    number, space, unit = match.groups()
    if unit in UNITS_ATTACHED_ONLY and space:  # "5 in the box", "2 m" are too ambiguous to rewrite
        return match.group(0)
    singular, plural = UNITS[unit]
    return f"{number} {singular if number == '1' else plural}"


def _degrees(match: re.Match[str]) -> str:
    scale = {"C": " Celsius", "F": " Fahrenheit", "K": " kelvin"}.get(match.group(2) or "", "")
    return f"{match.group(1)} {'degree' if match.group(1) == '1' else 'degrees'}{scale}"


def _clock(match: re.Match[str]) -> str:
    hour, minute, half = int(match.group(1)), int(match.group(2)), match.group(3)
    said = num2words(hour) + (" o'clock" if minute == 0 else f" {_minutes(minute)}")
    return said + (f" {half.upper()} M" if half else "")


def _minutes(minute: int) -> str:
    return f"oh {num2words(minute)}" if minute < 10 else num2words(minute)


def _iso_date(match: re.Match[str]) -> str:
    year, month, day = match.groups()
    return f"{MONTHS[int(month) - 1]} {num2words(int(day), to='ordinal')}, {year}"


def _numbers_in_context(text: str) -> str:
    text = _MONEY.sub(_money, text)
    text = _DEGREES.sub(_degrees, text)
    text = _UNIT.sub(_unit, text)
    text = _CLOCK.sub(_clock, text)
    text = _ISO_DATE.sub(_iso_date, text)
    return _ORDINAL.sub(lambda m: num2words(int(m.group(1)), to="ordinal"), text)


# --- titles, abbreviations, symbols, emoji ------------------------------------------------------------------------

_ABBREV = re.compile(r"(?<![\w.])(" + "|".join(re.escape(a) for a in ABBREVIATIONS) + r")(?=\s|$|[,;:!?)])")
_NUMBER_SIGN = re.compile(r"(?<![\w.])(?:No\.|no\.|#)\s?(?=\d)")
_FRACTION = re.compile(r"(?<=\d)\s?/\s?(?=\d)")
_SYMBOLS = {"&": " and ", "%": " percent", "+": " plus ", "=": " equals ", "@": " at ", "/": " or "}
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f1e6-\U0001f1ff\u200d\ufe0f\u20e3\U000e0020-\U000e007f]+"
)


def _words(text: str) -> str:
    text = _NUMBER_SIGN.sub("number ", text)
    text = _ABBREV.sub(lambda m: ABBREVIATIONS[m.group(1)], text)
    text = _FRACTION.sub(" over ", text).replace("and/or", "and or")
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    return _EMOJI.sub(" ", text)


_SPACE_BEFORE_PUNCTUATION = re.compile(r" ([,.;:!?])")
_PASSES: tuple[Callable[[str], str], ...] = (_markup, _links, _math, _numbers_in_context, _words)


def speakable(text: str) -> str:
    """What a voice should say for `text`: tags, markup and references gone, symbols and forms as words."""
    text = _TAG.sub(" ", text)
    for rewrite in _PASSES:
        text = rewrite(text)
    text = " ".join(_LEFTOVER_MARKUP.sub(" ", text).split())  # collapsed first: keeps the next pattern linear
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", text).strip(" ,;")


_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_MIN_WORDS_FOR_LANGUAGE = 8
_MIN_FOREIGN_SHARE = 0.15


def voice_problem(spoken: str) -> tuple[str, str] | None:
    """Why an English voice cannot say `spoken`: nothing to say, no (mostly) Latin letters, or another language.

    Emoji-only text has no letters at all; Chinese or Russian text has letters an English voice reads as silence
    or noise; French or German read by an English voice is mispronounced speech that a lenient ASR may still
    "verify". Numbers-only text is sayable ("42"). The language check needs a few words and looks for the other
    languages' function words (an English list of nouns has no English function word and is still English).
    """
    if not spoken:
        return ("empty_text", "nothing to say")
    letters = _LETTER.findall(spoken)
    if not letters:
        if any(ch.isdigit() for ch in spoken):
            return None
        return ("not_speakable", f"no letters to read in {spoken[:40]!r}")
    latin = sum(1 for ch in letters if "LATIN" in unicodedata.name(ch, ""))
    if latin / len(letters) < 0.8:
        return ("not_speakable", f"{1 - latin / len(letters):.0%} of the letters are not Latin")
    tokens = words(spoken)
    foreign, english = foreign_share(tokens), english_share(tokens)
    if len(tokens) >= _MIN_WORDS_FOR_LANGUAGE and foreign >= _MIN_FOREIGN_SHARE and foreign > english:
        return ("not_speakable", f"reads as another language: {foreign:.0%} foreign vs {english:.0%} English words")
    return None


def speaking_problem(text: str, *, check_language: bool = True) -> tuple[str, str] | None:
    """Why `text` should not be spoken: what no voice reads sensibly (a code block, a table, a long formula, only
    emoji) is `not_speakable` with `unspeakable_reason`'s words; then `voice_problem` of its speakable form."""
    if reason := unspeakable_reason(text):
        return ("not_speakable", reason)
    spoken = speakable(text)
    if check_language:
        return voice_problem(spoken)
    return None if spoken else ("empty_text", "")
