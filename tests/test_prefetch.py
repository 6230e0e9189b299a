"""Speaking ahead (`Step.prefetch`): the next batch, and the next shard's first chunk, are synthesized while the
current one is verified. Every take is still synthesized once, and the records are those of a serial run."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from datagen.backends.base import BackendError, Voice
from datagen.backends.fake import FakeSynthesizer, FakeTranscriber
from datagen.generators.vision_speech import VisionSpeech, VisionSpeechConfig
from datagen.manifest import load_manifest
from datagen.pipeline import Pipeline
from datagen.readers import Plan, ShardSpec, Source, open_input
from datagen.records import Message, Rejected, Sample
from datagen.run import run as run_manifest
from datagen.steps import Step, StepConfig
from datagen.synthesis import SynthesisPool
from datagen.testing import fake_manifest, write_manifest, write_swift_dataset
from datagen.voices import VoiceChoice

START = 120  # seconds a waiting fake may wait: a bound for a hung test, never a measurement


# -- a speech step speaks the next batch ahead ----------------------------------------------------------------


class _LoggingTTS(FakeSynthesizer):
    """Logs every text it is asked to speak; `later` is set once a text of the later batch is being spoken."""

    spoken: list[str]
    later: threading.Event

    def synthesize(self, texts: list[str], voices: list[Voice]) -> list[Any]:
        self.spoken.extend(texts)
        if any(t.startswith("later") for t in texts):
            self.later.set()
        return super().synthesize(texts, voices)


class _WaitingASR(FakeTranscriber):
    """Its first call waits (up to `START` s) for the later batch's synthesis: only speaking ahead gets past it."""

    later: threading.Event
    overlapped: list[bool]

    def transcribe(self, audios: list[Any]) -> list[str | None]:
        if not self.overlapped:
            self.overlapped.append(self.later.wait(START))
        return super().transcribe(audios)


def _step(pipeline: bool) -> tuple[VisionSpeech, _LoggingTTS, _WaitingASR]:
    tts, asr = _LoggingTTS(name="tts"), _WaitingASR(name="asr")
    tts.spoken, tts.later = [], threading.Event()
    asr.later, asr.overlapped = tts.later, []
    voices = [VoiceChoice(tts="tts", voice="alpha", speed=[0.9, 1.1])]
    config = VisionSpeechConfig(voices=voices, asr="asr", mos=False, asr_batch=2, pipeline=pipeline)
    step = VisionSpeech(config, seed=3)
    step.setup({"tts": tts, "asr": asr})
    return step, tts, asr


def _batch(name: str, n: int) -> list[Sample]:
    return [
        Sample(id=f"{name}-{i}", messages=(Message("user", f"{name} query number {i}"), Message("assistant", "ok")))
        for i in range(n)
    ]


def _heard(out: Sequence[Sample | Rejected]) -> list[tuple[str, str, bytes]]:
    return [(s.id, s.meta["speech"][0]["transcript"], s.audios[0].array.tobytes()) for s in out]  # type: ignore[union-attr]


def test_the_next_batch_is_spoken_while_this_one_is_verified_and_each_take_once() -> None:
    now, later = _batch("now", 3), _batch("later", 3)
    step, tts, asr = _step(pipeline=True)
    try:
        step.prefetch(later)
        ahead = [step.process(now), step.process(later)]
    finally:
        step.teardown()
    assert asr.overlapped == [True]  # the first verification saw the later batch being spoken
    texts = [f"{name} query number {i}" for name in ("now", "later") for i in range(3)]
    assert Counter(tts.spoken) == Counter(texts)  # spoken ahead is not spoken again
    serial, serial_tts, _ = _step(pipeline=False)
    serial.setup({"tts": serial_tts, "asr": FakeTranscriber(name="asr")})
    in_line = [serial.process(now), serial.process(later)]
    serial.teardown()
    assert [_heard(out) for out in ahead] == [_heard(out) for out in in_line]


def test_without_a_pipeline_prefetch_speaks_nothing() -> None:
    step, tts, _ = _step(pipeline=False)
    step.prefetch(_batch("later", 2))
    assert tts.spoken == [] and step.synthesis is None


