"""Problems, scripted generators and manifests shared by the CoT / DPO / TRL tests (not a test module)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datagen.backends.base import Sampling
from datagen.manifest import load_manifest
from datagen.records import Message, Sample
from datagen.testing import tiny_png, write_manifest


def problem(pid: str, question: str = "Tom has 3 apples and buys 5 more. How many?", answer: str = "3 + 5 = 8. #### 8"):
    return Sample(id=pid, messages=(Message("user", question), Message("assistant", answer)), meta={"source_index": 0})


class Scripted:
    """A TextGenerator double that replies round by round from a script per question (exact control of rounds)."""

    engine = "scripted"

    def __init__(self, script: dict[str, list[list[Any] | None]]) -> None:
        self.script = {key: list(rounds) for key, rounds in script.items()}
        self.calls: list[tuple[str, int, Sampling]] = []

    def describe(self) -> dict[str, Any]:
        return {"engine": self.engine, "model": "script"}

    def generate(self, conversations: list[Any], n: int = 1, sampling: Sampling | None = None) -> list[Any]:
        out = []
        for conv in conversations:
            prompt = conv[-1].content
            key = next(k for k in self.script if k in prompt)
            self.calls.append((key, n, sampling or Sampling()))
            rounds = self.script[key]
            out.append(rounds.pop(0) if rounds else ["I give up."] * n)
        return out


RIGHT = [
    "Tom starts with 3 apples. He buys 5 more, so 3 + 5 = 8. The answer is 8.",
    "Adding the apples he bought to the ones he had gives eight in all. The answer is 8.",
    "5 plus 3 is 8 apples altogether, so the answer is 8.",
]
WRONG = ["He has 3 and gets 5, 3 * 5 = 15. The answer is 15.", "I think it is 2. The answer is 2."]


ANSWERS = {  # wrong answers come with their (wrong) work: a bare wrong answer is no usable DPO "rejected"
    "apples": [
        "3 + 5 = 8. The answer is 8.",
        "Three and five make eight. The answer is 8.",
        "He buys 5 for each of his 3, so 3 * 5 = 15. The answer is 15.",
    ],
    "pencils": [
        "12 - 4 = 8, so the answer is 8.",
        "12 + 4 = 16, so the answer is 16.",
        "It leaves 7, so the answer is 7.",
    ],
    "oranges": ["6 * 4 = 25. The answer is 25.", "The answer is 10."],  # never right
    "circles": ["I count 3 circles. The answer is 3.", "I count 4 circles. The answer is 4."],
}
FIXED = "Six bags of four oranges: 6 * 4 = 24. The answer is 24."


def write_problems(folder: Path, *, image: bool = False) -> Path:
    rows: list[dict[str, Any]] = [
        {"id": "p0", "question": "Tom has 3 apples and buys 5 more. How many apples?", "answer": "3 + 5 = 8 #### 8"},
        {"id": "p1", "question": "A box holds 12 pencils; 4 are given away. How many pencils?", "answer": "8"},
        {"id": "p2", "question": "6 bags with 4 oranges each. How many oranges?", "answer": "6 * 4 = 24 #### 24"},
    ]
    if image:
        (folder / "img").mkdir(exist_ok=True)
        (folder / "img" / "c.png").write_bytes(tiny_png())
        rows.append(
            {"id": "p3", "question": "How many circles are in the picture?", "answer": "3", "images": ["img/c.png"]}
        )
    path = folder / "problems.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    return path


def manifest(tmp: Path, step: dict[str, Any], data: Path, exports: list[str]) -> Any:
    responses = {"student's solution": [FIXED], **ANSWERS}  # first: the correction prompt quotes the question
    data_ = {
        "name": f"test-{step['step']}",
        "seed": 11,
        "input": {"path": str(data)},
        "output": {"path": str(tmp / "out"), "shard_size": 2, "exports": exports},
        "backends": {"lm": {"engine": "fake_llm", "responses": responses}},
        "steps": [{"generator": "lm", "n": 6, "round_size": 2, **step}],
    }
    return load_manifest(write_manifest(tmp / "m.yaml", data_))
