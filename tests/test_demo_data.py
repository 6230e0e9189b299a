"""Tests for the demo shapes dataset: reproducible, valid ms-swift, truthful, and the shipped copy never rots."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from datagen.demo_data import COLORS, KINDS, SIGN_TOP, SIZE, Example, Scene, generate, write_shapes_dataset

SHIPPED = Path(__file__).resolve().parents[1] / "manifests" / "data" / "shapes"
SHIPPED_N, SHIPPED_SEED = 40, 0
WORD_NUMS = {"no": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "both": 2}
COLOR_RE = "|".join(COLORS)
KIND_RE = "|".join(KINDS)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _records(jsonl: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]


def _pairs(record: dict[str, Any]) -> list[tuple[str, str]]:
    msgs = record["messages"]
    return [(msgs[i]["content"].removeprefix("<image>"), msgs[i + 1]["content"]) for i in range(0, len(msgs), 2)]


def _first_number(text: str) -> int:
    """First spelled count in an answer ("There are three ..." -> 3, "No, there is no ..." -> 0)."""
    nums = _numbers(text)
    assert nums, f"no count in answer: {text!r}"
    return nums[0]


def _numbers(text: str) -> list[int]:
    """All spelled counts in an answer after its Yes/No, in order."""
    body = re.sub(r"^(Yes|No), ", "", text).lower()
    return [WORD_NUMS[w] for w in re.findall(r"\b(" + "|".join(WORD_NUMS) + r")\b", body)]


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return generate(SHIPPED_N, SHIPPED_SEED) + generate(80, 1)


def test_generation_is_byte_deterministic(tmp_path: Path) -> None:
    a = write_shapes_dataset(tmp_path / "a", n=12, seed=3)
    b = write_shapes_dataset(tmp_path / "b", n=12, seed=3)
    assert a.name == b.name == "train.jsonl"
    files_a, files_b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert len(files_a) == 13
    assert files_a == files_b
    assert _files(write_shapes_dataset(tmp_path / "c", n=12, seed=4).parent) != files_a


def test_rewrite_removes_stale_images(tmp_path: Path) -> None:
    write_shapes_dataset(tmp_path, n=6, seed=0)
    write_shapes_dataset(tmp_path, n=3, seed=0)
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [f"shapes-{i:04d}.png" for i in range(3)]


def test_shipped_data_is_valid_ms_swift() -> None:
    records = _records(SHIPPED / "train.jsonl")
    assert len(records) == SHIPPED_N
    assert len({r["id"] for r in records}) == SHIPPED_N
    multi = 0
    for r in records:
        assert set(r) == {"id", "messages", "images"}
        msgs = r["messages"]
        assert len(msgs) in (2, 4)
        multi += len(msgs) == 4
        assert [m["role"] for m in msgs] == ["user", "assistant"] * (len(msgs) // 2)
        assert all(set(m) == {"role", "content"} and m["content"].strip() for m in msgs)
        assert sum(m["content"].count("<image>") for m in msgs) == len(r["images"]) == 1
        assert msgs[0]["content"].startswith("<image>")
        assert r["images"] == [f"images/{r['id']}.png"]
        for img in r["images"]:
            with Image.open(SHIPPED / img) as im:
                assert im.size == (SIZE, SIZE) and im.format == "PNG"
        for question, _ in _pairs(r):
            assert 5 <= len(question.split()) <= 20, question
    assert multi == round(SHIPPED_N / 5)
    assert sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file()) < 500_000


def test_shipped_data_matches_fresh_generation(tmp_path: Path) -> None:
    """Compare JSONL bytes and decoded pixels (not PNG bytes), so a zlib upgrade alone does not fail this."""
    fresh = write_shapes_dataset(tmp_path, n=SHIPPED_N, seed=SHIPPED_SEED).parent
    hint = "shipped data is stale: run python -m datagen.demo_data --out manifests/data/shapes --n 40 --seed 0"
    assert (SHIPPED / "train.jsonl").read_bytes() == (fresh / "train.jsonl").read_bytes(), hint
    shipped_imgs = sorted(p.name for p in (SHIPPED / "images").iterdir())
    assert shipped_imgs == sorted(p.name for p in (fresh / "images").iterdir()), hint
    for name in shipped_imgs:
        with Image.open(SHIPPED / "images" / name) as a, Image.open(fresh / "images" / name) as b:
            assert np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB"))), f"{name}: {hint}"


def test_scenes_are_well_formed(examples: list[Example]) -> None:
    for ex in examples:
        shapes = ex.scene.shapes
        assert 1 <= len(shapes) <= 6
        bottom = SIGN_TOP if ex.scene.text else SIZE
        for i, s in enumerate(shapes):
            assert s.r <= s.cx <= SIZE - s.r and s.r <= s.cy <= bottom - s.r
            assert all(math.hypot(s.cx - o.cx, s.cy - o.cy) > s.r + o.r for o in shapes[i + 1 :])
    assert any(ex.scene.text for ex in examples) and any(not ex.scene.text for ex in examples)


def test_image_shows_exactly_the_scene(examples: list[Example]) -> None:
    """Each palette colour forms one blob per object of that colour, and each object's centre has its colour."""
    ndimage = pytest.importorskip("scipy.ndimage")
    for ex in examples:
        px = np.asarray(ex.image.convert("RGB"))
        for name, rgb in COLORS.items():
            mask = np.all(px == np.array(rgb, dtype=np.uint8), axis=-1)
            _, n_blobs = ndimage.label(mask, structure=np.ones((3, 3)))
            assert n_blobs == ex.scene.count(color=name), (ex.record["id"], name)
        for s in ex.scene.shapes:
            cy = s.cy + (s.r // 4 if s.kind == "triangle" else 0)  # a triangle's mass sits below its circle centre
            assert tuple(px[cy, s.cx]) == COLORS[s.color], (ex.record["id"], s)


def _check_pair(scene: Scene, q: str, a: str) -> bool:
    """Check one question/answer against the scene; returns whether the question type was recognised."""
    yes_no = a.split(",")[0]
    counting = q.startswith(("How many", "Can you count", "Count the"))
    if counting and (m := re.search(rf"\b({COLOR_RE}) ({KIND_RE})s\b", q)):
        assert _first_number(a) == scene.count(m.group(2), m.group(1)) and m.group(1) in a
    elif counting and (m := re.search(rf"\b({KIND_RE})s\b", q)):
        assert _first_number(a) == scene.count(m.group(1))
    elif counting or q.startswith("Not counting the sign"):
        assert _first_number(a) == len(scene.shapes)
    elif m := re.fullmatch(r"Are there more than (\d+) shapes in the picture\?", q):
        assert yes_no == ("Yes" if len(scene.shapes) > int(m.group(1)) else "No")
        assert _first_number(a) == len(scene.shapes)
    elif m := re.fullmatch(rf"(?:Is there a|Do you see any) ({COLOR_RE}) ({KIND_RE})s? .*", q):
        k = scene.count(m.group(2), m.group(1))
        assert yes_no == ("Yes" if k else "No")
        assert _first_number(a) == k
    elif m := re.fullmatch(rf"Are there more ({COLOR_RE}) shapes vs\. ({COLOR_RE}) shapes in the picture\?", q):
        k1, k2 = scene.count(color=m.group(1)), scene.count(color=m.group(2))
        assert yes_no == ("Yes" if k1 > k2 else "No")
        assert _numbers(a) == ([k1] if k1 == k2 else [k1, k2])
    elif q.startswith(("What color", "Which color", "Tell me the color")):
        kind = re.search(rf"\b({KIND_RE})s?\b", q)
        assert kind
        assert {s.color for s in scene.shapes if s.kind == kind.group(1)} == {a.rstrip(".").split()[-1]}
    elif q.startswith(("Which shape", "What shape", "What kind of shape", "Which kind of shape")):
        color = re.search(rf"\b({COLOR_RE})\b", q)
        assert color
        kinds = {s.kind for s in scene.shapes if s.color == color.group(1)}
        assert len(kinds) == 1 and a.rstrip(".").split()[-1].removesuffix("s") == kinds.pop()
    elif m := re.fullmatch(r"Is the number (\d+) written on the sign\?", q):
        assert yes_no == ("Yes" if m.group(1) == scene.text else "No") and f"number {scene.text}" in a
    elif any(w in q for w in ("sign", "label", "text", "writing")):
        assert (f'"{scene.text}"' in a) if scene.text else yes_no == "No"
    else:
        return False
    return True


def test_answers_are_truthful(examples: list[Example]) -> None:
    checked = counting = 0
    for ex in examples:
        for q, a in _pairs(ex.record):
            assert _check_pair(ex.scene, q, a), f"unrecognised question template: {q!r}"
            checked += 1
            counting += q.lower().startswith(("how many", "can you count", "count the"))
    assert counting >= 20 and checked > len(examples)


def test_question_templates_are_diverse(examples: list[Example]) -> None:
    questions = {q for ex in examples for q, _ in _pairs(ex.record)}
    openers = {" ".join(q.split()[:2]) for q in questions}
    assert len(openers) >= 10
    tts = [q for q in questions if re.search(r"\d|e\.g\.|vs\.", q)]
    assert 0 < len(tts) < len(questions) / 3
