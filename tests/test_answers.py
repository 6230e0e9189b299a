"""Answer extraction and equivalence: the table of equal and different forms, and hostile model output."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import pytest

from filters import answer_sandbox
from filters.answers import Verification, answers_match, extract_answer, verify


@pytest.fixture(scope="module", autouse=True)
def _worker_ready() -> None:
    """Start the sandbox once, so timing assertions measure checks, not the sympy import."""
    assert answer_sandbox.warm_up()


# ------------------------------------------------------------------------------------------------ extraction

EXTRACTION = [
    # a comma opening a clause ends the answer (seen in SmolLM2 traces); one inside a tuple or a number does not
    ("The final answer is N = 8, which is the number of apples.", "N = 8"),
    ("So the answer is 2, because she gave two away.", "2"),
    ("The answer is 1,234.", "1,234"),
    ("The answer is x = 5, y = 3.", "x = 5, y = 3"),
    ("The answer is \\boxed{42}.", "42"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("nested: \\boxed{\\frac{\\sqrt{2}}{2}} done", "\\frac{\\sqrt{2}}{2}"),
    ("first \\boxed{3} then corrected \\boxed{4}", "4"),
    ("\\fbox{7}", "7"),
    ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}"),
    ("so $\\boxed{x = 5}$", "x = 5"),
    ("truncated output \\boxed{\\frac{1}{2", None),
    ("The answer is 42.", "42"),
    ("Therefore, the final answer is 3.5.", "3.5"),
    ("Answer: 17", "17"),
    ("**Final Answer:** $\\frac{3}{4}$", "\\frac{3}{4}"),
    ("the answer is 42 because 6 times 7 is 42", "42"),
    ("The answer is 18 apples.", "18"),
    ("The answer is Paris.", "Paris"),
    ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nAltogether 48+24 = <<48+24=72>>72.\n#### 72", "72"),
    ("#### 1,234", "1,234"),
    ("The answer is (B).", "B"),
    ("Answer: C", "C"),
    ("B) 42", "B"),
    ("(D)", "D"),
    ("I would pick option B here.", "B"),
    ("She had 5 apples and ate 2, so 3 are left.", "3"),
    ("It costs $1,234.50 in total.", "$1,234.50"),
    ("x = 5", "x = 5"),
    ("\\frac{1}{2}", "\\frac{1}{2}"),
    ("2\\sqrt{2}", "2\\sqrt{2}"),
    ("yes", "yes"),
    # a choice named inside a sentence; a lower-case "a" is an article, not choice A
    ("I choose C.", "C"),
    ("After checking, I would go with (D).", "D"),
    ("(C) is the right answer.", "C"),
    ("Clearly B is correct here.", "B"),
    ("I choose a different approach: the answer is 5.", "5"),
    ("18 apples", "18 apples"),  # a whole text "count noun": the noun is kept (compared as a unit)
    ("", None),
    ("   \n ", None),
    ("I am not sure how to solve this problem at all.", None),
    ("Let us think about what the question is asking us to do here.", None),
]


@pytest.mark.parametrize(("text", "expected"), EXTRACTION)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


# ------------------------------------------------------------------------------------------------ equivalence

EQUAL = [
    ("0.5", "1/2", "numeric"),
    ("0.5", "\\frac{1}{2}", "numeric"),
    ("\\dfrac12", "0.5", "numeric"),
    ("\\tfrac{1}{2}", "1/2", "numeric"),
    ("1,234", "1234", "numeric"),
    ("$3.50", "3.5", "numeric"),
    ("\\$3.50", "3.50", "exact"),
    ("-\\frac{3}{4}", "-0.75", "numeric"),
    ("2e3", "2000", "numeric"),
    ("x=5", "5", "exact"),
    ("y = -3", "-3", "exact"),
    ("(B)", "B", "choice"),
    ("B)", "(B)", "choice"),
    ("answer: B", "B", "choice"),
    ("option C", "(C)", "choice"),
    ("(a)", "A", "choice"),
    ("Paris", "paris", "text"),
    ("The Moon", "moon", "text"),
    ("\\text{yes}", "Yes", "text"),
    ("\\text{Blue}", "blue", "text"),
    ("90°", "90", "exact"),
    ("90^\\circ", "90", "exact"),
    ("90^{\\circ}", "90°", "exact"),
    ("5 cm", "5", "exact"),
    ("5\\text{ cm}", "5", "exact"),
    ("5 dollars", "5", "exact"),
    ("3 cm^2", "3", "exact"),
    ("50%", "0.5", "numeric"),
    ("50\\%", "50", "exact"),
    ("25 percent", "\\frac{1}{4}", "numeric"),
    ("x+1", "1+x", "symbolic"),
    ("\\sqrt{8}", "2\\sqrt{2}", "symbolic"),
    ("x^2-1", "(x-1)(x+1)", "symbolic"),
    ("\\frac{\\sqrt{3}}{2}", "\\frac{\\sqrt3}{2}", "symbolic"),
    ("\\frac{x}{2}", "0.5x", "symbolic"),
    ("2\\pi", "2 \\pi", "exact"),
    ("(1,2)", "(1, 2)", "exact"),
    ("\\{1,2\\}", "\\{2,1\\}", "collection"),
    ("\\left( 1, 2 \\right)", "(1,2)", "exact"),
]


@pytest.mark.parametrize(("a", "b", "method"), EQUAL)
def test_equivalent_forms_match_both_ways(a: str, b: str, method: str) -> None:
    for pred, ref in ((a, b), (b, a)):
        result = verify(pred, ref)
        assert result.match, result
        assert result.method == method, result


DIFFERENT = [
    ("0.33", "1/3"),
    ("0.333", "\\frac{1}{3}"),
    ("3.14", "\\pi"),
    ("1.41", "\\sqrt{2}"),
    ("-5", "5"),
    ("-x", "x"),
    ("(1,2)", "(2,1)"),
    ("(0,1)", "[0,1]"),
    ("[0,1)", "[0,1]"),
    ("B", "C"),
    ("(A)", "(D)"),
    ("B", "42"),
    ("42", "43"),
    ("1,234", "1,243"),
    ("x+1", "x-1"),
    ("2\\sqrt{2}", "\\sqrt{2}"),
    ("yes", "no"),
    ("sey", "yes"),
    ("50%", "5"),
    ("1/2", "2"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_answers_do_not_match_either_way(a: str, b: str) -> None:
    assert not answers_match(a, b)
    assert not answers_match(b, a)


WHOLE_OUTPUTS = [
    ("Half of 84 is 42, so the answer is \\boxed{42}.", "Janet has 84 eggs.\n#### 42", True),
    ("Each box holds 12, so 3 boxes hold 36. The answer is 36.", "#### 36", True),
    ("3 boxes hold 36... wait, 3 x 12 = 38. The answer is 38.", "#### 36", False),
    ("We get x = \\frac{1}{2}. Final answer: $\\boxed{\\frac12}$", "0.5", True),
    ("The correct choice is option D.", "(D)", True),
    ("Looking at each option, the answer is (A) since it is the only even one.", "B", False),
    ("So the total cost is $3.50.", "3.5", True),
    ("I could not find the answer to this question, sorry about that.", "7", False),
    ("The result is \\boxed{}", "0", False),
]


@pytest.mark.parametrize(("output", "reference", "expected"), WHOLE_OUTPUTS)
def test_whole_model_outputs(output: str, reference: str, expected: bool) -> None:
    assert answers_match(output, reference) is expected


def test_verification_records_answers_method_and_reason() -> None:
    good = verify("So the answer is 0.5.", "#### 1/2")
    assert good == Verification(True, "0.5", "1/2", "numeric", "1/2 == 1/2")
    none = verify("I have no idea how to approach this one, sorry.", "5")
    assert (none.match, none.predicted, none.method, none.detail) == (False, None, "none", "no_answer_in_prediction")


# ------------------------------------------------------------------------------------ the labelled answer table

CASES = [json.loads(line) for line in (Path(__file__).parent / "data" / "answer_cases.jsonl").read_text().splitlines()]


def test_the_table_covers_every_category_with_accept_and_reject_rows() -> None:
    categories = {"units", "number_words", "choices", "infinities", "intervals_sets", "equations", "lists",
                  "percentages", "fractions_decimals", "latex", "text"}  # fmt: skip
    assert len(CASES) >= 250 and {c["category"] for c in CASES} == categories
    for category in categories:
        assert {c["match"] for c in CASES if c["category"] == category} == {True, False}, category
    known = [c for c in CASES if "known_false_reject" in c]
    assert all(c["match"] for c in known) and len(known) <= 3  # only accept rows can be false rejects


def _case_param(case: dict) -> object:
    marks = []
    if "known_false_reject" in case:  # strict: a fix makes this xpass, so the note is removed with it
        marks = [pytest.mark.xfail(reason=case["known_false_reject"], strict=True)]
    return pytest.param(case, id=f"{case['category']}:{case['prediction'][:30]}|{case['reference'][:20]}", marks=marks)


@pytest.mark.parametrize("case", [_case_param(c) for c in CASES])
def test_answer_table(case: dict) -> None:
    result = verify(case["prediction"], case["reference"])
    assert result.match is case["match"], result


@pytest.mark.parametrize(
    ("amount", "unit", "other", "expected"),
    [  # the definitions cross-check each other: any rounded factor would break one of these
        (1, "mile", "feet", 5280),
        (1, "yd", "in", 36),
        (1, "gallon", "in^3", 231),  # the US gallon is defined as 231 cubic inches
        (1, "lb", "oz", 16),
        (1, "mph", "ft/s", Fraction(22, 15)),
        (1, "km/h", "m/s", Fraction(5, 18)),
        (1, "L", "cm^3", 1000),
        (1, "week", "hours", 168),
        (1, "year", "months", 12),
        (1, "ton", "kg", None),  # short, long or metric: no single factor
        (1, "kg", "m", None),
        (1, "°", "rad", None),
    ],
)
def test_unit_conversions_are_exact_definitions(amount: int, unit: str, other: str, expected: object) -> None:
    from filters.answer_units import convert, parse_unit

    source, target = parse_unit(unit), parse_unit(other)
    assert source is not None and target is not None
    assert convert(Fraction(amount), source, target) == expected


@pytest.mark.parametrize(
    ("prediction", "reference"),
    [
        ("\\boxed{" + "1" * 1001 + "}", "1" * 1000),  # a cut answer would be another number, equal to the reference
        ("#### " + "1" * 1001, "1" * 1000),
        ("so it is " + "7" * 1001, "7" * 1000),  # the last-number path
        ("The answer is " + "7" * 1001, "7" * 1000),
    ],
)
def test_answers_over_the_cap_are_refused_never_truncated(prediction: str, reference: str) -> None:
    assert extract_answer(prediction) is None
    result = verify(prediction, reference)
    assert (result.match, result.detail) == (False, "no_answer_in_prediction")


# ------------------------------------------------------------------------------------------------ hostility


def _hostile(canary: str) -> list[str]:
    c = canary
    return [
        f"__import__('os').system('touch {c}')",
        f"\\boxed{{__import__('os').system('touch {c}')}}",
        f"The answer is __import__('os').system('touch {c}')",
        f"\\boxed{{(lambda: __import__('os').system('touch {c}'))()}}",
        f"\\boxed{{open('{c}', 'w').write('x')}}",
        f"\\boxed{{exec(\"import os; os.system('touch {c}')\")}}",
        "\\boxed{().__class__.__bases__[0].__subclasses__()}",
        "\\boxed{x.__globals__['__builtins__']}",
        "\\boxed{" + "(" * 300 + "1" + ")" * 300 + "}",
        "\\boxed{" + "\\frac{1}{" * 200 + "2" + "}" * 200 + "}",
        "\\boxed{" + "{" * 3000,
        "(" * 100_000,
        "1+" * 50_000 + "1",
        "\\boxed{" + "x+" * 20_000 + "1}",
        "9" * 100_000,
        "\x00\ud800\uffff \\boxed{\x00}",
    ]


def test_hostile_inputs_do_nothing_and_never_raise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sympy
    import sympy.parsing.sympy_parser as sympy_parser

    # The canary is named relative to the working directory: an absolute temp path carries the machine's digits
    # (`pytest-0/...`), and a number fallback could then "match" the reference `0` by accident.
    monkeypatch.chdir(tmp_path)
    evaluated: list[str] = []
    monkeypatch.setattr(sympy, "sympify", lambda *a, **k: evaluated.append("sympify"))
    monkeypatch.setattr(sympy_parser, "parse_expr", lambda *a, **k: evaluated.append("parse_expr"))
    for text in _hostile("canary"):
        for pred, ref in ((text, "0"), ("0", text), (text, text + " ")):
            start = time.monotonic()
            result = verify(pred, ref, timeout=0.5)
            assert not result.match or pred.strip() == ref.strip(), (text[:60], result)
            assert time.monotonic() - start < 2.0, (text[:60], result)
    assert not (tmp_path / "canary").exists()
    assert evaluated == [], "raw text reached sympy's eval-based parsers in-process"


# Killing and replacing a worker takes ~0.1 s on an idle machine and over 0.6 s on a loaded one; without the kill
# these inputs run for minutes, so a couple of seconds of slack still tells the two apart.
_KILL_SLACK = 2.5


@pytest.mark.parametrize(
    "pathological",
    ["10^{10^{10}}", "9**9**9**9", "9^{9^{9^{9}}}", "2^{2^{64}} - 1", "(10^{10^{8}})!"],
)
def test_pathological_symbolic_input_returns_within_timeout(pathological: str) -> None:
    start = time.monotonic()
    result = verify(f"\\boxed{{{pathological}}}", "1", timeout=0.5)
    elapsed = time.monotonic() - start
    assert not result.match
    assert result.method == "symbolic"
    assert elapsed < 0.5 + _KILL_SLACK, (elapsed, result)


def test_parent_kills_a_worker_that_ignores_its_own_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker's own timer is pushed past the parent's deadline: only the kill can end the check.
    monkeypatch.setattr(answer_sandbox, "_WORKER_TIMER_FRACTION", 20.0)
    start = time.monotonic()
    result = answer_sandbox.symbolic_equal("10^{10^{10}}", "2", timeout=0.5)
    elapsed = time.monotonic() - start
    assert result == answer_sandbox.SymbolicResult(False, "timeout")
    assert elapsed < 0.5 + _KILL_SLACK, elapsed
    monkeypatch.undo()
    assert answers_match("\\boxed{x^2+2x+1}", "(x+1)^2")  # the pool recovers with a fresh worker


def test_works_from_non_main_threads() -> None:
    cases = [("\\sqrt{12}", "2\\sqrt{3}", True), ("x+2", "2+x", True), ("x+2", "x+3", False), ("0.5", "1/2", True)]
    results: dict[int, bool] = {}

    def run(i: int) -> None:
        results[i] = answers_match(cases[i][0], cases[i][1])

    thread = threading.Thread(target=run, args=(0,))
    thread.start()
    thread.join(timeout=30)
    assert results == {0: True}
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(lambda c: answers_match(c[0], c[1]), cases))
    assert got == [c[2] for c in cases]


def test_timeout_in_a_thread_is_still_bounded() -> None:
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as pool:
        matched = pool.submit(answers_match, "\\boxed{9^{9^{9^{9}}}}", "3", timeout=0.5).result(timeout=10)
    assert matched is False
    assert time.monotonic() - start < 1.5
