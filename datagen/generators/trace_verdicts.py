"""What the samplers decide about each trace beyond its final answer: is it a finished, consistent solution, and,
for a problem without a reference, which answer the samples agree on.

`judge` is `trace_check`'s rule applied inside `cot` and `dpo` (a trace counts as correct only if its answer
verifies AND it passes), and, with the check off, still refuses a trace cut at `max_new_tokens`: a cut-off trace
is never kept. `majority_vote` groups equivalent answers with the project's verifier (`filters.answers.verify`:
"8", "8.0" and "eight" are one answer) and names the label when its share of the samples drawn reaches
`min_agreement` (OpenMathInstruct-2's labels for problems without a reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from filters.answers import Verification, extract_answer, verify
from filters.trace_scoring import TraceVerdict, check_trace

PASSED = TraceVerdict(True)
CUT_OFF = TraceVerdict(False, "truncated", "generation stopped at max_new_tokens")


def judge(text: str, reference: str | None, finish_reason: str | None, trace_check: bool) -> TraceVerdict:
    """`check_trace`'s verdict, or (check off) only the rule that a trace cut at max_new_tokens is not finished."""
    if trace_check:
        return check_trace(text, reference or None, finish_reason=finish_reason)
    return CUT_OFF if finish_reason == "length" else PASSED


def unlabelled(text: str) -> Verification:
    """The verification of a trace whose problem has no label yet (the vote comes after the last round)."""
    return Verification(False, extract_answer(text), None, "none", "no_label")


@dataclass(frozen=True)
class Vote:
    """The outcome of a majority vote: the label (None: no consensus), its share of the samples, the counts."""

    label: str | None
    agreement: float
    counts: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    detail: str = ""

    def as_meta(self) -> list[dict[str, Any]]:
        return [{"answer": answer, "count": count} for answer, count in self.counts]


def group_answers(answers: list[str], *, timeout: float = 1.0) -> list[tuple[str, int]]:
    """(first-seen answer, how many answers are equivalent to it) per group, most votes first (ties: first seen)."""
    groups: list[list[str]] = []
    for answer in answers:
        home = next((g for g in groups if answer == g[0] or verify(answer, g[0], timeout=timeout).match), None)
        if home is None:
            groups.append([answer])
        else:
            home.append(answer)
    groups.sort(key=lambda g: -len(g))
    return [(g[0], len(g)) for g in groups]


def majority_vote(answers: list[str], drawn: int, min_agreement: float) -> Vote:
    """The label when the most common answer holds at least `min_agreement` of the `drawn` samples, alone on top.

    The share is over every sample drawn, not only those that stated an answer: eight samples of which three say
    42 and five say nothing usable are not a consensus on 42.
    """
    counts = tuple(group_answers(answers))
    if not counts or not drawn:
        return Vote(None, 0.0, counts, f"no usable answer in {drawn} sample(s)")
    top, votes = counts[0]
    share = round(votes / drawn, 4)
    summary = ", ".join(f"{a[:30]!r}: {c}" for a, c in counts[:6])
    if len(counts) > 1 and counts[1][1] == votes:
        return Vote(None, share, counts, f"tie at {votes}/{drawn} votes ({summary})")
    if share < min_agreement:
        return Vote(None, share, counts, f"top answer {share:.0%} < min_agreement {min_agreement:.0%} ({summary})")
    return Vote(top, share, counts, f"{votes}/{drawn} votes ({summary})")


def verdict_meta(text_check: TraceVerdict, verification: Verification, finish_reason: str | None) -> dict[str, Any]:
    """One trace's verdicts as the records carry them (`traces` meta, one entry per trace drawn)."""
    return {
        "correct": bool(verification.match) and text_check.ok,
        "match": bool(verification.match),
        "predicted": None if verification.predicted is None else str(verification.predicted)[:200],
        "method": str(verification.method),
        "finish_reason": finish_reason,
        "check": text_check.reason,
        "check_detail": text_check.detail[:300],
    }


def verification_meta(v: Verification) -> dict[str, Any]:
    """A kept trace's answer check as its record carries it (`verification`; dpo: `chosen_/rejected_verification`)."""
    return {
        "match": bool(v.match),
        "predicted": None if v.predicted is None else str(v.predicted),
        "reference": None if v.reference is None else str(v.reference),
        "method": str(v.method),
        "detail": str(v.detail or ""),
    }


def no_correct_detail(traces: list[Any], drawn: int) -> str:
    """How many traces verified, which of those trace_check removed and why (first detail per reason), the answers."""
    verified = [t for t in traces if t.verification.match]
    reasons: dict[str, list[str]] = {}
    for t in verified:
        reasons.setdefault(t.check.reason, []).append(t.check.detail)
    removed = "; ".join(f"{r} x{len(d)} ({d[0][:80]})" for r, d in reasons.items())
    answers = ", ".join(sorted({str(t.verification.predicted) for t in traces}))[:200]
    failed = f", {len(verified)} failed trace_check: {removed}" if verified else ""
    return f"0/{drawn} correct ({len(verified)} verified{failed}); answers given: {answers}"


TRACE_VERDICT_SCHEMA = {
    "correct": "bool",
    "match": "bool",
    "predicted": "string",
    "method": "string",
    "finish_reason": "string",
    "check": "string",
    "check_detail": "string",
}
VOTE_SCHEMA = [{"answer": "string", "count": "int32"}]
VERIFICATION_SCHEMA = {
    "match": "bool",
    "predicted": "string",
    "reference": "string",
    "method": "string",
    "detail": "string",
}
