"""Fuzz: thousands of mutated records through every reader and a fake-engine run; none may crash or vanish.

A seeded generator (deterministic, no extra dependency) starts from well-formed records of every layout and
removes fields, swaps in values of the wrong type, huge / negative / NaN numbers, deep nesting, invalid bytes,
odd ids and hostile media references. Every input record must come out kept or rejected with a reason.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import random
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datagen.executors.local import LocalExecutor
from datagen.manifest import load_manifest
from datagen.readers import Source, open_source
from datagen.records import Rejected, Sample
from datagen.run import run
from datagen.testing import fake_manifest, swift_record, tiny_png, write_manifest

SEED = 20261201
N = 2000
REASON = re.compile(r"^[a-z][a-z0-9_]*$")
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"


def _png_claiming(width: int, height: int) -> bytes:
    import struct
    import zlib

    png = bytearray(tiny_png())
    png[16:24] = struct.pack(">II", width, height)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    return bytes(png)


def _media(folder: Path) -> None:
    images = folder / "images"
    images.mkdir(parents=True)
    for i in range(4):
        (images / f"{i}.png").write_bytes(tiny_png((i * 60, 20, 200)))
    (images / "bomb.png").write_bytes(_png_claiming(20000, 20000))
    (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (images / "doc.eps").write_bytes(EPS)
    with (images / "huge.png").open("wb") as f:
        f.truncate(64 * 2**30)
    os.mkfifo(images / "fifo.png")
    (folder.parent / "outside.png").write_bytes(tiny_png())


def _data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


IMAGE_REFS: list[Any] = [
    "images/0.png", "images/3.png", "images/bomb.png", "images/corrupt.png", "images/doc.eps", "images/huge.png",
    "images/fifo.png", "images/missing.png", "images", "../outside.png", "/etc/passwd", "images/../../outside.png",
    "images/0.png\x00", "images/" + "a" * 300, "http://example.com/a.png", "s3://b/a.png", "file:///etc/passwd",
    _data_uri(tiny_png()), _data_uri(EPS), "data:image/png;base64,@@", "data:,x", "data:image/png;base64,",
    {"bytes": base64.b64encode(tiny_png()).decode(), "path": "../../x.png"}, {"bytes": "abc"}, {"bytes": -1},
    {"bytes": 1e12}, {"bytes": 10**12}, {"bytes": [1, 2, 3]}, {"bytes": None, "path": "images/1.png"}, {"path": 5},
    {}, 7, None, [], ["images/0.png"],
]  # fmt: skip
VALUES: list[Any] = [
    None, True, False, 0, -1, 2**63, -(2**63) - 1, 1e308, -1e308, float("nan"), float("inf"), float("-inf"), "",
    "x" * 5000, "\x00", "<image>", "<image>" * 3, "../../../etc/passwd", [], {}, [[[[[]]]]], {"role": "user"},
    [{"role": "user", "content": "<image>hi"}], "ünïcödé ✓ 🙂", "\u202e\u200b", 3.5,
]  # fmt: skip
IDS: list[Any] = [
    "", None, 0, -1, True, 1.5, float("nan"), 2**70, "x" * 600, "a\x00b", "../../etc/passwd", "a/b", "#", "dup",
    [], {"id": 1}, "ünï", " ",
]  # fmt: skip


def _base(rng: random.Random, i: int) -> dict[str, Any]:
    kind = rng.randrange(5)
    if kind == 0:
        return swift_record(i, image=f"images/{i % 4}.png")
    if kind == 1:
        return {
            "id": f"llava-{i}",
            "image": f"images/{i % 4}.png",
            "conversations": [
                {"from": "system", "value": "Be brief."},
                {"from": "human", "value": "<image>\nWhat is this?"},
                {"from": "gpt", "value": "A square."},
            ],
        }
    if kind == 2:
        return {"id": f"qa-{i}", "question": "What is 2+2?", "answer": rng.choice(["4", 4, 4.0])}
    if kind == 3:
        return {"id": f"p-{i}", "passage": "The Nile is long.", "question": "Which river?", "answer": "Nile"}
    return swift_record(i, image=_pick(rng, IMAGE_REFS[:2] + IMAGE_REFS[17:18]))


def _slots(node: Any, out: list[tuple[Any, Any]], depth: int = 0) -> list[tuple[Any, Any]]:
    """Every (container, key) in a record down to depth 8, so a mutation can hit any level."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        out.append((node, key))
        if depth < 8:
            _slots(value, out, depth + 1)
    return out


