"""Rejection sampling shared by `cot` and `dpo`: problems, adaptive rounds of traces, verification, provenance.

A `SamplingStep` turns a batch into `Problem`s (question + reference), the `Sampler` draws traces in rounds of
`round_size` until a step's `stop(problem)` holds or the budget `n` is spent, each trace verified against the
reference (`filters.answers.verify`) and, with `trace_check` on (the default), judged by `trace_check`'s rule: a
trace counts as correct only if both agree, and one cut at `max_new_tokens` never does. A problem without a
reference gets a majority-vote label when `min_agreement` is set (`trace_verdicts`). Each round is seeded from
(manifest seed, round, active ids), so local, Dask and resumed runs draw the same traces. The step tallies
problems, solved, samples drawn, traces removed per trace_check reason, cut-off traces and vote outcomes (stats.json
`rejection_sampling`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import Field

from datagen.backends.base import Sampling, TextGenerator, finish_reason_of, model_name
from datagen.generators import trace_verdicts
from datagen.generators.trace_verdicts import PASSED, Vote, judge, majority_vote, unlabelled, verdict_meta
from datagen.ledger import Ledger
from datagen.prompts import Prompt, load_prompt
from datagen.records import Message, Rejected, Sample
from datagen.steps import BackendRef, Step, StepConfig
from filters.answers import verify
from filters.trace_scoring import TraceVerdict


class SamplingConfig(StepConfig):
    """Options shared by every step that samples reasoning traces (CoT, DPO)."""

    generator: str = Field(description="name of the TextGenerator backend that writes the traces")
    prompt: str = Field("cot_reasoning", description="reasoning prompt template: shipped name or path to a YAML")
    n: int = Field(8, ge=1, description="sample budget per problem (N); adaptive rounds usually draw fewer")
    round_size: int = Field(4, ge=1, description="samples drawn per problem per round")
    temperature: float = Field(0.8, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_new_tokens: int = Field(256, ge=1)
    dedup_distance: float = Field(
        0.1, ge=0, le=1, description="traces within this normalized edit distance of a kept one are near-duplicates"
    )
    trace_check: bool = Field(
        True,
        description="a trace is correct only if it also passes trace_check (finished, one final answer, equations "
        "that hold, no loops); off: only traces cut at max_new_tokens are refused",
    )
    min_agreement: float | None = Field(
        None,
        gt=0,
        le=1,
        description="problems without a reference: the answer this share of the n samples agree on becomes the "
        "label (majority vote, the whole budget is drawn); null = such problems are dropped missing_reference",
    )


@dataclass(slots=True)
class Trace:
    """One drawn trace: its answer's verification, how generation ended, and its trace_check verdict."""

    text: str
    seed: int
    verification: Any  # filters.answers.Verification
    finish_reason: str | None = None  # "stop", "length" (cut at max_new_tokens), None (the backend does not say)
    check: TraceVerdict = PASSED
    rejected_check: TraceVerdict | None = None  # dpo: `is_usable_rejected`, computed once

    @property
    def correct(self) -> bool:
        return bool(self.verification.match) and self.check.ok

    def as_meta(self) -> dict[str, Any]:
        return verdict_meta(self.check, self.verification, self.finish_reason)


@dataclass(slots=True)
class Problem:
    """One question under sampling: its chat prompt, reference, and every trace drawn so far."""

    sample: Sample
    question: Message
    reference: str
    traces: list[Trace] = field(default_factory=list)
    drawn: int = 0
    failed: int = 0
    seeds: list[int] = field(default_factory=list)
    label_source: str = "reference"  # or "majority": `reference` is "" until the vote names one
    vote: Vote | None = None

    @property
    def voting(self) -> bool:
        return self.label_source == "majority"

    @property
    def correct(self) -> list[Trace]:
        return [t for t in self.traces if t.correct]

    @property
    def wrong(self) -> list[Trace]:
        """Traces whose answer does not verify (a right answer that failed trace_check is neither right nor wrong)."""
        return [t for t in self.traces if not t.verification.match]


def derive_seed(seed: int, *parts: object) -> int:
    """A 31-bit seed from the manifest seed and a path (problem id, round): stable across processes and runs."""
    key = "\x1f".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF


