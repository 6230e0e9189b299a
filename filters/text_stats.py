"""Text statistics shared by filters and generators: word tokens, English and foreign function-word shares, scripts.

Pure scoring: imports nothing from datagen, so generators (`datagen.speech`) and filter steps (`text_sanity`,
`hallucination`) share one tokenizer and one stopword list.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

# Closed-class English words: frequent in any English sentence, rare as words of other Latin-script languages.
_STOPWORDS = """a about above after all also am an and any are as at be because been before being below
    between both but by
    can could did do does doing down during each few for from further had has have having he her here hers
    him his how i if in into is it its itself just me more most my no nor not now of off on once only or
    other our out over own same she should so some such than that the their them then there these they this
    those through to too under until up very was we were what when where which while who whom why will with
    would you your yours"""
ENGLISH_STOPWORDS = frozenset(_STOPWORDS.split())


def words(text: str) -> list[str]:
    """Lowercase word tokens (letters and digits, inner apostrophes); punctuation and case never count."""
    return _WORD.findall(text.lower())


def script_share(text: str, script: str = "LATIN") -> float:
    """Share of the letters in `text` whose Unicode name starts with `script` (1.0 when there are no letters)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    return sum(unicodedata.name(c, "").startswith(script) for c in letters) / len(letters)


# Closed-class words of the other common Latin-script languages (French, German, Spanish, Italian, Portuguese),
# leaving out spellings that are also English words ("die", "on", "son"): text dense in them is not English.
_FOREIGN = """le la les des du une et est dans sur pour qui pas ne se au aux avec cette sont nous vous ils
    elles leur très mais où der das und ist nicht ein eine den mit sich auf im dem sind wie auch ich sie wir
    ihr oder aber nach bei aus zum zur el los las y en por con una para del al lo como más pero sus muy
    está son sin también il di che è non una sono gli della dei nel alla questo os não uma com são da às
    pelo"""
FOREIGN_STOPWORDS = frozenset(_FOREIGN.split()) - ENGLISH_STOPWORDS


def foreign_share(tokens: list[str]) -> float:
    """Share of `tokens` that are function words of French, German, Spanish, Italian or Portuguese."""
    return sum(t in FOREIGN_STOPWORDS for t in tokens) / len(tokens) if tokens else 0.0


def english_share(tokens: list[str]) -> float:
    """Share of `tokens` that are English function words (0.0 for no tokens)."""
    return sum(t in ENGLISH_STOPWORDS for t in tokens) / len(tokens) if tokens else 0.0
