"""Text sanity: length bounds on queries and answers, and a cheap language check with no model.

Length is checked per turn (a user turn is a query, an assistant turn an answer), so one very short follow-up in a
multi-turn chat is judged on its own. Language sanity is two plain scores over the whole conversation:
`script_share` (share of letters in the expected script, e.g. Latin) and `english_share` (share of words that are
common English function words, which make up roughly a third of running English text and almost none of other
languages' text). The English check only applies from `min_words_for_language` words up: "Red circle?" has no
function word and is still English. `text_stats` and these scorers are plain functions for notebooks and audits.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from datagen.records import MEDIA_TAG, Sample
from datagen.steps import Filter, StepConfig, Verdict, drop, keep
from filters.text_stats import english_share, script_share, words


def strip_media_tags(text: str) -> str:
    return MEDIA_TAG.sub(" ", text)


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


class TextSanity(Filter[TextSanityConfig]):
    """Reads `messages`; writes `query_words`, `answer_words` (totals), `script_share` and `english_share`."""

    name = "text_sanity"
    reads = ("messages",)
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
