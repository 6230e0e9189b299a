"""Rejection sampling shared by `cot` and `dpo`: problems, adaptive rounds of traces, verification, provenance.

A `SamplingStep` turns a batch into `Problem`s (question + reference), the `Sampler` draws traces in rounds of
`round_size` until a step's `stop(problem)` holds or the budget `n` is spent, each trace verified against the
reference (`filters.answers.verify`). Each round is seeded from (manifest seed, round, active ids), so local,
Dask and resumed runs draw the same traces. The step tallies problems, solved and samples drawn (stats.json
`rejection_sampling`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import Field

from datagen.backends.base import Sampling, model_name
from datagen.ledger import Ledger
from datagen.prompts import Prompt, load_prompt
from datagen.records import Message, Rejected, Sample
from datagen.steps import Step, StepConfig
from filters.answers import verify


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


@dataclass(slots=True)
class Trace:
    text: str
    seed: int
    verification: Any  # filters.answers.Verification

    @property
    def correct(self) -> bool:
        return bool(self.verification.match)


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

    @property
    def correct(self) -> list[Trace]:
        return [t for t in self.traces if t.correct]

    @property
    def wrong(self) -> list[Trace]:
        return [t for t in self.traces if not t.correct]


def derive_seed(seed: int, *parts: object) -> int:
    """A 31-bit seed from the manifest seed and a path (problem id, round): stable across processes and runs."""
    key = "\x1f".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF


def split_problem(sample: Sample) -> tuple[Message, str] | str:
    """(question turn, reference text) or the drop reason when the record is not a usable problem."""
    users = sample.user_turns()
    if not users or not sample.messages[users[0]].content.strip():
        return "missing_question"
    first = users[0]
    reference = next((m.content for m in sample.messages[first + 1 :] if m.role == "assistant"), "")
    if not reference.strip():
        return "missing_reference"
    return sample.messages[first], reference


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
                for text in texts:
                    text = text if isinstance(text, str) else ""
                    problem.traces.append(Trace(text, seed, verify(text, problem.reference)))
            round_ += 1
            active = [p for p in active if p.drawn < cfg.n and not stop(p)]

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
        return {
            "pass_rate": round(correct / problem.drawn, 4) if problem.drawn else 0.0,
            "samples_drawn": problem.drawn,
            "correct": correct,
            "generation": self.provenance(problem),
        }


def verification_meta(trace: Trace) -> dict[str, Any]:
    v = trace.verification
    return {
        "match": bool(v.match),
        "predicted": None if v.predicted is None else str(v.predicted),
        "reference": None if v.reference is None else str(v.reference),
        "method": str(v.method),
        "detail": str(v.detail or ""),
    }


VERIFICATION_SCHEMA = {
    "match": "bool",
    "predicted": "string",
    "reference": "string",
    "method": "string",
    "detail": "string",
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
}


SC = TypeVar("SC", bound=SamplingConfig)


class SamplingStep(Step[SC]):
    """Base for steps that sample traces per problem: turns a batch into `Problem`s and runs the `Sampler`.

    `record_index` names the meta key numbering a problem's records (`trace_index`, `pair_index`): stats.json
    `rejection_sampling` counts the kept records holding it as `counted_as`.
    """

    uses = {"generator": "generate"}
    record_index: ClassVar[str] = ""
    counted_as: ClassVar[str] = ""

    def sample(self, problems: dict[int, Problem], stop: Callable[[Problem], bool]) -> Sampler:
        """Run the sampler over `problems` and tally them (each problem once per shard)."""
        sampler = self.sampler()
        sampler.run(list(problems.values()), stop)
        for p in problems.values():
            self.tally.update(problems=1, solved=int(bool(p.correct)), samples_budget=self.config.n)
            self.tally.update(samples_drawn=p.drawn)
        return sampler

    def stats_for_shard(self, kept: Sequence[Sample], rejected: Sequence[Rejected]) -> dict[str, Any]:
        records = sum(1 for s in kept if self.record_index in s.meta)
        return {**super().stats_for_shard(kept, rejected), self.counted_as: records}

    @classmethod
    def stats_for_run(cls, totals: dict[str, Any]) -> dict[str, Any]:
        problems, budget, drawn = (
            totals.get("problems", 0),
            totals.get("samples_budget", 0),
            totals.get("samples_drawn", 0),
        )
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
            }
        }

    def sampler(self) -> Sampler:
        return Sampler(self.backends[self.config.generator], load_prompt(self.config.prompt), self.config, self.seed)

    def problems(self, batch: Sequence[Sample], ledger: Ledger) -> dict[int, Problem]:
        """The usable problems by batch index; the others fail in `ledger`."""
        problems: dict[int, Problem] = {}
        for i, sample in enumerate(batch):
            parsed = split_problem(sample)
            if isinstance(parsed, str):
                ledger.fail(i, parsed, "the record needs a user question and a reference answer")
            else:
                problems[i] = Problem(sample, *parsed)
        return problems

    def unsolved(self, sampler: Sampler, problem: Problem, detail: str = "") -> Rejected:
        """`generation_failed` when the model never answered, else `no_correct_trace`, with the difficulty meta."""
        meta = sampler.problem_meta(problem)
        if not problem.traces:
            return self.reject(problem.sample, "generation_failed", f"{problem.failed} failed generation(s)", **meta)
        answers = sorted({str(t.verification.predicted) for t in problem.traces})
        detail = detail or f"0/{problem.drawn} verified; answers given: {', '.join(answers)[:300]}"
        return self.reject(problem.sample, "no_correct_trace", detail, **meta)
