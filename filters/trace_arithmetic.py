"""Explicit arithmetic in a reasoning trace: find each written equation ("2*2*14 = 120") and say whether it holds.

Model text is never evaluated as code. A small scanner turns the text into number / operator / `=` tokens, and a
recursive-descent parser computes each side exactly with `Fraction`s (+ - * x × · / ÷ ^, parentheses, decimals,
thousands separators, %, `\\times`, `\\frac{a}{b}`), under hard caps on lengths, exponents and result sizes.

Lenient by design, because a wrong verdict here drops a good trace: only an equation whose every side parses
completely as plain arithmetic is judged (`2x = 8`, `r^2 = ...`, `half of 10 = 5` are skipped); a result may be
rounded (or truncated) to the decimals it is written with (`10/3 = 3.33`); after "≈", "about", "approximately" it
may be off by half a unit of its last written digit ("≈ 300": 50) or 1 %; `p%` may mean p/100 or p, and `a + p%`
may mean a·(1+p/100); a running total (`3 * 4 = 12 + 2 = 14`) continues from the previous result.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

__all__ = ["Equation", "check_equations", "find_equations"]

MAX_SCAN_CHARS = 50_000  # equations are looked for in this much of a trace
MAX_EQUATIONS = 200
_MAX_NUMBER_CHARS = 30
_MAX_EXPONENT = 64
_MAX_SIDE_TOKENS = 80  # one side of an equation, in numbers, operators and parentheses
_MAX_DEPTH = 8  # parentheses nested deeper than this are not hand arithmetic (and would cost recursion)
_MAX_BITS = 2048  # a value whose numerator or denominator grows past this is not grade-school arithmetic
_APPROX_WORDS = {"about", "approximately", "approx", "roughly", "around", "nearly", "almost"}
_REMAINDER = {"remainder", "rem", "r"}  # `30 / 4 = 7 remainder 2`: the quotient, not the value
_UNIT_LETTERS = {"m", "g", "l", "h", "s", "k"}
_AFTER_UNIT = ("op", "eq", "break", "rp", "")
_OP_WORDS = {"times": "*", "plus": "+", "minus": "-", "multiplied": "*", "divided": "/"}


class _Unparsable(Exception):
    """The tokens are not plain arithmetic (or are too big): the equation is skipped, never judged."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # num | op | lp | rp | pct | eq | word | break
    text: str
    approx: bool = False  # for `eq`: "≈" or followed by "about"


@dataclass(frozen=True)
class Equation:
    """One checked link `left = right`: `holds` is False when the two sides differ beyond the stated rounding."""

    text: str
    left: Fraction
    right: Fraction
    holds: bool


_LATEX_SUBS = [
    (re.compile(r"\\[dt]?frac\s*\{([^{}]{1,80})\}\s*\{([^{}]{1,80})\}"), r"((\1)/(\2))"),
    (re.compile(r"\\(?:times|cdot|ast)(?![A-Za-z])"), "*"),
    (re.compile(r"\\div(?![A-Za-z])"), "/"),
    (re.compile(r"\\approx(?![A-Za-z])"), "≈"),
    (re.compile(r"\\%"), "%"),
    (re.compile(r"\{,\}"), ","),
    (re.compile(r"\\(?:left|right)(?![A-Za-z])|\\[,;:!]|\\\$"), " "),
    (re.compile(r"\\(?:boxed|text|mathrm|textbf|mathbf)\s*(?=\{)"), ""),
]
_CHARS = str.maketrans({"−": "-", "×": "*", "·": "*", "⋅": "*", "÷": "/", "²": "^2", "³": "^3", "{": "(", "}": ")"})
_TOKEN_RE = re.compile(
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,]\d)|\d+(?:\.\d+)?|\.\d+)"
    r"|(?P<op>\*\*|[-+*/^])|(?P<lp>[(\[])|(?P<rp>[)\]])|(?P<pct>%)"
    r"|(?P<eq>=~|~=|≈|≅|=)|(?P<word>[A-Za-z]+)|(?P<skip>[ \t$€£]+)|(?P<break>.|\n)"
)


