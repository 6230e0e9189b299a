"""Table tests for the sources: ms-swift JSONL, LLaVA JSON(L), parquet and `datasets` folders, bad records, plans."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image as PILImage

from datagen.readers import Plan, Source, SourceError, open_source
from datagen.records import Rejected, Sample
from datagen.testing import swift_record, tiny_png, write_swift_dataset


def read_all(source: Source, shard_size: int = 1000, limit: int | None = None) -> list[Sample | Rejected]:
    plan = source.plan(shard_size, limit)
    return [item for shard in plan.shards for item in source.read(shard)]


def noisy_png(seed: int = 0, size: int = 32) -> bytes:
    """Random pixels, so the PNG's pixel data is large enough that cutting it in half really truncates it."""
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def chat(question: str = "<image>What is this?", answer: str = "A shape.") -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def llava_record(i: int, image: str | None = None) -> dict[str, Any]:
    return {
        "id": f"llava-{i}",
        "image": image or f"images/{i}.png",
        "conversations": [
            {"from": "human", "value": f"<image>\nWhat is in picture {i}?"},
            {"from": "gpt", "value": f"Shape {i}."},
        ],
    }


# -- good records ---------------------------------------------------------------------------------------------


def test_swift_jsonl_good_records(tmp_path: Path) -> None:
    path = write_swift_dataset(tmp_path, n=4)
    items = read_all(open_source(path))
    assert [type(s) for s in items] == [Sample] * 4
    for i, sample in enumerate(items):
        assert isinstance(sample, Sample)
        expected = swift_record(i)
        assert sample.id == expected["id"]
        assert [(m.role, m.content) for m in sample.messages] == [
            (m["role"], m["content"]) for m in expected["messages"]
        ]
        assert len(sample.images) == 1
        assert sample.images[0].data == (tmp_path / "images" / f"{i}.png").read_bytes()
        assert sample.images[0].filename == f"{i}.png"
        assert sample.meta == {"source_file": "train.jsonl", "source_index": i, "layout": "messages"}


def test_records_without_id_get_stable_unique_ids(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "0.png").write_bytes(tiny_png())
    records = []
    for i in range(7):
        rec = swift_record(0)
        if i % 2:
            del rec["id"]
        elif i == 4:
            rec["id"] = ""  # an empty id is no id
        else:
            rec["id"] = f"given-{i}"
        records.append(rec)
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    source = open_source(path)

    ids_one_shard = [s.id for s in read_all(source, shard_size=100)]
    ids_small_shards = [s.id for s in read_all(source, shard_size=2)]
    ids_again = [s.id for s in read_all(open_source(path), shard_size=3)]
    assert ids_one_shard == ids_small_shards == ids_again  # derived from the record's place, not the shard's
    assert len(set(ids_one_shard)) == 7
    assert all(ids_one_shard)
    assert [ids_one_shard[i] for i in (0, 2, 6)] == ["given-0", "given-2", "given-6"]


def test_integer_id_becomes_string(tmp_path: Path) -> None:
    path = write_swift_dataset(tmp_path, n=1)
    path.write_text(json.dumps(swift_record(0, id=42)) + "\n")
    (sample,) = read_all(open_source(path))
    assert isinstance(sample, Sample)
    assert sample.id == "42"


def _check_llava(items: list[Sample | Rejected], folder: Path, n: int) -> None:
    assert [type(s) for s in items] == [Sample] * n
    for i, sample in enumerate(items):
        assert isinstance(sample, Sample)
        assert sample.id == f"llava-{i}"
        assert [(m.role, m.content) for m in sample.messages] == [
            ("user", f"<image>\nWhat is in picture {i}?"),
            ("assistant", f"Shape {i}."),
        ]
        assert [img.data for img in sample.images] == [(folder / "images" / f"{i}.png").read_bytes()]
        assert sample.meta["source_index"] == i


def _write_images(folder: Path, n: int) -> None:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / "images" / f"{i}.png").write_bytes(tiny_png((i * 50 % 256, 10, 10)))


def test_llava_json_array(tmp_path: Path) -> None:
    _write_images(tmp_path, 3)
    path = tmp_path / "llava.json"
    path.write_text(json.dumps([llava_record(i) for i in range(3)]))
    source = open_source(path)
    assert source.plan(10).format == "json"
    _check_llava(read_all(source, shard_size=2), tmp_path, 3)


@pytest.mark.parametrize("fmt", ["auto", "llava"])
def test_llava_records_in_jsonl(tmp_path: Path, fmt: str) -> None:
    _write_images(tmp_path, 3)
    path = tmp_path / "llava.jsonl"
    path.write_text("\n".join(json.dumps(llava_record(i)) for i in range(3)) + "\n")
    _check_llava(read_all(open_source(path, fmt), shard_size=2), tmp_path, 3)


def test_llava_system_turn_and_role_case(tmp_path: Path) -> None:
    _write_images(tmp_path, 1)
    rec = llava_record(0)
    rec["conversations"] = [
        {"from": "system", "value": "Be brief."},
        {"from": "Human", "value": "<image>Q"},
        {"from": "GPT", "value": "A"},
    ]
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    (sample,) = read_all(open_source(path))
    assert isinstance(sample, Sample)
    assert [m.role for m in sample.messages] == ["system", "user", "assistant"]


