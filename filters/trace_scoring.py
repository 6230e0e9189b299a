"""Is a reasoning trace a finished, consistent solution? Pure scoring for the `trace_check` step and the generators.

Comparing only the last number with the reference keeps traces that are not solutions: one that states "The final
answer is 120" and later "the answer is 14", one with "12*12 = 14" on the way, one cut off mid-word by the token
limit, one looping "sister's sister's sister's". `score_trace` measures, `judge_trace` applies limits (so limits
can change and be re-run without a model), `check_trace` does both. The rejection reasons, first that applies:

- `degenerate`: a phrase repeated back to back (`max_phrase_repeats`), a sentence repeated (`max_sentence_repeats`),
  or too many repeated word 4-grams (`max_repetition`);
- `truncated`: generation stopped at `max_new_tokens` (finish reason "length"), the text ends mid-sentence
  (no closing punctuation, an unclosed `\\boxed{`, a trailing "..."), or no final answer is ever stated (no
  `\\boxed{}`, `####`, "the answer is", and no last sentence that states a result: a number, a number word, the
  reference, or a conclusion word, in a sentence that is neither a question nor a plan);
- `conflicting_answers`: two explicit final answers that differ (`filters.answers.verify` decides equality);
- `wrong_step`: an explicit arithmetic equation that does not hold (`filters.trace_arithmetic`).

`is_usable_rejected` is the DPO rule for the rejected side: finished, coherent, and clearly stating a final answer
that is not the reference's; a wrong step is allowed there (it is usually why the answer is wrong).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from filters.answers import extract_answer, verify
from filters.trace_arithmetic import check_equations

__all__ = ["TraceLimits", "TraceScores", "TraceVerdict", "check_trace", "is_usable_rejected", "judge_trace"]

MAX_TRACE_CHARS = 50_000  # longer traces are scored on their head (equations, loops) and tail (ending, answers)
_MAX_WORDS = 6_000
_MAX_ANSWERS = 20
_MAX_WORK_NUMBERS = 200
_NUMBER_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?%?")

_MARKER_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])|####|(?i:\banswer\b[\s*_]*(?:is\b|:|=))")
_NEGATED_RE = re.compile(r"(?i)\banswer\b[\s*_]*is\s+not\b")
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")
_ENUMERATOR_RE = re.compile(r"^\s*(?:[-*•]\s*|(?:step\s*)?\d{1,3}\s*[.):]\s*)", re.IGNORECASE)
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_NOT_ANSWERS = {"correct", "right", "wrong", "incorrect", "reasonable", "valid", "consistent", "not"}
_GLUE_WORDS = {"and", "or", "then", "so", "but", "which", "because", "the", "a", "an", "of", "to", "is", "are", "we"}
_END_OK = set(".!?)]}\"'$")
_TRAILING_MARKUP = " \t\n*_`"
_SIGN_OFF_RE = re.compile(
    r"(?i)hope (?:this|that) helps|let me know|feel free|happy to help|good luck|any (?:other |more )?questions"
)
_PLAN_RE = re.compile(
    r"(?i)^(?:let'?s|let us|let me|first|next|to (?:find|solve|get|calculate|work)|step \d|(?:we|i)(?:'ll)? "
    r"(?:need|want|have to|must|will|can|should|shall|add|subtract|multiply|divide|calculate|compute|count|start|"
    r"begin|look|use|take|know)\b)"
)
_CONNECTIVE_RE = re.compile(r"(?i)^(?:(?:so|then|and|now|next|okay|ok|well|therefore|thus),?\s+)+")
_IMPERATIVE_RE = re.compile(
    r"(?i)^(?:add|subtract|multiply|divide|identify|understand|find|calculate|compute|determine|count|read|think)\b"
)
_CONCLUSION_RE = re.compile(r"(?i)\b(?:so|therefore|thus|hence|in total|altogether|finally|answer)\b")
_NUMBER_WORD_RE = re.compile(
    r"(?i)\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|(?:thir|four|fif|six|seven|eigh|"
    r"nine)teen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|half|third|quarter)\b"
)
_EQUATION_END_RE = re.compile(r"=\s*[$€£]?-?\d[\d,.]*\s*(?:%|[A-Za-z]+)?$")


@dataclass(frozen=True)
class TraceLimits:
    """Thresholds of `judge_trace`; the defaults keep every good trace of the labelled set (tests/data)."""

    max_repetition: float = 0.5
    max_phrase_repeats: int = 2
    max_sentence_repeats: int = 2
    max_wrong_steps: int = 0


@dataclass(frozen=True)
class TraceScores:
    """What `score_trace` measured; `as_meta()` is what the step writes."""

    final_answer: str | None
    stated_answers: tuple[str, ...]
    conflict: str  # "" or "A vs B"
    answer_stated: bool
    ending: str  # "" when the text ends cleanly, else why not
    finish_reason: str
    equations: int
    wrong_steps: tuple[str, ...]
    repetition: float
    phrase_repeats: int
    sentence_repeats: int

    def as_meta(self, prefix: str = "trace_") -> dict[str, Any]:
        return {
            f"{prefix}final_answer": self.final_answer,
            f"{prefix}stated_answers": len(self.stated_answers),
            f"{prefix}ending": self.ending,
            f"{prefix}conflict": self.conflict,
            f"{prefix}equations": self.equations,
            f"{prefix}wrong_steps": len(self.wrong_steps),
            f"{prefix}repetition": self.repetition,
            f"{prefix}phrase_repeats": self.phrase_repeats,
            f"{prefix}sentence_repeats": self.sentence_repeats,
        }


@dataclass(frozen=True)
class TraceVerdict:
    """`ok`, else a stable `reason` (`degenerate`, `truncated`, `conflicting_answers`, `wrong_step`, ...) and why."""

    ok: bool
    reason: str = ""
    detail: str = ""
    scores: TraceScores | None = field(default=None, compare=False)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_RE.split(text) if s.strip()]


def _answer_value(answer: str) -> str:
    """An answer written as a worked equation states its last side: "3 + 5 = 8" states 8."""
    return answer.rpartition("=")[2].strip() or answer


def stated_answers(text: str) -> list[str]:
    """Each explicit final answer (`\\boxed{}`, `####`, "the answer is", "Answer:"), one per sentence, in order."""
    found: list[str] = []
    for sentence in sentences(text):
        if not _MARKER_RE.search(sentence) or _NEGATED_RE.search(sentence):
            continue
        answer = extract_answer(sentence)
        if answer and answer.lower().split(" ")[0] not in _NOT_ANSWERS:
            found.append(_answer_value(answer))
        if len(found) >= _MAX_ANSWERS:
            break
    return found


def first_conflict(answers: list[str]) -> str:
    """The first stated answer that differs from an earlier one, as "A vs B"; "" when they all agree."""
    distinct: list[str] = []
    for answer in answers:
        if any(answer == seen or verify(answer, seen, timeout=1.0).match for seen in distinct):
            continue
        if distinct:
            return f"{distinct[0]!r:.60} vs {answer!r:.60}"
        distinct.append(answer)
    return ""


def ending_problem(text: str) -> str:
    """What is wrong with how the text ends; "" when it ends like a finished solution."""
    end = text.rstrip(_TRAILING_MARKUP)
    if not end:
        return "empty"
    if end.endswith(("...", "…")):
        return "trails off: " + end[-40:]
    boxes = list(re.finditer(r"\\(?:boxed|fbox)\s*\{", end))
    if boxes and extract_answer(end[boxes[-1].start() :]) is None:
        return "unclosed \\boxed{"
    if end[-1] in _END_OK:
        return ""
    last_line = end.splitlines()[-1].strip()
    answer = extract_answer(last_line) if _MARKER_RE.search(last_line) else None
    if answer and _ends_with_answer(last_line.rstrip(_TRAILING_MARKUP), answer.strip()):
        return ""  # "Answer: 180 miles", "#### 8": a final answer line needs no full stop
    if _EQUATION_END_RE.search(last_line):
        return ""
    return "ends mid-sentence: ..." + end[-40:]


def _ends_with_answer(line: str, answer: str) -> bool:
    """The line ends with its answer, or with the answer and a unit-like word or two ("6 muffins")."""
    _, found, tail = line.rpartition(answer)
    words = tail.split()
    return bool(found) and len(words) <= 2 and all(w.isalpha() and w.lower() not in _GLUE_WORDS for w in words)


def _states_result(sentence: str, reference: str | None) -> bool:
    sentence = _ENUMERATOR_RE.sub("", sentence)
    if sentence.endswith("?") or _PLAN_RE.search(_CONNECTIVE_RE.sub("", sentence)):
        return False
    if _IMPERATIVE_RE.search(sentence) and "=" not in sentence:
        return False  # "Multiply the speed by the time.": an instruction, not a result
    if any(c.isdigit() for c in sentence) or _NUMBER_WORD_RE.search(sentence) or _CONCLUSION_RE.search(sentence):
        return True
    key = (extract_answer(reference) or "").strip().lower() if reference else ""
    return bool(key) and key in sentence.lower()  # "... is Paris." for the reference "Paris"


def answer_is_stated(text: str, explicit: list[str], reference: str | None = None) -> bool:
    """An explicit answer, or a last content sentence (sign-offs skipped) that states a result."""
    if explicit:
        return True
    content = [s for s in sentences(text) if not _SIGN_OFF_RE.search(s)]
    return bool(content) and _states_result(content[-1], reference)


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())[:_MAX_WORDS]


def ngram_repetition(words: list[str], n: int = 4) -> float:
    """Share of word n-grams (with at least one word that is not a number) that repeat an earlier one."""
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    grams = [g for g in grams if any(not w.isdigit() for w in g)]
    return round(1 - len(set(grams)) / len(grams), 4) if grams else 0.0


def phrase_repeats(words: list[str], max_span: int = 8) -> int:
    """Most times any phrase of 1..`max_span` words (not all numbers) repeats back to back ("sister's sister's")."""
    best = 1
    for span in range(1, max_span + 1):
        for i in range(len(words) - 2 * span + 1):
            phrase = words[i : i + span]
            if all(w.isdigit() for w in phrase) or words[i + span : i + 2 * span] != phrase:
                continue
            count, j = 2, i + 2 * span
            while words[j : j + span] == phrase:
                count, j = count + 1, j + span
            best = max(best, count)
    return best


def sentence_repeats(text: str) -> int:
    """How often the most repeated sentence occurs (list markers like "Step 3:" ignored)."""
    counts: dict[str, int] = {}
    for sentence in sentences(text):
        key = " ".join(_words(_ENUMERATOR_RE.sub("", sentence)))
        if key:
            counts[key] = counts.get(key, 0) + 1
    return max(counts.values(), default=0)


def _is_number(text: str) -> bool:
    return bool(_NUMBER_RE.search(text) or _NUMBER_WORD_RE.search(text))


def answer_is_worked_out(text: str, answer: str) -> bool:
    """A numeric final answer also occurs in the work (before any answer marker): "3 + 5 = 8. The answer is 9."
    is not a solution that went wrong but an answer from nowhere. Non-numeric answers are not judged."""
    if not _NUMBER_RE.search(answer):
        return True
    work = " ".join(_MARKER_RE.split(s, maxsplit=1)[0] for s in sentences(text[:MAX_TRACE_CHARS]))
    numbers = list(dict.fromkeys(_NUMBER_RE.findall(work)))[:_MAX_WORK_NUMBERS]
    return any(verify(number, answer, timeout=1.0).match for number in numbers)


def score_trace(text: str, reference: str | None = None, *, finish_reason: str | None = None) -> TraceScores:
    """Measure everything `judge_trace` decides on. Never raises, never evaluates the text."""
    text = text if isinstance(text, str) else ""
    head, tail = text[:MAX_TRACE_CHARS], text[-MAX_TRACE_CHARS:]
    explicit = stated_answers(tail)
    equations, wrong = check_equations(head)
    words = _words(head)
    return TraceScores(
        final_answer=extract_answer(tail),
        stated_answers=tuple(explicit),
        conflict=first_conflict(explicit),
        answer_stated=answer_is_stated(tail, explicit, reference),
        ending=ending_problem(tail),
        finish_reason=str(finish_reason or ""),
        equations=equations,
        wrong_steps=tuple(wrong),
        repetition=ngram_repetition(words),
        phrase_repeats=phrase_repeats(words),
        sentence_repeats=sentence_repeats(head),
    )


def judge_trace(scores: TraceScores, limits: TraceLimits = TraceLimits()) -> TraceVerdict:
    """The first reason (see the module docstring) the scores break a limit, or ok."""

    def no(reason: str, detail: str) -> TraceVerdict:
        return TraceVerdict(False, reason, detail, scores)

    if scores.phrase_repeats > limits.max_phrase_repeats:
        return no("degenerate", f"a phrase repeats {scores.phrase_repeats} times in a row")
    if scores.sentence_repeats > limits.max_sentence_repeats:
        return no("degenerate", f"a sentence occurs {scores.sentence_repeats} times")
    if scores.repetition > limits.max_repetition:
        return no("degenerate", f"{scores.repetition:.0%} of its word 4-grams repeat")
    if scores.finish_reason == "length":
        return no("truncated", "generation stopped at max_new_tokens")
    if scores.ending:
        return no("truncated", scores.ending)
    if not scores.answer_stated:
        return no("truncated", "no final answer is stated")
    if scores.conflict:
        return no("conflicting_answers", scores.conflict)
    if len(scores.wrong_steps) > limits.max_wrong_steps:
        return no("wrong_step", "; ".join(scores.wrong_steps)[:300])
    return TraceVerdict(True, scores=scores)


def check_trace(
    text: str, reference: str | None = None, *, finish_reason: str | None = None, limits: TraceLimits = TraceLimits()
) -> TraceVerdict:
    """Score and judge one trace: what the `cot` generator should ask of every trace it keeps."""
    return judge_trace(score_trace(text, reference, finish_reason=finish_reason), limits)


def is_usable_rejected(
    text: str, reference: str | None = None, *, finish_reason: str | None = None, limits: TraceLimits = TraceLimits()
) -> TraceVerdict:
    """The DPO rejected side: finished and coherent, with a clearly stated answer that is not the reference's.

    Reasons: those of `check_trace`, except that one wrong step is allowed (a mistake is what makes a useful
    negative; several are garbage), plus `no_clear_answer` (nothing answer-like to prefer against, or no number
    where the reference is one: "The answer is N." echoing the prompt's placeholder),
    `unsupported_answer` (a numeric answer that occurs nowhere in the work) and `not_wrong` (it matches the reference).
    """
    verdict = judge_trace(score_trace(text, reference, finish_reason=finish_reason), limits)
    scores = verdict.scores
    assert scores is not None
    if not verdict.ok and verdict.reason != "wrong_step":
        return verdict
    if len(scores.wrong_steps) > 1:
        return TraceVerdict(False, "wrong_step", "several wrong steps: " + "; ".join(scores.wrong_steps)[:300], scores)
    answer = scores.stated_answers[-1] if scores.stated_answers else scores.final_answer
    if not answer:
        return TraceVerdict(False, "no_clear_answer", "no final answer could be read", scores)
    if reference is not None and _is_number(extract_answer(reference) or reference) and not _is_number(answer):
        # "The answer is N." (the prompt's placeholder), "the answer is x": no number to prefer the right one over
        return TraceVerdict(False, "no_clear_answer", f"{answer!r:.60} is no number; the reference is one", scores)
    if not answer_is_worked_out(text, answer):
        return TraceVerdict(False, "unsupported_answer", f"{answer!r:.60} appears nowhere in the work", scores)
    if reference is not None and verify(answer, reference, timeout=1.0).match:
        return TraceVerdict(False, "not_wrong", f"its answer {answer!r:.60} matches the reference", scores)
    return TraceVerdict(True, scores=scores)
