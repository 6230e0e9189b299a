"""hallucination: repeated n-grams and over-long transcripts in `meta["speech"]`, and malformed speech meta."""

from __future__ import annotations

import pytest

from datagen.records import Message, Sample
from filters.hallucination import Hallucination, HallucinationConfig, length_ratio, repetition
from filters.text_stats import words

QUERY = "What color is the large square in the picture?"


def sample(speech: object) -> Sample:
    return Sample(id="s", messages=(Message("user", QUERY, audio=0),), meta={"speech": speech})


def turn(transcript: object, text: object = QUERY) -> dict:
    return {"turn": 0, "text": text, "spoken_text": text, "transcript": transcript, "wer": 0.0}


def judge(s: Sample, **config) -> tuple[bool, str, dict]:
    verdict = Hallucination(HallucinationConfig(**config)).judge(s)
    return verdict.keep, verdict.reason, verdict.scores


def test_scorers() -> None:
    assert words("Thank you. THANK you!") == ["thank", "you", "thank", "you"]
    assert repetition(words("a b c d e f"), 3) == 0.0
    assert repetition(words("thank you thank you thank you thank you"), 2) == pytest.approx(1 - 2 / 7)
    assert repetition([], 3) == 0.0 and repetition(["a"], 3) == 0.0
    assert length_ratio(4, 8) == 2.0 and length_ratio(0, 3) == 3.0


LOOP = "What color is the large square in the picture? " + "Thank you for watching. " * 6
LONG = QUERY + " And then he said that we should all go to the beach tomorrow morning."


@pytest.mark.parametrize(
    ("speech", "config", "keep", "reason"),
    [
        ([turn(QUERY)], {}, True, ""),  # clean
        ([turn("what colour is the large square in the picture")], {}, True, ""),  # small ASR differences
        ([turn(LOOP)], {}, False, "transcript_repetition"),
        ([turn(QUERY), turn(LOOP)], {}, False, "transcript_repetition"),  # any turn counts
        ([turn(LONG)], {}, False, "transcript_too_long"),
        ([turn(" ".join(["word"] * 18))], {"ngram": 1, "max_repetition": 1.0}, True, ""),  # 18 words = 2.0x: at limit
        ([turn(" ".join(["word"] * 19))], {"ngram": 1, "max_repetition": 1.0}, False, "transcript_too_long"),
        ([turn("yes yes yes", text="yes")], {"max_repetition": 1.0}, True, ""),  # 3x but only +2 words
        ([turn("red red red red red red", text="red red red red red red")], {}, True, ""),  # the query repeats too
        ([turn("")], {}, True, ""),  # heard nothing: not a hallucination (the WER gate's business)
        ([turn(QUERY, text="")], {}, False, "transcript_too_long"),  # nothing said, nine words heard
        ([], {}, False, "transcript_missing"),
        (None, {}, False, "transcript_missing"),
        ("not a list", {}, False, "transcript_missing"),
        ([turn(None)], {}, False, "transcript_missing"),
        ([turn(42)], {}, False, "transcript_missing"),
        ([turn(float("nan"))], {}, False, "transcript_missing"),
        (["not a dict"], {}, False, "transcript_missing"),
    ],
)
def test_table(speech: object, config: dict, keep: bool, reason: str) -> None:
    assert judge(sample(speech), **config)[:2] == (keep, reason)


def test_missing_speech_key() -> None:
    assert judge(Sample(id="s", messages=(Message("user", QUERY),)))[:2] == (False, "transcript_missing")


def test_repetition_exactly_at_threshold_is_kept() -> None:
    # 4 bigrams, 3 distinct: repetition 0.25
    speech = [turn("a b a b c", text="x y z")]
    config = {"ngram": 2, "max_length_ratio": 10}
    assert judge(sample(speech), max_repetition=0.25, **config)[:2] == (True, "")
    assert judge(sample(speech), max_repetition=0.24, **config)[:2] == (False, "transcript_repetition")


def test_scores_are_the_worst_turn_and_land_in_meta_of_drops() -> None:
    out = Hallucination().process([sample([turn(QUERY), turn(LOOP)])])[0]
    meta = out.sample.meta
    assert out.reason == "transcript_repetition" and meta["transcript_repetition"] > 0.3
    assert meta["transcript_length_ratio"] == pytest.approx(len(words(LOOP)) / len(words(QUERY)), abs=1e-3)
