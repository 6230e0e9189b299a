"""Record layouts: one input record (a dict, whatever its shape) → chat turns, media references and meta.

Users come with the datasets they have, so each record is recognised from its keys, in this order (the first
match wins, so a chat layout is never misread as question/answer columns):

1. `input.fields` maps `question`/`answer`/`passage` → **columns**, for every record (an explicit mapping wins).
2. `messages` → **messages** (ms-swift standard; `role`/`content`, system turns kept).
3. `conversations` → **llava** (`from`/`value`; `image` or `images`).
4. `conversation` → **sharegpt** (ms-swift: `system` + `[{"human", "assistant"}]`).
5. `texts` → **cauldron** (The Cauldron: `[{"user", "assistant", "source"}]`, images as `{bytes, path}`).
6. `instruction` + `output` or `input` → **alpaca** (user turn = instruction + newline + `input`; `history`).
7. `query` + `response` or `history` → **query_response** (ms-swift: `history` = `[[query, response], ...]`).
8. otherwise **columns**, auto-detected: a question, answer and passage column from the common names below.

Images with no `<image>` tag get one tag per image at the start of the first user turn: LLaVA's data puts
`<image>` first in the first human turn, ms-swift places untagged images before the query, and The Cauldron
(Idefics2) puts the images before the first user text. A tag count that differs from the image count is
`image_count_mismatch` (ms-swift and Phi-4 pair tags with images in order).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from datagen.records import Message

FIELD_NAMES = ("question", "answer", "passage", "images", "system")
ALIASES: dict[str, tuple[str, ...]] = {
    "question": ("question", "query", "prompt", "instruction", "problem"),
    "answer": ("answer", "response", "output", "solution", "caption"),
    "passage": ("passage", "text", "context", "document"),
    "images": ("images", "image"),
    "system": ("system",),
}
_ROLES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant", "system": "system"}
IMAGE_TAG = "<image>"


class LayoutError(ValueError):
    """One record does not fit its layout; `reason` is the stable snake_case drop reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Parsed:
    """A record in the one shape the pipeline uses. `mapping` says which column filled which field."""

    layout: str
    messages: list[Message]
    images: list[Any]
    meta: dict[str, Any] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)

    def label(self) -> str:
        """`columns (question=prompt, answer=response)`: what the run prints and the reject meta keeps."""
        used = ", ".join(f"{k}={v}" for k, v in self.mapping.items())
        return f"{self.layout} ({used})" if used else self.layout


def parse(record: dict[str, Any], fields: Mapping[str, str] | None = None) -> Parsed:
    """Detect the layout of `record` and convert it; `fields` is the manifest's `input.fields` mapping."""
    fields = dict(fields or {})
    if fields.keys() & {"question", "answer", "passage"}:
        parsed = _columns(record, fields, explicit=True)
    else:
        layout, parser = detect(record)
        parsed = parser(record, fields)
        parsed.layout = layout
    parsed.meta["layout"] = parsed.label()
    if "passage" not in parsed.meta and "passage" in record and parsed.layout != "columns":
        parsed.meta["passage"] = _text(record["passage"], "passage")
    place_image_tags(parsed.messages, len(parsed.images))
    return parsed


def detect(record: dict[str, Any]) -> tuple[str, Callable[[dict[str, Any], dict[str, str]], Parsed]]:
    """The layout a record's keys say it is in (see the module docstring for the order)."""
    if "messages" in record:
        return "messages", lambda r, f: _chat(r, f, "messages", "role", "content")
    if "conversations" in record:
        return "llava", lambda r, f: _chat(r, f, "conversations", "from", "value")
    if "conversation" in record:
        return "sharegpt", _sharegpt
    if "texts" in record:
        return "cauldron", _cauldron
    if "instruction" in record and ("output" in record or "input" in record):
        return "alpaca", _alpaca
    if "query" in record and ("response" in record or "history" in record):
        return "query_response", _query_response
    return "columns", lambda r, f: _columns(r, f, explicit=False)