# -- parquet and datasets folders -----------------------------------------------------------------------------


def _arrow_rows(n: int, column: str) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        struct = {"bytes": tiny_png((i * 60 % 256, 0, 0)), "path": f"img{i}.png"}
        rows.append({"id": f"pq-{i}", "messages": chat(), column: [struct] if column == "images" else struct})
    return rows


@pytest.mark.parametrize("column", ["images", "image"])
def test_parquet_with_image_structs(tmp_path: Path, column: str) -> None:
    rows = _arrow_rows(5, column)
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    items = read_all(open_source(path), shard_size=2)
    assert [type(s) for s in items] == [Sample] * 5
    for i, sample in enumerate(items):
        assert isinstance(sample, Sample)
        assert sample.id == f"pq-{i}"
        assert [(m.role, m.content) for m in sample.messages] == [(m["role"], m["content"]) for m in chat()]
        struct = rows[i][column][0] if column == "images" else rows[i][column]
        assert [img.data for img in sample.images] == [struct["bytes"]]
        assert sample.images[0].filename == f"img{i}.png"
        assert sample.meta == {"source_file": "data.parquet", "source_index": i, "layout": "messages"}


def test_parquet_folder_and_path_only_struct(tmp_path: Path) -> None:
    """A folder of parquet files reads in file-name order; a struct with only a path loads the file."""
    folder = tmp_path / "pq"
    folder.mkdir()
    (folder / "pic.png").write_bytes(tiny_png((1, 2, 3)))
    rows = [{"id": f"r{i}", "messages": chat(), "images": [{"bytes": None, "path": "pic.png"}]} for i in range(4)]
    pq.write_table(pa.Table.from_pylist(rows[2:]), folder / "b.parquet")
    pq.write_table(pa.Table.from_pylist(rows[:2]), folder / "a.parquet")
    items = read_all(open_source(folder), shard_size=3)
    assert [s.id for s in items] == ["r0", "r1", "r2", "r3"]
    assert all(isinstance(s, Sample) and s.images[0].data == (folder / "pic.png").read_bytes() for s in items)


def test_parquet_bad_image_bytes_rejected(tmp_path: Path) -> None:
    rows = _arrow_rows(3, "images")
    rows[1]["images"] = [{"bytes": b"not a png", "path": "x.png"}]
    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    items = read_all(open_source(path))
    assert [type(s) for s in items] == [Sample, Rejected, Sample]
    assert isinstance(items[1], Rejected)
    assert (items[1].reason, items[1].id) == ("image_unreadable", "pq-1")
    assert "not a png" not in items[1].raw  # the image payload is left out of the raw text
    assert "pq-1" in items[1].raw


def test_empty_parquet_folder_is_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no .parquet"):
        open_source(tmp_path).plan(4)


def test_datasets_save_to_disk_folder(tmp_path: Path) -> None:
    import datasets

    pngs = [tiny_png((i * 70 % 256, 90, 0)) for i in range(3)]
    ds = datasets.Dataset.from_list(
        [{"id": f"hf-{i}", "messages": chat(), "images": [{"bytes": pngs[i], "path": None}]} for i in range(3)]
    )
    ds = ds.cast_column("images", datasets.List(datasets.Image()))
    folder = tmp_path / "hf"
    ds.save_to_disk(str(folder))
    items = read_all(open_source(folder), shard_size=2)
    assert [s.id for s in items] == ["hf-0", "hf-1", "hf-2"]
    for i, sample in enumerate(items):
        assert isinstance(sample, Sample)
        assert [img.data for img in sample.images] == [pngs[i]]
        assert [m.role for m in sample.messages] == ["user", "assistant"]


# -- media paths ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("relative_input", [False, True])
def test_image_paths_resolve_against_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative_input: bool
) -> None:
    data = tmp_path / "sub"
    path = write_swift_dataset(data, n=2)
    elsewhere = tmp_path / "elsewhere"
    # decoys where a cwd-relative lookup would find them
    for cwd in (tmp_path, elsewhere):
        (cwd / "images").mkdir(parents=True, exist_ok=True)
        for i in range(2):
            (cwd / "images" / f"{i}.png").write_bytes(tiny_png((0, 0, 0)))
    monkeypatch.chdir(tmp_path if relative_input else elsewhere)
    source = open_source(Path("sub/train.jsonl") if relative_input else path)
    items = read_all(source)
    assert [type(s) for s in items] == [Sample, Sample]
    for i, sample in enumerate(items):
        assert isinstance(sample, Sample)
        assert sample.images[0].data == (data / "images" / f"{i}.png").read_bytes()
        assert sample.images[0].data != tiny_png((0, 0, 0))


# -- bad records ----------------------------------------------------------------------------------------------

BAD_ID = "bad-one"


def _rec(**changes: Any) -> bytes:
    rec = swift_record(0, id=BAD_ID)
    for key, value in changes.items():
        if value is None:
            rec.pop(key, None)
        else:
            rec[key] = value
    return json.dumps(rec).encode()


