"""Units on answers: split "5 cm" into (5, cm) and convert between units exactly, or refuse.

Two answers in different units are different answers unless one converts exactly into the other: "50 mm" = "5 cm",
"1 mi" = "1609.344 m" (the international mile is defined exactly), but "5 cm" != "5 m". Every factor here is an
exact `Fraction` of its dimension's base unit (the definitions, not rounded values), so a converted comparison is as
exact as the numeric one. Units with no single meaning or no exact factor (ton: short, long or metric; month; degrees
vs radians, which needs pi; Celsius vs Fahrenheit, which is affine) get a dimension of their own: equal only to
themselves. A unit this table does not know is compared by name.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["Unit", "convert", "parse_unit", "UNIT_WORDS"]

Unit = tuple[str, Fraction]  # (dimension, factor to the dimension's base unit)

_LENGTH = {
    "mm": Fraction(1, 1000), "millimeter": Fraction(1, 1000), "cm": Fraction(1, 100), "centimeter": Fraction(1, 100),
    "m": Fraction(1), "meter": Fraction(1), "metre": Fraction(1), "km": Fraction(1000), "kilometer": Fraction(1000),
    "in": Fraction(127, 5000), "inch": Fraction(127, 5000), "ft": Fraction(381, 1250), "foot": Fraction(381, 1250),
    "feet": Fraction(381, 1250), "yd": Fraction(1143, 1250), "yard": Fraction(1143, 1250),
    "mi": Fraction(201168, 125), "mile": Fraction(201168, 125),
}  # fmt: skip
_SIMPLE: dict[str, Unit] = {
    **{k: ("length", v) for k, v in _LENGTH.items()},
    **{k: ("volume", Fraction(1, 1000)) for k in ("l", "liter", "litre")},
    **{k: ("volume", Fraction(1, 1_000_000)) for k in ("ml", "milliliter", "millilitre")},
    **{k: ("volume", Fraction(473176473, 125_000_000_000)) for k in ("gallon", "gal")},  # US gallon, 3.785411784 L
    **{k: ("mass", Fraction(1, 1_000_000)) for k in ("mg", "milligram")},
    **{k: ("mass", Fraction(1, 1000)) for k in ("g", "gram")},
    **{k: ("mass", Fraction(1)) for k in ("kg", "kilogram")},
    **{k: ("mass", Fraction(45359237, 100_000_000)) for k in ("lb", "lbs", "pound")},
    **{k: ("mass", Fraction(45359237, 1_600_000_000)) for k in ("oz", "ounce")},
    **{k: ("time", Fraction(1)) for k in ("s", "sec", "second")},
    **{k: ("time", Fraction(60)) for k in ("min", "minute")},
    **{k: ("time", Fraction(3600)) for k in ("h", "hr", "hour")},
    **{k: ("time", Fraction(86400)) for k in ("day",)},
    **{k: ("time", Fraction(604800)) for k in ("week", "wk")},
    **{k: ("calendar", Fraction(1)) for k in ("month",)},
    **{k: ("calendar", Fraction(12)) for k in ("year", "yr")},
    **{k: ("money_usd", Fraction(1)) for k in ("dollar", "usd", "$")},
    **{k: ("money_usd", Fraction(1, 100)) for k in ("cent", "¢")},
    **{k: ("money_eur", Fraction(1)) for k in ("euro", "eur", "€")},
    **{k: ("money_gbp", Fraction(1)) for k in ("£", "gbp")},
    **{k: ("angle_degree", Fraction(1)) for k in ("degree", "deg", "°")},
    **{k: ("angle_radian", Fraction(1)) for k in ("radian", "rad")},
    **{k: ("temperature_c", Fraction(1)) for k in ("°c", "celsius", "degree celsius")},
    **{k: ("temperature_f", Fraction(1)) for k in ("°f", "fahrenheit", "degree fahrenheit")},
    **{k: ("ton", Fraction(1)) for k in ("ton", "tonne")},
}
_SPEED = {"mph": ("mile", "hour"), "kph": ("km", "hour"), "kmh": ("km", "hour")}
_IRREGULAR_PLURALS = {"feet": "feet", "inches": "inch", "cents": "cent", "celsius": "celsius", "lbs": "lbs"}

# words `normalize` may find after a number (for the parser of the answer's tail)
UNIT_WORDS = sorted(
    {*(k for k in _SIMPLE if k.isalpha()), *(k + "s" for k in _SIMPLE if k.isalpha() and len(k) > 2), "inches"}
    | set(_SPEED)
    | {"sq", "square", "cubic", "units", "unit"},
    key=len,
    reverse=True,
)


def _singular(word: str) -> str:
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    return word[:-1] if word.endswith("s") and word[:-1] in _SIMPLE else word


def _simple(words: list[str]) -> Unit | None:
    """One unit, maybe raised to a power ("square cm", "cm^2", "cubic feet")."""
    power = 1
    if words and words[0] in ("sq", "square", "cubic"):
        power = 3 if words[0] == "cubic" else 2
        words = words[1:]
    if len(words) == 1:
        m = re.fullmatch(r"([^\^]+)\^\{?([23])\}?", words[0])
        if m:
            words, power = [m.group(1)], power * int(m.group(2))
    name = _singular(" ".join(_singular(w) for w in words))
    unit = _SIMPLE.get(name)
    if unit is None:
        return None
    dimension, factor = unit
    if power == 1:
        return unit
    if dimension != "length":
        return None
    return ("area" if power == 2 else "volume", factor**power)


def parse_unit(text: str) -> Unit | None:
    """Dimension and exact factor of a unit text ("cm", "km/h", "miles per hour", "sq ft"), or None if unknown."""
    s = " ".join(text.lower().replace("·", " ").split())
    if s in _SPEED:
        s = "/".join(_SPEED[s])
    parts = re.split(r"\s*/\s*|\s+per\s+", s)
    if len(parts) == 2:
        top, bottom = _simple(parts[0].split()), _simple(parts[1].split())
        if top is None or bottom is None:
            return None
        return (f"{top[0]}/{bottom[0]}", top[1] / bottom[1])
    return _simple(s.split()) if len(parts) == 1 else None


def convert(value: Fraction, unit: Unit, into: Unit) -> Fraction | None:
    """`value` in `unit` expressed in `into`, exactly; None when the dimensions differ (no conversion exists)."""
    if unit[0] != into[0]:
        return None
    return value * unit[1] / into[1]
