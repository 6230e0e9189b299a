"""Word tables for `filters.normalize`: contractions, abbreviations, units and fractions, as plain data.

Every key is lowercase and already in the form the normalizer has produced when it looks the word up (dots dropped,
British spelling Americanized: "kilometres" has become "kilometers" before the unit table is consulted).
"""

from __future__ import annotations

# Contraction pattern -> expansion, applied in order: specific forms precede the generic suffixes. Adapted from the
# table inside Whisper's EnglishTextNormalizer.__init__ (not importable as data); "cannot" is an abbreviation below.
CONTRACTIONS: tuple[tuple[str, str], ...] = (
    (r" '(?=(?:s|re|ve|ll|d|m|t)\b)", "'"),  # "it 's" -> "it's"
    (r" (?=n't\b)", ""),  # "do n't" -> "don't"
    (r"\bwon't\b", "will not"),
    (r"\bcan't\b", "can not"),
    (r"\bshan't\b", "shall not"),
    (r"\blet's\b", "let us"),
    (r"\bain't\b", "aint"),
    (r"\by'all\b", "you all"),
    (r"\bma'am\b", "madam"),
    (r"\bwanna\b", "want to"),
    (r"\bgotta\b", "got to"),
    (r"\bgonna\b", "going to"),
    (r"'d been\b", " had been"),
    (r"'s been\b", " has been"),
    (r"'d gone\b", " had gone"),
    (r"'s gone\b", " has gone"),
    (r"'d done\b", " had done"),
    (r"'s got\b", " has got"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'s\b", " is"),
    (r"'d\b", " would"),
    (r"'ll\b", " will"),
    (r"'t\b", " not"),
    (r"'ve\b", " have"),
    (r"'m\b", " am"),
)

# Abbreviation -> spoken form, anywhere. "St." is street or saint, so "saint" joins them: "St. Louis" == "Saint
# Louis". Words that are also ordinary words ("fig", "vol", "gen" in "next gen") are only expanded before a number,
# see ABBREVIATIONS_BEFORE_NUMBER, or left out ("Ft." would clash with "3 ft").
ABBREVIATIONS: dict[str, str] = {
    "mr": "mister",
    "mrs": "missus",
    "miz": "ms",
    "dr": "doctor",
    "prof": "professor",
    "st": "street",
    "saint": "street",
    "jr": "junior",
    "sr": "senior",
    "capt": "captain",
    "gen": "general",
    "lt": "lieutenant",
    "sgt": "sergeant",
    "cmdr": "commander",
    "adm": "admiral",
    "rev": "reverend",
    "hon": "honorable",
    "pres": "president",
    "gov": "governor",
    "mt": "mount",
    "ave": "avenue",
    "rd": "road",
    "blvd": "boulevard",
    "dept": "department",
    "univ": "university",
    "bros": "brothers",
    "corp": "corporation",
    "inc": "incorporated",
    "ltd": "limited",
    "vs": "versus",
    "etc": "et cetera",
    "etcetera": "et cetera",
    "eg": "for example",
    "ie": "that is",
    "cf": "compare",
    "approx": "approximately",
    "ok": "okay",
    "cannot": "can not",
}

# Abbreviation -> word, only right before a digit: "Fig. 3" / "fig 3" -> "figure 3".
ABBREVIATIONS_BEFORE_NUMBER: dict[str, str] = {
    "fig": "figure",
    "eq": "equation",
    "vol": "volume",
    "ch": "chapter",
    "sec": "section",
    "pt": "part",
}
# Of those, the ones that need their dot: "30 sec 5 min" is two durations, "Sec. 5" a section.
BEFORE_NUMBER_WITH_DOT_ONLY = frozenset({"ch", "sec", "pt"})

# Unit word right after a number -> one canonical token, so "5 km", "5 kilometers" and "five kilometres" meet.
# "lb" maps to "pounds" because Whisper's number step already turns "5 pounds" into "£5": the two are one sound.
_UNIT_SPELLINGS: dict[str, tuple[str, ...]] = {
    "km": ("km", "kms", "kilometer", "kilometers"),
    "m": ("m", "meter", "meters"),
    "cm": ("cm", "centimeter", "centimeters"),
    "mm": ("mm", "millimeter", "millimeters"),
    "mi": ("mi", "mile", "miles"),
    "ft": ("ft", "foot", "feet"),
    "in": ("in", "inch", "inches"),
    "yd": ("yd", "yds", "yard", "yards"),
    "kg": ("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms"),
    "g": ("g", "gram", "grams"),
    "mg": ("mg", "milligram", "milligrams"),
    "pounds": ("lb", "lbs"),
    "oz": ("oz", "ounce", "ounces"),
    "l": ("l", "liter", "liters"),
    "ml": ("ml", "milliliter", "milliliters"),
    "gal": ("gal", "gallon", "gallons"),
    "tsp": ("tsp", "teaspoon", "teaspoons"),
    "tbsp": ("tbsp", "tablespoon", "tablespoons"),
    "mph": ("mph",),
    "kph": ("kph", "kmh"),
    "mps": ("mps",),
    "ms": ("ms", "millisecond", "milliseconds"),
    "sec": ("sec", "secs", "seconds"),  # singular "second" is an ordinal ("twenty second"): see SECOND_UNIT_AFTER
    "min": ("min", "mins", "minute", "minutes"),
    "hr": ("h", "hr", "hrs", "hour", "hours"),
    "hz": ("hz", "hertz"),
    "khz": ("khz", "kilohertz"),
    "mhz": ("mhz", "megahertz"),
    "ghz": ("ghz", "gigahertz"),
    "kb": ("kb", "kilobyte", "kilobytes"),
    "mb": ("mb", "megabyte", "megabytes"),
    "gb": ("gb", "gigabyte", "gigabytes"),
    "tb": ("tb", "terabyte", "terabytes"),
    "w": ("w", "watt", "watts"),
    "kw": ("kw", "kilowatt", "kilowatts"),
    "kwh": ("kwh",),
    "v": ("v", "volt", "volts"),
    "kcal": ("kcal", "kilocalorie", "kilocalories"),
    "cal": ("cal", "calorie", "calories"),
    "ha": ("ha", "hectare", "hectares"),
    "pence": ("p", "pence", "penny"),
    "degrees": ("degrees", "degree", "deg"),
}
UNITS: dict[str, str] = {spelling: unit for unit, spellings in _UNIT_SPELLINGS.items() for spelling in spellings}

# Three-word unit phrases after a number (checked before the one-word table): "miles per hour", "km an hour",
# "m per second" (Whisper writes the unit short and the rest long; its number step would make "second" "2nd").
_SPEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "mph": (_UNIT_SPELLINGS["mi"], ("hour", "hr", "h")),
    "kph": (_UNIT_SPELLINGS["km"], ("hour", "hr", "h")),
    "mps": (_UNIT_SPELLINGS["m"], ("second", "sec", "s")),
}
UNIT_PHRASES: dict[tuple[str, str, str], str] = {
    (distance, per, time): unit
    for unit, (distances, times) in _SPEEDS.items()
    for distance in distances
    for per in ("per", "an", "a")
    for time in times
} | {("kilowatt", "per", "hour"): "kwh"}
# Two-word unit phrases after a number.
UNIT_PAIRS: dict[tuple[str, str], str] = {
    ("kilowatt", "hour"): "kwh",
    ("kilowatt", "hours"): "kwh",
}
# "one second" is a duration; "twenty second" stays the ordinal "22nd".
SECOND_UNIT_AFTER = frozenset({"one", "1"})