def _setup_media(folder: Path) -> None:
    (folder / "images" / "corrupt.png").write_bytes(b"not a png")
    png = noisy_png()
    (folder / "images" / "truncated.png").write_bytes(png[: len(png) // 2])
    (folder.parent / "outside.png").write_bytes(tiny_png((5, 5, 5)))


OUTSIDE: Callable[[Path], str] = lambda folder: str((folder.parent / "outside.png").resolve())  # noqa: E731

# (label, line builder taking the data folder, reason, id is the record's own)
BAD_RECORDS: list[tuple[str, Callable[[Path], bytes], str, bool]] = [
    ("invalid_json", lambda f: b'{"id": "bad-one", "messages": [', "invalid_json", False),
    ("trailing_garbage", lambda f: _rec() + b" x", "invalid_json", False),
    ("invalid_utf8", lambda f: b'{"id": "bad-one", "messages": "\xff\xfe"}', "invalid_utf8", False),
    ("json_array", lambda f: b"[1, 2, 3]", "malformed_record", False),
    ("json_number", lambda f: b"42", "malformed_record", False),
    ("json_string", lambda f: b'"hello"', "malformed_record", False),
    ("missing_messages", lambda f: _rec(messages=None), "missing_field", True),
    ("empty_messages", lambda f: _rec(messages=[]), "malformed_record", True),
    ("messages_not_list", lambda f: _rec(messages="hi"), "malformed_record", True),
    ("turn_not_object", lambda f: _rec(messages=["hi"]), "malformed_record", True),
    ("unknown_role", lambda f: _rec(messages=[{"role": "robot", "content": "<image>hi"}]), "malformed_record", True),
    ("content_number", lambda f: _rec(messages=[{"role": "user", "content": 5}]), "malformed_record", True),
    (
        "content_parts_list",
        lambda f: _rec(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]),
        "malformed_record",
        True,
    ),
    ("no_user_turn", lambda f: _rec(messages=[{"role": "assistant", "content": "<image>A"}]), "malformed_record", True),
    ("image_missing", lambda f: _rec(images=["images/nope.png"]), "image_missing", True),
    ("image_missing_struct", lambda f: _rec(images=[{"path": "images/nope.png"}]), "image_missing", True),
    ("image_ref_number", lambda f: _rec(images=[7]), "malformed_record", True),
    ("image_corrupt", lambda f: _rec(images=["images/corrupt.png"]), "image_unreadable", True),
    ("image_truncated", lambda f: _rec(images=["images/truncated.png"]), "image_unreadable", True),
    ("image_absolute", lambda f: _rec(images=[OUTSIDE(f)]), "media_path_outside", True),
    ("image_dotdot", lambda f: _rec(images=["../outside.png"]), "media_path_outside", True),
    ("image_dotdot_inside", lambda f: _rec(images=["images/../../outside.png"]), "media_path_outside", True),
    ("image_http", lambda f: _rec(images=["http://example.com/a.png"]), "remote_media", True),
    ("image_https", lambda f: _rec(images=["https://example.com/a.png"]), "remote_media", True),
    ("two_tags_one_image", lambda f: _rec(messages=chat("<image><image>Compare.")), "image_count_mismatch", True),
    ("one_tag_two_images", lambda f: _rec(images=["images/0.png", "images/1.png"]), "image_count_mismatch", True),
]


@pytest.mark.parametrize(
    ("build", "reason", "own_id"), [case[1:] for case in BAD_RECORDS], ids=[case[0] for case in BAD_RECORDS]
)
def test_bad_record_rejected_others_unaffected(
    tmp_path: Path, build: Callable[[Path], bytes], reason: str, own_id: bool
) -> None:
    folder = tmp_path / "data"
    path = write_swift_dataset(folder, n=3)
    _setup_media(folder)
    good = path.read_bytes().splitlines()
    bad = build(folder)
    path.write_bytes(b"\n".join([good[0], bad, good[1], good[2]]) + b"\n")

    items = read_all(open_source(path), shard_size=2)
    assert [type(s) for s in items] == [Sample, Rejected, Sample, Sample]
    assert [s.id for s in items if isinstance(s, Sample)] == ["rec-0000", "rec-0001", "rec-0002"]
    assert [s.meta["source_index"] for s in items if isinstance(s, Sample)] == [0, 2, 3]
    rejected = items[1]
    assert isinstance(rejected, Rejected)
    assert rejected.reason == reason, rejected.detail
    assert rejected.step == "read"
    assert rejected.detail
    assert rejected.raw.rstrip("\n") == bad.decode("utf-8", errors="replace")
    if own_id:
        assert rejected.id == BAD_ID
    else:  # unparsable: the id derived from the record's place, the same one an id-less good record would get
        path.write_bytes(b"\n".join([good[0], _rec(id=None), good[1]]) + b"\n")
        assert rejected.id == read_all(open_source(path))[1].id


@pytest.mark.parametrize("ref", ["absolute", "../outside.png"])
def test_outside_paths_accepted_when_allowed(tmp_path: Path, ref: str) -> None:
    folder = tmp_path / "data"
    path = write_swift_dataset(folder, n=1)
    _setup_media(folder)
    image = OUTSIDE(folder) if ref == "absolute" else ref
    path.write_bytes(_rec(images=[image]) + b"\n")
    (refused,) = read_all(open_source(path))
    assert isinstance(refused, Rejected) and refused.reason == "media_path_outside"
    (sample,) = read_all(open_source(path, allow_outside_paths=True))
    assert isinstance(sample, Sample)
    assert sample.images[0].data == (tmp_path / "outside.png").read_bytes()


def test_symlink_leaving_folder_is_outside(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    path = write_swift_dataset(folder, n=1)
    _setup_media(folder)
    (folder / "images" / "link.png").symlink_to(tmp_path / "outside.png")
    path.write_bytes(_rec(images=["images/link.png"]) + b"\n")
    (item,) = read_all(open_source(path))
    assert isinstance(item, Rejected) and item.reason == "media_path_outside"


def test_rejected_raw_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = '{"id": "huge", "messages": "' + "x" * 20_000  # unterminated: invalid JSON
    path.write_text(line + "\n")
    (item,) = read_all(open_source(path))
    assert isinstance(item, Rejected) and item.reason == "invalid_json"
    assert 0 < len(item.raw) < len(line)
    assert line.startswith(item.raw)


def test_llava_array_bad_records(tmp_path: Path) -> None:
    _write_images(tmp_path, 3)
    records: list[Any] = [llava_record(0), [1, 2], llava_record(1, image="images/missing.png"), llava_record(2)]
    path = tmp_path / "llava.json"
    path.write_text(json.dumps(records))
    items = read_all(open_source(path))
    assert [type(s) for s in items] == [Sample, Rejected, Rejected, Sample]
    assert [getattr(s, "reason", None) for s in items] == [None, "malformed_record", "image_missing", None]
    assert items[2].id == "llava-1"
    assert json.loads(items[2].raw) == records[2]


# -- planning -------------------------------------------------------------------------------------------------

N = 10


def _jsonl(folder: Path) -> Path:
    _write_images(folder, N)
    lines = [b"", b"   "]  # blank lines (also before the first record and between records) are not records
    for i in range(N):
        lines.append(json.dumps(swift_record(i)).encode())
        if i % 3 == 0:
            lines.append(b"")
        if i == 5:
            lines.append(b" \t ")
    path = folder / "train.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n\n")
    return path


def _json_array(folder: Path) -> Path:
    _write_images(folder, N)
    path = folder / "train.json"
    path.write_text(json.dumps([swift_record(i) for i in range(N)], indent=1))
    return path


def _parquet(folder: Path) -> Path:
    rows = []
    for i in range(N):
        rec = swift_record(i)
        rec["images"] = [{"bytes": tiny_png((i * 20, 0, 0)), "path": f"{i}.png"}]
        rows.append(rec)
    path = folder / "train.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, compression="none")  # uncompressed: tests edit its bytes
    return path


WRITERS: dict[str, Callable[[Path], Path]] = {"jsonl": _jsonl, "json": _json_array, "parquet": _parquet}
EXPECTED_IDS = [swift_record(i)["id"] for i in range(N)]


def _check_plan(plan: Plan, total: int, shard_size: int) -> None:
    assert plan.total == total
    assert len(plan.shards) == -(-total // shard_size)
    covered = [i for s in plan.shards for i in range(s.start, s.stop)]
    assert covered == list(range(total))  # every record exactly once, in order
    assert [s.index for s in plan.shards] == list(range(len(plan.shards)))
    assert all(s.count == len(plan.shards) for s in plan.shards)
    assert all(0 < s.stop - s.start <= shard_size for s in plan.shards)


@pytest.mark.parametrize("fmt", list(WRITERS))
@pytest.mark.parametrize("shard_size", [1, 3, 4, N, 100])
def test_plan_shards_cover_all_records_once(tmp_path: Path, fmt: str, shard_size: int) -> None:
    source = open_source(WRITERS[fmt](tmp_path))
    plan = source.plan(shard_size)
    _check_plan(plan, N, shard_size)
    assert plan.format == fmt
    per_shard = [[s.id for s in source.read(shard)] for shard in plan.shards]
    assert [len(ids) for ids in per_shard] == [s.stop - s.start for s in plan.shards]
    (whole,) = source.plan(10_000).shards
    assert [i for ids in per_shard for i in ids] == [s.id for s in source.read(whole)] == EXPECTED_IDS
    assert all(isinstance(s, Sample) for shard in plan.shards for s in source.read(shard))


@pytest.mark.parametrize("shard_size", [1, 3, 4])
def test_jsonl_offsets_point_at_shard_first_record(tmp_path: Path, shard_size: int) -> None:
    path = _jsonl(tmp_path)
    data = path.read_bytes()
    plan = open_source(path).plan(shard_size)
    for shard in plan.shards:
        first_line = data[shard.offset :].split(b"\n", 1)[0]
        assert json.loads(first_line)["id"] == EXPECTED_IDS[shard.start]
    # each shard read on its own (a fresh source, as on a worker) returns exactly its records
    for shard in plan.shards:
        ids = [s.id for s in open_source(path).read(shard)]
        assert ids == EXPECTED_IDS[shard.start : shard.stop]


@pytest.mark.parametrize("fmt", list(WRITERS))
@pytest.mark.parametrize(("limit", "shard_size"), [(1, 4), (5, 2), (5, 5), (N, 3), (N + 5, 4)])
def test_plan_limit_caps_total(tmp_path: Path, fmt: str, limit: int, shard_size: int) -> None:
    source = open_source(WRITERS[fmt](tmp_path))
    plan = source.plan(shard_size, limit)
    expected = min(limit, N)
    _check_plan(plan, expected, shard_size)
    assert [s.id for shard in plan.shards for s in source.read(shard)] == EXPECTED_IDS[:expected]


def _append_record(path: Path) -> None:
    if path.suffix == ".jsonl":
        with path.open("ab") as f:
            f.write(json.dumps(swift_record(0, id="extra")).encode() + b"\n")
    elif path.suffix == ".json":
        path.write_text(json.dumps([*json.loads(path.read_text()), swift_record(0, id="extra")]))
    else:
        table = pq.read_table(path)
        pq.write_table(pa.concat_tables([table, table.slice(0, 1)]), path)


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_fingerprint_changes_with_file(tmp_path: Path, fmt: str) -> None:
    path = WRITERS[fmt](tmp_path)
    before = open_source(path).plan(4)
    assert open_source(path).plan(4).fingerprint == before.fingerprint  # stable while unchanged
    _append_record(path)
    after = open_source(path).plan(4)
    assert after.fingerprint != before.fingerprint
    assert after.total == N + 1


def _same_size_edit(path: Path, old: bytes, new: bytes) -> None:
    """Rewrite `old` as `new` (same length) and put the mtime back: name, size and mtime all unchanged."""
    import os

    info = path.stat()
    data = path.read_bytes()
    assert old in data and len(old) == len(new)
    path.write_bytes(data.replace(old, new))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (info.st_size, info.st_mtime_ns)


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_fingerprint_changes_on_same_size_edit_with_mtime_restored(tmp_path: Path, fmt: str) -> None:
    path = WRITERS[fmt](tmp_path)
    before = open_source(path).plan(4)
    _same_size_edit(path, b"rec-0005", b"rec-9995")
    after = open_source(path).plan(4)
    assert after.fingerprint != before.fingerprint
    changed = [a.index for a, b in zip(after.shards, before.shards, strict=True) if a.digest != b.digest]
    assert changed == ([1] if fmt == "jsonl" else [0, 1, 2])  # JSONL hashes each shard's own bytes
    assert all(s.digest for s in after.shards)


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_reading_a_shard_whose_input_changed_since_planning_fails_loudly(tmp_path: Path, fmt: str) -> None:
    path = WRITERS[fmt](tmp_path)
    plan = open_source(path).plan(4)
    _same_size_edit(path, b"rec-0005", b"rec-9995")
    assert [s.id for s in open_source(path).read(plan.shards[0])] == EXPECTED_IDS[:4] if fmt == "jsonl" else True
    with pytest.raises(SourceError, match="changed since the run was planned"):
        list(open_source(path).read(plan.shards[1]))


# -- whole-input errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.json", b'[{"id": 1,'),
        ("bad.json", b'{"id": 1}\n{"id": 2}\n'),  # JSONL under a .json name
        ("bad.json", b"\xff\xfe[]"),
        ("obj.json", b'{"id": 1, "messages": []}'),  # valid JSON, but not an array
    ],
)
def test_llava_json_not_an_array_is_source_error(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError, match=name):
        open_source(path).plan(4)


