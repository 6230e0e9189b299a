"""WebDataset tar shards: folder / file / glob / brace inputs, sharding mid-tar, hostile members and broken tars."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from layout_fixtures import _png, add_member, write_webdataset

from datagen.readers import Source, SourceError, open_source
from datagen.records import Rejected, Sample
from datagen.webdataset_source import WebDatasetSource

IDS = ["webdataset-0", "webdataset-1", "webdataset-2"]


def read_all(source: Source, shard_size: int = 1000, limit: int | None = None) -> list[Sample | Rejected]:
    return [item for shard in source.plan(shard_size, limit).shards for item in source.read(shard)]


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            add_member(tar, name, data)
    return path


def qa(i: int) -> bytes:
    return json.dumps({"question": f"What is shown in picture {i}?", "answer": f"Shape {i}."}).encode()


def good(key: str, i: int = 0) -> list[tuple[str, bytes]]:
    return [(f"{key}.png", _png(i)), (f"{key}.json", qa(i))]


@pytest.mark.parametrize("spelling", ["folder", "glob", "braces"])
def test_inputs_name_the_same_shards(tmp_path: Path, spelling: str) -> None:
    folder = write_webdataset(tmp_path)
    path = {
        "folder": folder,
        "glob": folder / "shard-*.tar",
        "braces": folder / "shard-{000000..000001}.tar",
    }[spelling]
    source = open_source(path)
    assert isinstance(source, WebDatasetSource) and source.plan(10).format == "webdataset"
    items = read_all(source)
    assert [s.id for s in items if isinstance(s, Sample)] == IDS


def test_single_tar_and_explicit_format(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "data.bin", good("a"))  # no .tar suffix: only input.format says so
    (sample,) = read_all(open_source(path, "webdataset"))
    assert isinstance(sample, Sample) and sample.id == "a"
    assert [(m.role, m.content) for m in sample.messages] == [
        ("user", "<image>What is shown in picture 0?"),
        ("assistant", "Shape 0."),
    ]


def test_caption_and_question_text_members(tmp_path: Path) -> None:
    items = read_all(open_source(write_webdataset(tmp_path)))
    sample = items[2]
    assert isinstance(sample, Sample)
    assert sample.meta["layout"] == "columns (answer=caption)"
    assert sample.messages[0].content == "<image>Is the triangle above the circle?"
    assert [img.filename for img in sample.images] == ["webdataset-2.png"]


@pytest.mark.parametrize("shard_size", [1, 2, 3, 5])
@pytest.mark.parametrize("limit", [None, 4])
def test_shards_start_mid_tar(tmp_path: Path, shard_size: int, limit: int | None) -> None:
    write_tar(tmp_path / "a.tar", [m for i in range(3) for m in good(f"a{i}", i)])
    write_tar(tmp_path / "b.tar", [m for i in range(3) for m in good(f"b{i}", i)])
    items = read_all(open_source(tmp_path), shard_size, limit)
    assert [s.id for s in items] == ["a0", "a1", "a2", "b0", "b1", "b2"][:limit]
    assert [s.meta["source_file"] for s in items] == ["a.tar"] * 3 + ["b.tar"] * (3 if limit is None else 1)


def test_glob_of_other_files_is_not_a_webdataset(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="input not found"):
        open_source(tmp_path / "*.jsonl")


@pytest.mark.parametrize("name", ["x.tar.gz", "gzipped.tar"])
@pytest.mark.parametrize("shard_size", [1, 2, 10])
def test_compressed_tar(tmp_path: Path, name: str, shard_size: int) -> None:
    with tarfile.open(tmp_path / name, "w:gz") as tar:
        for i in range(3):
            for member, data in good(f"z{i}", i):
                add_member(tar, member, data)
    items = read_all(open_source(tmp_path / name, "webdataset"), shard_size)
    assert [(s.id, type(s)) for s in items] == [(f"z{i}", Sample) for i in range(3)]


def test_fingerprint_follows_the_tars(tmp_path: Path) -> None:
    path = write_tar(tmp_path / "a.tar", good("a"))
    before = open_source(path).plan(4).fingerprint
    write_tar(path, good("a") + good("b"))
    assert open_source(path).plan(4).fingerprint != before


def test_no_tars_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no .tar files"):
        open_source(tmp_path / "nothing-*.tar")


# (label, members of the bad sample, reason)
BAD: list[tuple[str, list[tuple[str, bytes]], str]] = [
    ("json_invalid", [("bad.png", _png(1)), ("bad.json", b"{nope")], "invalid_json"),
    ("json_array", [("bad.png", _png(1)), ("bad.json", b"[1, 2]")], "malformed_record"),
    ("json_not_utf8", [("bad.json", b'{"question": "\xff"}')], "invalid_utf8"),
    ("caption_only", [("bad.png", _png(1)), ("bad.txt", b"a red square")], "missing_field"),
    ("image_corrupt", [("bad.png", b"not a png"), ("bad.json", qa(1))], "image_unreadable"),
    ("two_jpg_members", [("bad.json", qa(1)), ("bad.JSON", qa(1))], "malformed_record"),
    ("tags_mismatch", [("bad.png", _png(1)), ("bad.json", b'{"question": "<image><image>q"}')], "image_count_mismatch"),
]


@pytest.mark.parametrize(("members", "reason"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_sample_rejected_others_read(tmp_path: Path, members: list[tuple[str, bytes]], reason: str) -> None:
    path = write_tar(tmp_path / "x.tar", good("g0") + members + good("g1", 1))
    items = read_all(open_source(path), shard_size=2)
    assert [type(s) for s in items] == [Sample, Rejected, Sample]
    rejected = items[1]
    assert isinstance(rejected, Rejected)
    assert (rejected.id, rejected.reason) == ("bad", reason), rejected.detail


def test_oversized_member_is_rejected_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = _png(3) + b"\0" * 5000
    path = write_tar(tmp_path / "x.tar", good("g0") + [("big.png", big), ("big.json", qa(3))] + good("g1", 1))
    monkeypatch.setattr(WebDatasetSource, "max_member_bytes", 4000)
    read_sizes: list[int] = []
    real = tarfile.TarFile.extractfile

    def spy(self: tarfile.TarFile, member: tarfile.TarInfo | str) -> object:
        if isinstance(member, tarfile.TarInfo):
            read_sizes.append(member.size)
        return real(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", spy)
    items = read_all(open_source(path))
    assert [(s.id, getattr(s, "reason", "")) for s in items] == [("g0", ""), ("big", "member_too_large"), ("g1", "")]
    assert read_sizes and max(read_sizes) < 4000  # the big member's bytes were never extracted


@pytest.mark.parametrize("shard_size", [1, 2, 3, 10])
def test_repeated_key_later_in_the_tar(tmp_path: Path, shard_size: int) -> None:
    path = write_tar(tmp_path / "x.tar", good("a") + good("b", 1) + good("a", 2) + good("c", 3))
    items = read_all(open_source(path), shard_size)
    assert [(s.id, getattr(s, "reason", "")) for s in items] == [("a", ""), ("b", ""), ("a", "duplicate_id"), ("c", "")]
    assert items[0].images[0].data == _png(0) and items[3].images[0].data == _png(3)  # type: ignore[union-attr]


class CountingFile(io.BytesIO):
    """An in-memory copy of a file that counts the bytes read from it."""

    read_total = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        CountingFile.read_total += len(data)
        return data


def test_a_shard_reads_from_its_first_sample_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    padded = [
        (f"s{i}.json", json.dumps({"question": f"Q{i}?", "answer": "A.", "pad": "x" * 20_000}).encode())
        for i in range(10)
    ]
    path = write_tar(tmp_path / "x.tar", padded)
    source = open_source(path)
    last = source.plan(1).shards[-1]
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: CountingFile(real_open(self, "rb").read()))
    assert [s.id for s in source.read(last)] == ["s9"]
    assert CountingFile.read_total < 3 * 20_000  # not the nine samples before it


def test_dotdot_and_absolute_member_names_are_only_names(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = write_tar(data / "x.tar", good("../evil") + good("/abs/evil", 1) + good("ok", 2))
    before = sorted(p for p in tmp_path.rglob("*"))
    items = read_all(open_source(path))
    assert [s.id for s in items if isinstance(s, Sample)] == ["../evil", "/abs/evil", "ok"]
    assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written anywhere
    assert not Path("/abs").exists()


def _member_offsets(path: Path) -> list[tuple[str, int, int]]:
    with tarfile.open(path) as tar:
        return [(m.name, m.offset, m.offset_data + m.size) for m in tar.getmembers()]


@pytest.mark.parametrize("where", ["in_a_header", "in_data", "before_end_marker", "first_header"])
def test_truncated_tar_rejects_what_it_cannot_read(tmp_path: Path, where: str) -> None:
    path = write_tar(tmp_path / "x.tar", [m for i in range(4) for m in good(f"s{i}", i)])
    offsets = _member_offsets(path)  # s2.json is member 5
    cut = {
        "in_a_header": offsets[5][1] + 100,
        "in_data": offsets[5][2] - 10,
        "before_end_marker": offsets[-1][2] + 1,
        "first_header": 100,
    }[where]
    path.write_bytes(path.read_bytes()[:cut])
    items = read_all(open_source(path))  # never raises
    kept = [s.id for s in items if isinstance(s, Sample)]
    reasons = {s.reason for s in items if isinstance(s, Rejected)}
    assert reasons == {"tar_unreadable"}, [(s.id, getattr(s, "detail", "")) for s in items]
    assert kept == {"in_a_header": ["s0", "s1"], "in_data": ["s0", "s1"], "before_end_marker": ["s0", "s1", "s2"]}.get(
        where, []
    )


def test_json_image_paths_resolve_inside_the_tar_folder(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "p.png").write_bytes(_png(4))
    record = {"question": "What is it?", "answer": "A shape.", "images": ["imgs/p.png"]}
    outside = {"question": "What is it?", "answer": "A shape.", "images": ["../../etc/passwd"]}
    path = write_tar(
        tmp_path / "x.tar", [("in.json", json.dumps(record).encode()), ("out.json", json.dumps(outside).encode())]
    )
    inside, refused = read_all(open_source(path))
    assert isinstance(inside, Sample) and inside.images[0].data == _png(4)
    assert isinstance(refused, Rejected) and refused.reason == "media_path_outside"
