"""Table tests for `speakable` (written chat text → what a TTS voice reads aloud) and `unspeakable_reason`."""

from __future__ import annotations

import time

import pytest

from datagen.speakable import speakable, strip_tags, unspeakable_reason
from filters.normalize import normalize_text

CASES: dict[str, list[tuple[str, str]]] = {
    "media_tags": [
        ("<image>What is this?", "What is this?"),
        ("<image>\nWhat is this?", "What is this?"),
        ("Compare <image> with <IMAGE> please", "Compare with please"),
        ("<audio>What was said? <video>", "What was said?"),
        ("<image><image>Which is larger?", "Which is larger?"),
    ],
    "abbreviations": [
        ("Ask Dr. Smith.", "Ask Doctor Smith."),
        ("Go to Main St. now", "Go to Main Street now"),
        ("Shapes, e.g. a circle", "Shapes, for example a circle"),
        ("Shapes, e.g., a circle", "Shapes, for example, a circle"),
        ("(e.g.) circles", "(for example) circles"),
        ("Blue, i.e. cold", "Blue, that is cold"),
        ("Mr. Jones vs. Mrs. Jones", "Mister Jones versus Missus Jones"),
        ("Prof. Lee climbed Mt. Fuji, approx. twice", "Professor Lee climbed Mount Fuji, approximately twice"),
        ("Red, blue, etc.", "Red, blue, et cetera"),
        ("Dr.Smith", "Dr.Smith"),
        ("dr. who", "dr. who"),
        ("Capt. Hook met Gen. Grant", "Captain Hook met General Grant"),
        ("Lt. Dan and Sgt. Pepper", "Lieutenant Dan and Sergeant Pepper"),
        ("Rev. King spoke", "Reverend King spoke"),
        ("Turn onto Park Ave. then Sunset Blvd.", "Turn onto Park Avenue then Sunset Boulevard"),
        ("Take Mill Rd. north", "Take Mill Road north"),
        ("Ms. Rivera is here", "Miz Rivera is here"),
        ("Martin Luther King Jr. spoke", "Martin Luther King Junior spoke"),
        ("cf. the other one", "compare the other one"),
        ("Gov. Brown and Pres. Lincoln", "Governor Brown and President Lincoln"),
    ],
    "titles_numbers": [
        ("No. 5 is best", "number 5 is best"),
        ("Room #12", "Room number 12"),
        ("The answer is no.", "The answer is no."),
        ("Say no.", "Say no."),
        ("No. It is not.", "No. It is not."),
        ("I said no, no.", "I said no, no."),
        ("Is it red? no.", "Is it red? no."),
    ],
    "markdown": [
        ("Is the **red** circle big?", "Is the red circle big?"),
        ("Is the *red* circle _big_ today?", "Is the red circle big today?"),
        ("Run `ls` now", "Run ls now"),
        ("# Title\n> quoted", "Title quoted"),
        ("## Step two\nMix it", "Step two Mix it"),
        ("- apples\n- pears\n- plums", "apples, pears, plums"),
        ("* red\n* blue", "red, blue"),
        ("1. wash\n2. dry\n3. fold", "wash, dry, fold"),
        ("Buy:\n- milk\n- eggs", "Buy:, milk, eggs"),
        ("A ~~wrong~~ right answer", "A wrong right answer"),
        ("See [the docs](https://example.com/docs) first", "See the docs first"),
        ("***very*** important", "very important"),
        ("__bold__ text", "bold text"),
        ("The `x` variable", "The x variable"),
        ("- only one item", "only one item"),
    ],
    "urls_emails": [
        ("See https://example.com/a?b=1 for more", "See example dot com for more"),
        ("Open http://x.y", "Open x dot y"),
        ("Visit www.python.org today", "Visit python dot org today"),
        ("Go to https://www.wikipedia.org/wiki/Moon.", "Go to wikipedia dot org"),
        ("Email bob@example.com", "Email bob at example dot com"),
        ("Write to jane.doe@mail.co.uk soon", "Write to jane dot doe at mail dot co dot uk soon"),
        ("mail me@home", "mail me at home"),
        ("Is https://a.b.c/d safe?", "Is a dot b dot c safe?"),
    ],
    "latex": [
        ("What is $x^2 + 3x = 10$?", "What is x squared plus 3x equals 10?"),
        ("Solve $\\frac{1}{2} + \\sqrt{16}$", "Solve 1 over 2 plus the square root of 16"),
        ("Is $a^3$ odd?", "Is a cubed odd?"),
        ("Find $2^{10}$", "Find 2 to the power of 10"),
        ("Let $x_1 = 4$", "Let x sub 1 equals 4"),
        ("Compute $\\dfrac{3}{4}$", "Compute 3 over 4"),
        ("Is $\\sqrt[3]{27} = 3$?", "Is the cube root of 27 equals 3?"),
        ("Is $\\pi > 3$?", "Is pi is greater than 3?"),
        ("Show $a \\le b$", "Show a is less than or equal to b"),
        ("Is $x \\neq 0$?", "Is x is not equal to 0?"),
        ("What is $5 \\times 6$?", "What is 5 times 6?"),
        ("What is $8 \\div 2$?", "What is 8 divided by 2?"),
        ("Angle of $90^\\circ$", "Angle of 90 degrees"),
        ("The limit is $\\infty$", "The limit is infinity"),
        ("Find $\\sin x$", "Find sine x"),
        ("If $\\alpha = 2$", "If alpha equals 2"),
        ("Is \\(a - b\\) positive?", "Is a minus b positive?"),
        ("What is $\\frac{\\frac{1}{2}}{3}$?", "What is 1 over 2 over 3?"),
        ("Value $\\text{speed} = 5$", "Value speed equals 5"),
        ("Area: $\\pi r^2$", "Area: pi r squared"),
        ("$$x + 1 = 2$$ solve it", "x plus 1 equals 2 solve it"),
        ("\\[y = 2x\\] is a line", "y equals 2x is a line"),
        ("Is $x \\approx 3.14$?", "Is x is approximately 3.14?"),
        ("Take $a/b$", "Take a over b"),
        ("Show $a \\cdot b$", "Show a times b"),
    ],
    "math_symbols": [
        ("x ≤ 5 and y ≠ 3", "x is less than or equal to 5 and y is not equal to 3"),
        ("5 × 6", "5 times 6"),
        ("8 ÷ 2", "8 divided by 2"),
        ("3 ± 1", "3 plus or minus 1"),
        ("x ≥ 2", "x is greater than or equal to 2"),
        ("π is about 3.14", "pi is about 3.14"),
        ("x² + y²", "x squared plus y squared"),
        ("a³", "a cubed"),
        ("√9 = 3", "the square root of 9 equals 3"),
        ("x ≈ 2", "x is approximately 2"),
        ("½ cup", "one half cup"),
        ("x^2 written plainly", "x squared written plainly"),
        ("1+1=2", "1 plus 1 equals 2"),
        ("Cats & dogs", "Cats and dogs"),
        ("50% off", "50 percent off"),
        ("Is 3/4 of 8 equal to 6?", "Is 3 over 4 of 8 equal to 6?"),
        ("yes and/or no", "yes and or no"),
        ("A → B", "A to B"),
        ("Δ is change", "delta is change"),
        ("∞ loops", "infinity loops"),
    ],
    "currency": [
        ("It costs $3.50 today", "It costs 3 dollars and 50 cents today"),
        ("Pay $1 now", "Pay 1 dollar now"),
        ("Pay $5", "Pay 5 dollars"),
        ("Only $0.75", "Only 75 cents"),
        ("About $1.5 million", "About 1.5 million dollars"),
        ("It is €20", "It is 20 euros"),
        ("It is €20.05", "It is 20 euros and 5 cents"),
        ("Costs £3.20", "Costs 3 pounds and 20 pence"),
        ("Costs £1", "Costs 1 pound"),
        ("A $1,200 laptop", "A 1,200 dollars laptop"),
        ("Just $0.01", "Just 1 cent"),
        ("¥500 each", "500 yen each"),
        ("$2 billion deal", "2 billion dollars deal"),
        ("$10.00 flat", "10 dollars flat"),
        ("₹100 fee", "100 rupees fee"),
    ],
    "units": [
        ("Run 5 km in 30 min", "Run 5 kilometers in 30 min"),
        ("Run 5km at 12 km/h", "Run 5 kilometers at 12 kilometers per hour"),
        ("It weighs 1 kg", "It weighs 1 kilogram"),
        ("It weighs 2.5 kg", "It weighs 2.5 kilograms"),
        ("Add 200 ml of milk", "Add 200 milliliters of milk"),
        ("A 10 cm line", "A 10 centimeters line"),
        ("Drive 60 mph", "Drive 60 miles per hour"),
        ("It is 6 ft tall", "It is 6 feet tall"),
        ("Add 2 tbsp of oil", "Add 2 tablespoons of oil"),
        ("Add 1 tsp salt", "Add 1 teaspoon salt"),
        ("A 16 GB card", "A 16 gigabytes card"),
        ("A 60W bulb", "A 60 watts bulb"),
        ("It took 3h", "It took 3 hours"),
        ("It is 2m tall", "It is 2 meters tall"),
        ("It is 2 m tall", "It is 2 m tall"),
        ("5 in the box", "5 in the box"),
        ("5in screen", "5 inches screen"),
        ("Wait 500 ms", "Wait 500 milliseconds"),
        ("8 oz of water", "8 ounces of water"),
        ("2.4 GHz band", "2.4 gigahertz band"),
        ("10 m/s wind", "10 meters per second wind"),
        ("3 lbs of flour", "3 pounds of flour"),
        ("The 1990s", "The 1990s"),
        ("4 kWh per day", "4 kilowatt hours per day"),
    ],
    "temperature": [
        ("It is 20°C outside", "It is 20 degrees Celsius outside"),
        ("It is 20 °C", "It is 20 degrees Celsius"),
        ("Bake at 350°F", "Bake at 350 degrees Fahrenheit"),
        ("a 90° angle", "a 90 degrees angle"),
        ("Turn 1°", "Turn 1 degree"),
        ("It is -5 °F", "It is -5 degrees Fahrenheit"),
    ],
    "times": [
        ("Meet at 3:30 pm", "Meet at three thirty P M"),
        ("Meet at 3:30pm", "Meet at three thirty P M"),
        ("Meet at 10:05", "Meet at ten oh five"),
        ("Meet at 3:00", "Meet at three o'clock"),
        ("Wake at 7:15 a.m.", "Wake at seven fifteen A M"),
        ("At 23:45", "At twenty-three forty-five"),
        ("Ratio 3:1 holds", "Ratio 3:1 holds"),
        ("Score 99:100", "Score 99:100"),
    ],
    "dates": [
        ("On 2024-03-15 we met", "On March fifteenth, 2024 we met"),
        ("Born 1999-12-01", "Born December first, 1999"),
        ("Code 2024-13-40", "Code 2024-13-40"),
    ],
    "ordinals": [
        ("He came 21st of 100", "He came twenty-first of 100"),
        ("The 1st step", "The first step"),
        ("The 2nd and 3rd", "The second and third"),
        ("Her 100th birthday", "Her one hundredth birthday"),
        ("The 11th hour", "The eleventh hour"),
    ],
    "emoji": [
        ("Nice 😀👍 work", "Nice work"),
        ("🎉 Party time", "Party time"),
        ("Is it ☀️ today?", "Is it today?"),
        ("Flags 🇺🇸 here", "Flags here"),
        ("👨‍👩‍👧 family", "family"),
    ],
    "references": [
        ("See the chart (see Fig. 3) now", "See the chart now"),
        ("Cited [1, 2] here (Smith et al., 2020).", "Cited here."),
        ("As shown [12] before", "As shown before"),
        ("It grows (see Table 2) fast", "It grows fast"),
        ("Proven (Lee and Park, 2019) already", "Proven already"),
        ("As in Fig. 2, the line rises", "As in Figure 2, the line rises"),
        ("Refs [3-5] agree", "Refs agree"),
    ],
    "whitespace_and_empty": [
        ("  lots   of\n\nspace\t", "lots of space"),
        ("There are 3 circles", "There are 3 circles"),
        ("", ""),
        ("   \n\t", ""),
        ("<image>", ""),
        ("<image><image>\n <audio>", ""),
        ("**", ""),
    ],
}

