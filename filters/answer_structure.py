"""The shape of a multi-part answer: a set of solutions, an ordered tuple, a bare list, or assignments.

Order and multiplicity follow what the reference is. `\\{12, 13\\}` is a set (any order, repeats do not count);
`(12, 13)` is an ordered tuple (left to math-verify when both sides are tuples, which keeps order and tells intervals
apart); a bare `12, 13` is read as an ordered list, since without braces nothing says the order is free (write the
reference as a set when it is one). `x = 2, y = 3` is a mapping from variables to values (order free), and
`x = 2, x = 3` is a set of solutions for one variable. `1,234` (three digits after each comma) is a number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Collection", "assignments", "collection"]

MAX_ITEMS = 20  # more parts than this is not an answer we compare item by item
_THOUSANDS_RE = re.compile(r"^[+-]?\$?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_ASSIGN_RE = re.compile(r"^\s*([A-Za-z](?:_\{?\w+\}?)?)\s*=\s*([^=]+)$")
_OPEN, _CLOSE = "([{", ")]}"

Kind = Literal["set", "tuple", "list"]


@dataclass(frozen=True)
class Collection:
    kind: Kind
    items: tuple[str, ...]


def _split_top(s: str) -> list[str] | None:
    """`s` split at commas outside any bracket (`\\{ \\}` count as braces); None if the brackets do not balance."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            c, i = s[i + 1], i + 1
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth < 0:
                return None
        elif c == "," and depth == 0:
            parts.append(s[start:i])
            start = i + 1
        i += 1
    parts.append(s[start:])
    return [p.strip() for p in parts] if depth == 0 else None


def _wrapped(s: str, left: str, right: str) -> str | None:
    """The inside of `s` if `left` ... `right` enclose all of it (not "(1)+(2)"), else None."""
    if not (s.startswith(left) and s.endswith(right)) or len(s) < len(left) + len(right):
        return None
    inner = s[len(left) : len(s) - len(right)]
    return inner if _split_top(inner.replace(",", " ")) is not None else None


def collection(s: str) -> Collection | None:
    """The answer as a set, tuple or list of parts, or None for a single value (or an interval, or a number)."""
    s = s.strip()
    if s in ("\\emptyset", "\\varnothing", "\u2205"):
        return Collection("set", ())
    if _THOUSANDS_RE.match(s):
        return None
    for left, right, kind in (("\\{", "\\}", "set"), ("{", "}", "set"), ("(", ")", "tuple")):
        inner = _wrapped(s, left, right)
        if inner is not None:
            items = _split_top(inner)
            if items is not None and (kind == "set" and left == "\\{" or len(items) > 1):
                return Collection(kind, tuple(i for i in items if i) if kind == "set" else tuple(items))  # type: ignore[arg-type]
    items = _split_top(s)
    return Collection("list", tuple(items)) if items is not None and len(items) > 1 else None


def assignments(items: tuple[str, ...]) -> list[tuple[str, str]] | None:
    """(variable, value) for each part if every part is `var = value`, else None."""
    pairs = [_ASSIGN_RE.match(item) for item in items]
    return [(m.group(1), m.group(2).strip()) for m in pairs if m] if all(pairs) else None
