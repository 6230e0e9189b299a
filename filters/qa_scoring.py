"""Does an answer answer its question, from the passage? A lexical check with no model, cheap on a CPU.

`check_pair(passage, question, answer)` returns a `PairCheck`: keep, or one stable reason with its evidence in
`detail`; and the scores (the `qa_consistency` step writes them to meta, so thresholds can be re-run). In order:

- `degenerate_question`: the question has no content word, a yes/no question is answered by a bare "yes", or
  the question contains its own answer (every word of a short answer is in the question; "X or Y?" choice
  questions are allowed).
- `answer_echoes_question`: the answer only restates the question (no new content word, or a vague one such as
  "something"), a "what type of X" question is answered by a definition of X, or a "when" / "how many" question
  gets an answer with no date, number or unit.
- `answer_not_in_passage` (early): the answer of a wh-question has no content word at all ("Nobody.").
- `question_not_in_passage`: too few of the question's content words occur in the passage (`question_coverage`;
  words that only say what is asked - "which *ridge*", "how *tall*", "what *year*" - and the options of a
  choice question do not count), unless the answer quotes 2+ new words of the sentence the question points to.
- `answer_contradicts_passage`: a number in the answer that the sentence the question points to lacks (when
  that sentence has numbers; else the passage), a capitalized name the passage lacks, a negation the passage
  clause the answer rests on lacks (or the reverse), or a bare "no" to a yes/no question the passage affirms.
- `answer_not_in_passage`: too few of the answer's new content words occur in the passage (`answer_grounding`).
- `answer_off_target`: the sentence the question points to does not hold the answer's new words, and another
  sentence holds more of them (`answer_alignment` vs `answer_best_support`).

"Points to" is IDF-weighted word overlap with the passage's sentences ("how *old*" words count twice); a
sentence that opens with "it", "this", "for this reason", ... or with "The X" naming what the sentence before it
introduced is read together with that sentence. Pure: imports nothing from datagen. Its limits: paraphrase
beyond stems and a few irregular verbs is unseen (synonyms, "microbes" for "yeasts and bacteria"), and so are
contradictions made of antonyms rather than negation cues ("stop" vs "keep"); the optional model judge of the
`qa_consistency` step covers those where a model runs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from filters.qa_text import Token, clauses, is_negated, sentences, stem, tokens

__all__ = ["PairCheck", "Thresholds", "check_pair", "token_f1"]

# words a question uses to ask, not to point: "what *year*", "what *kind*", "how *long*"
_ASKING_TEXT = (
    "name named call called year years date kind type sort long far big large small much many happen happened "
    "mean means reason main role way exactly describe passage text say says said according tell"
)
_ASKING = frozenset(_ASKING_TEXT.split())
# answer words that carry no information: an answer made of these and the question's words says nothing
_VAGUE_TEXT = (
    "something somewhere somehow someone sometime thing things stuff place places way ways material "
    "lot lots certain particular done"
)
_VAGUE = frozenset(_VAGUE_TEXT.split())
_YES_NO_START = re.compile(
    r"^\s*(?:is|are|was|were|do|does|did|can|could|has|have|had|will|would|should|shall|may|might|must)\b", re.I
)
_ANSWER_POLARITY = re.compile(r"^\s*(yes|no|yeah|nope)\b[\s,.!;:-]*", re.I)
_WHAT_KIND = re.compile(r"\b(?:what|which)\s+(type|kind|sort|form|variety)\s+of\s+([^\W\d_]+)", re.I)
_WHEN = re.compile(r"^\s*(?:when\b|(?:in |around |by )?what (?:year|date|month|century|day)\b)", re.I)
_HOW_MANY = re.compile(r"\bhow (?:many|much|far|long|old|deep|tall|high|fast|big|heavy)\b", re.I)
# what a "when" or "how many" answer holds when it holds no digit: a month, a season, a unit, a fraction
_QUANTITY_WORDS = (
    "january february march april may june july august september october november december spring summer autumn "
    "winter century decade ago later earlier second minute hour day week month year half third quarter fifth "
    "dozen few several many hundreds thousands millions billions"
)
_QUANTITY_KEYS = frozenset(t.key for t in tokens(_QUANTITY_WORDS))
_ANSWER_TYPE = re.compile(
    r"(?:^|[^\w])(?:what|which)\s+(?:(?:two|three|four|five|\d+)\s+)?([^\W\d_]+)|\bhow\s+([^\W\d_]+)"
)
_CHOICE = re.compile(r"([^\W\d_]+),?\s+or\s+(?:(?:with|the|a|an|in|on|by|did|does|do|is|was|it)\s+)*([^\W\d_]+)")
_DEFINITE_HEAD = re.compile(r"^the\s+([^\W\d_]+)\b", re.I)
_ANAPHORIC_START = re.compile(
    r"^(?:this|that|these|those|it|its|they|their|he|she|his|her|for this reason|as a result|so|then|"
    r"after that|instead|there)\b",
    re.I,
)


@dataclass(slots=True, frozen=True)
class Thresholds:
    """Where a score turns into a rejection; each is a meta score, so a new value can be re-run on old data."""

    min_question_coverage: float = 0.5
    min_answer_grounding: float = 0.6
    min_answer_alignment: float = 0.5
    check_negation: bool = True


@dataclass(slots=True, frozen=True)
class PairCheck:
    keep: bool
    reason: str = ""
    detail: str = ""
    scores: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Passage:
    sentences: list[str]
    tokens: list[list[Token]]
    key_sets: list[set[str]]
    idf: dict[str, float]
    first: dict[str, int]  # key -> the sentence that first says it

    @classmethod
    def of(cls, text: str) -> _Passage:
        sents = sentences(text)
        toks = [tokens(s, one_is_number=True) for s in sents]
        key_sets = [{t.key for t in st} for st in toks]
        df: dict[str, int] = {}
        first: dict[str, int] = {}
        for i, keys in enumerate(key_sets):
            for key in keys:
                df[key] = df.get(key, 0) + 1
                first.setdefault(key, i)
        idf = {k: math.log(1 + len(sents) / n) for k, n in df.items()}
        return cls(sents, toks, key_sets, idf, first)

    def pointed(self, question: list[Token], strong: set[str], options: set[str]) -> list[tuple[int, ...]]:
        """Sentences the question points to, best first: the top IDF-weighted overlap and near ties, each with
        the sentence it refers to or that refers to it ("It ...", "For this reason ..."). Words in `strong`
        ("how *old*") count twice; the options of an "X or Y?" question also point to every sentence naming one."""
        weights = {t.key: 2.0 if t.text.lower() in strong else 1.0 for t in question}
        named = {t.key for t in question if t.text.lower() in options}
        scores = [sum(self.idf[k] * w for k, w in weights.items() if k in keys) for keys in self.key_sets]
        best = max(scores, default=0.0)
        if best <= 0:
            return []
        chosen = sorted((i for i, s in enumerate(scores) if s >= 0.9 * best), key=lambda i: -scores[i])
        chosen += [i for i, keys in enumerate(self.key_sets) if i not in chosen and named & keys]
        return [self._unit(i) for i in chosen]

    def _unit(self, i: int) -> tuple[int, ...]:
        before = [i - 1] if self._refers_back(i) else []
        after = [i + 1] if self._refers_back(i + 1) else []
        return (*before, i, *after)

    def _refers_back(self, i: int) -> bool:
        """Sentence i continues sentence i-1: it opens with a pronoun or "for this reason", or with "The X"
        naming something sentence i-1 introduced ("... killed by a mould. The mould was Penicillium.")."""
        if i <= 0 or i >= len(self.sentences):
            return False
        if _ANAPHORIC_START.match(self.sentences[i]):
            return True
        head = _DEFINITE_HEAD.match(self.sentences[i])
        if not head:
            return False
        return self.first.get(stem(head.group(1))) == i - 1  # introduced there, not a topic running throughout

    def keys_of(self, unit: tuple[int, ...]) -> set[str]:
        return set().union(*(self.key_sets[i] for i in unit))

    def has(self, key: str) -> bool:
        """A key in the passage, or part of a longer passage word ("atlant" in "transatlant")."""
        return key in self.first or (len(key) >= 5 and any(key in k for k in self.first))

    def support(self, keys: set[str], unit: tuple[int, ...]) -> float:
        """Share of `keys` found in the sentences of `unit` (1.0 for no keys)."""
        return len(keys & self.keys_of(unit)) / len(keys) if keys else 1.0


def check_pair(passage: str, question: str, answer: str, thresholds: Thresholds | None = None) -> PairCheck:
    """One verdict for a question/answer pair about `passage` (see the module docstring for the reasons)."""
    th = thresholds or Thresholds()
    q_tokens, statement = tokens(question), _ANSWER_POLARITY.sub("", answer, count=1)
    a_tokens = tokens(statement, one_is_number=bool(_WHEN.match(question) or _HOW_MANY.search(question)))
    polarity = m.group(1).lower() if (m := _ANSWER_POLARITY.match(answer)) else ""
    q_keys, a_keys = {t.key for t in q_tokens}, {t.key for t in a_tokens}
    new = [t for t in a_tokens if t.key not in q_keys and t.text.lower() not in _VAGUE]
    scores: dict[str, Any] = {"answer_novelty": round(len({t.key for t in new}) / len(a_keys), 4) if a_keys else 0.0}
    problem = _degenerate(question, q_tokens, a_tokens, new, polarity) or _echo(question, answer, a_tokens, new)
    if problem:
        return PairCheck(False, *problem, scores=scores)
    if not a_tokens and not _YES_NO_START.match(question):
        return PairCheck(False, "answer_not_in_passage", f"no content word in the answer {answer[:80]!r}", scores)
    doc = _Passage.of(passage)
    how = {m.group(2) for m in _ANSWER_TYPE.finditer(question.lower()) if m.group(2)}
    asking = _asking_words(question)
    choices = {w for m in _CHOICE.finditer(question.lower()) for w in m.groups()}
    units = doc.pointed(q_tokens, how, choices)
    asked = [t for t in q_tokens if t.key not in _ASKING and t.text.lower() not in asking]
    covered = [t for t in asked if doc.has(t.key)]
    scores["question_coverage"] = round(len(covered) / len(asked), 4) if asked else 1.0
    if scores["question_coverage"] < th.min_question_coverage and not _answer_vouches(doc, units, new):
        missing = sorted({t.text for t in asked if not doc.has(t.key)})
        detail = f"coverage {scores['question_coverage']}: the passage never mentions {', '.join(missing)}"
        return PairCheck(False, "question_not_in_passage", detail, scores)
    choice = " or " in question.lower() and not new
    evidence = [t for t in (a_tokens if choice else new) if t.key not in _ASKING] or a_tokens
    keys = {t.key for t in evidence}
    unit = max(units, key=lambda u: doc.support(keys, u), default=())
    scores.update(_support_scores(doc, units, unit, keys))
    verdict = _contradiction(doc, unit, question, statement, polarity, evidence, th)
    if verdict:
        return PairCheck(False, *verdict, scores=scores)
    if scores["answer_grounding"] < th.min_answer_grounding:
        missing = sorted({t.text for t in evidence if t.key not in doc.first})
        detail = f"grounding {scores['answer_grounding']}: the passage never says {', '.join(missing)}"
        return PairCheck(False, "answer_not_in_passage", detail, scores)
    alignment, elsewhere = scores["answer_alignment"], scores["answer_best_support"]
    if alignment < th.min_answer_alignment and elsewhere > alignment:
        return PairCheck(False, "answer_off_target", _off_target_detail(doc, unit, scores), scores)
    return PairCheck(True, scores=scores)


def _asking_words(question: str) -> set[str]:
    """Words that say what kind of answer is wanted ("which *ridge*", "how *tall*") or offer a choice ("X or Y")."""
    lowered = question.lower()
    words = {w for m in _ANSWER_TYPE.finditer(lowered) for w in m.groups() if w}
    return words | {w for m in _CHOICE.finditer(lowered) for w in m.groups()}


def _answer_vouches(doc: _Passage, units: list[tuple[int, ...]], new: list[Token]) -> bool:
    """A question worded unlike the passage is still about it when its answer quotes 2+ new words of the
    sentence the question points to ("the highest frequency ... get older?" - "It falls with age.")."""
    keys = {t.key for t in new}
    return len(keys) >= 2 and any(doc.support(keys, u) == 1.0 for u in units)


def _degenerate(
    question: str, q_tokens: list[Token], a_tokens: list[Token], new: list[Token], polarity: str
) -> tuple[str, str] | None:
    if not q_tokens:
        return "degenerate_question", f"no content word in the question {question[:80]!r}"
    yes_no = bool(_YES_NO_START.match(question)) and " or " not in question.lower()
    if yes_no and polarity in ("yes", "yeah") and not new:
        return "degenerate_question", "a yes/no question answered by a bare yes"
    vague = any(t.text.lower() in _VAGUE for t in a_tokens)  # "made of something": an echo, below
    if a_tokens and not new and " or " not in question.lower() and len(a_tokens) <= 3 and not (yes_no or vague):
        said = " ".join(t.text for t in a_tokens)
        return "degenerate_question", f"the question already contains its answer {said!r}"
    return None


def _echo(question: str, answer: str, a_tokens: list[Token], new: list[Token]) -> tuple[str, str] | None:
    if " or " in question.lower() or _YES_NO_START.match(question):
        return None
    if a_tokens and not new:
        return "answer_echoes_question", f"the answer {answer[:80]!r} adds nothing to the question"
    vague = [t.text for t in a_tokens if t.text.lower() in _VAGUE]
    if vague and len(new) <= 1:
        return "answer_echoes_question", f"the answer only restates the question, with {vague[0]!r}"
    kind = _WHAT_KIND.search(question)
    if kind and re.match(
        rf"^\s*(?:(?:a|an|the)\s+)?{re.escape(kind.group(2))}\w*\s+(?:is|are|was|were)\b", answer, re.I
    ):
        return (
            "answer_echoes_question",
            f"a 'what {kind.group(1)} of {kind.group(2)}' question answered by a definition",
        )
    asks = _WHEN.match(question) or _HOW_MANY.search(question)
    if asks and not any(t.is_number or t.key in _QUANTITY_KEYS for t in a_tokens):
        return "answer_echoes_question", f"{asks.group(0).strip()!r} question with no number or date in the answer"
    return None


def _contradiction(
    doc: _Passage,
    unit: tuple[int, ...],
    question: str,
    statement: str,
    polarity: str,
    evidence: list[Token],
    th: Thresholds,
) -> tuple[str, str] | None:
    """Numbers or names the passage (or the sentence asked about) lacks, or a negation its clause lacks."""
    context = [t for i in unit for t in doc.tokens[i]]
    said = {t.key for t in context}
    for kind, pick in (("number", lambda t: t.is_number), ("name", lambda t: t.is_name)):
        near = sorted({t.text for t in context if pick(t)})[:6]
        unknown = sorted({t.text for t in evidence if pick(t) and t.key not in doc.first})
        if kind == "number" and near:  # a number from another sentence is no answer to this one
            unknown = sorted({t.text for t in evidence if pick(t) and t.key not in said})
        if unknown:
            where = "the sentence asked about" if near and all(doc.has(t) for t in _keys(unknown)) else "the passage"
            says = f"; the sentence asked about says {', '.join(near)}" if near else ""
            return "answer_contradicts_passage", f"{kind} {', '.join(unknown)} is not in {where}{says}"
    if not th.check_negation or not unit:
        return None
    if _YES_NO_START.match(question) and polarity in ("no", "nope") and not statement.strip(" .!"):
        clause = _best_clause(doc, unit, tokens(question))
        if clause and _same_content(tokens(question), clause) and is_negated(question) == is_negated(clause):
            return "answer_contradicts_passage", f"answers no, but the passage says {clause[:120]!r}"
        return None
    clause = _best_clause(doc, unit, tokens(statement))
    if clause and statement.strip() and is_negated(statement) != is_negated(clause):
        side = "the answer negates" if is_negated(statement) else "the answer drops the negation of"
        return "answer_contradicts_passage", f"{side} {clause[:120]!r}"
    return None


def _keys(texts: list[str]) -> list[str]:
    return [t.key for text in texts for t in tokens(text)]


def _best_clause(doc: _Passage, unit: tuple[int, ...], probe: list[Token]) -> str | None:
    keys = {t.key for t in probe}
    best, best_score = None, 0.0
    for i in unit:
        for clause in clauses(doc.sentences[i]):
            score = sum(doc.idf.get(k, 0.0) for k in keys & {t.key for t in tokens(clause)})
            if score > best_score:
                best, best_score = clause, score
    return best


def _same_content(probe: list[Token], clause: str) -> bool:
    keys = {t.key for t in tokens(clause)}
    content = [t for t in probe if t.key not in _ASKING]
    return bool(content) and all(t.key in keys for t in content)


def _support_scores(
    doc: _Passage, units: list[tuple[int, ...]], unit: tuple[int, ...], keys: set[str]
) -> dict[str, Any]:
    per_sentence = [doc.support(keys, (i,)) for i in range(len(doc.sentences))]
    best = max(range(len(per_sentence)), key=per_sentence.__getitem__, default=-1)
    return {
        "answer_grounding": round(len(keys & doc.first.keys()) / len(keys), 4) if keys else 1.0,
        "answer_alignment": round(doc.support(keys, unit), 4) if unit else 0.0,
        "answer_best_support": round(per_sentence[best], 4) if best >= 0 else 0.0,
        "question_sentence": units[0][0] if units else -1,
        "answer_sentence": best,
    }


def _off_target_detail(doc: _Passage, unit: tuple[int, ...], scores: dict[str, Any]) -> str:
    asked = " ".join(doc.sentences[i] for i in unit)[:160]
    found = doc.sentences[scores["answer_sentence"]][:160]
    return f"the question points to {asked!r}; the answer comes from {found!r}"


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 over stemmed content words and numbers (0.0 when either side has none)."""
    pred, ref = [t.key for t in tokens(prediction)], [t.key for t in tokens(reference)]
    common = sum(min(pred.count(k), ref.count(k)) for k in set(pred) & set(ref))
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)
