"""Final-answer extraction and equivalence for verifying chain-of-thought traces, safe against hostile model output.

`extract_answer(text)` finds the final answer (last `\\boxed{}`, GSM8K `####`, "the answer is ...", a
multiple-choice letter, a bare answer, else the last number). `answers_match(prediction, reference)` extracts from both
sides and decides; `verify()` returns the same decision with the method and both answers, for provenance.

False accepts first: a wrong trace kept as verified teaches a wrong answer, a wrong reject costs one sample. So
whatever changes what was answered is kept and compared, not stripped. Decisions, in order; the first decisive one
wins (`benchmarks/verifier.py` measures them on the labelled table `tests/data/answer_cases.jsonl`):

1. **choice** - either side names a choice letter ("(B)", "option B", "I choose B", "(C) is correct"): equal
   letters (a letter vs a value is a "no").
2. **collection** - either side is a set (`\\{1, 2\\}`: any order, repeats ignored), a bare list (`12, 13`:
   ordered, counted, so `1,1` != `1`) or assignments (`x = 2, y = 3`: by variable; `x = 2, x = 3`: a solution
   set): compared part by part, order and multiplicity as the reference's shape says (`filters.answer_structure`).
   Two tuples go to math-verify (step 7), which keeps them ordered and tells `(0, 1)` from `[0, 1]`.
3. **unit** - both sides carry units: equal units go on to the values; different units are a "no" unless one
   converts exactly into the other (`50 mm` = `5 cm`, `1 mile` = `1609.344 m`, never `1.609 km`;
   `filters.answer_units`). A unit on one side only (`5 cm` vs `5`) leaves the value to decide.
4. **equation** - an `=` left after taking off a single assignment (`x = 5` is 5) makes an equation, which never
   equals a bare value (`\\boxed{5 = 42}` is not 42); two equations match side by side, either way round.
5. **exact** / **numeric** - equal after normalization (`\\text{}` unwrapped, `\\dfrac` = `\\frac`, spacing and
   `$` dropped, infinity in any notation as `\\infty`, number words as digits, `1 1/2` as `3/2`;
   `filters.answer_normalize`), else both plain numbers compared as exact `Fraction`s, never floats: `0.5` = `1/2`,
   but `0.33` != `1/3` and `3.14` != `\\pi` (a rounded value is a different answer). A percent on one side also
   matches its value over 100 (`50%` = `0.5`) and its bare number (`50%` = `50`). Two different numbers are a
   decisive "no".
6. **text** - both sides are plain words: case-insensitive, articles and hyphens ignored (`The Moon` = `moon`).
   Decisive, so `yes` vs `sey` never reaches sympy (which would call both the product of three symbols).
7. **symbolic** - anything else (`x+1` = `1+x`, `\\sqrt{8}` = `2\\sqrt{2}`, tuples, intervals, unions) goes to
   math-verify in a sandboxed worker process (`filters.answer_sandbox`).

Safety. Model output is untrusted. sympy's `sympify`/`parse_expr` call `eval`, so raw text never reaches them:
the in-process paths are regex + `Fraction` with length caps (no float overflow, no `Fraction("1e999999999")`,
whose exponent would be computed), and the symbolic path parses LaTeX only (math-verify's LaTeX grammar, never its
`parse_expr`-based expression mode), in a worker that is resource-limited, cannot fork or write files, and is
killed when the wall-clock `timeout` is spent. Killing a process is the only thing that stops sympy inside one
C-level big-integer operation (`10^{10^{10}}`, `9**9**9**9`); signal-based timeouts (math-verify's own) neither
do that nor work outside the main thread, and Dask runs tasks in threads. Texts longer than 100k characters are
scanned from the tail only, answers longer than 1,000 characters are refused on every path (never cut: a cut
number is another number). Timeouts, parse failures, crashes:
all are "no match" with a reason in `detail`, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from filters.answer_normalize import Normalized, is_text, normalize, text_key, unwrap_latex
from filters.answer_parsing import choice_letter, extract_answer, parse_number
from filters.answer_sandbox import symbolic_equal, warm_up
from filters.answer_structure import MAX_ITEMS, Collection, assignments, collection
from filters.answer_units import convert, parse_unit

__all__ = ["Method", "Verification", "answers_match", "extract_answer", "verify", "warm_up"]

Method = Literal["exact", "numeric", "symbolic", "choice", "text", "unit", "equation", "collection", "none"]
Verdict = tuple[bool, Method, str]


@dataclass(frozen=True)
class Verification:
    """One verdict as provenance records it: the two extracted answers, how they were compared, and why."""

    match: bool
    predicted: str | None
    reference: str | None
    method: Method
    detail: str


def _choice_verdict(pred: str, ref: str) -> tuple[bool, str] | None:
    p, r = choice_letter(pred), choice_letter(ref)
    if p is None and r is None:
        return None
    if p is not None and r is not None:
        return p == r, f"{p} vs {r}"
    letter, other = (p, ref) if p is not None else (r, pred)
    other = other.strip().strip("()").strip()
    # A letter vs a single letter in another form ("b"), else a letter vs a value: different answers.
    return (len(other) == 1 and other.upper() == letter), f"{letter} vs {other[:40]}"


def verify(prediction: str, reference: str, *, timeout: float = 2.0) -> Verification:
    """Extract both answers and compare them; never raises, whatever the input (see the module docstring)."""
    try:
        return _verify(prediction, reference, timeout)
    except Exception as exc:  # a bug here must cost one sample, not the run
        return Verification(False, None, None, "none", f"error: {type(exc).__name__}")


def _verify(prediction: str, reference: str, timeout: float) -> Verification:
    pred, ref = extract_answer(prediction), extract_answer(reference)
    if pred is None or ref is None:
        detail = "no_answer_in_prediction" if pred is None else "no_answer_in_reference"
        return Verification(False, pred, ref, "none", detail)
    choice = _choice_verdict(pred, ref)
    if choice is not None:
        return Verification(choice[0], pred, ref, "choice", choice[1])
    match, method, detail = _compare(pred, ref, timeout, nested=False)
    return Verification(match, pred, ref, method, detail)


def _compare(pred: str, ref: str, timeout: float, *, nested: bool) -> Verdict:
    """Two extracted answers (or two parts of them): shape first, then unit, equation, value."""
    if not nested:
        shaped = _collection_verdict(unwrap_latex(pred), unwrap_latex(ref), timeout)
        if shaped is not None:
            return shaped
    p, r = normalize(pred), normalize(ref)
    if not p.text or not r.text:
        return False, "none", "empty_after_normalization"
    unit = _unit_verdict(p, r)
    if unit is not None:
        return unit
    if p.equation or r.equation:
        return _equation_verdict(p, r, timeout)
    if p.var and r.var and p.var != r.var:
        return False, "exact", f"variable {p.var} vs {r.var}"
    return _value_verdict(p, r, timeout)


def _value_verdict(p: Normalized, r: Normalized, timeout: float) -> Verdict:
    if p.text == r.text:
        return True, "exact", p.text[:80]
    pv, rv = parse_number(p.text), parse_number(r.text)
    if pv is not None and rv is not None:
        same = pv == rv or (p.percent and not r.percent and pv / 100 == rv)
        same = same or (r.percent and not p.percent and rv / 100 == pv)
        return same, "numeric", f"{pv} {'==' if same else '!='} {rv}"
    if is_text(p.text) and is_text(r.text):
        same = text_key(p.text) == text_key(r.text)
        return same, "text", f"{text_key(p.text)[:40]!r} vs {text_key(r.text)[:40]!r}"
    p_tex = p.text + ("\\%" if p.percent else "")
    r_tex = r.text + ("\\%" if r.percent else "")
    result = symbolic_equal(p_tex, r_tex, timeout=timeout)
    return result.match, "symbolic", result.detail


def _unit_verdict(p: Normalized, r: Normalized) -> Verdict | None:
    """Decisive when both sides carry different units; None (compare the values) when they agree or one is bare."""
    if (p.percent and r.unit) or (r.percent and p.unit):
        return False, "unit", "a percentage vs a quantity with a unit"
    if p.unit is None or r.unit is None:
        return None  # "5" for "5 cm": the reference or the model left the unit implicit
    pu, ru = parse_unit(p.unit), parse_unit(r.unit)
    if pu is None or ru is None:  # a unit the table does not know: equal only by name
        same_name = p.unit.rstrip("s") == r.unit.rstrip("s")
        return None if same_name else (False, "unit", f"{p.unit} vs {r.unit}")
    if pu == ru:
        return None
    if pu[0] != ru[0]:
        return False, "unit", f"{p.unit} ({pu[0]}) vs {r.unit} ({ru[0]})"
    pv, rv = parse_number(p.text), parse_number(r.text)
    if pv is None or rv is None:
        return False, "unit", f"{p.unit} vs {r.unit}: only numbers are converted"
    converted = convert(pv, pu, ru)
    same = converted == rv
    return same, "unit", f"{pv} {p.unit} = {converted} {r.unit} {'==' if same else '!='} {rv}"


def _sides(n: Normalized) -> list[str] | None:
    if n.equation:
        return n.text.split("=")
    return [n.var, n.text] if n.var else None


def _equation_verdict(p: Normalized, r: Normalized, timeout: float) -> Verdict:
    """An equation equals an equation (or an assignment) side by side, either way round; never a bare value."""
    ps, rs = _sides(p), _sides(r)
    if ps is None or rs is None:
        return False, "equation", f"an equation vs a value: {p.text[:40]} vs {r.text[:40]}"
    if "=".join(ps) == "=".join(rs):
        return True, "equation", p.text[:80]
    if len(ps) != 2 or len(rs) != 2:
        return False, "equation", "chained equations compare as text only"

    def same(a: str, b: str) -> bool:
        return _compare(a, b, timeout, nested=True)[0]

    match = (same(ps[0], rs[0]) and same(ps[1], rs[1])) or (same(ps[0], rs[1]) and same(ps[1], rs[0]))
    return match, "equation", f"{'='.join(ps)[:40]} {'==' if match else '!='} {'='.join(rs)[:40]}"


def _collection_verdict(pred: str, ref: str, timeout: float) -> Verdict | None:
    """Sets, tuples and lists item by item, order and multiplicity as the reference's shape says. None: one value
    each, a tuple vs one value, or two tuples (math-verify keeps tuples ordered and tells `(0, 1)` from `[0, 1]`)."""
    pc, rc = collection(pred), collection(ref)
    if pc is None and rc is None or (pc and rc and pc.kind == rc.kind == "tuple"):
        return None
    if pc is None or rc is None:
        if (pc or rc).kind == "tuple":  # type: ignore[union-attr]
            return None
        pc, rc = pc or Collection("list", (pred,)), rc or Collection("list", (ref,))  # one value: a list of one
    if len(pc.items) > MAX_ITEMS or len(rc.items) > MAX_ITEMS:
        return False, "collection", f"more than {MAX_ITEMS} items"
    if {pc.kind, rc.kind} == {"set", "tuple"}:
        return False, "collection", f"a {pc.kind} vs a {rc.kind}"
    cache: dict[tuple[str, str], bool] = {}

    def same(a: str, b: str) -> bool:
        if (a, b) not in cache:
            cache[a, b] = _compare(a, b, timeout, nested=True)[0]
        return cache[a, b]

    pa, ra = assignments(pc.items), assignments(rc.items)
    if pa and ra and _distinct_vars(pa) and _distinct_vars(ra):
        pm, rm = dict(pa), dict(ra)
        match = pm.keys() == rm.keys() and all(same(pm[v], rm[v]) for v in rm)
        return match, "collection", f"mapping of {len(rm)} variable(s): {'equal' if match else 'different'}"
    if rc.kind == "set" or (ra and len({v for v, _ in ra}) == 1):  # a set, or all solutions of one variable
        match = all(any(same(p, r) for r in rc.items) for p in pc.items)
        match = match and all(any(same(p, r) for p in pc.items) for r in rc.items)
        return match, "collection", f"set of {len(rc.items)}: {'equal' if match else 'different'}"
    match = len(pc.items) == len(rc.items) and all(same(p, r) for p, r in zip(pc.items, rc.items, strict=False))
    return match, "collection", f"ordered {len(pc.items)} vs {len(rc.items)}: {'equal' if match else 'different'}"


def _distinct_vars(pairs: list[tuple[str, str]]) -> bool:
    return len({v for v, _ in pairs}) == len(pairs)


def answers_match(prediction: str, reference: str, *, timeout: float = 2.0) -> bool:
    """Whether a model output (or bare answer) gives the reference's answer; False on timeout or any failure."""
    return verify(prediction, reference, timeout=timeout).match
