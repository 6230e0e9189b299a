"""decontaminate: n-gram folding and lookup, benchmark files (good, hostile), in a run before sampling, re-filtered."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sampling_fixtures import ANSWERS

from datagen.cli import main
from datagen.manifest import load_manifest
from datagen.records import Message, Sample
from datagen.refilter import filter_names
from datagen.run import run
from datagen.testing import write_jsonl, write_manifest
from filters import contamination
from filters.contamination import BenchmarkError, NgramIndex, fold, ngrams, read_benchmark
from filters.decontaminate import Decontaminate, DecontaminateConfig

FIXTURE = Path(__file__).parent / "data" / "bench_fixture.jsonl"
CORN = "A farmer plants 7 rows of corn with 12 plants in each row. How many corn plants does the farmer plant?"


def test_fold_and_ngrams() -> None:
    assert fold("Find $x$, if X² = 4!  (Ünïcode)") == ["find", "x", "if", "x2", "4", "ünïcode"]
    assert fold("don't-stop_now") == ["don", "t", "stop", "now"]
    assert [g for _, g in ngrams(["a", "b", "c", "d"], 3)] == ["a b c", "b c d"]
    assert list(ngrams(["a", "b"], 3)) == []
    (h1, _), (h2, _) = next(ngrams(["a", "b", "c"], 3)), next(ngrams(["a", "b", "d"], 3))
    assert h1 != h2 and 0 <= h1 < 2**64


def _step(**config: object) -> Decontaminate:
    step = Decontaminate(DecontaminateConfig(benchmarks={"fixture": FIXTURE}, **config))
    step.setup({})
    return step


def chat(*turns: tuple[str, object]) -> Sample:
    return Sample(id="s", messages=tuple(Message(role, content) for role, content in turns))  # type: ignore[arg-type]


ASK = "Solve this and show your work."


@pytest.mark.parametrize(
    ("turns", "reason", "gram"),
    [
        ((("user", CORN), ("assistant", "84")), "contaminated", "a farmer plants 7 rows of corn with"),
        # case, spacing and punctuation folded; pasted inside a longer prompt
        ((("user", f"{ASK} a FARMER plants 7 rows, of corn;  with 12 plants!"),), "contaminated", None),
        # a chat-format benchmark row's user turn, quoted by the assistant (not the user)
        (
            (("user", ASK), ("assistant", "As in: a train travels 180 kilometers in 3 hours at a constant")),
            "contaminated",
            None,
        ),
        # a `problem` field with LaTeX: `$n^2$` folds to "n", "2"
        (
            (("user", "Find the smallest odd positive integer n such that n^2 leaves a remainder"),),
            "contaminated",
            None,
        ),
        # 7 shared words are not 8: kept
        ((("user", "A farmer plants 7 rows of corn and beans."),), "", None),
        # the benchmark's system prompt is not indexed, and system turns of the record are not checked
        ((("user", "You are a careful assistant who always shows every step of the work."),), "", None),
        ((("system", CORN), ("user", "What is 3 + 4?")), "", None),
        # a benchmark problem under n words is not indexed: short generic questions do not collide
        ((("user", "What is 2+2? It is a classic question to ask."),), "", None),
        ((("user", ""),), "", None),  # empty
        ((("user", 42),), "no_text", None),  # malformed content
    ],
)
def test_judge(turns: tuple, reason: str, gram: str | None) -> None:
    verdict = _step().judge(chat(*turns))
    assert (verdict.keep, verdict.reason) == (reason == "", reason)
    if reason == "contaminated":
        assert verdict.detail.startswith("fixture: turn ") and verdict.scores["contaminated_by"] == ["fixture"]
    if gram is not None:
        assert repr(gram) in verdict.detail


def test_n_is_configurable_and_every_benchmark_is_named(tmp_path: Path) -> None:
    text = "a farmer plants 7 rows of corn today"  # 7 words shared with the fixture
    assert not _step().judge(chat(("user", text))).scores["contaminated_by"]
    assert _step(n=5).judge(chat(("user", text))).reason == "contaminated"
    other = write_jsonl(tmp_path / "other.jsonl", [{"question": f"Quick check: {CORN}"}])
    step = Decontaminate(DecontaminateConfig(benchmarks={"fixture": FIXTURE, "other": other}))
    step.setup({})
    verdict = step.judge(chat(("user", CORN)))
    assert verdict.scores["contaminated_by"] == ["fixture", "other"] and verdict.detail.startswith("fixture:")


def test_reads_parquet_and_chat_rows(tmp_path: Path) -> None:
    path = tmp_path / "bench.parquet"
    rows = {"problem": [CORN, None], "solution": ["84", "x"], "answer": ["84", "5"]}
    pq.write_table(pa.table(rows), path)
    assert read_benchmark(path, max_bytes=10**6).texts == [CORN]
    found = read_benchmark(FIXTURE, max_bytes=10**6)
    assert len(found.texts) == 5 and found.skipped == 3  # bad JSON, a list, a row with no problem text
    assert "A train travels 180 kilometers" in found.texts[2]  # the user turn, not the system or assistant turn


def test_hostile_benchmark_files(tmp_path: Path) -> None:
    good = json.dumps({"question": CORN})
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "hostile.jsonl"
    lines = [b"\xff\xfe not utf-8", deep.encode(), b'{"question": 5}', b"x" * (contamination.MAX_LINE_BYTES + 10)]
    path.write_bytes(b"\n".join([*lines, good.encode()]) + b"\n")
    found = read_benchmark(path, max_bytes=10**7)
    assert found.texts == [CORN] and found.skipped == 4
    with pytest.raises(BenchmarkError, match="over the"):
        read_benchmark(path, max_bytes=100)
    with pytest.raises(BenchmarkError, match="not a file"):
        read_benchmark(tmp_path, max_bytes=10**7)
    with pytest.raises(BenchmarkError, match="not a file"):
        read_benchmark(tmp_path / "missing.jsonl", max_bytes=10**7)
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)  # reading a pipe nobody writes would hang the run
    with pytest.raises(BenchmarkError, match="not a file"):
        read_benchmark(fifo, max_bytes=10**7)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(BenchmarkError, match="parquet"):
        read_benchmark(junk, max_bytes=10**7)
    with pytest.raises(BenchmarkError, match=r"\.jsonl or \.parquet"):
        read_benchmark(write_jsonl(tmp_path / "b.csv", ["a,b"]), max_bytes=10**7)


def test_a_benchmark_that_would_match_nothing_or_is_too_big_stops_setup(tmp_path: Path) -> None:
    empty = write_jsonl(tmp_path / "short.jsonl", [{"question": "What is 2+2?"}, "{bad"])
    with pytest.raises(BenchmarkError, match="'short'.*no problem of 8\\+ words"):
        Decontaminate(DecontaminateConfig(benchmarks={"short": empty})).setup({})
    with pytest.raises(BenchmarkError, match="'fixture'.*max_ngrams"):
        Decontaminate(DecontaminateConfig(benchmarks={"fixture": FIXTURE}, max_ngrams=5)).setup({})


def test_index_memory_is_8_bytes_per_distinct_ngram() -> None:
    index = NgramIndex(3, max_ngrams=4)
    for _ in range(10):  # repeats are folded away when the pending list is compacted
        index.add("one two three four five")
    index.freeze()
    assert len(index) == 3 and index._hashes.nbytes == 24
    assert index.first_hit("x one TWO three") == "one two three" and index.first_hit("two three") is None


def _manifest(tmp: Path, data: Path, steps: list[dict]) -> Path:
    responses = dict(ANSWERS)
    return write_manifest(
        tmp / "m.yaml",
        {
            "name": "decon",
            "seed": 3,
            "input": {"path": str(data)},
            "output": {"path": str(tmp / "out"), "shard_size": 2},
            "backends": {"lm": {"engine": "fake_llm", "responses": responses}},
            "steps": steps,
        },
    )


def _rows(folder: Path, kind: str) -> list[dict]:
    return pq.read_table(sorted((folder / kind).glob("*.parquet"))).to_pylist()


def test_before_sampling_in_a_run_then_again_with_datagen_filter(tmp_path: Path) -> None:
    assert "decontaminate" in filter_names()
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    (bench_dir / "fixture.jsonl").write_bytes(FIXTURE.read_bytes())
    problems = [
        {"id": "p0", "question": "Tom has 3 apples and buys 5 more. How many apples?", "answer": "#### 8"},
        {"id": "leak", "question": f"Count the apples. {CORN}", "answer": "#### 84"},
        {"id": "p1", "question": "A box holds 12 pencils; 4 are given away. How many pencils?", "answer": "8"},
    ]
    data = write_jsonl(tmp_path / "problems.jsonl", problems)
    decon = {"step": "decontaminate", "benchmarks": {"fixture": "bench/fixture.jsonl"}}  # relative to the manifest
    cot = {"step": "cot", "generator": "lm", "n": 4, "round_size": 2, "k": 1, "temperature": 0.7}
    manifest = load_manifest(_manifest(tmp_path, data, [decon, cot]))
    assert manifest.steps[0].benchmarks["fixture"] == (bench_dir / "fixture.jsonl").resolve()
    run(manifest)
    out = tmp_path / "out"
    rejects = {r["id"]: r for r in _rows(out, "rejects")}
    leak = rejects["leak"]
    assert (leak["step"], leak["reason"]) == ("decontaminate", "contaminated")
    assert leak["detail"] == "fixture: turn 0 shares 'a farmer plants 7 rows of corn with'"
    meta = json.loads(leak["meta"])
    assert meta["contaminated_by"] == ["fixture"] and "samples_drawn" not in meta  # the sampler never saw it
    kept = _rows(out, "data")
    assert kept and all(r["contaminated_by"] == [] for r in kept) and "leak" not in {r["id"] for r in kept}
    stats = json.loads((out / "stats.json").read_text())
    assert stats["dropped"]["decontaminate:contaminated"] == 1
    assert stats["contamination"] == {"by_benchmark": {"fixture": 1}}

    # re-filtered against a second benchmark that holds one of the kept problems' questions
    second = write_jsonl(tmp_path / "curate" / "apples.jsonl", [{"question": problems[0]["question"] + " Explain."}])
    curate = write_manifest(
        tmp_path / "curate" / "c.yaml",
        {"name": "d", "steps": [{"step": "decontaminate", "benchmarks": {"apples": second.name}, "n": 6}]},
    )
    refiltered = tmp_path / "refiltered"
    assert main(["filter", str(out), "--manifest", str(curate), "--out", str(refiltered)]) == 0
    dropped = {r["id"].split("#")[0]: r["detail"] for r in _rows(refiltered, "rejects")}
    assert dropped["leak"].startswith("fixture:")  # the source run's reject is carried over
    assert dropped["p0"].startswith("apples: turn 0 shares 'tom has 3 apples and buys'") and len(dropped) == 2
    assert {r["id"].split("#")[0] for r in _rows(refiltered, "data")} == {"p1"}


def test_the_audit_shows_records_per_benchmark(tmp_path: Path) -> None:
    from datagen.audit import build_audit, write_report

    data = write_jsonl(tmp_path / "problems.jsonl", [{"id": "leak", "question": f"Count. {CORN}", "answer": "1"}])
    bench = tmp_path / "bench.jsonl"
    bench.write_bytes(FIXTURE.read_bytes())
    run(load_manifest(_manifest(tmp_path, data, [{"step": "decontaminate", "benchmarks": {"grade": str(bench)}}])))
    assert build_audit(tmp_path / "out").report["contamination"] == {"grade": 1}
    html = write_report(tmp_path / "out", tmp_path / "report").read_text()
    assert "records overlapping each benchmark" in html and ">grade<" in html
