"""QA consistency: keep a question/answer pair only if its answer answers the question from the source passage.

For any record with a question (first user turn, media tags ignored), an answer (the assistant turn after it)
and a source passage (`meta["passage"]`: the SQA generator's output, or input records `{id, passage, question,
answer}`). The check is `filters.qa_scoring.check_pair` (lexical, CPU, deterministic, no model); its reasons:
`degenerate_question`, `answer_echoes_question`, `question_not_in_passage`, `answer_contradicts_passage`,
`answer_not_in_passage`, `answer_off_target`, each with its evidence in the detail; plus `missing_field` and
`text_too_long` for records it cannot judge. Scores go to meta (`qa_*`), so `datagen filter` can re-apply other
thresholds without a model.

Optional model judge, `judge: BACKEND` (a text generator): the round trip of synthetic-QA filtering. The model
answers the question from the passage; the pair is kept only if its answer agrees with the record's
(`filters.answers.verify`, else token F1 >= `min_judge_f1`; `judge_disagrees`). Only pairs the lexical check
kept cost model time. A step with `judge` needs a backend, so `datagen filter` (which runs no model) refuses it
at setup; without `judge` the step is a plain filter there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from datagen.records import Rejected, Sample
from datagen.steps import BackendRef, Filter, StepConfig, Verdict, drop, keep
from filters.qa_scoring import PairCheck, Thresholds, check_pair, token_f1

_MEDIA_TAG = re.compile(r"<(?:image|audio|video)>")
_SCORES = (
    "question_coverage",
    "answer_grounding",
    "answer_alignment",
    "answer_best_support",
    "answer_novelty",
    "question_sentence",
    "answer_sentence",
)
# the meta each scored record carries (also written by the SQA/SQQA generators, which apply the same check)
QA_SCHEMA = {f"qa_{k}": "int64" if k.endswith("_sentence") else "float64" for k in _SCORES}
_JUDGE_SYSTEM = "You answer questions about a passage. Reply with the shortest answer the passage gives, nothing else."
_JUDGE_USER = "Passage:\n{passage}\n\nQuestion: {question}\nAnswer:"


class QAConsistencyConfig(StepConfig):
    min_question_coverage: float = Field(
        0.5, ge=0, le=1, description="share of the question's content words the passage must hold"
    )
    min_answer_grounding: float = Field(0.6, ge=0, le=1, description="share of the answer's new words in the passage")
    min_answer_alignment: float = Field(
        0.5, ge=0, le=1, description="share of the answer's new words in the sentence the question points to"
    )
    check_negation: bool = Field(True, description="a negation the passage's clause lacks (or the reverse) rejects")
    max_passage_chars: int = Field(50_000, ge=1, description="longer passages are dropped (text_too_long)")
    max_pair_chars: int = Field(2_000, ge=1, description="longer questions or answers are dropped (text_too_long)")
    judge: str | None = Field(None, description="text generator that re-answers the question (None = no model)")
    min_judge_f1: float = Field(0.5, ge=0, le=1, description="lowest token F1 of the judge's answer vs the record's")
    judge_max_new_tokens: int = Field(48, ge=1)
    judge_system: str = Field(_JUDGE_SYSTEM, description="the judge's system prompt")
    judge_prompt: str = Field(_JUDGE_USER, description="the judge's user turn; fields {passage} and {question}")


class QAConsistency(Filter):
    """Reads `passage` and `messages`; writes `qa_*` scores (and `qa_judge_*` with a judge)."""

    name = "qa_consistency"
    Config = QAConsistencyConfig
    reads = ("passage", "messages")
    # `passage` is written back so the output holds what each pair was checked against (and `datagen filter`
    # can re-run this step on it)
    writes = ("passage", *(f"qa_{k}" for k in _SCORES), "qa_judge_answer", "qa_judge_f1")
    config: QAConsistencyConfig

    @classmethod
    def features(cls) -> dict[str, Any]:
        from datasets import Value

        ints = ("qa_question_sentence", "qa_answer_sentence")
        out = {k: Value("int64" if k in ints else "float64") for k in cls.writes}
        out["passage"] = out["qa_judge_answer"] = Value("string")
        return out

    @classmethod
    def backend_refs(cls, config: QAConsistencyConfig) -> list[BackendRef]:
        from datagen.backends.base import TextGenerator  # only a judged run needs the backend types

        return [BackendRef("judge", config.judge, TextGenerator)] if config.judge else []

    def setup(self, backends: Mapping[str, Any]) -> None:
        if self.config.judge and self.config.judge not in backends:
            raise ValueError(
                f"qa_consistency: judge {self.config.judge!r} is not a loaded backend "
                "(`datagen filter` runs no model: remove `judge` there, or use `datagen run`)"
            )
        super().setup(backends)

    def judge(self, sample: Sample) -> Verdict:
        pair = _pair(sample)
        if isinstance(pair, Verdict):
            return pair
        passage, question, answer = pair
        cfg = self.config
        if len(passage) > cfg.max_passage_chars:
            return drop("text_too_long", f"passage: {len(passage)} characters > {cfg.max_passage_chars}", **_empty())
        if max(len(question), len(answer)) > cfg.max_pair_chars:
            detail = f"question/answer: {len(question)}/{len(answer)} characters > {cfg.max_pair_chars}"
            return drop("text_too_long", detail, **_empty())
        thresholds = Thresholds(
            cfg.min_question_coverage, cfg.min_answer_grounding, cfg.min_answer_alignment, cfg.check_negation
        )
        check = check_pair(passage, question, answer, thresholds)
        scores = qa_meta(check)
        return keep(**scores) if check.keep else drop(check.reason, check.detail, **scores)

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        out = super().process(batch)
        if not self.config.judge:
            return out
        kept = [k for k, s in enumerate(out) if isinstance(s, Sample)]
        replies = self._ask_judge([out[k] for k in kept]) if kept else []
        for k, reply in zip(kept, replies, strict=True):
            out[k] = self._judged(out[k], reply)  # type: ignore[arg-type]
        return out

    def _ask_judge(self, samples: list[Sample]) -> list[Any]:
        from datagen.backends.base import ChatTurn, Sampling  # only a judged run needs the backend types

        cfg = self.config
        conversations = []
        for s in samples:
            passage, question, _ = _pair(s)  # type: ignore[misc]
            user = cfg.judge_prompt.replace("{passage}", passage).replace("{question}", question)
            conversations.append([ChatTurn("system", cfg.judge_system), ChatTurn("user", user)])
        sampling = Sampling(0.0, max_new_tokens=cfg.judge_max_new_tokens, seed=self.seed)
        return self.backends[cfg.judge].generate(conversations, 1, sampling)

    def _judged(self, sample: Sample, reply: Any) -> Sample | Rejected:
        from filters.answers import verify

        said = reply[0].strip() if reply and isinstance(reply[0], str) else ""
        if not said:
            return self.reject(sample, "judge_failed", "the judge returned nothing", qa_judge_answer=None)
        _, _, answer = _pair(sample)  # type: ignore[misc]
        agrees = verify(said, answer).match
        f1 = 1.0 if agrees else round(token_f1(said, answer), 4)
        scored = sample.evolve(meta={"qa_judge_answer": said[:500], "qa_judge_f1": f1})
        if f1 < self.config.min_judge_f1:
            detail = f"the judge answered {said[:120]!r}, the record {answer[:120]!r} (F1 {f1})"
            return self.reject(scored, "judge_disagrees", detail)
        return scored


def qa_meta(check: PairCheck | None) -> dict[str, Any]:
    """`check`'s scores as `qa_*` meta, every key present (None = not scored), so all records share one schema."""
    scores = check.scores if check else {}
    return {f"qa_{k}": scores.get(k) for k in _SCORES}


def _empty() -> dict[str, Any]:
    return qa_meta(None)


def _pair(sample: Sample) -> tuple[str, str, str] | Verdict:
    """(passage, question, answer) of a record, or the drop saying what is missing."""
    passage = sample.meta.get("passage")
    if not isinstance(passage, str) or not passage.strip():
        return drop("missing_field", f"meta['passage'] is {type(passage).__name__}, not text", **_empty())
    users = sample.user_turns()
    if not users:
        return drop("missing_field", "no user turn (question)", **_empty())
    question = _MEDIA_TAG.sub(" ", str(sample.messages[users[0]].content)).strip()
    answer = next((m.content for m in sample.messages[users[0] + 1 :] if m.role == "assistant"), None)
    if not question or not isinstance(answer, str) or not answer.strip():
        return drop("missing_field", "an empty question or no assistant turn (answer) after it", **_empty())
    return passage, question, answer.strip()