def test_a_take_spoken_ahead_serves_only_the_same_text_and_voice_for_two_batches() -> None:
    tts = _LoggingTTS(name="tts")
    tts.spoken, tts.later = [], threading.Event()
    voice = Voice(engine="fake_tts", backend="tts", name="alpha", speed=1.0, seed=1)
    other = replace(voice, speed=0.8)
    pool = SynthesisPool.start({"tts": tts}, 0, label="test")
    try:
        pool.speak_ahead([("tts", "a", voice), ("tts", "b", voice)], size=8)
        got = pool.submit("tts", ["a", "c", "a"], [voice, voice, other]).result()
        assert tts.spoken == ["a", "b", "c", "a"]  # only "a" in the same voice was reused
        direct = tts.synthesize(["a", "c", "a"], [voice, voice, other])
        assert [a.array.tobytes() for a in got] == [a.array.tobytes() for a in direct]  # type: ignore[union-attr]
        tts.spoken.clear()
        pool.speak_ahead([("tts", "d", voice)], size=8)  # "a" belongs to the batch being processed: still served
        pool.submit("tts", ["a", "d"], [voice, voice]).result()
        assert tts.spoken == ["d"]
        pool.speak_ahead([("tts", "e", voice)], size=8)  # two batches on, "a" is forgotten
        pool.submit("tts", ["e", "a"], [voice, voice]).result()
        assert tts.spoken == ["d", "e", "a"]
    finally:
        pool.close()


# -- the pipeline tells the first step what comes next ----------------------------------------------------------


class _SpyConfig(StepConfig):
    batch_size: int = 2


class _Spy(Step[_SpyConfig]):
    """Passes records through and logs what it was told: ("prefetch" | "process", record numbers)."""

    name = "spy"

    def __init__(self, fail_prefetch: Exception | None = None) -> None:
        super().__init__()
        self.log: list[tuple[str, list[int]]] = []
        self.fail_prefetch = fail_prefetch

    def prefetch(self, batch: Sequence[Sample]) -> None:
        self.log.append(("prefetch", [s.meta["source_index"] for s in batch]))
        if self.fail_prefetch:
            raise self.fail_prefetch

    def process(self, batch: Sequence[Sample]) -> list[Sample | Rejected]:
        self.log.append(("process", [s.meta["source_index"] for s in batch]))
        return list(batch)


class _CountingSource(Source):
    """The manifest's source, counting how often each shard is read."""

    def __init__(self, inner: Source) -> None:
        self.inner, self.reads = inner, Counter[int]()

    def plan(self, shard_size: int, limit: int | None = None) -> Plan:
        return self.inner.plan(shard_size, limit)

    def read(self, shard: ShardSpec) -> Iterator[Sample | Rejected]:
        self.reads[shard.index] += 1
        return self.inner.read(shard)


def _spied(tmp_path: Path, spy: _Spy) -> tuple[Pipeline, _CountingSource, list[ShardSpec]]:
    data = write_swift_dataset(tmp_path / "data", n=10)
    manifest = load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, tmp_path / "out")))
    source = _CountingSource(open_input(manifest.input))
    pipeline = Pipeline(manifest, source=source)
    pipeline.steps = [spy]
    return pipeline, source, source.plan(4).shards  # shards of 4, 4 and 2 records; chunks of 2


def test_the_first_step_hears_of_each_chunk_and_the_next_shard_before_the_one_ahead(tmp_path: Path) -> None:
    spy = _Spy()
    pipeline, source, (s0, s1, s2) = _spied(tmp_path, spy)
    kept = [pipeline.run_shard(s0, upcoming=s1), pipeline.run_shard(s1, upcoming=s2), pipeline.run_shard(s2)]
    assert spy.log == [
        ("prefetch", [0, 1]), ("prefetch", [2, 3]), ("process", [0, 1]),  # the first chunk is queued first
        ("prefetch", [4, 5]), ("process", [2, 3]),  # the next shard's first chunk, read now
        ("prefetch", [6, 7]), ("process", [4, 5]),
        ("prefetch", [8, 9]), ("process", [6, 7]),
        ("process", [8, 9]),
    ]  # fmt: skip
    assert [[s.meta["source_index"] for s in r.kept] for r in kept] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [r.stats["inputs"] for r in kept] == [4, 4, 2]
    assert source.reads == {0: 1, 1: 1, 2: 1}  # a chunk read ahead is used, not read again


