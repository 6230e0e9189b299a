"""Table tests for `speakable`: written chat text → what a TTS voice should read aloud."""

from __future__ import annotations

import pytest

from datagen.speakable import speakable, strip_tags


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        # media tags
        ("<image>What is this?", "What is this?"),
        ("<image>\nWhat is this?", "What is this?"),
        ("Compare <image> with <IMAGE> please", "Compare with please"),
        ("<audio>What was said? <video>", "What was said?"),
        # abbreviations
        ("Ask Dr. Smith.", "Ask Doctor Smith."),
        ("Go to Main St. now", "Go to Main Street now"),
        ("Shapes, e.g. a circle", "Shapes, for example a circle"),
        ("Shapes, e.g., a circle", "Shapes, for example, a circle"),
        ("(e.g.) circles", "(for example) circles"),
        ("Blue, i.e. cold", "Blue, that is cold"),
        ("Mr. Jones vs. Mrs. Jones", "Mister Jones versus Missus Jones"),
        ("Prof. Lee climbed Mt. Fuji, approx. twice", "Professor Lee climbed Mount Fuji, approximately twice"),
        ("Red, blue, etc.", "Red, blue, et cetera"),
        ("Dr.Smith", "Dr.Smith"),  # no space after: not a title, left alone
        ("dr. who", "dr. who"),  # case matters: only the written forms are expanded
        # markdown
        ("Is the **red** circle big?", "Is the red circle big?"),
        ("Is the *red* circle _big_ today?", "Is the red circle big today?"),
        ("Run `ls` now", "Run ls now"),
        ("# Title\n> quoted", "Title quoted"),
        # URLs
        ("See https://example.com/a?b=1 for more", "See for more"),
        ("Open http://x.y", "Open"),
        # symbols
        ("Cats & dogs", "Cats and dogs"),
        ("50% off", "50 percent off"),
        ("1+1=2", "1 plus 1 equals 2"),
        ("mail me@home", "mail me at home"),
        # whitespace
        ("  lots   of\n\nspace\t", "lots of space"),
        # numbers are left to the engines
        ("There are 3 circles", "There are 3 circles"),
        # nothing to say
        ("", ""),
        ("   \n\t", ""),
        ("<image>", ""),
        ("<image><image>\n <audio>", ""),
        ("**", ""),
    ],
)
def test_speakable(written: str, spoken: str) -> None:
    assert speakable(written) == spoken


@pytest.mark.parametrize(
    "text",
    ["The answer is no.", "Say no.", "No. It is not.", "I said no, no.", "Is it red? no."],
)
def test_no_is_not_expanded(text: str) -> None:
    """'no.' is usually the word no ending a sentence, not 'number': it must stay as written."""
    out = speakable(text)
    assert out == text
    assert "number" not in out.lower()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<image>What is this?", "What is this?"),
        ("<image>\n**Bold** & more", "**Bold** & more"),  # only tags and whitespace change
        ("a  <audio>  b", "a b"),
        ("<image>", ""),
    ],
)
def test_strip_tags(text: str, expected: str) -> None:
    assert strip_tags(text) == expected


@pytest.mark.parametrize("text", ["<image>Ask Dr. Smith & co. at https://x.y **now**", "Main St. 50%", ""])
def test_speakable_is_idempotent(text: str) -> None:
    once = speakable(text)
    assert speakable(once) == once