def _pick(rng: random.Random, pool: list[Any]) -> Any:
    return copy.deepcopy(rng.choice(pool))  # a later mutation must not edit the shared pool


def _mutate(rng: random.Random, record: dict[str, Any]) -> None:
    for _ in range(rng.randint(1, 3)):
        slots = _slots(record, [])
        op = rng.randrange(6)
        if op == 0 and slots:  # remove a field or list item
            container, key = rng.choice(slots)
            del container[key]
        elif op == 1 and slots:  # swap in a value of another type
            container, key = rng.choice(slots)
            container[key] = _pick(rng, VALUES)
        elif op == 2:
            record["id"] = _pick(rng, IDS)
        elif op == 3:
            record["images" if rng.random() < 0.7 else "image"] = _pick(rng, [*IMAGE_REFS, IMAGE_REFS[:3]])
        elif op == 4 and slots:  # nesting
            container, key = rng.choice(slots)
            value: Any = container[key]
            for _ in range(rng.choice([2, 50, 300])):
                value = [value]
            container[key] = value
        # op 5: keep the record well-formed


def _line(rng: random.Random, record: dict[str, Any]) -> bytes:
    """The record as a JSONL line, sometimes damaged at the text level (what `json.dumps` cannot produce)."""
    line = json.dumps(record).encode()
    damage = rng.randrange(12)
    if damage == 0:
        line = b"[" * rng.choice([1000, 100_000]) + line
    elif damage == 1 and b'"id": ' in line:
        line = re.sub(rb'"id": ("[^"]*"|[^,}]*)', b'"id": ' + b"9" * 5000, line, count=1)
    elif damage == 2:
        at = rng.randrange(len(line))
        line = line[:at] + bytes(rng.choice([0xFF, 0xC3, 0x00, 0x80, 0xFE])) + line[at:]
    elif damage == 3:
        line = line[: rng.randrange(1, len(line))]
    elif damage == 4:
        line = line.replace(b'"content": "', b'"content": "\\ud800', 1).replace(b'"value": "', b'"value": "\\udfff', 1)
    return line.replace(b"\n", b" ").replace(b"\r", b" ") or b"{}"


def _fuzz_records(seed: int = SEED, n: int = N) -> list[bytes]:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        record = _base(rng, i)
        if rng.random() < 0.9:
            _mutate(rng, record)
        lines.append(_line(rng, record))
    return lines


def _read_all(source: Source, shard_size: int = 97) -> list[Sample | Rejected]:
    plan = source.plan(shard_size)
    return [item for shard in plan.shards for item in source.read(shard)]


def _check_accounted(items: list[Sample | Rejected], n: int) -> dict[str, int]:
    assert len(items) == n
    reasons: dict[str, int] = {}
    for item in items:
        if isinstance(item, Rejected):
            assert REASON.match(item.reason) and item.detail and item.step == "read", item
            reasons[item.reason] = reasons.get(item.reason, 0) + 1
        else:
            assert isinstance(item, Sample) and item.id
            for text in (item.id, *(m.content for m in item.messages)):
                text.encode("utf-8")  # storable in parquet
    return reasons


@pytest.fixture(scope="module")
def fuzz_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "data"
    _media(folder)
    (folder / "train.jsonl").write_bytes(b"\n".join(_fuzz_records()) + b"\n")
    return folder


def test_generator_is_deterministic_and_varied() -> None:
    lines = _fuzz_records(n=300)
    assert lines == _fuzz_records(n=300)
    assert len(set(lines)) > 250