def test_a_shard_read_ahead_but_not_run_next_is_read_again_in_full(tmp_path: Path) -> None:
    pipeline, source, (s0, s1, _) = _spied(tmp_path, _Spy())
    pipeline.run_shard(s0, upcoming=s1)
    again = pipeline.run_shard(s0)  # a retry of shard 0 (the local executor's), not shard 1
    later = pipeline.run_shard(s1)
    assert [s.meta["source_index"] for s in again.kept] == [0, 1, 2, 3]
    assert [s.meta["source_index"] for s in later.kept] == [4, 5, 6, 7]
    assert source.reads == {0: 2, 1: 2}


def test_a_failing_prefetch_is_only_a_lost_hint_but_a_backend_error_stops_the_run(tmp_path: Path) -> None:
    pipeline, _, (s0, s1, _) = _spied(tmp_path, _Spy(fail_prefetch=ValueError("bad record")))
    assert [s.meta["source_index"] for s in pipeline.run_shard(s0, upcoming=s1).kept] == [0, 1, 2, 3]
    pipeline, _, (s0, s1, _) = _spied(tmp_path, _Spy(fail_prefetch=BackendError("the TTS pool died")))
    with pytest.raises(BackendError, match="pool died"):
        pipeline.run_shard(s0, upcoming=s1)


def test_model_time_spent_ahead_is_counted_once_over_the_shards(tmp_path: Path) -> None:
    data = write_swift_dataset(tmp_path / "data", n=10)
    spec = fake_manifest(data, tmp_path / "out", tts={"delay_seconds": 0.01})
    pipeline = Pipeline(load_manifest(write_manifest(tmp_path / "m.yaml", spec)))
    shards = pipeline.source.plan(4).shards
    try:
        stats = [
            pipeline.run_shard(shard, upcoming=upcoming).stats
            for shard, upcoming in zip(shards, [*shards[1:], None], strict=True)
        ]
        counted = sum(s["backend_seconds"].get("tts", {}).get("calls", 0) for s in stats)
        assert counted == pipeline.backends["tts"].calls >= len(shards)
    finally:
        pipeline.teardown()
    assert sum(s["kept"] for s in stats) == 10


def read_rows(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


@pytest.mark.parametrize("pipeline", [True, False], ids=["ahead", "in-line"])
def test_a_call_that_raises_fails_only_the_record_that_broke_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: bool
) -> None:
    """A synthesizer call that raises (not one clip that fails) fails its batch; the pipeline re-runs the batch
    record by record. Spoken ahead, the failed call must not be handed out again to the re-run records."""
    speak = FakeSynthesizer.synthesize

    def brittle(self: FakeSynthesizer, texts: list[str], voices: list[Voice]) -> list[Any]:
        if any("boom" in t for t in texts):
            raise RuntimeError("the engine choked on a text")
        return speak(self, texts, voices)

    monkeypatch.setattr(FakeSynthesizer, "synthesize", brittle)
    data = write_swift_dataset(tmp_path / "data", n=9)
    lines = data.read_text().splitlines()
    lines[4] = lines[4].replace("How many red circles", "Say boom, how many red circles")  # shard 1 of 3
    data.write_text("\n".join(lines) + "\n")
    spec = fake_manifest(data, tmp_path / "out", shard_size=3)
    spec["steps"][0]["pipeline"] = pipeline
    stats = run_manifest(load_manifest(write_manifest(tmp_path / "m.yaml", spec)))
    assert stats["kept"] == 8 and stats["dropped"] == {"vision_speech:step_error": 1}
    rejects = [r for p in sorted((tmp_path / "out" / "rejects").glob("*.parquet")) for r in read_rows(p)]
    assert [(r["id"], r["reason"]) for r in rejects] == [("rec-0004", "step_error")]
