"""Steps: the units a pipeline runs between its source and its sink.

A `Step` turns a batch of samples into a batch of samples or `Rejected`s (a generator); a `Filter` judges one
sample at a time and the base class turns its `Verdict` into a drop with a reason. Both declare the `meta` keys
they read and write, so a manifest is checked for order before any model loads, and the output schema is known
before the first record exists. The backends a step calls are declared with the role each must play (a protocol
of `datagen.backends.base`), so a manifest naming the wrong engine fails just as early.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict

from datagen.backends.base import type_argument
from datagen.records import Rejected, Sample

if TYPE_CHECKING:
    from datagen.backends.base import Backend


class ContractError(Exception):
    """A step broke the pipeline's contract (lost or invented a record): a bug in the step, never bad data.

    Not a `RuntimeError`, so executors do not retry it and the pipeline does not isolate it record by record.
    """


class StepConfig(BaseModel):
    """Base for a step's manifest options: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")
    batch_size: int = 16


@dataclass(slots=True, frozen=True)
class Verdict:
    """A filter's judgement of one sample: `Filter.process` turns a drop into a `Rejected` with its reason, and
    puts `scores` in the sample's meta whether it is kept or not (so a threshold can be re-run later)."""

    keep: bool
    reason: str = ""
    detail: str = ""
    scores: dict[str, Any] = field(default_factory=dict)


def keep(**scores: Any) -> Verdict:
    return Verdict(True, scores=scores)


def drop(reason: str, detail: str = "", **scores: Any) -> Verdict:
    return Verdict(False, reason, detail, scores)


def to_feature(spec: Any) -> Any:
    """A `datasets` feature from a plain spec: "float64" is a Value, [spec] a List, {key: spec} a struct.

    Steps declare their `schema` this way so no module imports `datasets` (slow) to define a step.
    """
    from datasets import List, Value

    if isinstance(spec, str):
        return Value(spec)
    if isinstance(spec, list):
        return List(to_feature(spec[0]))
    if isinstance(spec, dict):
        return {key: to_feature(value) for key, value in spec.items()}
    return spec  # already a feature


def speed_only_fields(config: StepConfig) -> set[str]:
    """Options declared with `json_schema_extra={"speed_only": True}`: how fast, never what (left out of a run's
    identity, so a resume may change them)."""
    return {
        name
        for name, field_info in type(config).model_fields.items()
        if isinstance(field_info.json_schema_extra, dict) and field_info.json_schema_extra.get("speed_only")
    }


C = TypeVar("C", bound=StepConfig)


class BackendRef(NamedTuple):
    """A backend a step calls: the config key naming it, its name in the manifest, and the role it must play
    (`TextGenerator`, `Synthesizer`, ...: the protocols of `datagen.backends.base`)."""

    key: str
    name: str
    role: type[Backend]


class _FeatureKeys:
    """`Step.writes` when a step does not declare it: the keys of its schema, so the two cannot disagree."""

    def __get__(self, step: Step | None, cls: type[Step]) -> tuple[str, ...]:
        return tuple(cls.schema) if cls.schema else tuple(cls.features())  # no `datasets` import for a schema


class Step(Generic[C]):
    """Base class. Subclasses name their config class as the type argument (`class MaxWer(Filter[MaxWerConfig])`,
    which sets `Config` and types `self.config`), set `name`, `reads`, `schema` and implement `process`.

    `schema` gives the type of each meta key the step adds (`features()` as `datasets` features), which fixes the
    output schema before the first record exists; `writes` is their names. A step that calls backends lists them
    in `backend_refs(config)`, each with its role.

    Figures of its own (problems solved, voices heard) a step reports through `stats_for_shard`, summed over
    shards and turned into stats.json entries by `stats_for_run`; the pipeline knows none of them.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type[StepConfig]] = StepConfig
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = _FeatureKeys()  # type: ignore[assignment]
    config: C

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "Config" not in cls.__dict__ and (config := type_argument(cls, StepConfig)):
            cls.Config = config

    def __init__(self, config: C | None = None, *, seed: int = 0) -> None:
        self.config = config if config is not None else self.Config()
        self.seed = seed
        self.backends: dict[str, Any] = {}
        self.tally: Counter[str] = Counter()  # counted in `process`; the pipeline resets it per shard

    def stats_for_shard(self, kept: Sequence[Sample], rejected: Sequence[Rejected]) -> dict[str, Any]:
        """This step's figures for one shard, from its `tally` and the shard's final records (kept or rejected).

        Values are numbers or dicts of numbers: shards are summed key by key. The pipeline calls this once at
        the end of each shard, and undoes the `tally` of a batch that raised (its records are re-run one by one).
        """
        return dict(self.tally)

    @classmethod
    def stats_for_run(cls, totals: dict[str, Any]) -> dict[str, Any]:
        """Top-level stats.json entries from the summed `stats_for_shard` figures (ratios go here); default none."""
        return {}

    schema: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def features(cls) -> dict[str, Any]:
        """`datasets` feature of each meta key the step writes, built from `schema` (see `to_feature`)."""
        return {key: to_feature(spec) for key, spec in cls.schema.items()}

    @classmethod
    def backend_refs(cls, config: C) -> list[BackendRef]:
        """The backends a step with this config calls, each with its role; default none.

        Read from the config alone, so a manifest is checked (and a model-free filter told apart) before any
        backend is built.
        """
        return []

    def setup(self, backends: Mapping[str, Any]) -> None:
        """Receive the loaded backends (by manifest name) this step refers to."""
        self.backends = {ref.name: backends[ref.name] for ref in self.backend_refs(self.config)}

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        raise NotImplementedError

    def prefetch(self, batch: Sequence[Sample]) -> None:
        """`batch` comes next: start slow work that depends on nothing else (speech steps synthesize it), so it
        overlaps this batch's `process`. Only a hint: `process` must return the same whether or not it came, and
        the pipeline may prefetch a batch it then re-runs record by record. Default: nothing."""

    def teardown(self) -> None:
        self.backends = {}

    def reject(self, sample: Sample, reason: str, detail: str = "", **meta: Any) -> Rejected:
        return Rejected(
            id=sample.id,
            reason=reason,
            step=self.name,
            detail=detail,
            sample=sample.evolve(meta=meta) if meta else sample,
        )


class Filter(Step[C]):
    """Keep or drop one sample at a time. Scores land in `meta` for kept and dropped samples alike."""

    def judge(self, sample: Sample) -> Verdict:
        raise NotImplementedError

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        out: list[Sample | Rejected] = []
        for sample in batch:
            verdict = self.judge(sample)
            scored = sample.evolve(meta=verdict.scores) if verdict.scores else sample
            out.append(scored if verdict.keep else self.reject(scored, verdict.reason, verdict.detail))
        return out