def split_problem(sample: Sample) -> tuple[Message, str] | str:
    """(question turn, reference text: "" when there is none) or the drop reason when there is no question."""
    users = sample.user_turns()
    if not users or not sample.messages[users[0]].content.strip():
        return "missing_question"
    first = users[0]
    reference = next((m.content for m in sample.messages[first + 1 :] if m.role == "assistant"), "")
    return sample.messages[first], reference if reference.strip() else ""


_SPACE = re.compile(r"\s+")


def normalize_trace(text: str) -> str:
    return _SPACE.sub(" ", text.strip().lower())


def near_duplicate(text: str, kept: Sequence[str], max_distance: float) -> bool:
    """Normalized text equal, or within `max_distance` normalized Levenshtein distance of a kept trace."""
    from rapidfuzz.distance import Levenshtein

    norm = normalize_trace(text)
    return any(
        norm == (other := normalize_trace(k)) or Levenshtein.normalized_distance(norm, other) <= max_distance
        for k in kept
    )


def distinct(traces: Sequence[Trace], max_distance: float, limit: int | None = None) -> list[Trace]:
    """Traces in draw order with near-duplicates of earlier ones removed, at most `limit`."""
    out: list[Trace] = []
    for trace in traces:
        if limit is not None and len(out) >= limit:
            break
        if not near_duplicate(trace.text, [t.text for t in out], max_distance):
            out.append(trace)
    return out


class Sampler:
    """Adaptive rejection sampling over a batch of problems; `stop(problem)` says when one has enough."""

    def __init__(self, generator: Any, prompt: Prompt, config: SamplingConfig, seed: int) -> None:
        self.generator = generator
        self.prompt = prompt
        self.config = config
        self.seed = seed

    def conversation(self, problem: Problem) -> list[Any]:
        media = (problem.sample.images, problem.sample.audios)
        return self.prompt.render(media=media, question=problem.question.content)

    def sampling(self, seed: int, temperature: float | None = None) -> Sampling:
        cfg = self.config
        temp = cfg.temperature if temperature is None else temperature
        return Sampling(temperature=temp, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens, seed=seed)

    def run(self, problems: Sequence[Problem], stop: Callable[[Problem], bool]) -> None:
        """Draw rounds until every problem has stopped or spent its budget `n`.

        Each round is ONE batched call over every still-active problem (a GPU backend batches them), seeded from
        (manifest seed, round, active ids): the active set is itself a function of the shard's data, so local, Dask
        and resumed runs make the same calls and draw the same traces.
        """
        cfg = self.config
        active = list(problems)
        round_ = 0
        while active:
            size = min(cfg.round_size, cfg.n - active[0].drawn)  # active problems have all drawn the same count
            seed = derive_seed(self.seed, round_, *sorted(p.sample.id for p in active))
            outs = self.generator.generate([self.conversation(p) for p in active], n=size, sampling=self.sampling(seed))
            if not isinstance(outs, list) or len(outs) != len(active):
                outs = [None] * len(active)  # a backend breaking the contract fails the round, not the run
            for problem, out in zip(active, outs, strict=True):
                problem.seeds.append(seed)
                problem.drawn += size
                if out is None:
                    problem.failed += size
                    continue
                texts = list(out)[:size]
                problem.failed += size - len(texts)
                problem.traces.extend(self.trace(problem, text, seed) for text in texts)
            round_ += 1
            active = [p for p in active if p.drawn < cfg.n and (p.voting or not stop(p))]
        for problem in problems:
            if problem.voting:
                self.label_by_vote(problem)

    def trace(self, problem: Problem, generated: object, seed: int) -> Trace:
        """A drawn text verified against the reference (if any) and judged; anything but a string is empty text."""
        reason = finish_reason_of(generated)
        text = str(generated) if isinstance(generated, str) else ""
        verification = verify(text, problem.reference) if problem.reference else unlabelled(text)
        return Trace(text, seed, verification, reason, judge(text, problem.reference, reason, self.config.trace_check))

    def label_by_vote(self, problem: Problem) -> None:
        """Majority label from the traces that pass the check (garbage does not vote); then verify every trace."""
        answers = [str(t.verification.predicted) for t in problem.traces if t.check.ok and t.verification.predicted]
        problem.vote = majority_vote(answers, problem.drawn, self.config.min_agreement or 1.0)
        if problem.vote.label is None:
            return
        problem.reference = problem.vote.label
        for t in problem.traces:
            t.verification = verify(t.text, problem.reference)
            t.check = judge(t.text, problem.reference, t.finish_reason, self.config.trace_check)

    def provenance(self, problem: Problem) -> dict[str, Any]:
        cfg = self.config
        return {
            "generator": model_name(self.generator),
            "prompt": self.prompt.ref,
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
            "max_new_tokens": cfg.max_new_tokens,
            "seeds": list(problem.seeds),
            "sample_budget": cfg.n,
            "round_size": cfg.round_size,
            "failed_generations": problem.failed,
        }

    def problem_meta(self, problem: Problem) -> dict[str, Any]:
        """Difficulty signal, on every record of a problem (kept or rejected)."""
        correct = len(problem.correct)
        vote = problem.vote
        return {
            "pass_rate": round(correct / problem.drawn, 4) if problem.drawn else 0.0,
            "samples_drawn": problem.drawn,
            "correct": correct,
            "generation": self.provenance(problem),
            "label_source": problem.label_source,
            "label_votes": vote.as_meta() if vote else None,
            "label_agreement": vote.agreement if vote else None,
            "traces": [t.as_meta() for t in problem.traces],
        }


