"""Table tests for `wer`: normalized by default, raw on request, and defined on empty inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from filters.wer import wer, wer_details

REAL_QUERY = ("How many red circles are in the image?", "how many red circles are in the image")


@pytest.mark.parametrize(
    ("reference", "hypothesis", "normalize", "expected"),
    [
        # identical
        ("the red circle is big", "the red circle is big", True, 0.0),
        ("the red circle is big", "the red circle is big", False, 0.0),
        # one substitution in four words
        ("the red circle left", "the blue circle left", True, 0.25),
        ("the red circle left", "the blue circle left", False, 0.25),
        # one deletion / one insertion in four words
        ("the red circle left", "the circle left", True, 0.25),
        ("the red circle left", "the red big circle left", True, 0.25),
        # case and punctuation: free when normalized, errors when raw
        ("The red circle.", "the red circle", True, 0.0),
        ("The red circle.", "the red circle", False, 2 / 3),
        REAL_QUERY + (True, 0.0),
        REAL_QUERY + (False, 0.25),
        # numbers: spoken vs digits
        ("There are 3 circles", "there are three circles", True, 0.0),
        ("There are 3 circles", "There are three circles", False, 0.25),
        ("It costs $3.50", "it costs three dollars fifty", True, 0.0),
        ("It costs $3.50", "It costs three dollars fifty", False, 1.0),
        ("Meet at 3:30 pm", "meet at three thirty p.m.", True, 0.0),
        # a wrong number still counts
        ("There are 15 circles", "there are fifty circles", True, 0.25),
        # empty inputs
        ("", "", True, 0.0),
        ("", "", False, 0.0),
        ("   ", "\n", False, 0.0),
        ("[Music]", "", True, 0.0),
        ("", "hello there", True, 1.0),
        ("", "hello there", False, 1.0),
        ("hello there", "", True, 1.0),
        ("hello there", "um", True, 1.0),
        # more errors than reference words
        ("red", "the big blue square", True, 4.0),
    ],
)
def test_wer(reference: str, hypothesis: str, normalize: bool, expected: float) -> None:
    assert wer(reference, hypothesis, normalize=normalize) == pytest.approx(expected)


def test_normalizes_by_default() -> None:
    assert wer(*REAL_QUERY) == 0.0
    assert wer(*REAL_QUERY) < wer(*REAL_QUERY, normalize=False)


def test_returns_float() -> None:
    assert isinstance(wer("a b", "a b"), float)
    assert isinstance(wer("", ""), float)


@pytest.mark.parametrize(
    ("reference", "hypothesis", "counts"),
    [
        ("the red circle left", "the blue circle left", (3, 1, 0, 0)),
        ("the red circle left", "the circle left", (3, 0, 1, 0)),
        ("the red circle left", "the red big circle left", (4, 0, 0, 1)),
        ("", "two words", (0, 0, 0, 2)),
        ("two words", "", (0, 0, 2, 0)),
    ],
)
def test_wer_details_counts(reference: str, hypothesis: str, counts: tuple[int, int, int, int]) -> None:
    d = wer_details(reference, hypothesis)
    assert (d["hits"], d["substitutions"], d["deletions"], d["insertions"]) == counts
    if d["reference_words"]:
        errors = d["substitutions"] + d["deletions"] + d["insertions"]
        assert d["wer"] == pytest.approx(errors / d["reference_words"])


def test_import_does_not_load_transformers() -> None:
    """Importing the module must not pull in transformers eagerly (checked in a fresh interpreter, not timed: a
    wall-clock bound depends on the machine's load, the module list does not)."""
    code = "import sys, filters.wer; assert 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
