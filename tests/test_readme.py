"""Every `datagen …` command line and flag the README shows goes through the real parser, so docs and CLI agree.

Commands come from fenced code blocks and from inline code (tables, prose). Usage synopses are expanded the way a
reader would type them: `[--opt X]` is included, `a|b` gives one command per alternative, `N`/`G` become numbers.
A lone flag in inline code (`--workers N`) belongs to the `datagen <command>` mentioned last before it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex

import pytest

from datagen.cli import build_parser
from datagen.testing import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
NUMBERS = {"N": "2", "G": "1"}  # placeholders of numeric options
# `dask worker --resources GPU=1` (the Dask section), ms-swift's `--dataset FOLDER/train.jsonl` (the exports table)
NOT_DATAGEN_FLAGS = {"--resources", "--dataset"}
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*$")
PARSER = build_parser()
SUBCOMMANDS: dict[str, argparse.ArgumentParser] = next(
    a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)
).choices


def _units(text: str) -> list[tuple[str, str, str | None]]:
    """(kind, text, command of its paragraph) in document order; kind is "command" (a full line), "mention"
    (`datagen audit` in prose) or "flag" (`--workers N`), the latter with the last `datagen X` of its paragraph."""
    units: list[tuple[str, str, str | None]] = []
    in_block, pending, last = False, "", None
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_block, pending = not in_block, ""
            continue
        if not line.strip():
            last = None
            continue
        if in_block:
            line = pending + line
            if line.rstrip().endswith("\\"):
                pending = line.rstrip()[:-1] + " "
                continue
            pending = ""
            if line.lstrip().startswith("datagen "):
                units.append(("command", line.strip(), None))
            continue
        for span in re.findall(r"`([^`]+)`", line.replace("\\|", "|")):
            words = span.split()
            if words[0] == "datagen" and len(words) >= 2:
                last = words[1]
                units.append(("command" if len(words) > 2 else "mention", span, None))
            elif words[0].startswith("--") and words[0] not in NOT_DATAGEN_FLAGS:
                units.append(("flag", span, last))
    return units


def _expand(command: str) -> list[str]:
    """A synopsis → the concrete command lines it stands for (brackets kept, alternatives split)."""
    command = command.replace("…", "MANIFEST").replace("[", " ").replace("]", " ")
    command = re.sub(r"<([^>]*)>", r"\1", command)
    match = re.search(r"(\S+)\|(\S+)", command)
    if match:
        before, after = command[: match.start()], command[match.end() :]
        return [line for option in match.group(0).split("|") for line in _expand(before + option + after)]
    return [command]


def _argv(command: str) -> list[str]:
    """The words after `datagen`, a placeholder value (`--worst N`, `--format F`) replaced by one the option takes."""
    words = shlex.split(command, comments=True)
    assert words[0] == "datagen", command
    argv = [NUMBERS.get(w, w) for w in words[1:]]
    for i in range(2, len(argv)):
        action = _option(argv[0], argv[i - 1]) if argv[0] in SUBCOMMANDS else None
        if action is None or not _PLACEHOLDER.match(argv[i]):
            continue
        if action.choices:
            argv[i] = str(next(iter(action.choices)))
        elif action.type in (int, float):
            argv[i] = "1"
    return argv


def _option(sub: str, flag: str) -> argparse.Action | None:
    return next((a for a in SUBCOMMANDS[sub]._actions if flag in a.option_strings), None)


def _minimal(sub: str) -> list[str]:
    """The shortest valid `datagen SUB ...`: each positional and required option with a placeholder value."""
    argv = [sub]
    for action in SUBCOMMANDS[sub]._actions:
        if not action.option_strings:
            argv.append("X")
        elif action.required:
            argv += [action.option_strings[0], "X"]
    return argv


def readme_items() -> tuple[list[str], list[str], list[str]]:
    """(full command lines, mentioned subcommands, flags as `SUB --flag [value]`)."""
    commands, mentions, flags = [], [], []
    for kind, text, paragraph_command in _units(README):
        if kind == "command":
            commands += _expand(text)
        elif kind == "mention":
            mentions.append(text.split()[1])
        else:
            owners = [paragraph_command] if paragraph_command in SUBCOMMANDS else list(SUBCOMMANDS)
            owner = next((s for s in owners if _option(s, text.split()[0])), owners[0])
            flags += [f"{owner} {flag}" for flag in _expand(text)]
    return list(dict.fromkeys(commands)), list(dict.fromkeys(mentions)), list(dict.fromkeys(flags))


COMMANDS, MENTIONS, FLAGS = readme_items()


def test_the_readme_shows_every_subcommand() -> None:
    """The extraction found something for every subcommand (else the tests below would check little)."""
    shown = {_argv(c)[0] for c in COMMANDS} | set(MENTIONS)
    assert shown == set(SUBCOMMANDS) and len(COMMANDS) > 15 and len(FLAGS) > 10


def _parse(argv: list[str]) -> argparse.Namespace:
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"the README shows `datagen {' '.join(argv)}`, which the CLI refuses: {errors.getvalue()}")


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_parses(command: str) -> None:
    assert _parse(_argv(command)).command == _argv(command)[0]


@pytest.mark.parametrize("name", MENTIONS)
def test_readme_mentions_only_real_subcommands(name: str) -> None:
    assert name in SUBCOMMANDS


@pytest.mark.parametrize("flag", FLAGS)
def test_readme_flag_exists_and_takes_its_value(flag: str) -> None:
    """`--retries N` parses on its command; a bare `--retries` (a name in prose) must at least be an option."""
    sub, *words = flag.split()
    action = _option(sub, words[0])
    assert action is not None, f"the README shows {words[0]}, which no datagen command has"
    if len(words) > 1 or action.nargs == 0:
        args = _parse(_minimal(sub) + [NUMBERS.get(w, w) for w in words])
        assert args.command == sub