_ASIDE_RE = re.compile(r"\(\s*[A-Za-z][A-Za-z' ]{0,40}\)")
_CLOCK_RE = re.compile(r"\d+(?::\d+)+")
_RATE_UNIT_RE = re.compile(r"\b(km|m|mi|ft|miles|meters|metres|kilometers|kilometres)\s*/\s*(h|hr|hour|s|sec|min)\b")


def _prepare(text: str) -> str:
    text = _RATE_UNIT_RE.sub(r"\1per\2", text[:MAX_SCAN_CHARS])
    text = _CLOCK_RE.sub(" clock ", text)  # 10:30, 3:4 are not arithmetic (and their parts are no operands)
    text = _ASIDE_RE.sub(" ", text)  # "11 (Monday) + 9 (Tuesday) = 11": a label in parentheses is no operand
    for _ in range(3):  # nested \frac: innermost first
        for pattern, repl in _LATEX_SUBS:
            text = pattern.sub(repl, text)
    return text.translate(_CHARS)


def _tokens(text: str) -> list[_Tok]:
    raw = [(m.lastgroup or "break", m.group()) for m in _TOKEN_RE.finditer(_prepare(text))]
    raw = [item for item in raw if item[0] != "skip"]
    toks: list[_Tok] = []
    for i, (kind, value) in enumerate(raw):
        if kind == "word":
            toks.append(
                _word_token(value.lower(), toks[-1] if toks else None, raw[i + 1][0] if i + 1 < len(raw) else "")
            )
        elif kind == "eq":
            toks.append(_Tok("eq", value, approx=value != "="))
        else:
            toks.append(_Tok(kind, value))
    return toks


def _word_token(word: str, prev: _Tok | None, nxt: str) -> _Tok:
    """Operator words, `x` between numbers, units after a number, approximation words after `=`; else a break.

    `prev` is the token before, `nxt` the kind of the raw token after ("" at the end).
    """
    if word in _REMAINDER:
        return _Tok("break", word)
    if word == "x" and prev is not None and prev.kind in ("num", "rp", "pct") and nxt in ("num", "lp"):
        return _Tok("op", "*")
    if word in _OP_WORDS and prev is not None and prev.kind in ("num", "rp", "pct", "word"):
        return _Tok("op", _OP_WORDS[word])
    if word == "by" and prev is not None and prev.kind == "op" and prev.text in "*/":
        return _Tok("word", word)  # "divided by", "multiplied by"
    if word == "of" and prev is not None and prev.kind == "pct":
        return _Tok("op", "*")  # "15% of 80"
    if word in _APPROX_WORDS and prev is not None and prev.kind == "eq":
        return _Tok("word", word)
    unit = len(word) > 1 or word in _UNIT_LETTERS  # `2x - 3`: a one-letter word is a variable, not a unit
    if unit and prev is not None and prev.kind in ("num", "pct") and len(word) <= 12 and nxt in _AFTER_UNIT:
        return _Tok("word", word)  # a unit: "12 m ÷ 1.5 m = 8"
    return _Tok("break", word)


def _runs(toks: list[_Tok]) -> Iterator[tuple[list[_Tok], bool, bool]]:
    """Maximal stretches of arithmetic tokens (a `break` ends one), words dropped but approximations marked.

    With each: whether a word came right before (then a leading "-" may be a binary minus we cannot see:
    `y - 3 = 7`) and whether a one-letter word or "remainder" comes right after (`= 2x`, `= 7 remainder 2`: the
    last number is not the value of the side).
    """
    run: list[_Tok] = []
    after_word = False
    for tok in toks + [_Tok("break", "")]:
        if tok.kind == "break":
            if any(t.kind == "eq" for t in run):
                yield run, after_word, (len(tok.text) == 1 and tok.text.isalpha()) or tok.text in _REMAINDER
            run = []
            after_word = tok.text[:1].isalnum()
        elif tok.kind == "word":
            if tok.text in _APPROX_WORDS and run and run[-1].kind == "eq":
                run[-1] = _Tok("eq", run[-1].text + " " + tok.text, approx=True)
        else:
            run.append(tok)


