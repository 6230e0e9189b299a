"""Final-answer extraction and equivalence for verifying chain-of-thought traces, safe against hostile model output.

`extract_answer(text)` finds the final answer (last `\\boxed{}`, GSM8K `####`, "the answer is ...", a bare
answer, a multiple-choice letter, else the last number). `answers_match(prediction, reference)` extracts from both
sides and decides; `verify()` returns the same decision with the method and both answers, for provenance.

Decisions, cheapest first; the first decisive one wins:

1. **choice** - both sides name a choice letter ("(B)", "B)", "option B", "answer: B"): equal letters.
2. **exact** - equal after normalization: `\\text{}` / `\\mathrm{}` unwrapped, `\\dfrac` = `\\frac`, spacing
   commands and `$` delimiters dropped, currency (`$3.50`), units (`5 cm`, `5 dollars`), degree signs (`90°`,
   `90^\\circ`) and a single-variable assignment (`x = 5`) removed: they do not change what was answered.
3. **numeric** - both sides are plain numbers, decimals, `a/b` or `\\frac{a}{b}` (`1,234` is a thousands
   separator, as in GSM8K): compared as exact `Fraction`s, never floats. So `0.5` = `1/2` = `\\dfrac12`, but
   `0.33` != `1/3` and `3.14` != `\\pi`: a rounded value is a different answer, and accepting it would teach the
   model that approximations are correct. A percent on one side also matches its value over 100 (`50%` = `0.5`)
   and its bare number (`50%` = `50`): both are common ways to write the same percentage answer.
   Two numbers that differ are a decisive "no": no symbolic check can make them equal.
4. **text** - both sides are plain words: case-insensitive, articles and hyphens ignored (`The Moon` = `moon`).
   Decisive, so `yes` vs `sey` never reaches sympy (which would call both the product of three symbols).
5. **symbolic** - anything else (`x+1` = `1+x`, `\\sqrt{8}` = `2\\sqrt{2}`, tuples, intervals, sets) goes to
   math-verify in a sandboxed worker process (`filters.answer_sandbox`). math-verify keeps tuples ordered,
   `(0,1)` open and `[0,1]` closed, and compares numbers exactly (it also refuses `0.33` = `1/3`).

Safety. Model output is untrusted. sympy's `sympify`/`parse_expr` call `eval`, so raw text never reaches them:
the in-process paths are regex + `Fraction` with length caps (no float overflow, no `Fraction("1e999999999")`,
whose exponent would be computed), and the symbolic path parses LaTeX only (math-verify's LaTeX grammar, never its
`parse_expr`-based expression mode), in a worker that is resource-limited, cannot fork or write files, and is
killed when the wall-clock `timeout` is spent. Killing a process is the only thing that stops sympy inside one
C-level big-integer operation (`10^{10^{10}}`, `9**9**9**9`); signal-based timeouts (math-verify's own) neither
do that nor work outside the main thread, and Dask runs tasks in threads. Texts longer than 100k characters are
scanned from the tail only, answers longer than 1,000 characters are refused. Timeouts, parse failures, crashes:
all are "no match" with a reason in `detail`, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from filters.answer_parsing import choice_letter, extract_answer, is_text, normalize, parse_number, text_key
from filters.answer_sandbox import symbolic_equal, warm_up

__all__ = ["Method", "Verification", "answers_match", "extract_answer", "verify", "warm_up"]

Method = Literal["exact", "numeric", "symbolic", "choice", "text", "none"]


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

    def verdict(match: bool, method: Method, detail: str) -> Verification:
        return Verification(match, pred, ref, method, detail)

    choice = _choice_verdict(pred, ref)
    if choice is not None:
        return verdict(choice[0], "choice", choice[1])
    p, r = normalize(pred), normalize(ref)
    if not p.text or not r.text:
        return verdict(False, "none", "empty_after_normalization")
    if p.text == r.text:
        return verdict(True, "exact", p.text[:80])
    pv, rv = parse_number(p.text), parse_number(r.text)
    if pv is not None and rv is not None:
        same = pv == rv or (p.percent and not r.percent and pv / 100 == rv)
        same = same or (r.percent and not p.percent and rv / 100 == pv)
        return verdict(same, "numeric", f"{pv} {'==' if same else '!='} {rv}")
    if is_text(p.text) and is_text(r.text):
        same = text_key(p.text) == text_key(r.text)
        return verdict(same, "text", f"{text_key(p.text)[:40]!r} vs {text_key(r.text)[:40]!r}")
    p_tex = p.text + ("\\%" if p.percent else "")
    r_tex = r.text + ("\\%" if r.percent else "")
    result = symbolic_equal(p_tex, r_tex, timeout=timeout)
    return verdict(result.match, "symbolic", result.detail)


def answers_match(prediction: str, reference: str, *, timeout: float = 2.0) -> bool:
    """Whether a model output (or bare answer) gives the reference's answer; False on timeout or any failure."""
    return verify(prediction, reference, timeout=timeout).match
