"""Prompt templates: loaded from files, hashed into provenance, rendered into chat turns with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from datagen.prompts import SHIPPED, PromptError, load_prompt


def test_shipped_prompt_renders_and_has_a_ref() -> None:
    prompt = load_prompt("example_echo")
    turns = prompt.render(text="a {brace} stays")
    assert [t.role for t in turns] == ["system", "user"]
    assert turns[1].content == "Repeat: a {brace} stays"
    assert prompt.ref.startswith("example_echo@v1:") and len(prompt.sha) == 64


def test_every_shipped_template_loads() -> None:
    paths = sorted(SHIPPED.glob("*.yaml"))
    assert {"cot_reasoning", "dpo_correction", "sqa_pairs", "sqqa_spoken_answer"} <= {p.stem for p in paths}
    for path in paths:
        assert load_prompt(path.stem).fields, path


def test_hash_follows_content_not_version(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("id: p\nversion: 1\nuser: 'Say {x}'\n")
    b.write_text("id: p\nversion: 1\nuser: 'Say {x}!'\n")
    assert load_prompt(str(a)).ref != load_prompt(str(b)).ref


def test_media_attach_to_the_user_turn() -> None:
    turns = load_prompt("example_echo").render(text="t", media=(("img",), ()))
    assert turns[-1].images == ("img",) and turns[0].images == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [("user: 'Say {x'\n", "expected '}'"), ("- just\n- a list\n", "a mapping"), ("id: p\n", "a mapping")],
)
def test_bad_template_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(PromptError, match=message):
        load_prompt(str(path))


def test_unknown_name_lists_shipped_and_missing_value_is_named() -> None:
    with pytest.raises(PromptError, match="example_echo"):
        load_prompt("no_such_prompt")
    with pytest.raises(PromptError, match="text"):
        load_prompt("example_echo").render()