@pytest.mark.parametrize("name", ["data.txt", "data.csv", "data"])
def test_unknown_suffix_is_source_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(json.dumps(swift_record(0)) + "\n")
    with pytest.raises(SourceError, match="format"):
        open_source(path)


def test_unknown_suffix_ok_with_explicit_format(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    path = write_swift_dataset(folder, n=2).rename(folder / "train.txt")
    assert [s.id for s in read_all(open_source(path, "swift"))] == ["rec-0000", "rec-0001"]


@pytest.mark.parametrize("fmt", ["auto", "swift", "llava", "parquet"])
def test_missing_input_is_source_error(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(SourceError, match="not found"):
        open_source(tmp_path / "nope.jsonl", fmt)


@pytest.mark.parametrize(
    ("record", "roles", "passage"),
    [
        ({"id": "q1", "question": "What is 2+2?", "answer": "4"}, ["user", "assistant"], None),
        ({"id": "q2", "question": "Why is the sky blue?"}, ["user"], None),
        ({"id": "q3", "question": "Total?", "answer": 42}, ["user", "assistant"], None),
        ({"id": "p1", "passage": "The Nile is long."}, [], "The Nile is long."),
        ({"id": "p2", "passage": "", "question": "Which?", "answer": "x"}, ["user", "assistant"], ""),
    ],
)
def test_plain_qa_and_passage_records(tmp_path: Path, record: dict, roles: list[str], passage: str | None) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps(record) + "\n")
    [sample] = read_all(open_source(path))
    assert isinstance(sample, Sample)
    assert [m.role for m in sample.messages] == roles
    if "answer" in record:
        assert sample.messages[1].content == str(record["answer"])
    assert sample.meta.get("passage") == passage


def test_question_with_image_gets_an_image_tag(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(tiny_png())
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"id": "v", "question": "What color?", "answer": "red", "images": ["a.png"]}) + "\n")
    [sample] = read_all(open_source(path))
    assert isinstance(sample, Sample)
    assert sample.messages[0].content == "<image>What color?"
    assert len(sample.images) == 1


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"id": "a", "question": ["not", "text"]}, "malformed_record"),
        ({"id": "b", "question": "Q?", "answer": {"x": 1}}, "malformed_record"),
        ({"id": "c", "passage": 12}, "malformed_record"),
        ({"id": "d", "title": "no usable field"}, "missing_field"),
    ],
)
def test_bad_plain_records_are_rejected(tmp_path: Path, record: dict, reason: str) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps(record) + "\n")
    [item] = read_all(open_source(path))
    assert isinstance(item, Rejected)
    assert item.reason == reason


