"""The faithfulness check of spoken-style rewrites: what a rewrite must keep, and paraphrases it may make."""

from __future__ import annotations

import pytest

from filters.rewrite_faithfulness import names, numbers, quotes, score_rewrite, unfaithful_reason

# (original, rewrite, expected: "" = faithful, else a word of the reason)
CASES = [
    # faithful: numbers as words or digits, names and quotes kept, paraphrases and fillers
    ("How many red circles are in the picture?", "So, how many red circles are there in the picture?", ""),
    ("What is 3 + 4?", "What's three plus four?", ""),
    ("What is three plus four?", "What is 3 plus 4?", ""),
    (
        "Dr. Smith paid $3.50. How much change from $5?",
        "Doctor Smith paid three dollars fifty, what's his change from five dollars?",
        "",
    ),
    ("Meet me at 3:30 pm on Friday.", "Meet me at half past three on Friday.", ""),
    ("Solve x^2 = 9.", "Solve x squared equals nine.", ""),
    ("**Describe** the image in 2 sentences.", "Can you describe the image in two sentences?", ""),
    ("Which one is bigger?", "Which is bigger?", ""),
    ("Is the Eiffel Tower in Paris?", "Is the Eiffel Tower in Paris, do you know?", ""),
    ('What does "carpe diem" mean?', "What does carpe diem mean?", ""),
    ("What does “carpe diem” mean?", "What does 'carpe diem' mean?", ""),
    ("Please list 3 facts about the Moon.", "Tell me three facts about the Moon.", ""),
    ("How far is 1,000 km in miles?", "How far is one thousand kilometers in miles?", ""),
    ("Call 555 1234 and ask for Mary.", "Call five five five, one two three four, and ask for Mary.", ""),
    ("Is 50% of 80 equal to 40?", "Is fifty percent of eighty equal to forty?", ""),
    ("What happened in 1969?", "What happened in nineteen sixty nine?", ""),
    ("Question: What color is the square?", "What color is the square?", ""),
    ("I think John's car is red. Is it?", "I think John's car is red, right?", ""),
    ("What is shown in the image?", "What's in this image?", ""),
    ("Explain why the sky is blue.", "Can you explain why the sky is blue?", ""),
    ("Compare the U.S. and Canada by area.", "Compare the US and Canada by area.", ""),
    ("What is the 3rd planet from the Sun?", "What's the third planet from the Sun?", ""),
    ("Summarize the text in 1 paragraph.", "Sum up the text in one paragraph.", ""),
    ("Identify the objects: cat, dog, bird.", "Can you identify the cat, the dog and the bird?", ""),
    ("Solve $\\frac{1}{2} + \\sqrt{16}$", "Solve one over two plus the square root of sixteen", ""),
    ("It is 20°C at 3:30 pm.", "It is twenty degrees Celsius at three thirty P M.", ""),
    ("As in Fig. 2, the line rises.", "As in Figure 2, the line rises.", ""),
    # dropped or changed numbers
    ("What is 3 + 4?", "What's three plus five?", "number"),
    ("Dr. Smith paid $3.50 for lunch.", "Doctor Smith paid for lunch.", "number"),
    ("List 5 fruits.", "List some fruits.", "number"),
    ("Add 12 and 30.", "Add twelve and thirteen.", "number"),
    ("Is 1 bigger than 2?", "Is one bigger than two?", ""),  # a digit 1 said as "one" is kept
    ("Is 1 bigger than 2?", "Is it bigger than two?", "number"),
    # dropped or changed names
    ("Is the Eiffel Tower in Paris?", "Is that tower in France?", "name"),
    ("Did Marie Curie win two Nobel prizes?", "Did she win two Nobel prizes?", "name"),
    ("Ask Dr. Patel about the results.", "Ask the doctor about the results.", "name"),
    ("How old is Tom in this photo?", "How old is Jim in this photo?", "name"),
    # added numbers or names: another question
    ("How many circles are there?", "How many circles are in picture 3?", "added number"),
    ("Count the triangles in the image.", "Count the triangles, then tell me about Paris.", "added name"),
    ("Who painted this?", "Who painted this, was it Monet?", "added name"),
    ("So, what is this? Is it a cat?", "Okay, so what is this, is it a cat?", ""),
    # dropped or changed quoted text
    ('What does "carpe diem" mean?', "What does that Latin phrase mean?", "quoted"),
    ('Translate "good morning" into French.', "Translate good night into French.", "quoted"),
    ("Find the word 'serendipity' in the text.", "Find that long word in the text.", "quoted"),
    # meaning lost, or an answer instead of a rewrite
    ("Explain photosynthesis briefly.", "Tell me about dinosaurs.", "meaning"),
    ("What color is the large triangle?", "What shape is that?", "meaning"),
    (
        "List 3 facts about the Moon.",
        "Tell me three facts about the Moon. It is very far away, it has no air, it has no water on its "
        "surface, and it is slowly moving away from us every year by a few small steps, they say.",
        "length",
    ),
    # a question must stay a question or a request
    (
        "Which color is the square in this picture?",
        "The square in this picture is a color of the rainbow.",
        "statement",
    ),
    ("Which color is the square?", "Tell me which color the square is.", ""),
    ("Which color is the square?", "So, which color is the square?", ""),
    ("How many stars are there?", "I'd like to know how many stars there are.", ""),
    ("Describe the square.", "The square is described.", ""),  # not a question: nothing to keep
    # empty and malformed
    ("", "Anything at all.", ""),  # nothing to keep
    ("How many?", "", "empty"),
    ("What is it?", "", "empty"),
    ("🙂🎉", "party time", ""),
    ('He said "', 'He said "', ""),  # an unclosed quote is no quoted string
]


