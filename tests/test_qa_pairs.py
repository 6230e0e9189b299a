"""Model-written QA pairs: parsing every shape a small model produces, and the pair filters, table-driven."""

from __future__ import annotations

import pytest
from deadline import within

from filters.qa_pairs import QAPair, grounding, judge_pairs, parse_pairs, parse_verdict

P = QAPair
PASSAGE = (
    "Honeybees live in colonies with one queen. Workers gather nectar and pollen from flowers. "
    "Nectar is stored in wax cells, where it thickens into honey."
)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (None, []),
        ("", []),
        ("   \n", []),
        ("The passage is about bees and I like it.", []),  # prose, no pairs
        ("Q: What do bees make?", []),  # a question without an answer
        ('[{"question": "What do bees make?", "answer": "Honey."}]', [P("What do bees make?", "Honey.")]),
        (
            "Sure! Here they are:\n```json\n"
            '[{"question": "A?", "answer": "x"}, {"question": "B?", "answer": "y"}]\n```',
            [P("A?", "x"), P("B?", "y")],
        ),
        ('{"pairs": [{"Q": "How many queens?", "A": 1}]}', [P("How many queens?", "1")]),
        (
            '{"question": "Where is nectar stored?", "answer": "In wax cells."}',
            [P("Where is nectar stored?", "In wax cells.")],
        ),
        (  # half JSON, cut by the token limit: the complete pairs survive
            '[{"question": "A?", "answer": "x"}, {"question": "B?", "answer": "y"}, {"question": "C?", "ans',
            [P("A?", "x"), P("B?", "y")],
        ),
        ('[{"question": "A?"}, {"answer": "lonely"}]', []),  # objects missing a field
        ('[{"question": ["not", "text"], "answer": "x"}]', []),
        ("Q: What do bees make?\nA: Honey.", [P("What do bees make?", "Honey.")]),
        (
            "1. Q: Who leads a colony?\n   A: One queen.\n\n2. Q: What do workers gather?\n   A: Nectar and pollen.",
            [P("Who leads a colony?", "One queen."), P("What do workers gather?", "Nectar and pollen.")],
        ),
        (
            "**Question 1:** What thickens into honey?\n**Answer 1:** Nectar\nstored in wax cells.",
            [P("What thickens into honey?", "Nectar stored in wax cells.")],
        ),
        ("question: lower case?\nanswer: works", [P("lower case?", "works")]),
        ("Q: 1. Numbered?\nA: - bullet", [P("Numbered?", "bullet")]),  # list markers are not part of the text
        ("Q: A?\nA: x\nQ: B?\nA: y\nQ: dangling?", [P("A?", "x"), P("B?", "y")]),
        ("Q: A?\nA: x\nQ: A?\nA: x", [P("A?", "x"), P("A?", "x")]),  # duplicates are parsed; judged later
    ],
)
def test_parse_pairs(reply: str | None, expected: list[QAPair]) -> None:
    assert parse_pairs(reply) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Q" + " " * 100_000 + "x", []),  # a label look-alike that fails at its last character
        ("*" * 100_000 + "x", []),
        ("1." + " " * 100_000 + "x", []),
        (" *" * 50_000 + "x", []),
        ("Q:" + " " * 100_000 + "Why?\nA: " + "*" * 100_000 + "Because.", [P("Why?", "Because.")]),
        ("[" * 100_000, []),  # JSON nested past the recursion limit
        ('{"q": ' * 20_000 + "\nQ: Why?\nA: Because.", [P("Why?", "Because.")]),
    ],
    ids=["q-spaces", "stars", "numbered-spaces", "space-star", "labelled", "deep-array", "deep-object"],
)
def test_a_100k_character_line_parses_in_linear_time(reply: str, expected: list[QAPair]) -> None:
    with within(5.0, "parse_pairs"):
        assert parse_pairs(reply) == expected


@pytest.mark.parametrize(
    ("pairs", "reasons"),
    [
        ([P("Who leads a colony?", "One queen.")], [""]),
        ([P("", "honey")], ["empty_pair"]),
        ([P("What is made?", "")], ["empty_pair"]),
        ([P("?", "...")], ["empty_pair"]),
        ([P("What?" + "x" * 400, "honey")], ["overlong_pair"]),
        ([P("What do bees make?", "honey " * 100)], ["overlong_pair"]),
        ([P("What is made?", "Honey."), P("what is MADE", "Honey from nectar.")], ["", "duplicate_pair"]),
        ([P("What do bees make?", "How do bees make honey?")], ["malformed_pair"]),  # the answer asks
        ([P("What do bees make?", "What do bees make")], ["malformed_pair"]),  # the answer repeats the question
        ([P("What is the capital of France?", "Paris.")], ["not_grounded"]),  # answer not in the passage
        ([P("What do workers gather?", "Nectar, pollen and gold coins from banks.")], ["not_grounded"]),
        ([P("What do workers gather?", "Pollen and nectar from the flowers")], [""]),  # plural/singular, stopwords
        (  # a duplicate of a *dropped* pair is judged on its own
            [P("What do workers gather?", "Gold."), P("What do workers gather?", "Pollen.")],
            ["not_grounded", ""],
        ),
    ],
)
def test_judge_pairs(pairs: list[QAPair], reasons: list[str]) -> None:
    verdicts = judge_pairs(pairs, PASSAGE, max_question_chars=300, max_answer_chars=400)
    assert [v.reason for v in verdicts] == reasons
    assert [v.keep for v in verdicts] == [not r for r in reasons]


def test_grounding_scores_and_switch() -> None:
    assert grounding("wax cells", PASSAGE) == 1.0
    assert grounding("wax crayons", PASSAGE) == 0.5
    assert grounding("the of a", PASSAGE) == 0.0  # no content words: nothing supports it
    ungrounded = [P("What is the capital of France?", "Paris.")]
    assert judge_pairs(ungrounded, PASSAGE, check_grounding=False)[0].keep
    assert judge_pairs(ungrounded, PASSAGE, min_grounding=0.0)[0].keep
    assert judge_pairs(ungrounded, PASSAGE)[0].scores == {"grounding": 0.0}


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("Yes.", True),
        ("yes, the passage says so", True),
        ("No. The passage does not say that.", False),
        ("The answer is not supported.", False),
        ("Supported", True),
        ("I cannot tell.", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_verdict(reply: str | None, verdict: bool | None) -> None:
    assert parse_verdict(reply) is verdict