# The scale word that may follow "degrees".
TEMPERATURE_SCALES: dict[str, str] = {
    "c": "celsius",
    "celsius": "celsius",
    "centigrade": "celsius",
    "f": "fahrenheit",
    "fahrenheit": "fahrenheit",
    "k": "kelvin",
    "kelvin": "kelvin",
}

# Fraction word after a numerator -> denominator: "three quarters" -> "3 over 4" (the form "3/4" is read as).
# "second" is absent (a half is a "half"), and so are "hundredth" and up ("one hundredth" is also "100th").
FRACTION_SINGULAR: dict[str, int] = {
    "half": 2,
    "third": 3,
    "quarter": 4,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
}
FRACTION_PLURAL: dict[str, int] = {
    ("halves" if word == "half" else word + "s"): n for word, n in FRACTION_SINGULAR.items()
}
# Numerators a singular fraction word may follow: "one third", "a half", "a quarter" ("a third time" is no fraction).
FRACTION_SINGULAR_AFTER: dict[str, frozenset[int]] = {
    "one": frozenset(FRACTION_SINGULAR.values()),
    "1": frozenset(FRACTION_SINGULAR.values()),
    "a": frozenset({2, 4}),
}
# Words after "quarter"/"half" that make it a clock time, not a fraction: "a quarter past three".
CLOCK_RELATIONS = frozenset({"past", "after", "to", "till"})

MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip

# Digits a person reads one by one; "double"/"triple" repeat the next one ("double oh seven" -> "007").
SINGLE_DIGITS = frozenset(
    {"zero", "oh", "o", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", *"0123456789"}
)
REPEATS: dict[str, int] = {"double": 2, "triple": 3}