@pytest.mark.parametrize(("original", "rewrite", "expected"), CASES)
def test_faithfulness_table(original: str, rewrite: str, expected: str) -> None:
    reason = unfaithful_reason(score_rewrite(original, rewrite))
    if expected:
        assert expected in reason, (original, rewrite, reason)
    else:
        assert reason == "", (original, rewrite, reason)


def test_table_is_broad() -> None:
    assert len(CASES) >= 30
    assert sum(1 for *_, e in CASES if e) >= 15 and sum(1 for *_, e in CASES if not e) >= 15


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Smith met Mary in New York. Then I went home.", ["Smith", "Mary", "New", "York"]),
        ("What is this? Where is it?", []),
        ("Was it O'Brien's idea, e.g. Bob's?", ["O'Brien", "Bob"]),
        ("Question: Who is here?\nAnswer: Anna and Ben.", ["Ben"]),  # after a colon a sentence may start
        ("**Describe** the image. Is it Bob's?", ["Bob"]),
        ('"Hello," said Anna. "Yes," I said.', ["Anna"]),
        ("", []),
    ],
)
def test_names_are_capitalized_words_not_starting_a_sentence(text: str, expected: list[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Which one is bigger, 1 or 2?", {"1", "2"}),
        ("one hundred and one", {"101"}),
        ("Which one?", set()),
        ("x^2 = 9", {"2", "9"}),
        ("$3.50 at 3:30", {"3.50", "330"}),
        ("no numbers here", set()),
    ],
)
def test_numbers_are_values(text: str, expected: set[str]) -> None:
    assert numbers(text) == expected


def test_quotes_of_every_kind_and_not_apostrophes() -> None:
    assert quotes("Say \"hi\" and “bye” or 'ok' but don't, it's fine") == ["hi", "bye", "ok"]


def test_thresholds_are_the_callers() -> None:
    score = score_rewrite("What color is the large triangle?", "What color is that?")
    assert 0 < score.content_recall < 0.6
    assert "meaning" in unfaithful_reason(score)
    assert unfaithful_reason(score, min_content_recall=score.content_recall) == ""
    long = score_rewrite("Name it.", "Please name it for me right now, it would be lovely, thank you so much.")
    assert unfaithful_reason(long, max_length_ratio=10) == "" and "length" in unfaithful_reason(long)
