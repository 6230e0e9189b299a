"""Every benchmark command the README shows goes through that benchmark's own argument parser.

`test_readme` checks the `datagen` commands; this does the same for `benchmarks/*.py` lines, so a renamed or
dropped benchmark flag breaks here rather than for the reader who copies it. `[--opt]` counts as typed, a
one-letter placeholder (`S`, `N`) becomes a number. The benchmark's `main()` runs only up to its `parse_args`.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
from types import ModuleType
from typing import NoReturn

import pytest

from datagen.testing import REPO

_COMMAND = re.compile(r"(?:`|^)(?:python )?(benchmarks/\w+\.py)([^`#\n]*)", re.MULTILINE)


def readme_benchmark_commands() -> list[tuple[str, tuple[str, ...]]]:
    found = set()
    for match in _COMMAND.finditer((REPO / "README.md").read_text(encoding="utf-8")):
        words = shlex.split(match.group(2).replace("[", " ").replace("]", " "))
        found.add((match.group(1), tuple("1" if re.fullmatch(r"[A-Z]", w) else w for w in words)))
    return sorted(found)


class _Parsed(Exception):
    """Raised in place of returning from `parse_args`: the benchmark stops before doing any work."""


def _load(script: str) -> ModuleType:
    path = REPO / script
    spec = importlib.util.spec_from_file_location(f"readme_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parse(script: str, argv: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    parsed: list[argparse.Namespace] = []
    original = argparse.ArgumentParser.parse_args

    def parse_args(self: argparse.ArgumentParser, args: object = None, namespace: object = None) -> NoReturn:
        parsed.append(original(self, list(argv)))
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_args)
    with pytest.raises(_Parsed):
        _load(script).main()
    return parsed[0]


COMMANDS = readme_benchmark_commands()


def test_the_readme_shows_benchmark_commands_with_flags() -> None:
    assert len({script for script, _ in COMMANDS}) >= 8
    assert ("benchmarks/packed_asr.py", ("--seeds", "3", "--draft-margin", "12")) in COMMANDS


@pytest.mark.parametrize(("script", "argv"), COMMANDS, ids=[f"{s} {' '.join(a)}".strip() for s, a in COMMANDS])
def test_readme_benchmark_command_parses(script: str, argv: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    args = _parse(script, argv, monkeypatch)
    for flag in (w for w in argv if w.startswith("--")):
        assert hasattr(args, flag[2:].replace("-", "_")), flag


def test_a_flag_the_benchmark_lacks_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit):
        _parse("benchmarks/packed_asr.py", ("--seeds", "3", "--no-such-flag"), monkeypatch)
