"""WER-gate calibration: the benign-error heuristic, the threshold table and the recommendation rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datagen.calibrate import GateSample, benign_span, calibrate, gate_samples, likely_ok, recommend


@pytest.mark.parametrize(
    ("ref", "hyp", "benign"),
    [
        (["color"], ["colors"], True),  # plural ending
        (["color", "is"], ["colors"], True),  # "color's" heard as "colors"
        (["some", "one"], ["someone"], True),  # merge
        (["walked"], ["walks"], True),  # inflection
        (["3d"], ["three", "d"], True),  # digits: normalization-sensitive
        (["shapes"], ["shades"], False),  # one letter apart, but a real mishearing
        (["cat"], ["bat"], False),
        (["in"], ["on"], False),  # stem too short to call it an ending
        (["red"], ["green"], False),
        ([], ["the"], False),  # inserted word
        (["the"], [], False),  # dropped word
    ],
)
def test_benign_span(ref: list[str], hyp: list[str], benign: bool) -> None:
    assert benign_span(ref, hyp) is benign


@pytest.mark.parametrize(
    ("text", "transcript", "ok"),
    [
        ("Which color is the circle?", "which colors the circle.", True),
        ("How many red circles?", "How many red circles?", True),
        ("Are there more blue shapes?", "Are there more blue shades?", False),
        ("Which shape is blue?", "What shape is blue?", False),
        ("Count the squares in the picture", "Count the squares", False),
        ("Is it gray?", "is it grey", True),  # equal after normalization: no error span at all
        ("Anything", None, False),  # ASR failed
    ],
)
def test_likely_ok(text: str, transcript: str | None, ok: bool) -> None:
    assert likely_ok(text, transcript) is ok


S = GateSample
SYNTHETIC = [S("a", 0.0, True), S("b", 0.1, True), S("c", 0.25, True), S("d", 0.3, False), S("e", 0.5, False)]


@pytest.mark.parametrize(
    ("threshold", "kept", "yield_", "false_rejects", "false_accepts"),
    [
        (0.0, 1, 0.2, 2, 0),  # b and c are likely fine but dropped
        (0.1, 2, 0.4, 1, 0),
        (0.25, 3, 0.6, 0, 0),
        (0.3, 4, 0.8, 0, 1),  # d has a real error and is kept
        (1.0, 5, 1.0, 0, 2),
    ],
)
def test_calibrate_rows(threshold: float, kept: int, yield_: float, false_rejects: int, false_accepts: int) -> None:
    (row,) = calibrate(SYNTHETIC, [threshold])
    assert (row["kept"], row["yield"], row["false_rejects"], row["false_accepts"]) == (
        kept,
        yield_,
        false_rejects,
        false_accepts,
    )
    assert row["kept"] + row["dropped"] == len(SYNTHETIC)
    assert row["false_accept_share"] == (round(false_accepts / kept, 4) if kept else 0.0)


@pytest.mark.parametrize(
    ("target", "max_fa", "expected", "fallback"),
    [
        (0.6, 0.05, 0.25, False),  # smallest threshold reaching 60 %
        (0.4, 0.05, 0.1, False),
        (0.8, 0.3, 0.3, False),  # 1 false accept of 4 kept is within 30 %
        (0.8, 0.05, 0.25, True),  # 80 % needs a false accept: fall back to the largest clean threshold
        (1.0, 0.0, 0.25, True),
    ],
)
def test_recommend(target: float, max_fa: float, expected: float, fallback: bool) -> None:
    rows = calibrate(SYNTHETIC, [0.0, 0.1, 0.2, 0.25, 0.3, 0.5, 1.0])
    rec = recommend(rows, target_yield=target, max_false_accept=max_fa)
    assert rec["max_wer"] == expected
    assert ("no threshold reaches" in rec["reason"]) is fallback
    assert f"{target:.0%}" in rec["rule"]


def test_recommend_without_data() -> None:
    assert recommend(calibrate([], [0.1]))["max_wer"] is None
    all_bad = calibrate([S("x", 0.0, False)], [0.0, 0.5])
    assert recommend(all_bad)["max_wer"] is None


def test_gate_samples_take_the_worst_turn_and_need_every_turn_ok() -> None:
    turns = [
        {"id": "a", "text": "Which color is it?", "transcript": "which colors it", "wer": 0.5, "status": "dropped"},
        {"id": "a", "text": "Hello there", "transcript": "hello there", "wer": 0.0, "status": "dropped"},
        {"id": "b", "text": "red square", "transcript": "red square", "wer": 0.0, "status": "kept"},
        {"id": "b", "text": "blue shapes", "transcript": "blue shades", "wer": 0.5, "status": "kept"},
        {"id": "c", "text": "no score", "transcript": None, "wer": None},
    ]
    got = {s.id: s for s in gate_samples(turns)}
    assert set(got) == {"a", "b"}
    assert (got["a"].wer, got["a"].likely_ok, got["a"].kept) == (0.5, True, False)
    assert (got["b"].wer, got["b"].likely_ok, got["b"].kept) == (0.5, False, True)


def test_calibrate_wer_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from datagen.cli import main
    from datagen.manifest import load_manifest
    from datagen.run import run
    from datagen.testing import fake_manifest, write_manifest, write_swift_dataset

    data = write_swift_dataset(tmp_path / "data", n=6)
    out = tmp_path / "out"
    run(load_manifest(write_manifest(tmp_path / "m.yaml", fake_manifest(data, out, asr={"word_error_rate": 0.2}))))
    assert main(["calibrate-wer", str(out), "--out", str(tmp_path / "cal"), "--target-yield", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "recommended max_wer" in printed and "6 samples at the gate" in printed
    result = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert result["samples"] == 6 and result["current_max_wer"] == 0.2
    assert [r["yield"] for r in result["table"]] == sorted(r["yield"] for r in result["table"])
    # the fake ASR writes "zzz" for a word: never benign, so exactly the perfect transcripts (kept at 0) are ok
    assert result["likely_ok"] == result["table"][0]["kept"] < 6
    assert (tmp_path / "cal" / "calibration.png").read_bytes()[:4] == b"\x89PNG"
