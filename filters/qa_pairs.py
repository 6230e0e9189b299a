"""Question/answer pairs written by a model about a passage: parse them, then keep only the usable ones.

Small models answer in every shape: a JSON array, JSON cut off mid-way, JSON wrapped in prose or a code fence,
"Q:/A:" lines, numbered "Question 1:" blocks. `parse_pairs` reads all of these and returns [] (never raises)
for anything else. `judge_pairs` then drops, with a stable reason each, pairs that are empty (`empty_pair`),
too long to be a question or an answer (`overlong_pair`), not an answer (`malformed_pair`: the "answer" is
another question, or the question again), repeats of an earlier question (`duplicate_pair`), or
whose answer is not supported by the passage by a lexical check (`not_grounded`): most of an answer's content
words must occur in the passage. A model-judged check lives in the generator (it needs a model); its reply is
read here by `parse_verdict`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PairVerdict", "QAPair", "content_words", "grounding", "judge_pairs", "parse_pairs", "parse_verdict"]

_QUESTION_KEYS = ("question", "q", "query", "prompt")
_ANSWER_KEYS = ("answer", "a", "response", "reply")
_STOPWORD_TEXT = (
    "a an the and or but of to in on at by for with from as is are was were be been being it its this that these "
    "those there their they them he she his her we you your i me my our do does did has have had not so "
    "than then what which who whom whose when where why how can could would should will shall may might must "
    "about into over under also very just only some any all each more most such"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# a "Q:" / "Question 2:" / "**A1:**" label at the start of a line, after any bullet, number or markdown
# "**Question 1:**", "1. Q:", "> A:": possessive runs of disjoint character classes, so a 100k-character line that
# fails at its end is rejected in one pass (adjacent `\s*`/`\**` runs made the old pattern cubic on such lines).
_LABEL = re.compile(
    r"^[\s*#>\-]*+(?:\d++[.)][\s*]*+)?(?P<kind>question|answer|q|a)\s*+\d*+[\s*]*+:\**+\s*+", re.IGNORECASE
)
_NUMBERING = re.compile(r"^(?:\d+[.)]|[-•])\s+")  # "1. What …" / "- What …" list markers
_JSON_FIELD = re.compile(r'"(?P<key>question|answer|q|a)"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"', re.IGNORECASE)


@dataclass(slots=True, frozen=True)
class QAPair:
    question: str
    answer: str


@dataclass(slots=True, frozen=True)
class PairVerdict:
    pair: QAPair
    keep: bool
    reason: str = ""
    scores: dict[str, Any] = field(default_factory=dict)


def parse_pairs(text: str | None) -> list[QAPair]:
    """Every question/answer pair in a model's reply, in order; [] when there is none to be found."""
    if not text or not text.strip():
        return []
    from_json = next((p for c in _json_candidates(text) if (p := _pairs_from_json(c))), [])
    # half-written JSON (an array cut off by the token limit): its complete "question"/"answer" fields still count
    from_fields = _pairs_from_fields(text)
    best = from_json if len(from_json) >= len(from_fields) else from_fields
    return best or _pairs_from_lines(text)


def _json_candidates(text: str) -> list[Any]:
    out = []
    decoder = json.JSONDecoder()
    for start, ch in enumerate(text):
        if ch not in "[{":
            continue
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        except RecursionError:
            break  # nested past Python's limit: every later start inside it would be too (and cost as much again)
        out.append(value)
        if isinstance(value, list):
            break  # the first complete array is the answer; objects inside it would repeat its pairs
    return out


def _pairs_from_json(value: Any) -> list[QAPair]:
    if isinstance(value, dict):
        for key in ("pairs", "qa_pairs", "questions", "qa", "items", "data"):
            if isinstance(value.get(key), list):
                return _pairs_from_json(value[key])
        pair = _pair_from_object(value)
        return [pair] if pair else []
    if isinstance(value, list):
        return [p for item in value if isinstance(item, dict) and (p := _pair_from_object(item))]
    return []


def _pair_from_object(obj: dict[str, Any]) -> QAPair | None:
    lowered = {str(k).lower(): v for k, v in obj.items()}
    q = next((lowered[k] for k in _QUESTION_KEYS if k in lowered), None)
    a = next((lowered[k] for k in _ANSWER_KEYS if k in lowered), None)
    if not isinstance(q, str) or not isinstance(a, str | int | float) or isinstance(a, bool):
        return None
    return _pair(q, str(a))


