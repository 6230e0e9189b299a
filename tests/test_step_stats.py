"""Steps report their own figures; the pipeline times every model method and knows no step's keys."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datagen.backends.base import ROLES, Scorer, lacks
from datagen.manifest import load_manifest
from datagen.pipeline import Pipeline, TimedBackend
from datagen.records import Rejected, Sample
from datagen.stats import add_figures, merge
from datagen.steps import Step
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset


class _Scorer:
    def score(self, conversations: list[Any], completions: list[str]) -> list[float]:
        return [float(len(c)) for c in completions]

    def describe(self) -> dict[str, Any]:
        return {"engine": "scorer"}


def test_score_is_timed_like_every_model_method() -> None:
    timed = TimedBackend(_Scorer())
    assert timed.score([[], []], ["a", "bb"]) == [1.0, 2.0]
    assert timed.calls == 1 and timed.seconds >= 0
    timed.describe()  # not a model call
    assert timed.calls == 1
    assert lacks(timed, Scorer) == [] and lacks(TimedBackend(object()), Scorer) == ["score"]  # seen through


def test_the_model_method_of_every_role_is_timed() -> None:
    """The pipeline times the methods of the role table, so a role added there cannot go untimed."""
    assert set(ROLES) == {"synthesize", "transcribe", "generate", "score", "draft"}
    for verb, role in ROLES.items():
        assert verb in vars(role)  # each role is named by the method that runs its model
        timed = TimedBackend(type("Engine", (), {verb: lambda self, batch: [None] * len(batch)})())
        assert getattr(timed, verb)(["x"]) == [None] and timed.calls == 1, verb


class _Counting(Step):
    """Tallies each record it processes; raises on a batch holding `rec-0002` (so that batch re-runs per record)."""

    name = "counting"

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        self.tally.update(records=len(batch))
        if len(batch) > 1 and any(s.id == "rec-0002" for s in batch):
            raise ValueError("one bad record sinks the batch")
        return list(batch)

    def stats_for_shard(self, kept: Sequence[Sample], rejected: Sequence[Rejected]) -> dict[str, Any]:
        return {
            **super().stats_for_shard(kept, rejected),
            "by_parity": {"even": sum(int(s.id[-1]) % 2 == 0 for s in kept)},
        }


def test_a_step_reports_its_figures_and_a_failed_batch_is_not_counted_twice(tmp_path: Path) -> None:
    data = write_swift_dataset(tmp_path / "data", n=4)
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out", shard_size=4)))
    pipeline = Pipeline(manifest)
    pipeline.steps = [_Counting()]
    shard = pipeline.source.plan(4).shards[0]
    first = pipeline.run_shard(shard).stats
    assert first["steps"] == {"counting": {"records": 4, "by_parity": {"even": 2}}}
    second = pipeline.run_shard(shard).stats  # the tally starts again for every shard
    assert second["steps"] == first["steps"]
    assert "voices" not in first["values"] and "speech" not in str(first["values"])


def test_shard_figures_add_up_key_by_key() -> None:
    assert add_figures({"a": 1, "v": {"x": 2}}, {"a": 2, "v": {"x": 1, "y": 5}, "b": 0.5}) == {
        "a": 3, "v": {"x": 3, "y": 5}, "b": 0.5,
    }  # fmt: skip


def test_merge_turns_step_figures_into_stats_entries() -> None:
    base = {"dropped": {}, "step_seconds": {}, "backend_seconds": {}, "wall_seconds": 1.0, "seen": 2, "kept": 2}
    values = {"kept": {}, "dropped": {}, "audio_seconds": []}
    shards = [
        {**base, "values": values, "steps": {"cot": {"problems": 2, "solved": 1, "samples_budget": 16,
                                                      "samples_drawn": 10, "kept_traces": 2,
                                                      "removed_by_trace_check": {"wrong_step": 1}}}},
        {**base, "values": values, "steps": {"cot": {"problems": 2, "solved": 2, "samples_budget": 16,
                                                      "samples_drawn": 6, "kept_traces": 3, "cut_at_max_new_tokens": 2,
                                                      "removed_by_trace_check": {"truncated": 2, "wrong_step": 1},
                                                      "majority_vote": {"labelled": 1}},
                                             "vision_speech": {"voices": {"fake_tts:alpha": 2}}}},
    ]  # fmt: skip
    stats = merge(shards, total=4)
    assert stats["rejection_sampling"] == {
        "problems": 4, "pass_at_n": 0.75, "samples_budget": 32, "samples_drawn": 16, "samples_saved": 16,
        "samples_saved_fraction": 0.5, "kept_traces": 5, "pairs_built": 0, "cut_at_max_new_tokens": 2,
        "removed_by_trace_check": {"truncated": 2, "wrong_step": 2}, "majority_vote": {"labelled": 1},
    }  # fmt: skip
    assert stats["voices"] == {"fake_tts:alpha": 2}
    assert "rejection_sampling" not in merge(shards[:0], total=0)


def test_every_registered_step_writes_exactly_its_features() -> None:
    """`writes` defaults to the keys of `features()`; a step that still declares it must agree with its schema."""
    from datagen import registry

    for name in registry.STEPS:
        cls = registry.step_class(name)
        assert list(cls.writes) == list(cls.features()), name


def test_a_step_takes_its_config_class_from_its_type_argument() -> None:
    from datagen.steps import Filter, StepConfig

    class LowConfig(StepConfig):
        low: float = 0.5

    class Low(Filter[LowConfig]):
        name = "low"

    class Explicit(Filter[LowConfig]):
        Config = StepConfig  # an explicit declaration still wins

    assert Low.Config is LowConfig and Low().config.low == 0.5
    assert Explicit.Config is StepConfig


class _FanOut(Step):
    """Three records per input, except `rec-0001`, which is rejected."""

    name = "fan_out"

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        out: list[Sample | Rejected] = []
        for s in batch:
            if s.id == "rec-0001":
                out.append(self.reject(s, "unusable"))
            else:
                out.extend(s.evolve(id=f"{s.id}#{k}") for k in range(3))
        return out


def test_progress_and_yield_count_inputs_with_fan_out(tmp_path: Path) -> None:
    data = write_swift_dataset(tmp_path / "data", n=4)
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out", shard_size=4)))
    pipeline = Pipeline(manifest)
    pipeline.steps = [_FanOut()]
    calls: list[tuple[int, int, int]] = []
    stats = pipeline.run_shard(pipeline.source.plan(4).shards[0], lambda *counts: calls.append(counts)).stats
    assert calls == [(4, 9, 1)]  # 4 read, 9 kept, 1 dropped: never a negative count
    assert (stats["inputs"], stats["seen"], stats["kept"]) == (4, 10, 9)
    merged = merge([stats], total=4)
    assert (merged["inputs"], merged["yield"], merged["dropped_total"]) == (4, 2.25, 1)


def test_the_testing_demo_manifest_equals_the_shipped_one(tmp_path: Path) -> None:
    """`datagen.testing` builds the demo manifest in code (it works installed); it must stay the shipped demo."""
    import yaml

    from datagen.testing import REPO, embedded_manifest

    shipped = yaml.safe_load((REPO / "manifests" / "demo.yaml").read_text())
    built = embedded_manifest(tmp_path / "in.jsonl", tmp_path / "out")
    assert {k: v for k, v in built.items() if k not in ("input", "output")} == {
        k: v for k, v in shipped.items() if k not in ("input", "output")
    }
