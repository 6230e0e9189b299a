"""Turn written chat text into something a TTS voice reads the way a person would say it.

Engines read "Dr." as "D R" and "St." as "S T", and say nothing useful for "<image>" or markdown; the WER gate
would then blame the voice for the text. Numbers are left alone: the engines' own phonemizers read them well.
"""

from __future__ import annotations

import re

from datagen.records import MEDIA_TAG

_TAG = re.compile(MEDIA_TAG.pattern, re.IGNORECASE)  # "<Image>" is not to be read aloud either
_MARKDOWN = re.compile(r"[*_`#>|~]+")
_URL = re.compile(r"https?://\S+")
_ABBREVIATIONS = {
    "Dr.": "Doctor",
    "Mr.": "Mister",
    "Mrs.": "Missus",
    "Ms.": "Miz",
    "St.": "Street",
    "Mt.": "Mount",
    "Jr.": "Junior",
    "Sr.": "Senior",
    "Prof.": "Professor",
    "vs.": "versus",
    "etc.": "et cetera",
    "e.g.": "for example",
    "i.e.": "that is",
    "approx.": "approximately",
}
_ABBREV = re.compile(r"(?<![\w.])(" + "|".join(re.escape(a) for a in _ABBREVIATIONS) + r")(?=\s|$|[,;:!?)])")
_SYMBOLS = {"&": " and ", "%": " percent", "+": " plus ", "=": " equals ", "@": " at "}


def strip_tags(text: str) -> str:
    return " ".join(_TAG.sub(" ", text).split())


def speakable(text: str) -> str:
    text = _URL.sub(" ", strip_tags(text))
    text = _ABBREV.sub(lambda m: _ABBREVIATIONS[m.group(1)], text)
    text = _MARKDOWN.sub(" ", text)
    for symbol, word in _SYMBOLS.items():
        text = text.replace(symbol, word)
    return " ".join(text.split())
