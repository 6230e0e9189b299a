"""dedup: exact text (normalized), exact audio (PCM), near duplicates (MinHash LSH), and order/idempotence."""

from __future__ import annotations

import numpy as np
import pytest

from datagen.records import Audio, Image, Message, Sample
from datagen.testing import tiny_png
from filters.dedup import Dedup, DedupConfig, DedupIndex, audio_hash, minhash, shingles, text_hash

RED, BLUE = Image(tiny_png((200, 0, 0))), Image(tiny_png((0, 0, 200)))
LONG = "Look at the picture and tell me how many small red circles are drawn next to the big blue square on the left"


def sample(sid: str, query: object, answer: str = "Three.", *, image: Image | None = RED, audio=None) -> Sample:
    audios = () if audio is None else (Audio(np.asarray(audio, dtype=np.float32), 16000),)
    return Sample(
        id=sid,
        messages=(Message("user", query, audio=0 if audios else None), Message("assistant", answer)),  # type: ignore[arg-type]
        images=(image,) if image else (),
        audios=audios,
    )


def run(samples: list[Sample], **config) -> dict[str, tuple[str, str]]:
    """id -> (reason, detail) for every sample, "" for kept ones, through one step instance in order."""
    step = Dedup(DedupConfig(**config))
    out = step.process(samples)
    return {s.id: (getattr(o, "reason", ""), getattr(o, "detail", "")) for s, o in zip(samples, out, strict=True)}


def test_scorers() -> None:
    assert shingles("a b c d", 3) == {"a b c", "b c d"} and shingles("a b", 3) == {"a b"} and shingles("", 3) == {""}
    assert text_hash("x") == text_hash("x") != text_hash("y")
    wave = np.linspace(-1, 1, 1000).astype(np.float32)
    decoded = Audio.from_bytes(Audio(wave, 16000).to_wav_bytes())  # the stored 16-bit form
    assert audio_hash(decoded.array, 16000) == audio_hash(decoded.array.copy(), 16000) != audio_hash(wave[::-1], 16000)
    assert audio_hash(wave, 16000) != audio_hash(wave, 22050)
    a, b = minhash(shingles(LONG.lower())), minhash(shingles(LONG.lower().replace("big", "large")))
    assert 0.6 < a.jaccard(b) < 1.0


@pytest.mark.parametrize(
    ("second", "config", "reason"),
    [
        (sample("b", "What's the colour of the square?"), {}, "duplicate_text"),  # same after normalization
        (sample("b", "WHAT IS THE COLOR OF THE SQUARE"), {}, "duplicate_text"),
        (sample("b", "What is the color of the square?", image=BLUE), {}, ""),  # other image: a new sample
        (sample("b", "What is the color of the square?", image=BLUE), {"with_images": False}, "duplicate_text"),
        (sample("b", "What is the color of the square?", answer="Four."), {"text": "query"}, "duplicate_text"),
        (sample("b", "What is the color of the square?", answer="Four."), {"near": False}, ""),
        (sample("b", "What is the color of the circle?"), {}, ""),  # different text
        (sample("b", "What is the color of the square?"), {"exact_text": False, "near": False}, ""),
    ],
)
def test_exact_text_table(second: Sample, config: dict, reason: str) -> None:
    first = sample("a", "What is the color of the square?")
    result = run([first, second], **config)
    assert result["a"] == ("", "")
    assert result["b"][0] == reason
    if reason:
        assert result["b"][1] == "duplicates a"


def test_near_duplicates_by_threshold() -> None:
    edited = LONG.replace("big", "large")  # one word of 24 changed
    far = "Describe the weather shown in this photograph of a mountain village at dawn in winter please"
    result = run([sample("a", LONG), sample("b", edited), sample("c", far)], text="query", near_threshold=0.6)
    assert result["a"] == ("", "") and result["c"] == ("", "")
    assert result["b"][0] == "near_duplicate" and result["b"][1].startswith("duplicates a (Jaccard ~")
    assert run([sample("a", LONG), sample("b", edited)], text="query", near_threshold=1.0)["b"] == ("", "")


def test_exact_audio() -> None:
    rng = np.random.default_rng(0)
    clip = rng.uniform(-0.5, 0.5, 4000)
    samples = [
        sample("a", "First question about the picture?", audio=clip),
        sample("b", "A different question entirely?", audio=clip),
        sample("c", "Yet another question here?", audio=clip * 0.5),
        sample("d", "Empty audio is never a duplicate?", audio=np.zeros(0)),
        sample("e", "Empty audio twice is still not?", audio=np.zeros(0)),
    ]
    result = run(samples)
    assert result == {
        "a": ("", ""),
        "b": ("duplicate_audio", "duplicates a"),
        "c": ("", ""),
        "d": ("", ""),
        "e": ("", ""),
    }
    assert run(samples[:2], exact_audio=False)["b"] == ("", "")


def test_the_first_occurrence_wins_and_rejudging_the_same_id_is_not_a_duplicate() -> None:
    step = Dedup()
    a, b = sample("a", LONG), sample("b", LONG)
    assert [getattr(o, "reason", "") for o in step.process([b, a])] == ["", "duplicate_text"]
    assert step.process([b])[0].id == "b" and not hasattr(step.process([b])[0], "reason")  # a retry of b
    assert step.process([a])[0].detail == "duplicates b"


def test_empty_and_malformed() -> None:
    result = run([sample("a", ""), sample("b", ""), sample("c", 42), sample("d", None)], near=True)
    assert result["a"] == ("", "") and result["b"] == ("duplicate_text", "duplicates a")
    assert result["c"][0] == result["d"][0] == "no_text"
    nan_audio = sample("e", "Question with a broken clip?", audio=np.full(100, np.nan))
    assert run([nan_audio])["e"] == ("", "")  # hashed as silence; audio_quality is the filter that judges it


def test_scores_in_meta() -> None:
    out = Dedup().process([sample("a", LONG, audio=np.ones(10) * 0.1), sample("b", LONG)])
    assert len(out[0].meta["text_hash"]) == 40 and len(out[0].meta["audio_hashes"]) == 1
    assert out[1].reason == "duplicate_text" and out[1].sample.meta["text_hash"] == out[0].meta["text_hash"]


def test_index_as_a_library() -> None:
    index = DedupIndex(near_threshold=0.5)
    m = minhash(shingles(LONG))
    assert index.check("a", "k", [], m) is None
    index.add("a", "k", [], m)
    assert index.check("b", "other", [], m) == ("near_duplicate", "a", 1.0)
    assert index.check("b", "other", [], m, group="another image") is None