def _pairs_from_fields(text: str) -> list[QAPair]:
    pairs, question, last = [], None, 0
    for m in _JSON_FIELD.finditer(text):
        if "}" in text[last : m.start()]:
            question = None  # a question and an answer from two different objects are no pair
        last = m.end()
        try:
            value = json.loads(f'"{m.group("value")}"')
        except json.JSONDecodeError:
            continue
        if m.group("key").lower() in ("question", "q"):
            question = value
        elif question is not None:
            pairs.append(_pair(question, value))
            question = None
    return pairs


def _pairs_from_lines(text: str) -> list[QAPair]:
    """ "Q: …" / "A: …" labelled lines; unlabelled lines continue the field above them."""
    pairs: list[QAPair] = []
    question: list[str] | None = None
    answer: list[str] | None = None
    for line in text.splitlines():
        m = _LABEL.match(line)
        rest = line[m.end() :] if m else line.strip()
        if m and m.group("kind").lower().startswith("q"):
            if question is not None and answer is not None:
                pairs.append(_pair(" ".join(question), " ".join(answer)))
            question, answer = [rest], None
        elif m and question is not None:
            answer = [rest]
        elif rest and answer is not None:
            answer.append(rest)
        elif rest and question is not None:
            question.append(rest)
    if question is not None and answer is not None:
        pairs.append(_pair(" ".join(question), " ".join(answer)))
    return pairs


def _pair(question: str, answer: str) -> QAPair:
    return QAPair(_clean(question), _clean(answer))


def _clean(text: str) -> str:
    text = " ".join(str(text).split()).strip("*_` ")
    return _NUMBERING.sub("", text).strip()


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower().replace("’", "'")) if w not in _STOPWORDS]


def grounding(answer: str, passage: str) -> float:
    """Share of the answer's content words found in the passage (1.0 = every word is there; no words = 0)."""
    words = content_words(answer)
    if not words:
        return 0.0
    vocabulary = set(content_words(passage))
    vocabulary |= {w.rstrip("s") for w in vocabulary}  # "planets" in the passage grounds "planet"
    return sum(1 for w in words if w in vocabulary or w.rstrip("s") in vocabulary) / len(words)


def _question_key(question: str) -> frozenset[str]:
    return frozenset(content_words(question)) or frozenset(_WORD.findall(question.lower()))


def judge_pairs(
    pairs: list[QAPair],
    passage: str,
    *,
    min_grounding: float = 0.6,
    max_question_chars: int = 300,
    max_answer_chars: int = 400,
    check_grounding: bool = True,
) -> list[PairVerdict]:
    """One verdict per pair, in order. Duplicates are questions whose content words equal an earlier kept one's."""
    seen: set[frozenset[str]] = set()
    out = []
    for pair in pairs:
        scores: dict[str, Any] = {}
        if not pair.question or not pair.answer or not content_words(pair.question + " " + pair.answer):
            out.append(PairVerdict(pair, False, "empty_pair"))
            continue
        if len(pair.question) > max_question_chars or len(pair.answer) > max_answer_chars:
            out.append(PairVerdict(pair, False, "overlong_pair"))
            continue
        if pair.answer.rstrip().endswith("?") or _question_key(pair.answer) == _question_key(pair.question):
            out.append(PairVerdict(pair, False, "malformed_pair"))  # an answer that asks, or repeats the question
            continue
        key = _question_key(pair.question)
        if key in seen:
            out.append(PairVerdict(pair, False, "duplicate_pair"))
            continue
        scores["grounding"] = round(grounding(pair.answer, passage), 4)
        if check_grounding and scores["grounding"] < min_grounding:
            out.append(PairVerdict(pair, False, "not_grounded", scores))
            continue
        seen.add(key)
        out.append(PairVerdict(pair, True, scores=scores))
    return out


def parse_verdict(text: str | None) -> bool | None:
    """A judge model's yes/no: True, False, or None when the reply says neither first."""
    if not text:
        return None
    m = re.search(r"\b(yes|no|supported|unsupported|not supported|true|false)\b", text.lower())
    if not m:
        return None
    return m.group(1) in ("yes", "supported", "true")