def place_image_tags(messages: list[Message], count: int) -> None:
    """Check `<image>` tags against the images; add them to the first user turn when the record has none."""
    tags = sum(m.content.count(IMAGE_TAG) for m in messages)
    if tags == count:
        return
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if tags == 0 and users:
        first = messages[users[0]]
        messages[users[0]] = Message(role="user", content=IMAGE_TAG * count + first.content, audio=first.audio)
        return
    if tags == 0:
        return  # a passage record with images and no turn: nothing to tag
    raise LayoutError("image_count_mismatch", f"{tags} {IMAGE_TAG} tag(s) but {count} image(s)")


# -- chat layouts -------------------------------------------------------------------------------------------


def _chat(record: dict[str, Any], fields: dict[str, str], key: str, role_key: str, text_key: str) -> Parsed:
    turns = record[key]
    if not isinstance(turns, list) or not turns:
        raise LayoutError("malformed_record", f"'{key}' must be a non-empty list of turns")
    messages = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise LayoutError("malformed_record", f"{key}[{i}] is not an object")
        if role_key not in turn and "role" in turn:  # `conversations` written with role/content (seen in the wild)
            role_key, text_key = "role", "content"
        role = _ROLES.get(str(turn.get(role_key, "")).lower())
        if role is None:
            raise LayoutError("malformed_record", f"{key}[{i}]: unknown role {turn.get(role_key)!r:.40}")
        messages.append(Message(role=role, content=_text(turn.get(text_key), f"{key}[{i}].{text_key}")))
    return _finish(messages, record, fields)


def _sharegpt(record: dict[str, Any], fields: dict[str, str]) -> Parsed:
    turns = record["conversation"]
    if not isinstance(turns, list) or not turns:
        raise LayoutError("malformed_record", "'conversation' must be a non-empty list of {human, assistant}")
    pairs = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or "human" not in turn:
            raise LayoutError("malformed_record", f"conversation[{i}] needs a 'human' text")
        pairs.append((turn["human"], turn.get("assistant")))
    return _finish(_pairs(pairs, "conversation"), record, fields)


def _cauldron(record: dict[str, Any], fields: dict[str, str]) -> Parsed:
    turns = record["texts"]
    if not isinstance(turns, list) or not turns or not all(isinstance(t, dict) for t in turns):
        raise LayoutError("malformed_record", "'texts' must be a non-empty list of {user, assistant, source}")
    parsed = _finish(_pairs([(t.get("user"), t.get("assistant")) for t in turns], "texts"), record, fields)
    sources = {t.get("source") for t in turns if isinstance(t.get("source"), str)}
    if sources:
        parsed.meta["source_dataset"] = ", ".join(sorted(sources))
    return parsed


def _alpaca(record: dict[str, Any], fields: dict[str, str]) -> Parsed:
    """User turn = `instruction`, then `input` on its own line when given (how ms-swift and LLaMA-Factory join)."""
    query = _text(record["instruction"], "instruction")
    extra = record.get("input")
    if extra not in (None, ""):
        query = f"{query}\n{_text(extra, 'input')}"
    return _finish(_pairs([*_history(record), (query, record.get("output"))], "output"), record, fields)


def _query_response(record: dict[str, Any], fields: dict[str, str]) -> Parsed:
    pairs = [*_history(record), (record["query"], record.get("response"))]
    return _finish(_pairs(pairs, "query/response"), record, fields)


def _history(record: dict[str, Any]) -> list[tuple[Any, Any]]:
    history = record.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, list | tuple) and len(h) == 2 for h in history):
        raise LayoutError("malformed_record", "'history' must be a list of [query, response] pairs")
    return [(q, a) for q, a in history]


def _pairs(pairs: Iterable[tuple[Any, Any]], where: str) -> list[Message]:
    """(user, assistant) pairs → turns; an assistant text may be missing (None) only in the last pair."""
    messages = []
    pairs = list(pairs)
    for i, (user, assistant) in enumerate(pairs):
        messages.append(Message(role="user", content=_text(user, f"{where}[{i}] user text")))
        if assistant is None and i == len(pairs) - 1:
            break
        messages.append(Message(role="assistant", content=_answer(assistant, f"{where}[{i}] assistant text")))
    return messages


