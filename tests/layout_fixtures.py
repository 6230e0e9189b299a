"""Small datasets in each layout users bring (not a test module), schemas from each project's own documentation:

- ms-swift "Custom dataset" docs (AutoPreprocessor): `messages`; sharegpt `{"system", "conversation": [{"human",
  "assistant"}]}`; alpaca `{"system", "instruction", "input", "output"}`; `{"system", "query", "response",
  "history": [[q, a], ...]}`; media in `images` (paths), `<image>` tags in the text.
- LLaVA's instruction data: a JSON array of `{"id", "image", "conversations": [{"from": "human"|"gpt", "value"}]}`
  with `<image>` in the first human turn, the image path relative to the trainer's `--image_folder`.
- The Cauldron (HuggingFaceM4/the_cauldron card): parquet, `images`: list of image structs `{bytes, path}`,
  `texts`: list of `{"user", "assistant", "source"}`, no tags in the text.
- WebDataset: a tar of `KEY.png` + `KEY.json` (or `KEY.txt` caption + `KEY.question.txt`) per sample.
- Plain QA / passage columns under common names (`prompt`/`response`, `text`, ...).

Every writer returns the input path and puts 3 good records with speakable questions there (ids `<layout>-N`).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datagen.testing import tiny_png

QUESTIONS = [
    ("What colour is the square in this picture?", "The square is red."),
    ("How many circles can you see here?", "There are two circles."),
    ("Is the triangle above the circle?", "Yes, it is above the circle."),
]
SYSTEM = "You are a careful visual assistant."


def _png(i: int) -> bytes:
    return tiny_png(((i * 70) % 256, 90, 160), size=24)


def _images(folder: Path, sub: str = "images") -> list[str]:
    (folder / sub).mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(len(QUESTIONS)):
        (folder / sub / f"{i}.png").write_bytes(_png(i))
        names.append(f"{sub}/{i}.png")
    return names


def _jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_messages(folder: Path) -> Path:
    images = _images(folder)
    return _jsonl(
        folder / "swift.jsonl",
        [
            {
                "id": f"messages-{i}",
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": f"<image>{q}"},
                    {"role": "assistant", "content": a},
                ],
                "images": [images[i]],
            }
            for i, (q, a) in enumerate(QUESTIONS)
        ],
    )


def write_sharegpt(folder: Path) -> Path:
    images = _images(folder)
    records = [
        {"system": SYSTEM, "conversation": [{"human": q, "assistant": a}], "images": [images[i]], "id": f"sharegpt-{i}"}
        for i, (q, a) in enumerate(QUESTIONS)
    ]
    return _jsonl(folder / "sharegpt.jsonl", records)


def write_alpaca(folder: Path) -> Path:
    images = _images(folder)
    records = [
        {"id": f"alpaca-{i}", "system": SYSTEM, "instruction": q, "input": "", "output": a, "images": [images[i]]}
        for i, (q, a) in enumerate(QUESTIONS)
    ]
    records[0]["input"] = "Answer in one sentence."
    return _jsonl(folder / "alpaca.jsonl", records)


def write_query_response(folder: Path) -> Path:
    images = _images(folder)
    records = [
        {
            "id": f"query_response-{i}",
            "system": SYSTEM,
            "history": [["<image>Look at this picture.", "I see some shapes."]],
            "query": q,
            "response": a,
            "images": [images[i]],
        }
        for i, (q, a) in enumerate(QUESTIONS)
    ]
    return _jsonl(folder / "query_response.jsonl", records)


def llava_records(images: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"llava-{i}",
            "image": images[i],
            "conversations": [{"from": "human", "value": f"<image>\n{q}"}, {"from": "gpt", "value": a}],
        }
        for i, (q, a) in enumerate(QUESTIONS)
    ]


def write_llava(folder: Path) -> Path:
    path = folder / "llava.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(llava_records(_images(folder))), encoding="utf-8")
    return path


def write_llava_image_folder(folder: Path) -> tuple[Path, Path]:
    """LLaVA-1.5's layout: the JSON in one folder, images under another (`coco/train2017/`): (json, image root)."""
    image_root = folder / "image_root"
    names = [Path(n).name for n in _images(image_root, "coco/train2017")]
    path = folder / "annotations" / "llava.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(llava_records([f"coco/train2017/{n}" for n in names])), encoding="utf-8")
    return path, image_root


def write_cauldron(folder: Path) -> Path:
    rows = [
        {"images": [{"bytes": _png(i), "path": None}], "texts": [{"user": q, "assistant": a, "source": "shapes"}]}
        for i, (q, a) in enumerate(QUESTIONS)
    ]
    schema = pa.schema(
        [
            ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
            (
                "texts",
                pa.list_(pa.struct([("user", pa.string()), ("assistant", pa.string()), ("source", pa.string())])),
            ),
        ]
    )
    path = folder / "cauldron" / "train-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path.parent


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_webdataset(folder: Path) -> Path:
    """Two shards: samples with a .json record, and one with a .txt caption and a .question.txt field."""
    (folder / "wds").mkdir(parents=True, exist_ok=True)
    with tarfile.open(folder / "wds" / "shard-000000.tar", "w") as tar:
        for i, (q, a) in enumerate(QUESTIONS[:2]):
            add_member(tar, f"webdataset-{i}.png", _png(i))
            add_member(tar, f"webdataset-{i}.json", json.dumps({"question": q, "answer": a}).encode())
    with tarfile.open(folder / "wds" / "shard-000001.tar", "w") as tar:
        q, a = QUESTIONS[2]
        add_member(tar, "webdataset-2.png", _png(2))
        add_member(tar, "webdataset-2.txt", a.encode())
        add_member(tar, "webdataset-2.question.txt", q.encode())
    return folder / "wds"


def write_columns(folder: Path) -> Path:
    """QA under other common names: `prompt` / `response`, the image in `image`."""
    images = _images(folder)
    records = [
        {"id": f"columns-{i}", "prompt": q, "response": a, "image": images[i]} for i, (q, a) in enumerate(QUESTIONS)
    ]
    return _jsonl(folder / "columns.jsonl", records)


WRITERS: dict[str, Callable[[Path], Path]] = {
    "messages": write_messages,
    "sharegpt": write_sharegpt,
    "alpaca": write_alpaca,
    "query_response": write_query_response,
    "llava": write_llava,
    "cauldron": write_cauldron,
    "webdataset": write_webdataset,
    "columns": write_columns,
}
