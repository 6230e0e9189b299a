"""Pipelined synthesis (`datagen.synthesis`): the same bytes in every mode, whole records per chunk, no process left.

The three modes (`pipeline: false`, the default background thread, `tts_workers: 2`) run the same manifests and
must write byte-identical shards; the pool's processes are checked from the outside (psutil), never by timing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from datagen import speech
from datagen.backends.base import BackendError
from datagen.backends.fake import FakeSynthesizer, FakeTranscriber
from datagen.backends.piper import PiperSettings, PiperSynthesizer
from datagen.generators.vision_speech import VisionSpeech, VisionSpeechConfig
from datagen.manifest import ManifestError, load_manifest
from datagen.records import Audio, Message, Sample
from datagen.run import run
from datagen.synthesis import verify_chunks, worker_specs
from datagen.takes import Utterance
from datagen.testing import DEMO_DATA, embedded_manifest, fake_manifest, write_jsonl, write_manifest
from datagen.voices import VoiceChoice
from filters.mos import MosScores

MODES = {"serial": {"pipeline": False}, "thread": {}, "processes": {"tts_workers": 2}}
START = 120  # seconds a process may take to appear or to end: a bound for a hung test, never a measurement


# -- chunks -------------------------------------------------------------------------------------------------


def _groups(spec: list[tuple[str, int]]) -> list[list[Utterance]]:
    """Groups from (owner, size); an owner named twice has two groups (two turns of one record)."""
    out = []
    for k, (owner, size) in enumerate(spec):
        out.append([Utterance(owner, k, f"{owner}{k}.{j}", "x", voice=None) for j in range(size)])  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize(
    ("spec", "size", "expected"),
    [
        ([], 4, []),
        ([("a", 1), ("b", 1), ("c", 1)], 8, [["a", "b", "c"]]),  # a round that fits: one chunk, as before chunking
        ([("a", 1), ("b", 1), ("c", 1)], 2, [["a", "b"], ["c"]]),
        ([("a", 1), ("b", 1), ("c", 1)], 1, [["a"], ["b"], ["c"]]),
        ([("a", 5), ("b", 1), ("c", 1)], 2, [["a"], ["b", "c"]]),  # an owner larger than a chunk is one of its own
        ([("a", 1), ("b", 2), ("a", 1), ("c", 1)], 2, [["a", "a"], ["b"], ["c"]]),  # a record's turns stay together
        ([("a", 1), ("b", 1), ("a", 1)], 3, [["a", "b", "a"]]),  # inside a chunk the round's order is kept
    ],
)
def test_chunks_are_whole_owners_in_order(spec: list, size: int, expected: list) -> None:
    groups = _groups(spec)
    chunks = verify_chunks(groups, size)
    assert [[g[0].owner for g in chunk] for chunk in chunks] == expected
    assert sorted(id(g) for chunk in chunks for g in chunk) == sorted(id(g) for g in groups)  # each group once
    for chunk in chunks:
        order = [groups.index(g) for g in chunk]
        assert order == sorted(order)


# -- byte-identical output ------------------------------------------------------------------------------------


def _shards(out: Path) -> dict[str, bytes]:
    files = sorted(p for kind in ("data", "rejects") for p in (out / kind).glob("*.parquet"))
    assert files, f"no shards in {out}"
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


def _hostile_records(folder: Path) -> Path:
    """Text records a speech step must split, fail and retry: two-turn records, a voice failure, a verifier failure."""
    questions = [
        "How many red circles are there?",
        "Which shape is left of the blue square?",
        "Say boom twice.",  # the synthesizer fails on it: tts_failed
        "What colour is the crashing triangle?",  # the verifier fails on it: asr_failed
        "Is the green star bigger than the purple heart?",
        "Count the shapes.",
        "Name the largest object in the picture, please.",
    ]
    records = []
    for i, q in enumerate(questions * 2):
        messages = [{"role": "user", "content": q}, {"role": "assistant", "content": f"Answer {i}."}]
        if i % 3 == 0:  # a second user turn: one record, two utterances, checked in one chunk
            messages += [{"role": "user", "content": f"And number {i}?"}, {"role": "assistant", "content": "Yes."}]
        records.append({"id": f"r{i:02d}", "messages": messages})
    return write_jsonl(folder / "train.jsonl", records)


def _loudness_mos(audio: Audio) -> MosScores:
    """A deterministic stand-in for DNSMOS: louder clips rate higher (1..5)."""
    import numpy as np

    level = float(np.sqrt(np.mean(np.square(audio.array)))) if len(audio.array) else 0.0
    ovrl = 1.0 + min(4.0, 40.0 * level)
    return MosScores(ovrl=ovrl, sig=ovrl, bak=ovrl, p808=ovrl)


def _fake_run(tmp_path: Path, mode: str) -> tuple[dict[str, Any], Path]:
    data = _hostile_records(tmp_path / "data")
    out = tmp_path / mode
    manifest = fake_manifest(
        data, out, shard_size=6, tts={"fail_on": ["boom"]}, asr={"word_error_rate": 0.15, "fail_on": ["crash"]}
    )
    manifest["backends"]["slow_tts"] = {"engine": "fake_tts", "seconds_per_char": 0.012, "fail_on": ["boom"]}
    manifest["steps"][0].update(
        voices=[{"tts": "tts", "voice": "alpha", "speed": [0.9, 1.1]}, {"tts": "slow_tts", "voice": "beta"}],
        batch_size=6,
        asr_batch=2,
        attempts=2,
        retry_max_wer=0.0,
        mos=True,  # heard one chunk ahead on a thread when pipelined, in line when serial
        **MODES[mode],
    )
    return run(load_manifest(write_manifest(tmp_path / f"{mode}.yaml", manifest))), out


def test_every_mode_writes_the_same_bytes_on_fake_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech, "score_mos", _loudness_mos)
    runs = {mode: _fake_run(tmp_path, mode) for mode in MODES}
    serial_stats, serial_out = runs["serial"]
    reasons = set(serial_stats["dropped"])
    assert {"vision_speech:tts_failed", "vision_speech:asr_failed", "max_wer:wer_above_max"} <= reasons
    assert serial_stats["kept"] > 0 and serial_stats["speech_quality"]["resynthesized"] > 0
    for mode, (stats, out) in runs.items():
        assert _shards(out) == _shards(serial_out), f"{mode} differs from serial"
        assert (stats["kept"], stats["dropped"]) == (serial_stats["kept"], serial_stats["dropped"])
        assert stats["backend_seconds"]["tts"]["calls"] > 0  # model time is still counted, whichever process
        assert stats["speech_quality"]["mos_seconds"] > 0  # DNSMOS time is counted, whichever thread
    # chunks of 2 takes in batches of 6 records: more than one ASR call per batch
    assert serial_stats["backend_seconds"]["asr"]["calls"] > serial_stats["backend_seconds"]["tts"]["calls"] / 2


@pytest.mark.embedded
@pytest.mark.slow
@pytest.mark.parametrize("pack", [True, False], ids=["packed", "drafted"])
def test_every_mode_writes_the_same_bytes_on_piper_and_whisper(tmp_path: Path, pack: bool) -> None:
    """Packed windows, and draft groups, form inside one ASR call: the chunks must agree in every mode."""
    pytest.importorskip("piper")
    pytest.importorskip("faster_whisper")
    import pyarrow.parquet as pq

    outs = {}
    for mode, options in MODES.items():
        out = tmp_path / mode
        manifest = embedded_manifest(DEMO_DATA, out, shard_size=6, limit=6)
        manifest["backends"]["whisper"]["pack"] = pack  # a packing Whisper does not draft
        manifest["steps"][0].update(
            voices=[{"tts": "piper", "speed": [0.85, 1.15]}, {"tts": "piper", "noise_snr_db": [0, 3]}],
            batch_size=6,
            asr_batch=3,
            mos=True,  # real DNSMOS, heard ahead on a thread when pipelined
            attempts=2,
            retry_max_wer=0.0,  # an imperfect take (the loud noise) is spoken again: a second round of chunks
            **options,
        )
        stats = run(load_manifest(write_manifest(tmp_path / f"{mode}.yaml", manifest)))
        assert stats["backend_seconds"]["piper"]["seconds"] > 0 and stats["speech_quality"]["resynthesized"] >= 1
        outs[mode] = _shards(out)
        drafted = stats["speech_quality"]["drafted"]
    assert outs["thread"] == outs["serial"]
    assert outs["processes"] == outs["serial"]
    spoken = [sp for row in pq.read_table(tmp_path / "serial" / "data").to_pylist() for sp in row["speech"]]
    assert any(len(sp["attempts"]) == 2 for sp in spoken)
    assert all(1.0 <= sp["mos"] <= 5.0 for sp in spoken)
    if pack:
        assert any(sp["packed"] for sp in spoken) and not any(sp["drafted"] for sp in spoken)
    else:  # drafts (asr_draft, the default) through the pipeline's wrappers: kept only word for word
        assert any(sp["drafted"] for sp in spoken) and not any(sp["packed"] for sp in spoken)
        assert all(sp["wer"] == 0.0 for sp in spoken if sp["drafted"])
        assert not all(sp["drafted"] for sp in spoken)  # the loud-noise takes went in full
    assert drafted == sum(sp["drafted"] for sp in spoken)  # stats.json counts the kept turns' drafts


# -- the pipeline overlaps ------------------------------------------------------------------------------------


class _Recorder:
    def __init__(self) -> None:
        import threading

        self.log: list[str] = []
        self.second_started = threading.Event()


class _RecordingTTS(FakeSynthesizer):
    recorder: _Recorder

    def synthesize(self, texts: list[str], voices: list) -> list:
        self.recorder.log.append(f"tts {texts}")
        if any("second" in t for t in texts):
            self.recorder.second_started.set()
        return super().synthesize(texts, voices)


class _WaitingASR(FakeTranscriber):
    """Its first call waits (up to `START` s) for the synthesis of the next chunk: only a pipeline gets past it."""

    recorder: _Recorder
    wait: bool

    def transcribe(self, audios: list) -> list:
        if self.wait and not self.recorder.log.count("asr"):
            self.recorder.log.append(f"overlapped: {self.recorder.second_started.wait(START)}")
        self.recorder.log.append("asr")
        return super().transcribe(audios)


def _two_chunk_step(pipeline: bool) -> tuple[VisionSpeech, _Recorder, list[Sample]]:
    recorder = _Recorder()
    tts, asr = _RecordingTTS(name="tts"), _WaitingASR(name="asr")
    tts.recorder = asr.recorder = recorder
    asr.wait = pipeline
    config = VisionSpeechConfig(voices=[VoiceChoice(tts="tts")], asr="asr", mos=False, asr_batch=1, pipeline=pipeline)
    step = VisionSpeech(config, seed=1)
    step.setup({"tts": tts, "asr": asr})
    batch = [
        Sample(id=i, messages=(Message("user", f"the {i} query"), Message("assistant", "ok")))
        for i in ("first", "second")
    ]
    return step, recorder, batch


def test_pipeline_synthesizes_the_next_chunk_while_one_is_verified() -> None:
    step, recorder, batch = _two_chunk_step(pipeline=True)
    try:
        kept = step.process(batch)
    finally:
        step.teardown()
    assert recorder.log[:2] == ["tts ['the first query']", "tts ['the second query']"]
    assert "overlapped: True" in recorder.log
    assert [s.meta["speech"][0]["transcript"] for s in kept] == ["the first query", "the second query"]


def test_without_pipeline_each_chunk_is_synthesized_then_verified() -> None:
    step, recorder, batch = _two_chunk_step(pipeline=False)
    step.process(batch)
    step.teardown()
    assert recorder.log == ["tts ['the first query']", "asr", "tts ['the second query']", "asr"]
    assert step.synthesis is None


def test_dnsmos_of_the_next_chunk_runs_while_one_is_verified(monkeypatch: pytest.MonkeyPatch) -> None:
    """With pipeline and mos, the verifier's first call can wait for the second chunk's DNSMOS: only hearing
    ahead gets past it; the scores are those of the right clips all the same."""
    import threading

    second_scored = threading.Event()
    scored: list[float] = []

    def mos(audio: Audio) -> MosScores:
        scored.append(audio.duration)
        if len(scored) == 2:
            second_scored.set()
        return _loudness_mos(audio)

    class WaitingForMos(FakeTranscriber):
        log: list[str]

        def transcribe(self, audios: list) -> list:
            if not self.log:
                self.log.append(f"overlapped: {second_scored.wait(START)}")
            self.log.append("asr")
            return super().transcribe(audios)

    monkeypatch.setattr(speech, "score_mos", mos)
    asr = WaitingForMos(name="asr")
    asr.log = []
    config = VisionSpeechConfig(voices=[VoiceChoice(tts="tts")], asr="asr", mos=True, asr_batch=1)
    step = VisionSpeech(config, seed=1)
    step.setup({"tts": FakeSynthesizer(name="tts"), "asr": asr})
    batch = [
        Sample(id=i, messages=(Message("user", f"the {i} query"), Message("assistant", "ok")))
        for i in ("first", "second one")
    ]
    try:
        kept = step.process(batch)
    finally:
        step.teardown()
    assert asr.log[0] == "overlapped: True" and len(kept) == 2
    for sample in kept:
        (turn,) = sample.meta["speech"]
        assert turn["mos"] == round(_loudness_mos(sample.audios[0]).ovrl, 4)  # each clip got its own score


# -- the pool's processes -------------------------------------------------------------------------------------


def _pool_processes(parent: psutil.Process | None = None) -> list[psutil.Process]:
    """The spawned processes below `parent` (this test process by default)."""
    parent = parent or psutil.Process()
    found = []
    for child in parent.children(recursive=True):
        try:
            if any("spawn_main" in part for part in child.cmdline()):
                found.append(child)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            pass
    return found


def _pooled_step(workers: int, tts: Any = None) -> VisionSpeech:
    config = VisionSpeechConfig(voices=[VoiceChoice(tts="tts")], asr="asr", mos=False, tts_workers=workers)
    step = VisionSpeech(config, seed=1)
    step.setup({"tts": tts or FakeSynthesizer(name="tts"), "asr": FakeTranscriber(name="asr")})
    return step


def _batch(n: int) -> list[Sample]:
    return [
        Sample(id=f"s{i}", messages=(Message("user", f"query number {i}"), Message("assistant", "ok")))
        for i in range(n)
    ]


def test_pool_processes_are_started_at_setup_and_gone_after_teardown() -> None:
    before = {p.pid for p in _pool_processes()}
    step = _pooled_step(2)
    try:
        started = [p for p in _pool_processes() if p.pid not in before]
        assert len(started) == 2  # both loaded at setup, before any record
        kept = step.process(_batch(5))
        assert [s.meta["speech"][0]["transcript"] for s in kept] == [f"query number {i}" for i in range(5)]
    finally:
        step.teardown()
    gone, alive = psutil.wait_procs(started, timeout=START)
    assert not alive and step.synthesis is None
    assert step.backends == {}


def test_a_process_that_cannot_load_stops_setup_and_leaves_nothing_running(tmp_path: Path) -> None:
    before = {p.pid for p in _pool_processes()}
    missing = PiperSynthesizer(PiperSettings(model=str(tmp_path / "no-such-voice.onnx")), name="tts")
    with pytest.raises(BackendError, match="tts_workers process cannot load its synthesizers"):
        _pooled_step(2, tts=missing)
    left = [p for p in _pool_processes() if p.pid not in before]
    assert not psutil.wait_procs(left, timeout=START)[1]


def test_a_dead_pool_is_a_backend_error_not_a_record_failure() -> None:
    before = {p.pid for p in _pool_processes()}
    step = _pooled_step(1)
    try:
        (worker,) = [p for p in _pool_processes() if p.pid not in before]
        worker.send_signal(signal.SIGKILL)
        worker.wait(START)
        with pytest.raises(BackendError, match="tts_workers process died"):
            step.process(_batch(2))
    finally:
        step.teardown()


def _run_cli(manifest: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "datagen.cli", "run", str(manifest), "--no-progress"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ})


def _records(out: Path) -> list[tuple]:
    import pyarrow.parquet as pq

    rows = [
        tuple(sorted((k, repr(v)) for k, v in row.items()))
        for kind in ("data", "rejects")
        for path in sorted((out / kind).glob("*.parquet"))
        for row in pq.read_table(path).to_pylist()
    ]
    return sorted(rows)


@pytest.mark.slow
def test_sigkill_ends_the_pool_and_the_resumed_run_equals_a_serial_one(tmp_path: Path) -> None:
    data = _hostile_records(tmp_path / "data")
    common = {"shard_size": 2, "tts": {"delay_seconds": 0.05, "fail_on": ["boom"]}, "asr": {"word_error_rate": 0.3}}
    manifests = {}
    for mode in ("serial", "processes"):
        manifest = fake_manifest(data, tmp_path / mode, **common)
        manifest["steps"][0].update(asr_batch=1, **MODES[mode])
        manifests[mode] = write_manifest(tmp_path / f"{mode}.yaml", manifest)
    clean = _run_cli(manifests["serial"])
    assert clean.wait(timeout=300) == 0, clean.stderr.read().decode()

    killed = _run_cli(manifests["processes"])
    parent = psutil.Process(killed.pid)
    pool: list[psutil.Process] = []
    for _ in range(START * 10):  # until both pool processes run (then it is mid-shard: setup ends with them)
        pool = _pool_processes(parent)
        if len(pool) == 2 or killed.poll() is not None:
            break
        psutil.wait_procs([parent], timeout=0.1)
    assert len(pool) == 2, "the run never started its tts_workers"
    descendants = parent.children(recursive=True)  # the pool and multiprocessing's resource tracker
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    gone, alive = psutil.wait_procs(descendants, timeout=START)
    assert not alive, f"processes outlived their killed parent: {[p.cmdline() for p in alive]}"

    final = _run_cli(manifests["processes"])
    assert final.wait(timeout=300) == 0, final.stderr.read().decode()
    assert _records(tmp_path / "processes") == _records(tmp_path / "serial")


# -- options -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tts_workers": 2, "pipeline": False}, "tts_workers: 2 synthesizes alongside verification: it needs pipeline"),
        ({"tts_workers": -1}, "tts_workers"),
        ({"tts_workers": "many"}, "tts_workers"),
        ({"asr_batch": 0}, "asr_batch"),
        ({"pipeline": "sometimes"}, "pipeline"),
        ({"pipelined": True}, "pipelined"),
    ],
)
def test_bad_pipeline_options_are_manifest_errors(tmp_path: Path, options: dict, message: str) -> None:
    manifest = fake_manifest(tmp_path / "in.jsonl", tmp_path / "out")
    manifest["steps"][0].update(options)
    with pytest.raises(ManifestError, match=message):
        load_manifest(write_manifest(tmp_path / "m.yaml", manifest))


@pytest.mark.parametrize(("options", "workers"), [({}, 0), ({"tts_workers": 3}, 3), ({"pipeline": False}, None)])
def test_pipeline_options_load(tmp_path: Path, options: dict, workers: int | None) -> None:
    manifest = fake_manifest(tmp_path / "in.jsonl", tmp_path / "out")
    manifest["steps"][0].update(options)
    step = load_manifest(write_manifest(tmp_path / "m.yaml", manifest)).steps[0]
    assert (step.tts_workers if step.pipeline else None) == workers and step.asr_batch == 8


@pytest.mark.parametrize(("workers", "cores", "threads"), [(2, 2, 1), (2, 8, 4), (3, 8, 2), (4, 2, 1)])
def test_each_process_gets_its_share_of_the_cores(workers: int, cores: int, threads: int) -> None:
    backends = {
        "auto": PiperSynthesizer(PiperSettings(threads=0), name="auto"),
        "pinned": PiperSynthesizer(PiperSettings(threads=3), name="pinned"),
        "fake": FakeSynthesizer(name="fake"),
    }
    specs = {name: settings for name, _engine, settings in worker_specs(backends, workers, cores)}
    assert specs["auto"]["threads"] == threads
    assert specs["pinned"]["threads"] == 3  # a count the user set is kept
    assert "threads" not in specs["fake"]  # an engine without the setting is left alone
    rebuilt = PiperSettings.model_validate(specs["auto"])  # what a process builds its synthesizer from
    assert rebuilt.model_copy(update={"threads": 0}) == backends["auto"].settings
