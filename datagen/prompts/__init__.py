"""Prompt templates live in versioned YAML files, not inline strings, so a dataset names the exact prompt it used.

A template file holds `id`, `version`, an optional `system` text and a `user` text with `{placeholders}`.
`Prompt.ref` (`id@vN:sha`) goes into every record's provenance: the hash covers the file's content, so an edit
that forgets to bump `version` still shows up as a different prompt.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from datagen.backends.base import ChatTurn

SHIPPED = Path(__file__).resolve().parent


class PromptError(ValueError):
    """A template file is missing, malformed, or rendered without a value it needs."""


@dataclass(slots=True, frozen=True)
class Prompt:
    id: str
    version: int
    user: str
    system: str = ""
    sha: str = ""

    @property
    def ref(self) -> str:
        return f"{self.id}@v{self.version}:{self.sha[:12]}"

    @property
    def fields(self) -> set[str]:
        names = set()
        for text in (self.system, self.user):
            names.update(name for _, name, _, _ in string.Formatter().parse(text) if name)
        return names

    def render(self, *, media: tuple[tuple[Any, ...], tuple[Any, ...]] = ((), ()), **values: Any) -> list[ChatTurn]:
        """Chat turns with `values` filled in; `media` = (images, audios) attached to the user turn."""
        if missing := self.fields - values.keys():
            raise PromptError(f"prompt {self.ref} needs {sorted(missing)}")
        turns = [ChatTurn("system", self.system.format(**values))] if self.system else []
        images, audios = media
        return [*turns, ChatTurn("user", self.user.format(**values), images=tuple(images), audios=tuple(audios))]


@cache
def load_prompt(name_or_path: str) -> Prompt:
    """A shipped template by name (`cot_reasoning`) or any template file by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = SHIPPED / f"{name_or_path}.yaml"
    try:
        raw = path.read_bytes()
    except OSError as err:
        shipped = ", ".join(sorted(p.stem for p in SHIPPED.glob("*.yaml")))
        raise PromptError(f"no prompt template {name_or_path!r} ({err.strerror}); shipped: {shipped}") from None
    data = yaml.safe_load(raw)
    if not isinstance(data, dict) or not isinstance(data.get("user"), str):
        raise PromptError(f"{path}: a prompt template is a mapping with at least `id`, `version` and `user`")
    try:
        prompt = Prompt(
            id=str(data.get("id") or path.stem),
            version=int(data.get("version", 1)),
            user=data["user"],
            system=str(data.get("system") or ""),
            sha=hashlib.sha256(raw).hexdigest(),
        )
        _ = prompt.fields  # a malformed `{` fails here, at load time, not mid-run
    except (TypeError, ValueError) as err:
        raise PromptError(f"{path}: {err}") from None
    return prompt
