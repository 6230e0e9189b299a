"""Passages cut into speakable chunks: every chunk under the budget, cuts at the most natural boundary."""

from __future__ import annotations

import pytest

from datagen.chunking import budget_chars, chunk_text, split_sentences

S20 = "Aaaa bbbb cccc dddd."  # a 20-character sentence


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("", 50, []),
        ("   \n ", 50, []),
        ("One sentence.", 50, ["One sentence."]),
        (S20, 20, [S20]),  # exactly at the limit: one chunk
        (f"{S20} {S20}", 41, [f"{S20} {S20}"]),  # two sentences + the joining space = 41: exact fit
        (f"{S20} {S20}", 40, [S20, S20]),  # one over: cut between the sentences
        (f"{S20} {S20} {S20}", 45, [f"{S20} {S20}", S20]),  # greedy packing
        ("First part, second part, third part.", 25, ["First part, second part,", "third part."]),  # at commas
        ("one two three four five six", 10, ["one two", "three four", "five six"]),  # no punctuation: at words
        ("abcdefghijklmnopqrstuvwxyz", 10, ["abcdefghij", "klmnopqrst", "uvwxyz"]),  # one long word: by characters
        ("Is it? Yes! Fine.", 7, ["Is it?", "Yes!", "Fine."]),
        ('He said "stop." Then left.', 16, ['He said "stop."', "Then left."]),
        ("Café crème. Naïve façade.", 13, ["Café crème.", "Naïve façade."]),  # unicode counts as characters
        ("猫が好きです。犬も好きです。", 7, ["猫が好きです。", "犬も好きです。"]),  # CJK full stops cut too
        ("Line one\nline two.", 50, ["Line one line two."]),  # newlines are spaces
    ],
)
def test_chunk_text(text: str, limit: int, expected: list[str]) -> None:
    chunks = chunk_text(text, limit)
    assert chunks == expected
    assert all(len(c) <= limit for c in chunks)


def test_long_passage_keeps_every_word_in_order_and_fits() -> None:
    words = [f"w{i}" for i in range(400)]
    text = " ".join(f"{w}{'.' if i % 13 == 12 else ',' if i % 5 == 4 else ''}" for i, w in enumerate(words))
    chunks = chunk_text(text, 60)
    assert all(0 < len(c) <= 60 for c in chunks)
    assert " ".join(chunks).replace(",", "").replace(".", "").split() == words


def test_split_sentences_and_budget() -> None:
    assert split_sentences("A b. C d! E f? G") == ["A b.", "C d!", "E f?", "G"]
    assert split_sentences("Pi is 3.14 today.") == ["Pi is 3.14 today."]  # no space after the dot: no cut
    assert budget_chars(30, 12) == 360 and budget_chars(0.01, 1) == 1


def test_non_positive_limit_is_an_error() -> None:
    with pytest.raises(ValueError, match="positive"):
        chunk_text("text", 0)
