"""Tests for the seeded voice pool: reproducible per (seed, id, turn), weighted, within the speed range."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from datagen.voices import VoiceChoice, draw_voice

ENGINES = {"tts_a": "fake_tts", "tts_b": "piper"}
POOL = [
    VoiceChoice(tts="tts_a", voice="alpha", speed=(0.8, 1.2)),
    VoiceChoice(tts="tts_b", voice=None, speed=(1.5, 2.0)),
]


def test_same_key_same_voice() -> None:
    for sample_id in ("a", "rec-0001", "x" * 200, ""):
        for turn in (0, 3):
            first = draw_voice(POOL, 7, sample_id, turn, ENGINES)
            again = draw_voice(list(POOL), 7, sample_id, turn, dict(ENGINES))
            assert first == again


@pytest.mark.parametrize(
    ("seed", "turn", "changed"),
    [(8, 0, "seed"), (7, 1, "turn")],
)
def test_seed_and_turn_change_the_draw(seed: int, turn: int, changed: str) -> None:
    ids = [f"rec-{i}" for i in range(50)]
    base = [draw_voice(POOL, 7, i, 0, ENGINES) for i in ids]
    other = [draw_voice(POOL, seed, i, turn, ENGINES) for i in ids]
    assert base != other, f"changing the {changed} changed nothing"


def test_draws_differ_across_ids() -> None:
    pool = [VoiceChoice(tts="tts_a", speed=(0.5, 2.0))]
    voices = [draw_voice(pool, 0, f"id-{i}", 0, ENGINES) for i in range(50)]
    assert len({v.speed for v in voices}) > 1
    assert len({v.seed for v in voices}) > 1


@pytest.mark.parametrize("speed", [(0.8, 1.2), (1.0, 1.0), (0.25, 4.0), (1.5, 1.6)])
def test_speed_within_range(speed: tuple[float, float]) -> None:
    pool = [VoiceChoice(tts="tts_a", speed=speed)]
    speeds = [draw_voice(pool, 3, f"id-{i}", i % 3, ENGINES).speed for i in range(300)]
    lo, hi = speed
    assert all(lo <= s <= hi for s in speeds)
    if lo < hi:
        assert min(speeds) < lo + (hi - lo) * 0.2 and max(speeds) > hi - (hi - lo) * 0.2  # spans the range


def test_voice_fields_follow_the_pool_entry() -> None:
    for i in range(200):
        voice = draw_voice(POOL, 1, f"id-{i}", 0, ENGINES)
        assert voice.backend in ENGINES
        choice = next(c for c in POOL if c.tts == voice.backend)
        assert voice.engine == ENGINES[voice.backend]
        assert voice.name == (choice.voice or "")
        assert choice.speed[0] <= voice.speed <= choice.speed[1]
        assert 0 <= voice.seed < 2**31


@pytest.mark.parametrize(("weights", "tolerance"), [((9.0, 1.0), 0.03), ((1.0, 1.0), 0.04), ((1.0, 3.0), 0.04)])
def test_weights(weights: tuple[float, float], tolerance: float) -> None:
    pool = [VoiceChoice(tts="tts_a", weight=weights[0]), VoiceChoice(tts="tts_b", weight=weights[1])]
    n = 2000
    counts = Counter(draw_voice(pool, 0, f"id-{i}", 0, ENGINES).backend for i in range(n))
    share = counts["tts_a"] / n
    assert abs(share - weights[0] / sum(weights)) < tolerance, counts


def test_default_speed_is_one() -> None:
    pool = [VoiceChoice(tts="tts_a")]
    assert {draw_voice(pool, 0, f"id-{i}", 0, ENGINES).speed for i in range(20)} == {1.0}


@pytest.mark.parametrize(
    "fields",
    [
        {"speed": (1.2, 1.0)},  # low above high
        {"speed": (0.1, 1.0)},  # too slow
        {"speed": (1.0, 5.0)},  # too fast
        {"speed": (0.0, 0.0)},
        {"speed": (-1.0, 1.0)},
        {"speed": (1.0,)},
        {"speed": "fast"},
        {"weight": 0},
        {"weight": -1},
        {"spead": (1.0, 1.0)},  # unknown key
        {"tts": None},
    ],
)
def test_invalid_choice_rejected(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        VoiceChoice.model_validate({"tts": "tts_a", **fields})


@pytest.mark.parametrize("speed", [(0.25, 0.25), (4.0, 4.0), (0.25, 4.0), [0.9, 1.1]])
def test_valid_speed_bounds(speed: tuple[float, float]) -> None:
    assert VoiceChoice.model_validate({"tts": "t", "speed": speed}).speed == tuple(speed)
