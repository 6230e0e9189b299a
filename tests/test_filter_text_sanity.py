"""text_sanity: per-turn length bounds, script share and the English function-word check, on clean and bad text."""

from __future__ import annotations

import pytest

from datagen.records import Message, Sample
from filters.text_sanity import TextSanity, TextSanityConfig, has_text
from filters.text_stats import english_share, script_share, words


def chat(query: object, answer: object = "There are three red circles.") -> Sample:
    msgs = [Message("user", query)]  # type: ignore[arg-type]
    if answer is not None:
        msgs.append(Message("assistant", answer))  # type: ignore[arg-type]
    return Sample(id="s", messages=tuple(msgs))


def judge(s: Sample, **config) -> tuple[bool, str, dict]:
    verdict = TextSanity(TextSanityConfig(**config)).judge(s)
    return verdict.keep, verdict.reason, verdict.scores


def test_scorers() -> None:
    assert script_share("Привет мир") == 0.0 and script_share("hello") == 1.0 and script_share("123 !") == 1.0
    assert script_share("Привет", "CYRILLIC") == 1.0
    assert english_share(words("How many circles are in the image")) == pytest.approx(4 / 7)
    assert english_share([]) == 0.0
    assert not has_text("<image> 😀🎉 !!") and has_text("<image>3") and has_text("é")


GERMAN = "Wie viele rote Kreise sind auf dem Bild zu sehen?"
FRENCH = "Combien de cercles rouges voyez-vous sur cette image?"


@pytest.mark.parametrize(
    ("query", "answer", "config", "keep", "reason"),
    [
        ("<image>How many red circles are in the picture?", "Three.", {}, True, ""),  # clean
        ("<image>Red circle?", "Yes.", {}, True, ""),  # short: too few words for the English check
        ("<image>Count them.", "Two.", {"min_query_words": 2}, True, ""),  # exactly at the lower bound
        ("<image>Count.", "Two.", {"min_query_words": 2}, False, "text_too_short"),
        ("one two three four", "Ok.", {"max_query_words": 4, "english": False}, True, ""),  # at the upper bound
        ("one two three four five", "Ok.", {"max_query_words": 4, "english": False}, False, "text_too_long"),
        ("abcdefghij", "Ok.", {"max_query_chars": 10}, True, ""),
        ("abcdefghijk", "Ok.", {"max_query_chars": 10}, False, "text_too_long"),
        ("What is it?", "", {}, False, "no_text"),  # empty answer
        ("What is it?", "A " * 30, {"max_answer_words": 29}, False, "text_too_long"),
        ("What is it?", None, {}, True, ""),  # no assistant turn: nothing to bound
        ("<image>", "A cat.", {}, False, "no_text"),
        ("😀😀😀", "A cat.", {}, False, "no_text"),  # emoji only
        ("", "A cat.", {}, False, "no_text"),
        (GERMAN, "Es sind drei rote Kreise.", {}, False, "not_english"),
        (FRENCH, "Il y a trois cercles rouges.", {}, False, "not_english"),
        ("Сколько красных кругов на картинке?", "Три.", {}, False, "not_english"),
        ("Сколько красных кругов на картинке?", "Три.", {"script": "cyrillic", "english": False}, True, ""),
        (GERMAN, "Es sind drei rote Kreise.", {"english": False}, True, ""),
        ("How many circles are there?", "Three.", {"min_english_share": 0.5}, True, ""),  # 3/6 words: at the limit
        (42, "Three.", {}, False, "no_text"),  # malformed content
        (float("nan"), "Three.", {}, False, "no_text"),
    ],
)
def test_table(query: object, answer: object, config: dict, keep: bool, reason: str) -> None:
    assert judge(chat(query, answer), **config)[:2] == (keep, reason)


def test_no_user_turn_and_no_messages() -> None:
    assert judge(Sample(id="s"))[:2] == (False, "no_text")
    assert judge(Sample(id="s", messages=(Message("assistant", "Hi."),)))[:2] == (False, "no_text")


def test_each_turn_is_bounded_on_its_own_and_scores_are_totals() -> None:
    s = Sample(
        id="s",
        messages=(
            Message("user", "<image>How many red circles are in the picture?"),
            Message("assistant", "Three."),
            Message("user", "And blue?"),
            Message("assistant", "Two."),
        ),
    )
    kept, reason, scores = judge(s, min_query_words=3)
    assert (kept, reason) == (False, "text_too_short")
    assert scores["query_words"] == 10 and scores["answer_words"] == 2 and scores["script_share"] == 1.0
    out = TextSanity().process([s])[0]
    assert out.meta["query_words"] == 10 and 0 < out.meta["english_share"] < 1


@pytest.mark.parametrize(
    ("text", "foreign_above_english"),
    [
        ("Le chat est sur la table avec les enfants.", True),
        ("Der Hund ist nicht im Haus, sondern auf dem Hof.", True),
        ("The cat is on the table with the children.", False),
        ("Red circles, blue squares, green stars.", False),
    ],
)
def test_foreign_share_tells_other_languages_from_english(text: str, foreign_above_english: bool) -> None:
    from filters.text_stats import english_share, foreign_share, words

    tokens = words(text)
    assert (foreign_share(tokens) > english_share(tokens)) is foreign_above_english
