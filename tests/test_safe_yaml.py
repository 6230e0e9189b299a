"""YAML from files datagen did not write: nested aliases, deep nesting, huge files and odd values are refused fast."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from deadline import within

from datagen.safe_yaml import MAX_YAML_BYTES, YAMLRefusedError, load_yaml, read_yaml


def billion_laughs(levels: int = 8) -> str:
    """The 561-byte attack of issue 12: each level is a list of ten aliases of the level below."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


HOSTILE = [
    (billion_laughs(8), "aliases"),
    (billion_laughs(9), "aliases"),
    ("a: &x [1, *x]\n", "contains it"),
    ("[" * 100_000, "deeper"),
    ("a:\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(200)), "deeper"),
    ("n: " + "9" * 5000 + "\n", "cannot be read"),
    ("- " * 70 + "x\n", "deeper"),
]


@pytest.mark.parametrize(("text", "says"), HOSTILE, ids=["8-levels", "9-levels", "recursive", "brackets", "indent",
                                                         "huge-int", "dashes"])  # fmt: skip
def test_hostile_yaml_is_refused_fast(text: str, says: str, tmp_path: Path) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    with within(5.0, "read_yaml"), pytest.raises(YAMLRefusedError, match=says):
        read_yaml(path)


def test_size_is_capped_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text("k: " + "x" * MAX_YAML_BYTES + "\n")
    with pytest.raises(YAMLRefusedError, match="larger than"):
        read_yaml(path)
    path.write_bytes(b"k: \xff\xfe\n")
    with pytest.raises(YAMLRefusedError, match="not UTF-8"):
        read_yaml(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("name: demo\nsteps: [{step: tts}]\n", {"name": "demo", "steps": [{"step": "tts"}]}),
        # anchors and merge keys in a hand-written manifest stay usable when they are small
        ("base: &b {rate: 16000, n: 2}\nx: {<<: *b, n: 3}\ny: [*b, *b]\n",
         {"base": {"rate": 16000, "n": 2}, "x": {"rate": 16000, "n": 3}, "y": [{"rate": 16000, "n": 2}] * 2}),
        (billion_laughs(3), yaml.safe_load(billion_laughs(3))),  # 1,111 values: fine
    ],
    ids=["empty", "plain", "anchors", "small-aliases"],
)  # fmt: skip
def test_ordinary_yaml_loads_like_safe_load(text: str, expected: object) -> None:
    assert load_yaml(text) == expected


def test_refusal_is_a_yaml_error() -> None:
    """Callers that already catch yaml.YAMLError handle a refusal like any unreadable YAML."""
    assert issubclass(YAMLRefusedError, yaml.YAMLError)