class _Parser:
    """expr := term (+|- term)*; term := factor ((*|/|implicit) factor)*; factor := unary (^ factor)?.

    `percent` says what `p%` means: "fraction" (p/100), "number" (p) or "relative" (`a + p%` = a·(1+p/100)).
    """

    def __init__(self, toks: list[_Tok], percent: str) -> None:
        self.toks, self.pos, self.percent = toks, 0, percent

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise _Unparsable("end of expression")
        self.pos += 1
        return tok

    def parse(self) -> Fraction:
        value = self.expr()
        if self.pos != len(self.toks):
            raise _Unparsable("trailing tokens")
        return value

    def expr(self) -> Fraction:
        value = self.term()
        while (tok := self.peek()) is not None and tok.kind == "op" and tok.text in "+-":
            self.take()
            start = self.pos
            right = self.term()
            if self.percent == "relative" and self.toks[self.pos - 1].kind == "pct" and self.pos - start == 2:
                right = value * right / 100  # "50 + 20%": 20 % of 50
            value = _checked(value + right if tok.text == "+" else value - right)
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while (tok := self.peek()) is not None and (tok.kind == "lp" or (tok.kind == "op" and tok.text in "*/")):
            if tok.kind == "op":
                self.take()
            right = self.factor()
            if tok.text == "/":
                if right == 0:
                    raise _Unparsable("division by zero")
                value = _checked(value / right)
            else:
                value = _checked(value * right)
        return value

    def factor(self) -> Fraction:
        base = self.unary()
        tok = self.peek()
        if tok is None or tok.kind != "op" or tok.text not in ("^", "**"):
            return base
        self.take()
        exponent = self.factor()
        if exponent.denominator != 1 or abs(exponent) > _MAX_EXPONENT or (base == 0 and exponent < 0):
            raise _Unparsable("exponent")
        return _checked(base**exponent.numerator)

    def unary(self) -> Fraction:
        tok = self.take()
        if tok.kind == "op" and tok.text == "-":
            return -self.unary()
        if tok.kind == "num":
            if len(tok.text) > _MAX_NUMBER_CHARS:
                raise _Unparsable("number too long")
            value = Fraction(tok.text.replace(",", ""))
        elif tok.kind == "lp":
            value = self.expr()
            if self.take().kind != "rp":
                raise _Unparsable("unbalanced")
        else:
            raise _Unparsable(f"unexpected {tok.text!r}")
        if (nxt := self.peek()) is not None and nxt.kind == "pct":
            self.take()
            value = value if self.percent in ("number", "relative") else value / 100
        return value


def _depth(toks: list[_Tok]) -> int:
    depth = deepest = 0
    for tok in toks:
        depth += (tok.kind == "lp") - (tok.kind == "rp")
        deepest = max(deepest, depth)
    return deepest


def _checked(value: Fraction) -> Fraction:
    if value.numerator.bit_length() > _MAX_BITS or value.denominator.bit_length() > _MAX_BITS:
        raise _Unparsable("value too large")
    return value


@dataclass(frozen=True)
class _Side:
    toks: list[_Tok]
    values: frozenset[Fraction]
    has_op: bool
    decimals: int | None  # digits after the point when the side is one written number, else None
    trailing_zeros: int


def _side(toks: list[_Tok]) -> _Side | None:
    if not toks or len(toks) > _MAX_SIDE_TOKENS or _depth(toks) > _MAX_DEPTH:
        return None
    values = set()
    for mode in ("fraction", "number", "relative") if any(t.kind == "pct" for t in toks) else ("fraction",):
        try:
            values.add(_Parser(toks, mode).parse())
        except (_Unparsable, ValueError, ZeroDivisionError, OverflowError):
            continue
    if not values:
        return None
    nums = [t for t in toks if t.kind == "num"]
    binary = any(t.kind == "op" and i > 0 and toks[i - 1].kind in ("num", "rp", "pct") for i, t in enumerate(toks))
    binary = binary or any(t.kind == "lp" and i > 0 and toks[i - 1].kind == "num" for i, t in enumerate(toks))
    decimals = zeros = None
    if len(nums) == 1 and not binary:
        digits = nums[0].text.replace(",", "")
        decimals = len(digits.partition(".")[2])
        zeros = len(digits) - len(digits.rstrip("0")) if not decimals else 0
    return _Side(toks, frozenset(values), binary, decimals, zeros or 0)


