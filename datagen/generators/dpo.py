"""DPO preference pairs from rejection-sampled traces: chosen = a verified-correct trace, rejected = a wrong one.

Standalone: it samples its own traces with the CoT `Sampler` (same prompt, rounds, seeds and verification) and
stops a problem once it has one distinct correct trace and `pairs_per_problem` distinct wrong ones. When no trace
is correct and `correction` is on, the model is shown a wrong attempt and the reference answer and asked for a
corrected solution (`dpo_correction` template); that is used as chosen only if it verifies on its own, does not
echo the prompt's framing (`correction_forbidden`: "student", ...) and passes trace_check.

With `trace_check` on (the default) the chosen side must pass every check of `trace_check` and the rejected side
must be a finished, coherent trace that clearly states a wrong answer (`filters.trace_scoring.is_usable_rejected`):
garbage is no useful negative. A trace cut at `max_new_tokens` is never used on either side.

Pairing policies (`policy`): `random`; `hardest_negative`, the wrong traces the model finds most likely (when the
backend is also a `Scorer`: `datagen.backends.base`), else the most frequent wrong answers (`pairing` records which);
`length_matched`, chosen/rejected of the closest lengths (so the preference is not "shorter wins").

Writes one record per pair, `{id}#p{j}`: messages = (question, chosen), meta `rejected` (the rejected reply),
`pair_index`, `pairing`, `corrected` (+ `correction_prompt`), `rejected_score`, `chosen_verification`,
`rejected_verification`, `finish_reason` / `rejected_finish_reason`, plus the problem meta of `cot` (`pass_rate`,
`samples_drawn`, `correct`, `generation`, `label_source`, `traces`: every trace's verdicts).
Drops: those of `cot`, plus `no_wrong_trace` (every trace verified: nothing to prefer against).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from datagen.backends.base import Scorer, finish_reason_of, lacks
from datagen.generators.sampling import (
    PROBLEM_SCHEMA,
    Problem,
    Sampler,
    SamplingConfig,
    SamplingStep,
    Trace,
    derive_seed,
    distinct,
    near_duplicate,
    normalize_trace,
)
from datagen.generators.trace_verdicts import VERIFICATION_SCHEMA, judge, verification_meta
from datagen.prompts import load_prompt
from datagen.records import Rejected, Sample
from filters.answers import extract_answer, verify
from filters.trace_scoring import is_usable_rejected

Policy = Literal["random", "hardest_negative", "length_matched"]


class DpoConfig(SamplingConfig):
    pairs_per_problem: int = Field(2, ge=1, description="at most this many pairs per problem, each a distinct rejected")
    policy: Policy = Field("hardest_negative", description="how rejected traces are chosen and paired")
    correction: bool = Field(False, description="for problems with no correct trace, ask the model to fix a wrong one")
    correction_prompt: str = Field("dpo_correction", description="template for the correction request")
    correction_temperature: float = Field(0.0, ge=0, description="0 = greedy correction")
    rejected_needs_answer: bool = Field(
        True, description="only traces with an extractable (wrong) answer can be rejected (implied by trace_check)"
    )
    correction_forbidden: list[str] = Field(
        default_factory=lambda: ["student", "correct final answer", "i was told", "given answer"],
        description="a correction mentioning any of these (case-insensitive) leaks the prompt's framing: refused",
    )


def _answer_key(trace: Trace) -> str:
    predicted = trace.verification.predicted
    return normalize_trace(str(predicted)) if predicted is not None else ""


def most_frequent_wrong(wrong: Sequence[Trace]) -> list[Trace]:
    """Wrong traces ordered by how often their answer was given: one per answer first, then the rest."""
    groups: dict[str, list[Trace]] = defaultdict(list)
    for trace in wrong:
        groups[_answer_key(trace)].append(trace)
    ordered = sorted(groups.values(), key=lambda g: -len(g))  # stable: ties keep first-drawn order
    depth = max((len(g) for g in ordered), default=0)
    return [g[i] for i in range(depth) for g in ordered if i < len(g)]


def build_pairs(
    chosen: Sequence[Trace],
    wrong: Sequence[Trace],
    policy: Policy,
    count: int,
    *,
    seed: int,
    scores: Sequence[float] | None = None,
) -> tuple[list[tuple[Trace, Trace, float | None]], str]:
    """Up to `count` (chosen, rejected, rejected's score) pairs, each rejected used once; and the policy label."""
    if not chosen or not wrong:
        return [], policy
    score_of = {id(t): s for t, s in zip(wrong, scores, strict=True)} if scores is not None else {}
    if policy == "length_matched":
        return _length_matched(chosen, wrong, count), policy
    if policy == "random":
        rng = random.Random(seed)
        ranked, chosen = rng.sample(list(wrong), len(wrong)), rng.sample(list(chosen), len(chosen))
        label = policy
    elif scores is not None:
        ranked = sorted(wrong, key=lambda t: -score_of[id(t)])
        label = "hardest_negative:likelihood"
    else:
        ranked = most_frequent_wrong(wrong)
        label = "hardest_negative:most_frequent_wrong_answer"
    pairs = [(chosen[i % len(chosen)], w, score_of.get(id(w))) for i, w in enumerate(ranked[:count])]
    return pairs, label


def _length_matched(
    chosen: Sequence[Trace], wrong: Sequence[Trace], count: int
) -> list[tuple[Trace, Trace, float | None]]:
    """Greedy closest-length matching; a chosen trace is reused only once every chosen trace has a pair."""
    candidates = sorted(
        ((abs(len(c.text) - len(w.text)), ci, wi) for ci, c in enumerate(chosen) for wi, w in enumerate(wrong)),
    )
    pairs: list[tuple[Trace, Trace, float | None]] = []
    used_c: set[int] = set()
    used_w: set[int] = set()
    while len(pairs) < count and len(used_w) < len(wrong):
        fresh = len(used_c) < len(chosen)
        for _, ci, wi in candidates:
            if wi not in used_w and (ci not in used_c or not fresh):
                pairs.append((chosen[ci], wrong[wi], None))
                used_c.add(ci)
                used_w.add(wi)
                break
    return pairs


class DpoPairs(SamplingStep[DpoConfig]):
    name = "dpo"
    record_index, counted_as = "pair_index", "pairs_built"
    schema = {
        **PROBLEM_SCHEMA,
        "rejected": "string",
        "pair_index": "int32",
        "pairing": "string",
        "corrected": "int32",
        "correction_prompt": "string",
        "rejected_score": "float64",
        "chosen_verification": VERIFICATION_SCHEMA,
        "rejected_verification": VERIFICATION_SCHEMA,
        "finish_reason": "string",
        "rejected_finish_reason": "string",
    }

    def enough(self, problem: Problem) -> bool:
        return bool(problem.correct) and len(self._rejectable(problem)) >= self.config.pairs_per_problem

    def _rejectable(self, problem: Problem) -> list[Trace]:
        wrong = [t for t in problem.wrong if self._usable_rejected(problem, t)]
        return distinct(wrong, self.config.dedup_distance)

    def _usable_rejected(self, problem: Problem, trace: Trace) -> bool:
        """Never a cut-off trace; with trace_check, `is_usable_rejected` (computed once per trace)."""
        cfg = self.config
        if trace.finish_reason == "length":
            return False
        if cfg.trace_check:
            if trace.rejected_check is None:
                trace.rejected_check = is_usable_rejected(
                    trace.text, problem.reference or None, finish_reason=trace.finish_reason
                )
            return trace.rejected_check.ok
        return not cfg.rejected_needs_answer or (trace.verification.predicted is not None and bool(trace.text.strip()))

    def records(self, sampler: Sampler, problem: Problem) -> list[Sample | Rejected]:
        """One record per pair (`{id}#p{j}`), or the problem's reject."""
        cfg = self.config
        wrong = self._rejectable(problem)
        chosen = distinct(problem.correct, cfg.dedup_distance, cfg.pairs_per_problem)
        corrected = False
        if not chosen:
            if not (cfg.correction and wrong):
                return [self.unsolved(sampler, problem)]
            fixed = self._correct(sampler, problem, most_frequent_wrong(wrong)[0], wrong)
            if isinstance(fixed, str):
                return [self.unsolved(sampler, problem, fixed)]
            chosen, corrected = [fixed], True
        if not wrong:
            meta = sampler.problem_meta(problem)
            return [self.reject(problem.sample, "no_wrong_trace", f"{len(problem.correct)} verified, 0 wrong", **meta)]
        scores = self._scores(sampler, problem, wrong) if cfg.policy == "hardest_negative" else None
        pairs, label = build_pairs(
            chosen, wrong, cfg.policy, cfg.pairs_per_problem, seed=derive_seed(self.seed, problem.sample.id, "pairs"),
            scores=scores,
        )  # fmt: skip
        records: list[Sample | Rejected] = []
        for j, (good, bad, score) in enumerate(pairs):
            meta = {
                "rejected": bad.text,
                "pair_index": j,
                "pairing": label,
                "corrected": int(corrected),
                "correction_prompt": load_prompt(cfg.correction_prompt).ref if corrected else None,
                "rejected_score": score,
                "chosen_verification": verification_meta(good.verification),
                "rejected_verification": verification_meta(bad.verification),
                "finish_reason": good.finish_reason,
                "rejected_finish_reason": bad.finish_reason,
            }
            records.append(self.answered(sampler, problem, f"p{j}", good, meta))
        return records

    def _scores(self, sampler: Sampler, problem: Problem, wrong: list[Trace]) -> list[float] | None:
        """The generator's likelihood of each wrong trace, if it is also a `Scorer` (else frequency decides)."""
        if lacks(sampler.generator, Scorer):
            return None
        conversation = sampler.conversation(problem)
        scores = sampler.generator.score([conversation] * len(wrong), [t.text for t in wrong])
        if scores is None or len(scores) != len(wrong) or any(s is None for s in scores):
            return None  # a scorer that failed on any item: rank by frequency instead, and say so
        return [float(s) for s in scores]

    def _correct(self, sampler: Sampler, problem: Problem, attempt: Trace, wrong: list[Trace]) -> Trace | str:
        """A corrected trace that verifies on its own, or why there is none (the reject's detail)."""
        cfg = self.config
        answer = extract_answer(problem.reference) or problem.reference.strip()
        prompt = load_prompt(cfg.correction_prompt)
        conversation = prompt.render(
            media=(problem.sample.images, problem.sample.audios),
            question=problem.question.content,
            attempt=attempt.text,
            answer=answer,
        )
        seed = derive_seed(self.seed, problem.sample.id, "correction")
        problem.seeds.append(seed)
        out = sampler.generator.generate(
            [conversation], n=1, sampling=sampler.sampling(seed, cfg.correction_temperature)
        )
        generated = out[0][0] if out and out[0] and isinstance(out[0][0], str) else ""
        text, reason = str(generated), finish_reason_of(generated)
        if not text.strip():
            return "correction failed: the model returned nothing"
        check = verify(text, problem.reference)
        if not check.match:
            return f"correction did not verify: predicted {check.predicted!r:.80}"
        lowered = text.lower()
        if leaked := [word for word in cfg.correction_forbidden if word.lower() in lowered]:
            return f"correction leaks the prompt's framing ({leaked[0]!r})"
        verdict = judge(text, problem.reference, reason, cfg.trace_check)
        if not verdict.ok:
            return f"correction fails trace_check: {verdict.reason}: {verdict.detail}"[:300]
        if near_duplicate(text, [t.text for t in wrong], cfg.dedup_distance):
            return "correction is a near-copy of a wrong trace"
        return Trace(text, seed, check, reason, verdict)
