"""Deterministic generator of a tiny vision-language SFT dataset (coloured shapes, counts, short signs).

It exists so the speech/vision pipeline has a small, truthful, offline dataset to run on: every question is answerable
from the drawn image, and the questions are short spoken-style English meant to be sent to TTS. Output is ms-swift
JSONL (`messages` + `images`, paths relative to the JSONL) plus PNGs; the same seed gives byte-identical files, so the
copy shipped in `manifests/data/shapes` can be checked against a fresh generation.

Regenerate the shipped data with: `python -m datagen.demo_data --out manifests/data/shapes --n 40 --seed 0`.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

SIZE = 256
SIGN_TOP = 196  # shapes stay above this line when the image has a sign, so nothing overlaps the text
GAP = 8  # minimum free pixels between two shapes, so each shape is its own blob

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (30, 90, 220),
    "yellow": (235, 195, 0),
    "purple": (140, 60, 180),
    "orange": (255, 130, 0),
}
KINDS: tuple[str, ...] = ("circle", "square", "triangle", "star", "diamond")
BACKGROUNDS: tuple[tuple[int, int, int], ...] = ((255, 255, 255), (246, 246, 238), (236, 243, 250), (248, 240, 245))
SIGN_FILL = (252, 252, 252)
INK = (20, 20, 20)
SIGN_WORDS: tuple[str, ...] = ("HELLO", "STOP", "OPEN", "EXIT", "SALE", "CAT", "SUN", "GO")
SIGN_NUMBERS: tuple[str, ...] = ("3", "7", "12", "25", "42", "100")
NUMBER_WORDS: tuple[str, ...] = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@dataclass(frozen=True, slots=True)
class Shape:
    """One drawn object; `r` is the radius of its bounding circle, used for the non-overlap check."""

    kind: str
    color: str
    cx: int
    cy: int
    r: int


@dataclass(frozen=True, slots=True)
class Scene:
    """Ground truth of one image: what the questions are answered from and what the tests check against."""

    shapes: tuple[Shape, ...]
    background: tuple[int, int, int]
    text: str | None  # text on the sign, or None when the image has no sign

    def count(self, kind: str | None = None, color: str | None = None) -> int:
        """Number of shapes matching kind and/or colour (None matches anything)."""
        return sum(1 for s in self.shapes if kind in (None, s.kind) and color in (None, s.color))


@dataclass(frozen=True, slots=True)
class Example:
    """A generated sample: its scene (ground truth), the rendered image and the ms-swift record."""

    scene: Scene
    image: Image.Image
    record: dict[str, Any]


QA = tuple[str, str]


def _num(k: int) -> str:
    """Spell a small count, since answers are read back as natural sentences."""
    return NUMBER_WORDS[k] if 0 <= k < len(NUMBER_WORDS) else str(k)


def _plural(kind: str, k: int) -> str:
    return kind if k == 1 else f"{kind}s"


def _make_scene(rng: random.Random) -> Scene:
    """Sample 1-6 non-overlapping shapes, with one (kind, colour) repeated so counting questions are not trivial."""
    text: str | None = None
    if rng.random() < 0.3:
        text = rng.choice(SIGN_NUMBERS) if rng.random() < 0.4 else rng.choice(SIGN_WORDS)
    bottom = SIGN_TOP if text is not None else SIZE
    n = rng.randint(1, 6)
    target = (rng.choice(KINDS), rng.choice(list(COLORS)))
    n_target = rng.randint(1, n)
    specs = [target] * n_target + [(rng.choice(KINDS), rng.choice(list(COLORS))) for _ in range(n - n_target)]
    rng.shuffle(specs)
    for attempt in range(50):
        max_r = max(16, 34 - attempt // 5)  # shrink shapes if they keep failing to fit
        placed: list[Shape] = []
        for kind, color in specs:
            for _ in range(200):
                r = rng.randint(16, max_r)
                cx = rng.randint(r + 4, SIZE - r - 5)
                cy = rng.randint(r + 4, bottom - r - 5)
                if all(math.hypot(cx - o.cx, cy - o.cy) > r + o.r + GAP for o in placed):
                    placed.append(Shape(kind, color, cx, cy, r))
                    break
            else:
                break
        if len(placed) == n:
            return Scene(tuple(placed), rng.choice(BACKGROUNDS), text)
    raise RuntimeError("could not place shapes without overlap")  # pragma: no cover - 6 small shapes always fit


def _polygon(shape: Shape) -> list[tuple[float, float]]:
    """Vertices for the polygonal kinds, all inscribed in the shape's bounding circle."""
    cx, cy, r = shape.cx, shape.cy, shape.r
    if shape.kind == "square":
        h = r / math.sqrt(2)
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape.kind == "diamond":
        return [(cx, cy - r), (cx + 0.7 * r, cy), (cx, cy + r), (cx - 0.7 * r, cy)]
    if shape.kind == "triangle":
        angles = [-90, 30, 150]
        return [(cx + r * math.cos(math.radians(a)), cy + r * math.sin(math.radians(a))) for a in angles]
    if shape.kind == "star":
        pts = []
        for i in range(10):
            rad = r if i % 2 == 0 else r * 0.45
            a = math.radians(-90 + 36 * i)
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        return pts
    raise ValueError(f"unknown polygon kind: {shape.kind}")


