"""Does a spoken-style rewrite of a query still ask the same thing? Scores for `spoken_style`, and the verdict.

An LLM asked to make "Dr. Smith paid $3.50 for 'Blue Train'" sound spoken may drop the price, rename the doctor
or paraphrase the title; a listener then hears another question than the text turn holds. What must survive is
checked on both texts in `filters.normalize` form, so "3" and "three", "Dr." and "Doctor", "$3.50" and "three
dollars fifty" count as the same:

- numbers, as values (the word "one" only when the original wrote a digit 1: mostly it is a pronoun), and no
  new ones (a digit string said in groups, "555, 1234", is not new);
- names: capitalized words that do not start a sentence (not "I", single letters as in "°C" or "P M", nor titles
  and abbreviations: "Dr." may be "doctor", "Fig." "figure"; after them a sentence goes on), and no new
  ones (a rewrite that brings in "Paris" asks something else);
- quoted strings ("...", “...”, '...'), as one contiguous run of words;
- meaning words: the share of the original's content words (stemmed, stopwords aside) found in the rewrite
  (add-one smoothed, so one word dropped from a three-word query is not a third of its meaning),
  which a paraphrase keeps high and an answer or a new question does not;
- mood: a question stays a question or becomes a request ("Which color is it?" -> "Tell me which color it
  is"), not a statement ("It is a color of the rainbow": an answer, however many words it shares);
- length: a rewrite several times longer than the query is an answer or a lecture, not a spoken query.

Scoring (`score_rewrite`) is apart from thresholding (`unfaithful_reason`). Pure: imports nothing from datagen.
Known limit: a symbol a rewrite says as a word that carries a number ("x^2" -> "x squared") is read through a
small table ("squared", "cubed", "half"); others count as a dropped number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from filters.normalize import normalize_text
from filters.qa_text import STOPWORDS, stem

_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# the normalizer joins neighbouring integers ("0 1 2" is a code read digit by digit): keep "x^2 = 9" two numbers
_NUMBER_BREAK = re.compile(r"\s*[=+*^×÷<>;{}()\[\]±\\⁄]\s*|,\s+|\s[-–]\s")  # also LaTeX braces, "3 ± 1", "½"
_DIGIT_ONE = re.compile(r"(?<![\d.,])1(?![\d.,]?\d)")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’.-]{0,60}")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]{1,30}")
_GAP_END = re.compile(r"[.!?:;\n]")
_I = frozenset(["I", "I'm", "I'd", "I've", "I'll"])
_TITLES = frozenset(
    [
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "st",
        "mt",
        "jr",
        "sr",
        "vs",
        "no",
        "fig",
        "eq",
        "vol",
        "ch",
        "sec",
        "pt",
        "e.g",
        "i.e",
        "etc",
        "approx",
    ]
)
_QUOTES = (
    re.compile(r'"([^"\n]{1,300})"'),
    re.compile(r"“([^”\n]{1,300})”"),
    re.compile(r"(?<![\w'])'([^'\n]{1,300})'(?![\w'])"),
)
# words a spoken rewrite may say for a number the original wrote as a symbol: the number they carry
_NUMBER_WORDS = {"squared": "2", "cubed": "3", "half": "0.5", "halves": "0.5"}
# words a spoken rewrite may drop without changing what is asked
_FILLERS = frozenset(
    ["please", "kindly", "just", "really", "actually", "basically", "following", "given", "provided", "below", "above"]
)
_MIN_WORDS_FOR_RATIO = 4
# a spoken query may ask as a request rather than a question
_REQUEST = re.compile(
    r"\W*(?:(?:so|okay|ok|now|and|please|hey)\W+)*(?:tell|show|describe|explain|name|list|count|give|say|find|"
    r"let me know|i(?: would|'d)? (?:like|want|wonder)|i wonder)\b",
    re.IGNORECASE,
)


@dataclass(slots=True, frozen=True)
class RewriteScore:
    """What of the original the rewrite lost, and how much of its meaning words it kept."""

    missing_numbers: tuple[str, ...]
    added_numbers: tuple[str, ...]  # a number the original never had is a new question, not a rewrite
    missing_names: tuple[str, ...]
    added_names: tuple[str, ...]
    missing_quotes: tuple[str, ...]
    question_kept: bool  # a question is still a question (or a request: "tell me which ...")
    content_recall: float  # share of the original's content words in the rewrite, add-one smoothed (1.0: all or none)
    length_ratio: float  # rewrite words / original words (original counted as at least 4 words)


def numbers(text: str) -> set[str]:
    """Numeric values in `text`, in one spelling ("three" = "3", "$3.50" = "3.50"); "one" only as a digit 1."""
    found = {n for piece in _NUMBER_BREAK.split(text) for n in _NUMBER.findall(normalize_text(piece))}
    if "1" in found and not _DIGIT_ONE.search(text):
        found.discard("1")
    return found


def names(text: str) -> list[str]:
    """Capitalized words that do not start a sentence (nor "I"), possessive 's removed, in order.

    One pass: a sentence starts at the first word, after a word ending in "." that is no title ("Dr."), and after
    a gap holding . ! ? : ; or a line break ("**Describe**" and "Question: What" start one too)."""
    out = []
    previous, gap_start = "", 0
    for match in _WORD.finditer(text):
        raw, gap = match.group(), text[gap_start : match.start()]
        starts = (
            not previous
            or _GAP_END.search(gap)
            or (previous.endswith(".") and previous.rstrip(".").lower() not in _TITLES)
        )
        previous, gap_start = raw, match.end()
        word = raw.rstrip(".-'’")
        if len(word) > 1 and word[0].isupper() and not starts and word not in _I and word.lower() not in _TITLES:
            out.append(re.sub(r"['’]s$", "", word))
    return out


def is_question(text: str) -> bool:
    return text.rstrip(" \"'”’)").endswith("?")


def quotes(text: str) -> list[str]:
    return [m.group(1).strip() for pattern in _QUOTES for m in pattern.finditer(text) if m.group(1).strip()]


def _tokens(text: str) -> list[str]:
    return normalize_text(text).split()


def _contains_run(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _content_stems(tokens: list[str]) -> set[str]:
    return {
        stem(t)
        for t in tokens
        if t not in STOPWORDS and t not in _FILLERS and not _NUMBER.fullmatch(t.strip("$%£€¢")) and t.isalpha()
    }


def score_rewrite(original: str, rewrite: str) -> RewriteScore:
    """Compare a rewrite with its original (both plain text, media tags removed)."""
    rewritten = _tokens(rewrite)
    have_numbers = numbers(rewrite) | set(_NUMBER.findall(" ".join(rewritten)))  # joined too: "555, 1234"
    have_numbers |= {_NUMBER_WORDS[t] for t in rewritten if t in _NUMBER_WORDS}
    have_numbers |= {n.split(".")[0] for n in have_numbers if n.endswith(".5")}  # "3 and a half" keeps the 3
    missing_numbers = sorted(numbers(original) - have_numbers, key=lambda n: (len(n), n))
    had = numbers(original)
    added_numbers = sorted(n for n in numbers(rewrite) if n not in had and not any(n in h for h in had))
    have_words, had_words = set(rewritten), set(_tokens(original))
    missing_names = [n for n in dict.fromkeys(names(original)) if not set(_tokens(n)) <= have_words]
    added_names = [n for n in dict.fromkeys(names(rewrite)) if not set(_tokens(n)) <= had_words]
    missing_quotes = [q for q in dict.fromkeys(quotes(original)) if not _contains_run(rewritten, _tokens(q))]
    wanted = _content_stems(_tokens(_LATEX_COMMAND.sub(" ", original)))  # "\\frac" is markup, not meaning
    kept = wanted & _content_stems(rewritten)
    recall = (len(kept) + 1) / (len(wanted) + 1)  # add-one: "shown" dropped from a 2-word query is no 50% loss
    ratio = len(rewrite.split()) / max(len(original.split()), _MIN_WORDS_FOR_RATIO)
    return RewriteScore(
        missing_numbers=tuple(missing_numbers),
        added_numbers=tuple(added_numbers),
        missing_names=tuple(missing_names),
        added_names=tuple(added_names),
        missing_quotes=tuple(missing_quotes),
        question_kept=not is_question(original) or is_question(rewrite) or bool(_REQUEST.match(rewrite)),
        content_recall=round(recall, 4),
        length_ratio=round(ratio, 3),
    )


def unfaithful_reason(score: RewriteScore, *, min_content_recall: float = 0.6, max_length_ratio: float = 2.5) -> str:
    """Why the rewrite is not the same query ("" when it is): the first check it fails, with what it lost."""
    if score.length_ratio == 0:
        return "empty rewrite"
    if score.missing_numbers:
        return f"dropped number(s) {list(score.missing_numbers)}"
    if score.missing_names:
        return f"dropped name(s) {list(score.missing_names)}"
    if score.missing_quotes:
        return f"dropped quoted text {list(score.missing_quotes)}"
    if score.added_numbers:
        return f"added number(s) {list(score.added_numbers)}"
    if score.added_names:
        return f"added name(s) {list(score.added_names)}"
    if not score.question_kept:
        return "the question became a statement"
    if score.content_recall < min_content_recall:
        return f"kept {score.content_recall:.0%} of the meaning words (< {min_content_recall:.0%})"
    if score.length_ratio > max_length_ratio:
        return f"{score.length_ratio:.1f}x the length of the original (> {max_length_ratio}x)"
    return ""
