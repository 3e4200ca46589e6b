"""`sweeprank --help` speaks to users: every command listed with a sentence, every flag explained."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweeprank.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str | None, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), helps.get(name), sub
                yield from _commands(sub, (*path, name))


def test_every_command_and_every_flag_has_help() -> None:
    """Regression: --maximize, --minimize and 25 other flags had no help text."""
    missing = []
    for path, summary, parser in _commands(build_parser()):
        if not summary:
            missing.append(" ".join(path))
        for action in parser._actions:
            if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help:
                missing.append(f"{' '.join(path)} {action.option_strings or action.dest}")
    assert missing == []


@pytest.mark.slow
def test_top_level_help_is_user_text_and_lists_every_command() -> None:
    """Regression: it printed the module's internal docstring (broker/settings.py...) and a list without tune."""
    shown = subprocess.run(
        [sys.executable, "-m", "sweeprank", "--help"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "broker/settings.py" not in shown and "`main`" not in shown
    commands = [path[0] for path, _, _ in _commands(build_parser()) if len(path) == 1]
    assert "tune" in commands and "rank" in commands
    for name in commands:
        assert f"\n    {name} " in shown  # each listed with its sentence