def render(scene: Scene) -> Image.Image:
    """Draw the scene without anti-aliasing on shapes, so every shape pixel has exactly its palette colour."""
    img = Image.new("RGB", (SIZE, SIZE), scene.background)
    draw = ImageDraw.Draw(img)
    for s in scene.shapes:
        fill = COLORS[s.color]
        if s.kind == "circle":
            draw.ellipse((s.cx - s.r, s.cy - s.r, s.cx + s.r, s.cy + s.r), fill=fill)
        else:
            draw.polygon(_polygon(s), fill=fill)
    if scene.text is not None:
        font = ImageFont.load_default(size=30)
        left, top, right, bottom = draw.textbbox((0, 0), scene.text, font=font)
        w, h = right - left, bottom - top
        x0, x1 = (SIZE - w) // 2 - 14, (SIZE + w) // 2 + 14
        draw.rectangle((x0, SIGN_TOP + 4, x1, SIZE - 6), fill=SIGN_FILL, outline=INK, width=2)
        mid = (SIGN_TOP + 4 + SIZE - 6) // 2
        draw.text(((SIZE - w) // 2 - left, mid - h // 2 - top), scene.text, font=font, fill=INK)
    return img


# ---- question templates: each returns (question, answer) or None when it does not apply to the scene ----


def _q_count_kind_color(scene: Scene, rng: random.Random) -> QA | None:
    s = rng.choice(scene.shapes)
    k = scene.count(s.kind, s.color)
    q = rng.choice(
        [
            "How many {c} {p} are in the picture?",
            "Can you count the {c} {p} in this image?",
            "How many {c} {p} do you see?",
        ]
    ).format(c=s.color, p=_plural(s.kind, 2))
    a = f"There is one {s.color} {s.kind}." if k == 1 else f"There are {_num(k)} {s.color} {_plural(s.kind, k)}."
    return q, a


def _q_count_kind(scene: Scene, rng: random.Random) -> QA | None:
    kind = rng.choice(scene.shapes).kind if rng.random() < 0.8 else rng.choice(KINDS)
    k = scene.count(kind)
    q = rng.choice(["How many {p} are there in the image?", "Count the {p} in this picture, please."]).format(
        p=_plural(kind, 2)
    )
    if k == 0:
        return q, f"There are no {_plural(kind, 2)} in the image."
    return q, f"There is one {kind}." if k == 1 else f"There are {_num(k)} {_plural(kind, k)}."


def _q_count_total(scene: Scene, rng: random.Random) -> QA | None:
    k = len(scene.shapes)
    q = rng.choice(
        ["How many shapes are there in total?"]
        + (["Not counting the sign, how many shapes are there?"] if scene.text else [])
        + (["How many objects can you see in this picture?"] if not scene.text else [])
    )
    return q, "There is only one shape." if k == 1 else f"There are {_num(k)} shapes in total."


def _q_color_of(scene: Scene, rng: random.Random) -> QA | None:
    kinds = sorted({s.kind for s in scene.shapes if len({o.color for o in scene.shapes if o.kind == s.kind}) == 1})
    if not kinds:
        return None
    kind = rng.choice(kinds)
    k = scene.count(kind)
    color = next(s.color for s in scene.shapes if s.kind == kind)
    if k == 1:
        q = rng.choice(["What color is the {k}?", "Which color is the {k} in this picture?"]).format(k=kind)
        return q, f"The {kind} is {color}."
    q = rng.choice(["What color are the {p}?", "Tell me the color of the {p} in the image."]).format(p=_plural(kind, 2))
    return q, f"Both {_plural(kind, k)} are {color}." if k == 2 else f"All {_num(k)} {_plural(kind, k)} are {color}."


def _q_which_shape(scene: Scene, rng: random.Random) -> QA | None:
    colors = sorted({s.color for s in scene.shapes if len({o.kind for o in scene.shapes if o.color == s.color}) == 1})
    if not colors:
        return None
    color = rng.choice(colors)
    k = scene.count(color=color)
    kind = next(s.kind for s in scene.shapes if s.color == color)
    if k == 1:
        q = rng.choice(["Which shape in the picture is {c}?", "What kind of shape is the {c} one?"]).format(c=color)
        return q, f"The {color} shape is a {kind}."
    q = rng.choice(["What shape are the {c} objects?", "Which kind of shape is drawn in {c}?"]).format(c=color)
    return q, f"The {color} shapes are {_plural(kind, k)}."


def _q_exists(scene: Scene, rng: random.Random) -> QA | None:
    if rng.random() < 0.5:
        s = rng.choice(scene.shapes)
        kind, color = s.kind, s.color
    else:
        kind, color = rng.choice(KINDS), rng.choice(list(COLORS))
    k = scene.count(kind, color)
    if rng.random() < 0.5:
        q = f"Is there a {color} {kind} in the picture?"
    else:
        q = f"Do you see any {color} {_plural(kind, 2)} here?"
    if k == 0:
        return q, f"No, there is no {color} {kind} in the picture."
    if k == 1:
        return q, f"Yes, there is one {color} {kind}."
    return q, f"Yes, there are {_num(k)} {color} {_plural(kind, k)}."


def _q_read_text(scene: Scene, rng: random.Random) -> QA | None:
    if scene.text is None:
        return None
    q = rng.choice(["What is written on the sign?", "What does the sign say?", "Can you read the text in the picture?"])
    return q, f'The sign says "{scene.text}".'


def _q_sign_exists(scene: Scene, rng: random.Random) -> QA | None:
    q = rng.choice(["Is there any writing in this image?", "Does the picture contain a sign with text?"])
    if scene.text is None:
        return q, "No, there is no text in the image, only shapes."
    return q, f'Yes, there is a sign that says "{scene.text}".'


# Templates with digits and abbreviations, kept rare: they exercise TTS text normalisation.


def _q_tts_number_on_sign(scene: Scene, rng: random.Random) -> QA | None:
    if scene.text is None or not scene.text.isdigit():
        return None
    asked = scene.text if rng.random() < 0.5 else rng.choice([t for t in SIGN_NUMBERS if t != scene.text])
    q = f"Is the number {asked} written on the sign?"
    if asked == scene.text:
        return q, f"Yes, the sign shows the number {scene.text}."
    return q, f"No, the sign shows the number {scene.text}, not {asked}."


def _q_tts_label_eg(scene: Scene, rng: random.Random) -> QA | None:
    if scene.text is None:
        return None
    what = "number" if scene.text.isdigit() else "word"
    return "What does the label say, e.g. a word or a number?", f'The label shows the {what} "{scene.text}".'


def _q_tts_more_than(scene: Scene, rng: random.Random) -> QA | None:
    k = len(scene.shapes)
    m = rng.randint(1, 5)
    q = f"Are there more than {m} shapes in the picture?"
    return q, f"{'Yes' if k > m else 'No'}, there {'is' if k == 1 else 'are'} {_num(k)} {_plural('shape', k)}."


def _q_tts_versus(scene: Scene, rng: random.Random) -> QA | None:
    colors = sorted({s.color for s in scene.shapes})
    if len(colors) < 2:
        return None
    c1, c2 = rng.sample(colors, 2)
    k1, k2 = scene.count(color=c1), scene.count(color=c2)
    q = f"Are there more {c1} shapes vs. {c2} shapes in the picture?"
    if k1 == k2:
        return q, f"No, there are as many {c1} shapes as {c2} shapes: {_num(k1)} of each."
    facts = f"{_num(k1)} {c1} {_plural('shape', k1)} and {_num(k2)} {c2} {_plural('shape', k2)}"
    return q, f"{'Yes' if k1 > k2 else 'No'}, I count {facts}."


# (template, weight, topic): a follow-up turn never repeats the topic of the first question about the same image.
TEMPLATES: tuple[tuple[Callable[[Scene, random.Random], QA | None], float, str], ...] = (
    (_q_count_kind_color, 4.0, "count"),
    (_q_count_kind, 2.0, "count"),
    (_q_count_total, 2.0, "count"),
    (_q_color_of, 2.5, "identify"),
    (_q_which_shape, 2.0, "identify"),
    (_q_exists, 2.5, "count"),
    (_q_read_text, 10.0, "text"),
    (_q_sign_exists, 0.7, "text"),
    (_q_tts_number_on_sign, 5.0, "text"),
    (_q_tts_label_eg, 2.0, "text"),
    (_q_tts_more_than, 0.6, "count"),
    (_q_tts_versus, 0.8, "compare"),
)


def _ask(scene: Scene, rng: random.Random, avoid_topic: str | None = None) -> tuple[str, str, str]:
    """Pick a weighted-random applicable template, skipping `avoid_topic`; returns (question, answer, topic)."""
    for _ in range(200):
        func, _w, topic = rng.choices(TEMPLATES, weights=[w for _, w, _ in TEMPLATES])[0]
        if topic == avoid_topic:
            continue
        qa = func(scene, rng)
        if qa is not None:
            return qa[0], qa[1], topic
    raise RuntimeError("no applicable question template")  # pragma: no cover - counting always applies


def generate(n: int = 40, seed: int = 0) -> list[Example]:
    """Build n examples in memory; all randomness comes from one `random.Random(seed)`, hence reproducible."""
    rng = random.Random(seed)
    multi_turn = set(rng.sample(range(n), round(n / 5)))
    examples: list[Example] = []
    for i in range(n):
        sid = f"shapes-{i:04d}"
        scene = _make_scene(rng)
        q1, a1, topic = _ask(scene, rng)
        messages = [{"role": "user", "content": f"<image>{q1}"}, {"role": "assistant", "content": a1}]
        if i in multi_turn:
            q2, a2, _ = _ask(scene, rng, avoid_topic=topic)
            messages += [{"role": "user", "content": q2}, {"role": "assistant", "content": a2}]
        record = {"id": sid, "messages": messages, "images": [f"images/{sid}.png"]}
        examples.append(Example(scene, render(scene), record))
    return examples


def write_shapes_dataset(out_dir: Path, n: int = 40, seed: int = 0) -> Path:
    """Write `train.jsonl` and `images/*.png` under out_dir and return the JSONL path.

    Stale `images/shapes-*.png` from an earlier, larger run are removed so the directory mirrors exactly one run.
    """
    out_dir = Path(out_dir)
    img_dir = out_dir / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    for old in img_dir.glob("shapes-*.png"):
        old.unlink()
    examples = generate(n, seed)
    lines = []
    for ex in examples:
        ex.image.save(out_dir / ex.record["images"][0], format="PNG", optimize=True)
        lines.append(json.dumps(ex.record, ensure_ascii=False) + "\n")
    jsonl = out_dir / "train.jsonl"
    jsonl.write_text("".join(lines), encoding="utf-8", newline="\n")
    return jsonl


def main(argv: list[str] | None = None) -> None:
    """CLI entry point, so the shipped demo data can be regenerated with one command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("manifests/data/shapes"), help="output directory")
    parser.add_argument("--n", type=int, default=40, help="number of images / records")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)
    path = write_shapes_dataset(args.out, n=args.n, seed=args.seed)
    print(f"wrote {args.n} records to {path}")


if __name__ == "__main__":
    main()