def _finish(messages: list[Message], record: dict[str, Any], fields: dict[str, str]) -> Parsed:
    """Common tail of the chat layouts: the top-level `system` prompt first, images from their column."""
    system_key = fields.get("system", "system")
    system = record.get(system_key)
    if system not in (None, "") and not any(m.role == "system" for m in messages):
        messages.insert(0, Message(role="system", content=_text(system, system_key)))
    if not any(m.role == "user" for m in messages):
        raise LayoutError("malformed_record", "no user turn")
    images_key = fields.get("images") or next((k for k in ALIASES["images"] if k in record), "images")
    mapping = {"images": images_key} if "images" in fields else {}
    return Parsed("", messages, _list(record.get(images_key)), mapping=mapping)  # `parse` names the layout


# -- question / answer / passage columns -------------------------------------------------------------------


def _columns(record: dict[str, Any], fields: dict[str, str], *, explicit: bool) -> Parsed:
    """QA and passage records: mapped columns (all required) or the first common name present."""
    columns = _mapped(record, fields) if explicit else _detected(record, fields)
    if "question" not in columns and "passage" not in columns:
        raise LayoutError(
            "missing_field",
            "no layout recognised: needs 'messages' (ms-swift), 'conversations' (LLaVA), 'conversation' "
            "(ms-swift sharegpt), 'texts' (The Cauldron), instruction/output (alpaca), query/response, or a "
            f"question/passage column ({', '.join(ALIASES['question'] + ALIASES['passage'])}); map other names "
            f"with input.fields. Record keys: {sorted(record)[:12]}",
        )
    messages: list[Message] = []
    system = columns.get("system")
    if "question" in columns and system is not None and record[system] not in (None, ""):
        messages.append(Message(role="system", content=_text(record[system], system)))
    if "question" in columns:
        messages.append(Message(role="user", content=_text(record[columns["question"]], columns["question"])))
        if "answer" in columns and record[columns["answer"]] is not None:
            messages.append(Message(role="assistant", content=_answer(record[columns["answer"]], columns["answer"])))
    meta = {}
    if "passage" in columns:
        meta["passage"] = _text(record[columns["passage"]], columns["passage"])
    images = _list(record.get(columns["images"])) if "images" in columns else []
    mapping = {k: v for k, v in columns.items() if k != v}
    return Parsed("columns", messages, images, meta=meta, mapping=mapping)


def _mapped(record: dict[str, Any], fields: dict[str, str]) -> dict[str, str]:
    missing = [f"{name} → {col!r}" for name, col in fields.items() if col not in record]
    if missing:
        mapping = ", ".join(f"{k}: {v}" for k, v in fields.items())
        raise LayoutError(
            "missing_field",
            f"{'; '.join(missing)} not in the record (input.fields: {{{mapping}}}); keys: {sorted(record)[:12]}",
        )
    columns = dict(fields)
    for name in ("images", "system"):
        if name not in columns:
            found = next((k for k in ALIASES[name] if k in record), None)
            if found:
                columns[name] = found
    return columns


def _detected(record: dict[str, Any], fields: dict[str, str]) -> dict[str, str]:
    columns = {}
    for name in FIELD_NAMES:
        col = fields.get(name) or next((k for k in ALIASES[name] if k in record), None)
        if col is not None and col in record:
            columns[name] = col
    return columns


# -- values -------------------------------------------------------------------------------------------------


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise LayoutError("malformed_record", f"{where} must be a string, got {type(value).__name__}")
    return value


def _answer(value: Any, where: str) -> str:
    """Answers may be numbers (GSM8K-like sets store bare numbers)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise LayoutError("malformed_record", f"{where} must be text or a number, got {type(value).__name__}")
    return str(value)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def describe(source: Any, plan: Any, sample_size: int = 20) -> str:
    """Which layout(s) and column mapping the first records are read with: printed before a run starts, so a
    wrong guess shows before any model time is spent. Reads through `source.read` (media checks included)."""
    from itertools import chain, islice

    items = list(islice(chain.from_iterable(source.read(shard) for shard in plan.shards), sample_size))
    labels = [item.meta.get("layout", "?") for item in items if hasattr(item, "meta")]
    reasons = [item.reason for item in items if not hasattr(item, "meta")]
    counts = ", ".join(f"{label} ×{n}" for label, n in Counter(labels).most_common()) or "none recognised"
    text = f"layout of the first {len(items)}: {counts}"
    if reasons:
        text += "; rejected on reading: " + ", ".join(f"{r} ×{n}" for r, n in Counter(reasons).most_common())
    return text
