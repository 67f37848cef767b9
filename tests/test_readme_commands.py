"""Every ``glance-focus`` and ``classifiers.train`` command the README shows parses as written
(into its subcommand's settings; nothing is run)."""

import re
import shlex
from pathlib import Path

import pytest

import agents.cli as cli
from tests.helpers import cli_error

PARTS = (Path(__file__).parents[1] / "README.md").read_text().replace("\\\n", " ").split("```")
# code blocks keep their lines; prose is joined, so an inline command may wrap across lines
README = "\n".join(part if k % 2 else part.replace("\n", " ") for k, part in enumerate(PARTS))
SUBCOMMAND = "|".join(re.escape(name) for name in cli.SUBCOMMANDS)
COMMANDS = sorted(
    {
        *(
            m.group(1).strip()
            for m in re.finditer(rf"glance-focus ((?:{SUBCOMMAND})\b[^`#|\n]*)", README)
        ),
        *(
            "train-classifier " + m.group(1).strip()
            for m in re.finditer(r"-m classifiers\.train ([^`#|\n]*)", README)
        ),
    }
)
PLACEHOLDERS = ("is not a file", "cannot import 'my_")  # files and modules the README invents


def test_the_readme_shows_commands_of_every_subcommand():
    assert {c.split()[0] for c in COMMANDS} == set(cli.SUBCOMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_documented_command_parses(command, monkeypatch, capsys):
    parsed = []
    for name, (settings, _, line) in cli.SUBCOMMANDS.items():
        monkeypatch.setitem(cli.SUBCOMMANDS, name, (settings, parsed.append, line))
    argv = [a for a in shlex.split(command.rstrip("`),.;")) if a != "..."]
    try:
        cli.main(argv)
    except SystemExit as exit:
        error = cli_error(capsys.readouterr().err)
        assert exit.code == 0 or any(p in error for p in PLACEHOLDERS), error
        return
    assert len(parsed) == 1