def test_jsonl_reader_accounts_for_every_fuzzed_record(fuzz_folder: Path) -> None:
    items = _read_all(open_source(fuzz_folder / "train.jsonl"))
    reasons = _check_accounted(items, N)
    kept = sum(isinstance(i, Sample) for i in items)
    assert 50 < kept < N - 500  # the mutations bite, and unmutated records still pass
    for reason in ("invalid_json", "malformed_record", "image_missing", "media_path_outside", "remote_media"):
        assert reasons.get(reason), (reason, reasons)


def test_json_array_reader_accounts_for_every_fuzzed_record(fuzz_folder: Path) -> None:
    records = []
    for line in _fuzz_records():
        try:
            record = json.loads(line)
            json.dumps(record)
        except (ValueError, RecursionError):  # not a JSON value: such a file would be refused whole
            continue
        records.append(record)
    path = fuzz_folder / "train.json"
    path.write_text(json.dumps(records))
    assert len(records) > N // 2
    _check_accounted(_read_all(open_source(path)), len(records))


def _parquet_rows(rng: random.Random, n: int) -> list[dict[str, Any]]:
    good_chat = [{"role": "user", "content": "<image>What?"}, {"role": "assistant", "content": "This."}]
    chats: list[Any] = [
        good_chat, [], None, [{"role": "robot", "content": "x"}], [{"role": "user", "content": None}],
        [{"role": None, "content": "<image>"}], [{"role": "user", "content": "<image><image>two"}],
        [{"role": "user", "content": "x" * 10000}],
    ]  # fmt: skip
    structs: list[Any] = [
        {"bytes": tiny_png(), "path": "a.png"}, {"bytes": b"garbage", "path": "x.png"},
        {"bytes": None, "path": "images/0.png"}, {"bytes": None, "path": "../outside.png"},
        {"bytes": None, "path": "a\x00b.png"}, {"bytes": _png_claiming(20000, 20000), "path": None},
        {"bytes": EPS, "path": "e.png"}, {"bytes": None, "path": None}, {"bytes": b"", "path": "http://x/y.png"},
        {"bytes": None, "path": "images/huge.png"}, {"bytes": None, "path": "b" * 400},
    ]  # fmt: skip
    ids: list[Any] = [None, "", "x" * 600, "a\x00b", "../../x", "ünï", "dup", "dup"]
    rows = []
    for i in range(n):
        rows.append(
            {
                "id": f"pq-{i}" if rng.random() < 0.5 else rng.choice(ids),
                "messages": good_chat if rng.random() < 0.4 else rng.choice(chats),
                "images": rng.choice([None, [], *([[s] for s in structs]), structs[:2]]),
            }
        )
    return rows


def test_parquet_reader_accounts_for_every_fuzzed_row(fuzz_folder: Path) -> None:
    rng = random.Random(SEED)
    typed = _parquet_rows(rng, N - 200)
    swapped = [  # the same columns with other types: strings for images, numbers for ids, text for messages
        {
            "id": rng.choice([i, -i, 2**62]),
            "messages": rng.choice(["hi", "", None]),
            "images": rng.choice(IMAGE_REFS[:20]),
        }
        for i in range(200)
    ]
    for name, rows in (("typed.parquet", typed), ("swapped.parquet", swapped)):
        path = fuzz_folder / name
        pq.write_table(pa.Table.from_pylist(rows), path)
        _check_accounted(_read_all(open_source(path)), len(rows))


def test_fake_engine_run_keeps_or_rejects_every_fuzzed_record(fuzz_folder: Path, tmp_path: Path) -> None:
    manifest = load_manifest(
        write_manifest(
            tmp_path / "m.yaml", fake_manifest(fuzz_folder / "train.jsonl", tmp_path / "out", shard_size=250)
        )
    )
    stats = run(manifest, executor=LocalExecutor(progress=False))
    assert stats["seen"] == N
    assert stats["kept"] + stats["dropped_total"] == N
    kept = pq.read_table(tmp_path / "out" / "data").num_rows
    rejects = pq.read_table(tmp_path / "out" / "rejects").to_pylist()
    assert (kept, len(rejects)) == (stats["kept"], stats["dropped_total"])
    assert {"invalid_json", "malformed_record"} <= {r["reason"] for r in rejects}  # the reader's drops are written
    assert all(REASON.match(r["reason"]) and r["detail"] for r in rejects)
    assert kept > 0
