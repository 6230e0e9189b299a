"""Text sanity: length bounds on queries and answers, and a cheap language check with no model.

Length is checked per turn (a user turn is a query, an assistant turn an answer), so one very short follow-up in a
multi-turn chat is judged on its own. Language sanity is two plain scores over the whole conversation:
`script_share` (share of letters in the expected script, e.g. Latin) and `english_share` (share of words that are
common English function words, which make up roughly a third of running English text and almost none of other
languages' text). The English check only applies from `min_words_for_language` words up: "Red circle?" has no
function word and is still English. `text_stats` and these scorers are plain functions for notebooks and audits.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from pydantic import Field

from datagen.records import Sample
from datagen.steps import Filter, StepConfig, Verdict, drop, keep

_MEDIA_TAG = re.compile(r"<(?:image|audio|video)>")
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


def strip_media_tags(text: str) -> str:
    return _MEDIA_TAG.sub(" ", text)


def words(text: str) -> list[str]:
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


def has_text(text: str) -> bool:
    """True if `text` holds a letter or a digit: emoji, symbols and media tags alone are no text."""
    return any(c.isalnum() for c in strip_media_tags(text))


class TextSanityConfig(StepConfig):
    min_query_words: int = Field(1, ge=0, description="shorter user turns are dropped: text_too_short")
    max_query_words: int = Field(200, ge=1, description="longer user turns are dropped: text_too_long")
    max_query_chars: int = Field(2000, ge=1, description="longer user turns are dropped: text_too_long")
    min_answer_words: int = Field(1, ge=0, description="shorter assistant turns are dropped: text_too_short")
    max_answer_words: int = Field(2000, ge=1, description="longer assistant turns are dropped: text_too_long")
    max_answer_chars: int = Field(20000, ge=1, description="longer assistant turns are dropped: text_too_long")
    script: Literal["latin", "cyrillic", "greek", "cjk", "any"] = Field(
        "latin", description="the script letters must be in ('any' turns the check off): not_english"
    )
    min_script_share: float = Field(0.9, ge=0, le=1, description="lowest share of letters in `script`")
    english: bool = Field(True, description="check that the text reads as English: not_english")
    min_english_share: float = Field(0.1, ge=0, le=1, description="lowest share of English function words")
    min_words_for_language: int = Field(6, ge=1, description="fewer words than this skip the English check")


_SCRIPT_PREFIX = {"latin": "LATIN", "cyrillic": "CYRILLIC", "greek": "GREEK", "cjk": "CJK"}
_ROLE_BOUNDS = {"user": "query", "assistant": "answer"}


class TextSanity(Filter):
    """Reads `messages`; writes `query_words`, `answer_words` (totals), `script_share` and `english_share`."""

    name = "text_sanity"
    Config = TextSanityConfig
    reads = ("messages",)
    config: TextSanityConfig
    schema = {"query_words": "int64", "answer_words": "int64", "script_share": "float64", "english_share": "float64"}

    def judge(self, sample: Sample) -> Verdict:
        cfg = self.config
        turns: list[tuple[int, str, str]] = []
        for k, message in enumerate(sample.messages):
            content = getattr(message, "content", None)
            if not isinstance(content, str):
                return drop("no_text", f"turn {k}: content is {type(content).__name__}, not text")
            role = _ROLE_BOUNDS.get(getattr(message, "role", ""))
            if role:
                turns.append((k, role, strip_media_tags(content).strip()))
        if not any(role == "query" for _, role, _ in turns):
            return drop("no_text", "no user turn")
        all_text = " ".join(text for _, _, text in turns)
        all_words = words(all_text)
        counts = {role: sum(len(words(t)) for _, r, t in turns if r == role) for role in ("query", "answer")}
        scores = {
            "query_words": counts["query"],
            "answer_words": counts["answer"],
            "script_share": round(script_share(all_text, _SCRIPT_PREFIX.get(cfg.script, "")), 4),
            "english_share": round(english_share(all_words), 4),
        }
        for k, role, text in turns:
            if not has_text(text):
                return drop("no_text", f"turn {k} ({role}) has no letters or digits: {text!r:.40}", **scores)
            n_words, n_chars = len(words(text)), len(text)
            low, high = getattr(cfg, f"min_{role}_words"), getattr(cfg, f"max_{role}_words")
            max_chars = getattr(cfg, f"max_{role}_chars")
            if n_words < low:
                return drop("text_too_short", f"turn {k} ({role}): {n_words} words < {low}", **scores)
            if n_words > high or n_chars > max_chars:
                detail = f"turn {k} ({role}): {n_words} words / {n_chars} chars > {high} / {max_chars}"
                return drop("text_too_long", detail, **scores)
        if cfg.script != "any" and scores["script_share"] < cfg.min_script_share:
            detail = f"{scores['script_share']} of letters are {cfg.script} < {cfg.min_script_share}"
            return drop("not_english", detail, **scores)
        enough_words = len(all_words) >= cfg.min_words_for_language
        if cfg.english and enough_words and scores["english_share"] < cfg.min_english_share:
            detail = f"{scores['english_share']} of {len(all_words)} words are English function words"
            return drop("not_english", f"{detail} < {cfg.min_english_share}", **scores)
        return keep(**scores)
