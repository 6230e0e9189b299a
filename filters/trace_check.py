"""Reasoning traces that end, state one final answer, do not loop, and whose written equations hold.

The `trace_check` step judges the last assistant turn; on a DPO record it also requires a usable rejected side.

Drops, in this order (see `filters.trace_scoring` for what each measures): `degenerate` (loops), `truncated` (cut
at max_new_tokens, ends mid-sentence, or never states a final answer), `conflicting_answers`, `wrong_step` (an
explicit equation that does not hold, quoted in the detail); `unusable_rejected` when a DPO record's `rejected`
reply is not a finished, coherent trace with a clearly stated wrong answer; `missing_trace` without an assistant turn.

Optional meta it uses when present: `verification.reference` (cot) or `chosen_verification.reference` /
`rejected_verification.reference` (dpo); `finish_reason` / `rejected_finish_reason` ("length" = the generator
stopped at max_new_tokens). The scores go to meta for kept and dropped records alike, so new limits can be applied
to a finished dataset with `datagen filter`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from datagen.records import Sample
from datagen.steps import Filter, StepConfig, Verdict, drop, keep
from filters.trace_scoring import TraceLimits, is_usable_rejected, judge_trace, score_trace


class TraceCheckConfig(StepConfig):
    max_repetition: float = Field(0.5, ge=0, le=1, description="highest share of repeated word 4-grams: degenerate")
    max_phrase_repeats: int = Field(2, ge=1, description="a phrase said more times in a row than this: degenerate")
    max_sentence_repeats: int = Field(2, ge=1, description="a sentence said more times than this: degenerate")
    max_wrong_steps: int = Field(0, ge=0, description="explicit equations that do not hold, at most: wrong_step")
    check_rejected: bool = Field(True, description="on DPO records, also require a usable `rejected` reply")

    def limits(self) -> TraceLimits:
        return TraceLimits(
            self.max_repetition, self.max_phrase_repeats, self.max_sentence_repeats, self.max_wrong_steps
        )


_SCORE_TYPES = {
    "trace_final_answer": "string",
    "trace_stated_answers": "int32",
    "trace_ending": "string",
    "trace_conflict": "string",
    "trace_equations": "int32",
    "trace_wrong_steps": "int32",
    "trace_repetition": "float64",
    "trace_phrase_repeats": "int32",
    "trace_sentence_repeats": "int32",
    "trace_rejected_problem": "string",
}


def _reference(meta: dict[str, Any], key: str) -> str | None:
    verification = meta.get(key)
    reference = verification.get("reference") if isinstance(verification, dict) else None
    return reference if isinstance(reference, str) and reference.strip() else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class TraceCheck(Filter):
    """Reads the last assistant turn (and meta `rejected` on DPO records); writes the `trace_*` scores."""

    name = "trace_check"
    Config = TraceCheckConfig
    reads = ("messages",)
    writes = tuple(_SCORE_TYPES)
    config: TraceCheckConfig

    @classmethod
    def features(cls) -> dict[str, Any]:
        from datasets import Value

        return {key: Value(kind) for key, kind in _SCORE_TYPES.items()}

    def judge(self, sample: Sample) -> Verdict:
        trace = next((m.content for m in reversed(sample.messages) if m.role == "assistant"), None)
        if not trace or not trace.strip():
            return drop("missing_trace", "the record has no assistant turn with text")
        meta = sample.meta
        reference = _reference(meta, "verification") or _reference(meta, "chosen_verification")
        scores = score_trace(trace, reference, finish_reason=_text(meta.get("finish_reason")))
        verdict = judge_trace(scores, self.config.limits())
        rejected = _text(meta.get("rejected")) if self.config.check_rejected else None
        problem = None
        if rejected is not None:
            side = is_usable_rejected(
                rejected,
                _reference(meta, "rejected_verification") or reference,
                finish_reason=_text(meta.get("rejected_finish_reason")),
                limits=self.config.limits(),
            )
            problem = "" if side.ok else f"{side.reason}: {side.detail}"
        meta_scores = {**scores.as_meta(), "trace_rejected_problem": problem}
        if not verdict.ok:
            return drop(verdict.reason, verdict.detail, **meta_scores)
        if problem:
            return drop("unusable_rejected", f"rejected side: {problem}"[:300], **meta_scores)
        return keep(**meta_scores)