# -- hostile records (issue 12 item 4): each is one line between good ones; none may stop the read ------------


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width`x`height`: a decompression bomb without the memory to build one."""
    import struct
    import zlib

    png = bytearray(tiny_png())
    ihdr = png[12:29]  # b"IHDR" + 13 bytes of header data
    ihdr[4:12] = struct.pack(">II", width, height)
    png[12:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(png)


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\nshowpage\n"


def _setup_hostile_media(folder: Path) -> None:
    (folder / "images" / "bomb.png").write_bytes(png_claiming(20000, 20000))
    with (folder / "images" / "huge.png").open("wb") as f:
        f.truncate(64 * 2**30)  # sparse: 64 GiB on paper, nothing on disk
    (folder / "images" / "doc.eps").write_bytes(EPS)
    (folder / "images" / "eps-named.png").write_bytes(EPS)


def _data_uri(data: bytes, mime: str = "image/png") -> str:
    import base64

    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


# (label, line builder, reason, id is the record's own)
HOSTILE_RECORDS: list[tuple[str, Callable[[], bytes], str, bool]] = [
    ("png_bomb", lambda: _rec(images=["images/bomb.png"]), "image_too_large", True),
    ("bytes_not_base64", lambda: _rec(images=[{"bytes": "abc"}]), "malformed_record", True),
    ("bytes_negative", lambda: _rec(images=[{"bytes": -1}]), "malformed_record", True),
    ("bytes_float_huge", lambda: _rec(images=[{"bytes": 1e12}]), "malformed_record", True),
    ("bytes_int_huge", lambda: _rec(images=[{"bytes": 10**12}]), "malformed_record", True),
    ("bytes_list_of_ints", lambda: _rec(images=[{"bytes": [137, 80, 78, 71]}]), "malformed_record", True),
    ("id_5000_digits", lambda: _rec().replace(b'"bad-one"', b"7" * 5000), "malformed_record", False),
    ("id_too_long", lambda: _rec(id="x" * 5000), "malformed_record", False),
    ("nested_100k", lambda: b"[" * 100_000, "malformed_record", False),
    ("nested_field", lambda: _rec().replace(b'"bad-one"', b"[" * 100_000 + b"]" * 100_000), "malformed_record", False),
    ("nul_in_path", lambda: _rec(images=["images/0.png\x00.txt"]), "media_path_invalid", True),
    ("name_300_chars", lambda: _rec(images=["images/" + "a" * 300 + ".png"]), "media_path_invalid", True),
    ("sparse_64gib", lambda: _rec(images=["images/huge.png"]), "media_too_large", True),
    ("eps", lambda: _rec(images=["images/doc.eps"]), "image_format_not_allowed", True),
    ("eps_named_png", lambda: _rec(images=["images/eps-named.png"]), "image_format_not_allowed", True),
    ("eps_data_uri", lambda: _rec(images=[_data_uri(EPS)]), "image_format_not_allowed", True),
    ("data_uri_bad_base64", lambda: _rec(images=["data:image/png;base64,@@@@"]), "malformed_record", True),
    ("data_uri_not_base64", lambda: _rec(images=["data:image/png,rawtext"]), "malformed_record", True),
    ("data_uri_text", lambda: _rec(images=[_data_uri(b"hello", "text/plain")]), "image_unreadable", True),
    ("data_uri_garbage", lambda: _rec(images=[_data_uri(b"\x00" * 64)]), "image_unreadable", True),
    ("url", lambda: _rec(images=["https://example.com/a.png"]), "remote_media", True),
    ("s3_url", lambda: _rec(images=["s3://bucket/a.png"]), "remote_media", True),
    ("lone_surrogate_text", lambda: _rec(messages=chat("<image>\\ud800 hi")).replace(b"\\\\ud800", b"\\ud800"),
     "malformed_record", True),
    ("fifo", lambda: _rec(images=["images/fifo.png"]), "image_missing", True),
    ("directory", lambda: _rec(images=["images"]), "image_missing", True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "reason", "own_id"), [case[1:] for case in HOSTILE_RECORDS], ids=[case[0] for case in HOSTILE_RECORDS]
)
def test_hostile_record_rejected_and_read_goes_on(
    tmp_path: Path, build: Callable[[], bytes], reason: str, own_id: bool
) -> None:
    import os

    folder = tmp_path / "data"
    path = write_swift_dataset(folder, n=3)
    _setup_hostile_media(folder)
    os.mkfifo(folder / "images" / "fifo.png")
    good = path.read_bytes().splitlines()
    bad = build()
    path.write_bytes(b"\n".join([good[0], bad, good[1], good[2]]) + b"\n")

    items = read_all(open_source(path), shard_size=2)
    assert [type(s) for s in items] == [Sample, Rejected, Sample, Sample]
    assert [s.id for s in items if isinstance(s, Sample)] == ["rec-0000", "rec-0001", "rec-0002"]
    rejected = items[1]
    assert isinstance(rejected, Rejected)
    assert (rejected.reason, rejected.step) == (reason, "read"), rejected.detail
    assert rejected.detail and len(rejected.detail) < 2000
    assert bad.decode("utf-8", errors="replace").startswith(rejected.raw.rstrip("\n")) and rejected.raw
    assert rejected.id == (BAD_ID if own_id else "train-0000001")


def test_url_detail_says_what_to_do(tmp_path: Path) -> None:
    path = write_swift_dataset(tmp_path, n=1)
    path.write_bytes(_rec(images=["http://example.com/a.png"]) + b"\n")
    (item,) = read_all(open_source(path))
    assert isinstance(item, Rejected) and item.reason == "remote_media"
    assert "download the media first; datagen does not fetch" in item.detail


def test_eps_never_reaches_pil_postscript_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import EpsImagePlugin

    opened: list[bool] = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: opened.append(True))
    folder = tmp_path / "data"
    path = write_swift_dataset(folder, n=1)
    _setup_hostile_media(folder)
    path.write_bytes(_rec(images=["images/doc.eps"]) + b"\n" + _rec(images=[_data_uri(EPS)]) + b"\n")
    items = read_all(open_source(path))
    assert [getattr(i, "reason", None) for i in items] == ["image_format_not_allowed"] * 2
    assert "EPS" in items[0].detail
    assert opened == []


@pytest.mark.parametrize(
    ("ref", "data"),
    [
        (lambda png: _data_uri(png), lambda png: png),
        (lambda png: {"bytes": __import__("base64").b64encode(png).decode(), "path": "a/b/pic.png"}, lambda png: png),
    ],
    ids=["data_uri", "struct_base64_string"],
)
def test_inline_media_decoded_in_memory(tmp_path: Path, ref: Callable, data: Callable) -> None:
    png = tiny_png((9, 99, 199))
    path = tmp_path / "train.jsonl"
    path.write_bytes(_rec(images=[ref(png)]) + b"\n")
    (sample,) = read_all(open_source(path))
    assert isinstance(sample, Sample), getattr(sample, "detail", "")
    assert sample.images[0].data == data(png)
    assert sample.images[0].to_pil().getpixel((0, 0)) == (9, 99, 199)


def _one(tmp_path: Path, ref: Any, **options: Any) -> Sample | Rejected:
    (tmp_path / "images").mkdir(exist_ok=True)
    (tmp_path / "images" / "big.png").write_bytes(noisy_png(size=64))
    path = tmp_path / "train.jsonl"
    path.write_bytes(_rec(images=[ref]) + b"\n")
    (item,) = read_all(open_source(path, **options))
    return item


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("images/big.png", "media_too_large"),
        (_data_uri(noisy_png(size=64)), "media_too_large"),
        ({"bytes": __import__("base64").b64encode(noisy_png(size=64)).decode()}, "media_too_large"),
    ],
    ids=["file", "data_uri", "struct"],
)
def test_media_size_cap_is_configurable(tmp_path: Path, ref: Any, reason: str) -> None:
    assert isinstance(_one(tmp_path, ref), Sample)
    capped = _one(tmp_path, ref, max_media_bytes=1000)
    assert isinstance(capped, Rejected) and capped.reason == reason
    assert "max_media_bytes" in capped.detail


def test_pixel_cap_is_configurable(tmp_path: Path) -> None:
    assert isinstance(_one(tmp_path, "images/big.png"), Sample)
    capped = _one(tmp_path, "images/big.png", max_image_pixels=64 * 64 - 1)
    assert isinstance(capped, Rejected) and capped.reason == "image_too_large"
    assert "64x64" in capped.detail


@pytest.mark.parametrize(
    ("bytes_type", "value", "path", "reason"),
    [
        (pa.string(), "abc", None, "malformed_record"),
        (pa.float64(), 1e12, None, "malformed_record"),
        (pa.int64(), -1, None, "malformed_record"),
        (pa.binary(), png_claiming(20000, 20000), None, "image_too_large"),
        (pa.binary(), EPS, "x.png", "image_format_not_allowed"),
        (pa.binary(), None, "a\x00b.png", "media_path_invalid"),
        (pa.binary(), None, "../outside.png", "media_path_outside"),
    ],
    ids=["string_abc", "float_1e12", "int_negative", "bomb", "eps", "nul_path", "outside_path"],
)
def test_parquet_hostile_image_columns(
    tmp_path: Path, bytes_type: pa.DataType, value: Any, path: Any, reason: str
) -> None:
    """Between two good rows (path-only structs) in the same typed column: only the bad row is rejected."""
    folder = tmp_path / "pq"
    folder.mkdir()
    (folder / "ok.png").write_bytes(tiny_png())
    (tmp_path / "outside.png").write_bytes(tiny_png())
    struct = pa.struct([("bytes", bytes_type), ("path", pa.string())])
    ok = {"bytes": None, "path": "ok.png"}
    images = pa.array([[ok], [{"bytes": value, "path": path}], [ok]], pa.list_(struct))
    ids = ["ok-0", "bad", "ok-1"]
    pq.write_table(pa.table({"id": ids, "messages": pa.array([chat()] * 3), "images": images}), folder / "d.parquet")
    items = read_all(open_source(folder))
    assert [getattr(i, "reason", "kept") for i in items] == ["kept", reason, "kept"]
    assert items[1].id == "bad" and items[1].detail


def test_llava_json_hostile_records(tmp_path: Path) -> None:
    _write_images(tmp_path, 2)
    records: list[Any] = [llava_record(0), {**llava_record(9), "image": {"bytes": -1}}, llava_record(1)]
    path = tmp_path / "llava.json"
    path.write_text(json.dumps(records))
    items = read_all(open_source(path))
    assert [getattr(i, "reason", "kept") for i in items] == ["kept", "malformed_record", "kept"]


@pytest.mark.parametrize(
    "content",
    [b"[" * 100_000, b'[{"id": ' + b"7" * 5000 + b"}]", b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]"],
    ids=["nested", "huge_int", "nested_record"],
)
def test_llava_json_hostile_file_is_source_error(tmp_path: Path, content: bytes) -> None:
    from datagen.cli import main
    from datagen.testing import fake_manifest, write_manifest

    path = tmp_path / "llava.json"
    path.write_bytes(content)
    with pytest.raises(SourceError, match="llava.json"):
        open_source(path).plan(4)
    manifest = write_manifest(tmp_path / "m.yaml", fake_manifest(path, tmp_path / "out"))
    assert main(["validate", str(manifest)]) == 2


# -- media root (issue 20 item 1) -----------------------------------------------------------------------------


def _llava_with_image_folder(tmp_path: Path) -> tuple[Path, Path]:
    """LLaVA-mix layout: bare file names in the JSON, the images in a separate folder; a decoy beside the JSON."""
    root = tmp_path / "coco" / "train2017"
    root.mkdir(parents=True)
    (root / "000000033471.jpg").write_bytes(tiny_png((1, 2, 3)))
    (root / "secret").mkdir()
    data = tmp_path / "json"
    data.mkdir()
    (data / "000000033471.jpg").write_bytes(tiny_png((250, 250, 250)))  # decoy: must not be read
    (tmp_path / "coco" / "outside.png").write_bytes(tiny_png())
    path = data / "llava.json"
    path.write_text(json.dumps([llava_record(0, image="000000033471.jpg")]))
    return path, root


def test_media_root_resolves_relative_paths(tmp_path: Path) -> None:
    path, root = _llava_with_image_folder(tmp_path)
    (sample,) = read_all(open_source(path, media_root=root))
    assert isinstance(sample, Sample)
    assert sample.images[0].data == (root / "000000033471.jpg").read_bytes()


@pytest.mark.parametrize("ref", ["../outside.png", "link.png", str(Path("/etc/hostname"))])
def test_media_root_still_confines(tmp_path: Path, ref: str) -> None:
    path, root = _llava_with_image_folder(tmp_path)
    (root / "link.png").symlink_to(tmp_path / "coco" / "outside.png")
    path.write_text(json.dumps([llava_record(0, image=ref)]))
    (item,) = read_all(open_source(path, media_root=root))
    assert isinstance(item, Rejected) and item.reason == "media_path_outside"
    assert str(root) in item.detail


def test_missing_image_names_the_folder_searched_and_the_option(tmp_path: Path) -> None:
    path, root = _llava_with_image_folder(tmp_path)
    path.write_text(json.dumps([llava_record(0, image="000000000000.jpg")]))
    for media_root, searched in ((None, path.parent), (root, root)):
        (item,) = read_all(open_source(path, media_root=media_root))
        assert isinstance(item, Rejected) and item.reason == "image_missing"
        assert str(searched.resolve()) in item.detail
        assert "--media-root" in item.detail and "input.media_root" in item.detail


def test_missing_media_root_is_source_error(tmp_path: Path) -> None:
    path, _ = _llava_with_image_folder(tmp_path)
    with pytest.raises(SourceError, match="media root"):
        open_source(path, media_root=tmp_path / "nope")