# the meta every sampling step writes (see `Sampler.problem_meta`)
PROBLEM_SCHEMA = {
    "pass_rate": "float64",
    "samples_drawn": "int32",
    "correct": "int32",
    "generation": {
        "generator": "string",
        "prompt": "string",
        "temperature": "float64",
        "top_p": "float64",
        "max_new_tokens": "int32",
        "seeds": ["int64"],
        "sample_budget": "int32",
        "round_size": "int32",
        "failed_generations": "int32",
    },
    "label_source": "string",
    "label_votes": trace_verdicts.VOTE_SCHEMA,
    "label_agreement": "float64",
    "traces": [trace_verdicts.TRACE_VERDICT_SCHEMA],
}


SC = TypeVar("SC", bound=SamplingConfig)


class SamplingStep(Step[SC]):
    """Base for steps that sample traces per problem: turns a batch into `Problem`s, runs the `Sampler` until each
    has `enough`, and turns each into its `records` (or its reject).

    `record_index` names the meta key numbering a problem's records (`trace_index`, `pair_index`): stats.json
    `rejection_sampling` counts the kept records holding it as `counted_as`.
    """

    reads = ("messages",)  # the question is the first user turn, the reference the assistant turn after it
    record_index: ClassVar[str] = ""
    counted_as: ClassVar[str] = ""

    @classmethod
    def backend_refs(cls, config: SC) -> list[BackendRef]:
        return [BackendRef("generator", config.generator, TextGenerator)]

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        ledger = Ledger()
        problems = self.problems(batch, ledger)
        sampler = self.sample(problems)
        return ledger.emit(self, batch, lambda i, _: self.records(sampler, problems[i]))

    def enough(self, problem: Problem) -> bool:
        """Whether `problem` has the traces this step needs, so sampling it stops before the budget is spent."""
        raise NotImplementedError

    def records(self, sampler: Sampler, problem: Problem) -> list[Sample | Rejected]:
        """The records made of a sampled problem (`{id}#t{j}`, `{id}#p{j}`), or its reject."""
        raise NotImplementedError

    def sample(self, problems: dict[int, Problem]) -> Sampler:
        """Run the sampler over `problems` and tally them (each problem once per shard)."""
        sampler = self.sampler()
        sampler.run(list(problems.values()), self.enough)
        for p in problems.values():
            self.tally.update(problems=1, solved=int(bool(p.correct)), samples_budget=self.config.n)
            self.tally.update(samples_drawn=p.drawn)
            for t in p.traces:
                if t.verification.match and not t.check.ok:  # the answer verified; the check removed it
                    self.tally[f"{_REMOVED}:{t.check.reason}"] += 1
                if t.finish_reason == "length":
                    self.tally["cut_at_max_new_tokens"] += 1
            if p.vote is not None:
                self.tally[f"{_VOTE}:{'labelled' if p.vote.label else 'no_consensus'}"] += 1
        return sampler

    def stats_for_shard(self, kept: Sequence[Sample], rejected: Sequence[Rejected]) -> dict[str, Any]:
        """The tally, with `removed_by_trace_check:reason` / `majority_vote:outcome` counts nested per group."""
        figures: dict[str, Any] = {}
        for key, count in super().stats_for_shard(kept, rejected).items():
            group, _, name = key.partition(":")
            if name:
                figures.setdefault(group, {})[name] = count
            else:
                figures[key] = count
        figures[self.counted_as] = sum(1 for s in kept if self.record_index in s.meta)
        return figures

    @classmethod
    def stats_for_run(cls, totals: dict[str, Any]) -> dict[str, Any]:
        problems, budget = totals.get("problems", 0), totals.get("samples_budget", 0)
        drawn = totals.get("samples_drawn", 0)
        if not problems:
            return {}
        return {
            "rejection_sampling": {
                "problems": problems,
                "pass_at_n": round(totals.get("solved", 0) / problems, 4),
                "samples_budget": budget,
                "samples_drawn": drawn,
                "samples_saved": budget - drawn,
                "samples_saved_fraction": round((budget - drawn) / budget, 4) if budget else None,
                "kept_traces": totals.get("kept_traces", 0),
                "pairs_built": totals.get("pairs_built", 0),
                "cut_at_max_new_tokens": totals.get("cut_at_max_new_tokens", 0),
                _REMOVED: dict(sorted(totals.get(_REMOVED, {}).items())),
                _VOTE: dict(sorted(totals.get(_VOTE, {}).items())),
            }
        }

    def sampler(self) -> Sampler:
        return Sampler(self.backends[self.config.generator], load_prompt(self.config.prompt), self.config, self.seed)

    def problems(self, batch: Sequence[Sample], ledger: Ledger) -> dict[int, Problem]:
        """The usable problems by batch index; the others fail in `ledger`.

        Without a reference a problem is usable only when `min_agreement` is set (its label comes from the vote).
        """
        problems: dict[int, Problem] = {}
        voting = self.config.min_agreement is not None
        for i, sample in enumerate(batch):
            parsed = split_problem(sample)
            if isinstance(parsed, str):
                ledger.fail(i, parsed, "the record needs a user question")
            elif not parsed[1] and not voting:
                ledger.fail(i, "missing_reference", "no reference answer (set min_agreement for majority-vote labels)")
            else:
                problems[i] = Problem(sample, *parsed, label_source="reference" if parsed[1] else "majority")
        return problems

    def answered(self, sampler: Sampler, problem: Problem, suffix: str, trace: Trace, meta: dict[str, Any]) -> Sample:
        """The problem's question answered by `trace`: record `{id}#{suffix}` with the problem meta and `meta`."""
        messages = (problem.question, Message("assistant", trace.text))
        meta = {**sampler.problem_meta(problem), **meta}
        return problem.sample.evolve(id=f"{problem.sample.id}#{suffix}", messages=messages, meta=meta)

    def unsolved(self, sampler: Sampler, problem: Problem, detail: str = "") -> Rejected:
        """`generation_failed` when the model never answered, `no_consensus` when the vote named no label, else
        `no_correct_trace`; with the difficulty meta and every trace's verdicts."""
        meta = sampler.problem_meta(problem)
        if not problem.traces:
            return self.reject(problem.sample, "generation_failed", f"{problem.failed} failed generation(s)", **meta)
        if problem.vote is not None and problem.vote.label is None:
            return self.reject(problem.sample, "no_consensus", problem.vote.detail[:300], **meta)
        detail = detail or trace_verdicts.no_correct_detail(problem.traces, problem.drawn)
        return self.reject(problem.sample, "no_correct_trace", detail, **meta)


_REMOVED, _VOTE = "removed_by_trace_check", "majority_vote"