def _edge_side(toks: list[_Tok], first: bool, after_word: bool) -> _Side | None:
    """The first segment may end a longer text ("1) 3 + 5"), the last may begin one ("8)"): parse its tail/head.

    A part is used only when what lies outside it cannot be an operand of it; else the side is unknown (None).
    """
    if not toks or (first and after_word and toks[0].kind == "op"):
        return None
    if (whole := _side(toks)) is not None:
        return whole
    if first:
        for i in range(max(1, len(toks) - _MAX_SIDE_TOKENS), len(toks)):
            if toks[i - 1].kind in ("op", "num", "pct") or toks[i].kind == "op":
                continue  # `2 1/2`, `x - 1/2`: what we could read is part of something bigger
            if (side := _side(toks[i:])) is not None:
                return side
        return None
    for j in range(min(len(toks) - 1, _MAX_SIDE_TOKENS), 0, -1):
        if toks[j].kind == "rp" and (side := _side(toks[:j])) is not None:
            return side
    return None


def _holds(left: _Side, right: _Side, approx: bool) -> bool:
    """Equal, or within the rounding the written number states (see the module docstring)."""
    tol = Fraction(0)
    for side in (left, right):
        if side.decimals:
            tol = max(tol, Fraction(1, 10**side.decimals))
        elif approx and side.decimals == 0:  # "≈ 14": rounded to units; "≈ 300": to hundreds
            tol = max(tol, Fraction(10**side.trailing_zeros, 2))
    for a in left.values:
        for b in right.values:
            slack = max(tol, abs(b) / 100) if approx else tol
            if a == b or abs(a - b) < slack:
                return True
    return False


def _chain(segments: list[list[_Tok]], eqs: list[_Tok], after_word: bool) -> Iterator[Equation]:
    """Check each link of `s0 = s1 = ... = sn`; a running total (`= 12 + 2`) continues instead of comparing."""
    sides = [
        _edge_side(seg, True, after_word)
        if i == 0
        else _edge_side(seg, False, False)
        if i == len(segments) - 1
        else _side(seg)
        for i, seg in enumerate(segments)
    ]
    judged = False
    for i in range(1, len(sides)):
        left, right = sides[i - 1], sides[i]
        if left is None or right is None:
            judged = False
            continue
        first = segments[i][0]
        if right.has_op and first.kind == "num" and Fraction(first.text.replace(",", "")) in left.values:
            continue  # "= 12 + 2": a running total from the previous result
        if not (judged or left.has_op or right.has_op):
            continue
        judged = True
        holds = _holds(left, right, eqs[i - 1].approx)
        text = f"{_show(left.toks)} {eqs[i - 1].text} {_show(right.toks)}"
        yield Equation(text, min(left.values), min(right.values), holds)


def _show(toks: list[_Tok]) -> str:
    out = ""
    for tok in toks:
        glue = tok.kind in ("rp", "pct") or out.endswith("(") or not out
        out += tok.text if glue else " " + tok.text
    return out


def find_equations(text: str) -> list[Equation]:
    """Every explicit arithmetic equation in `text` that could be read completely, checked (at most 200)."""
    found: list[Equation] = []
    for run, after_word, before_variable in _runs(_tokens(text)):
        segments: list[list[_Tok]] = [[]]
        eqs: list[_Tok] = []
        for tok in run:
            if tok.kind == "eq":
                segments.append([])
                eqs.append(tok)
            else:
                segments[-1].append(tok)
        if before_variable:
            segments[-1] = []
        room = MAX_EQUATIONS - len(found)
        found.extend(_chain(segments[: room + 1], eqs[:room], after_word))
        if len(found) >= MAX_EQUATIONS:
            break
    return found[:MAX_EQUATIONS]


def check_equations(text: str) -> tuple[int, list[str]]:
    """(how many equations were checked, the text of each one that does not hold)."""
    equations = find_equations(text)
    return len(equations), [e.text for e in equations if not e.holds]
