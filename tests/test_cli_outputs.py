"""The command line as documented: the README's table shows every flag and choice the parser accepts (that each
README command parses is tests/test_readme.py's), every help lists the formats the code accepts, and
`datagen audit --out` takes a report file or a folder."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
from test_export import write_dataset

from datagen.cli import build_parser, main
from datagen.export import FORMATS
from datagen.testing import REPO


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def readme_commands() -> list[str]:
    table = re.findall(r"^\| `(datagen [^`]+)` \|", (REPO / "README.md").read_text(), flags=re.M)
    assert len(table) >= 8
    return table


def test_every_flag_and_choice_in_the_readme_table_is_accepted_by_the_parser() -> None:
    parsers = subparsers()
    for line in readme_commands():
        words = line.replace("\\|", "|").replace("[", " ").replace("]", " ").split()
        command = parsers[words[1]]
        options = {s: a for a in command._actions for s in a.option_strings}
        for i, word in enumerate(words[2:], start=2):
            if word.startswith("-"):
                assert word in options, f"README shows `{word}` for `datagen {words[1]}`"
                if options[word].choices is not None:
                    shown = words[i + 1].split("|")
                    assert set(shown) <= set(options[word].choices), line
                    assert set(options[word].choices) <= set(shown), f"README omits choices of {word}: {line}"


def test_each_subcommand_help_lists_its_formats_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    for name, parser in subparsers().items():
        text = parser.format_help()
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in text
            for choice in action.choices or ():
                assert str(choice) in text, f"{name} help omits {choice}"
    assert all(fmt in subparsers()["export"].format_help() for fmt in FORMATS)
    with pytest.raises(SystemExit):
        main(["--help"])
    top = capsys.readouterr().out
    assert all(name in top for name in subparsers())


@pytest.mark.parametrize(
    ("out", "fmt", "written"),
    [
        ("audit.html", None, "audit.html"),
        ("nested/deeper/audit.html", None, "nested/deeper/audit.html"),
        ("numbers.json", "json", "numbers.json"),
        ("numbers.json", None, "numbers.json"),
        ("report-folder", None, "report-folder/report.html"),
        ("report-folder", "json", "report-folder/report.json"),
    ],
)
def test_audit_out_is_the_report_file_or_a_folder(
    tmp_path: Path, out: str, fmt: str | None, written: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = tmp_path / "ds"
    write_dataset(ds, ["a", "b"])
    args = ["audit", str(ds), "--out", str(tmp_path / out)] + (["--format", fmt] if fmt else [])
    assert main(args) == 0
    path = tmp_path / written
    assert path.is_file() and str(path) in capsys.readouterr().out
    text = path.read_text()
    if path.suffix == ".json":
        assert json.loads(text)["funnel"]["kept"] == 2
    else:
        assert text.lstrip().lower().startswith("<!doctype html")


def test_audit_refuses_a_json_format_into_an_html_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = tmp_path / "ds"
    write_dataset(ds, ["a"])
    assert main(["audit", str(ds), "--out", str(tmp_path / "r.html"), "--format", "json"]) == 2
    assert "--format" in capsys.readouterr().err and not (tmp_path / "r.html").exists()