TABLE = [(category, written, spoken) for category, rows in CASES.items() for written, spoken in rows]


def test_table_is_broad() -> None:
    assert len(TABLE) >= 150
    assert len(CASES) >= 14


@pytest.mark.parametrize(("category", "written", "spoken"), TABLE, ids=[f"{c}-{i}" for i, (c, *_) in enumerate(TABLE)])
def test_speakable(category: str, written: str, spoken: str) -> None:
    assert speakable(written) == spoken


@pytest.mark.parametrize(
    ("written", "heard"),
    [
        ("Meet at 3:30 pm", "Meet at 3:30 p.m."),
        ("Meet at 10:05", "Meet at 10:05"),
        ("Meet at 3:00", "Meet at 3 o'clock"),
        ("It costs $3.50 today", "It costs $3.50 today"),
        ("Only $0.75", "Only 75 cents"),
        ("The 2nd and 3rd", "The 2nd and 3rd"),
        ("He came 21st of 100", "He came 21st of 100"),
        ("About $1.5 million", "About $1.5 million"),
    ],
)
def test_spoken_form_normalizes_like_what_asr_writes(written: str, heard: str) -> None:
    """The WER gate scores the transcript against the spoken form: a correct hearing must normalize equal."""
    assert normalize_text(speakable(written)) == normalize_text(heard)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Fix this:\n```python\nprint(1)\n```", "code block"),
        ("~~~\ncode\n~~~", "code block"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "table"),
        ("a | b\n--- | ---\n1 | 2", "table"),
        ("Explain: ``` x = 1 ```", "code block"),  # whitespace already collapsed by the caller
        ("| a | b | |---|---| | 1 | 2 |", "table"),
        ("Is 5 --- | no, 6?", None),
        ("Prove $" + "x + " * 30 + "1 = 0$", "formula"),
        ("$$" + "\\frac{a}{b} + " * 10 + "c$$", "formula"),
        ("🙂🙂", "nothing a voice can read"),
        ("** ~~", "nothing a voice can read"),
        ("What is $x^2 + 1$?", None),
        ("Is 3 - 2 = 1?", None),
        ("The cost is $5 and $6", None),
        ("A | B are options", None),
        ("Use the `print` function", None),
        ("", None),
        ("<image>", None),
    ],
)
def test_unspeakable_reason(text: str, reason: str | None) -> None:
    found = unspeakable_reason(text)
    assert (found is None) if reason is None else (found is not None and reason in found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<image>What is this?", "What is this?"),
        ("<image>\n**Bold** & more", "**Bold** & more"),
        ("a  <audio>  b", "a b"),
        ("<image>", ""),
    ],
)
def test_strip_tags(text: str, expected: str) -> None:
    assert strip_tags(text) == expected


@pytest.mark.parametrize("text", [w for _, w, _ in TABLE if w])
def test_speakable_is_idempotent(text: str) -> None:
    once = speakable(text)
    assert speakable(once) == once


@pytest.mark.parametrize(
    "hostile",
    ["$" * 100_000, "[" * 100_000, "(" * 50_000 + "see Fig. 1", "\\frac{" * 20_000, "`" * 100_000, "m" * 100_000 + "x",
     "1:" * 50_000, "https://" + "a." * 50_000, "*a" * 50_000, "- x\n" * 25_000],
)  # fmt: skip
def test_hostile_text_is_linear(hostile: str) -> None:
    started = time.process_time()
    speakable(hostile)
    unspeakable_reason(hostile)
    assert time.process_time() - started < 5.0  # linear passes take well under a second; quadratic ones minutes
