"""Every ``glance-focus`` (or ``python -m agents.cli``) and ``classifiers.train`` command that
README.md and the documentation pages under docs/ show parses as written (into its subcommand's
settings; nothing is run)."""

import re
import shlex
from pathlib import Path

import pytest

import agents.cli as cli
from tests.helpers import cli_error

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SUBCOMMAND = "|".join(re.escape(name) for name in cli.SUBCOMMANDS)
PLACEHOLDERS = ("is not a file", "cannot import 'my_")  # files and modules the pages invent


def page_text(page: Path) -> str:
    """The page with shell line continuations joined; code blocks keep their lines, prose is
    joined, so an inline command may wrap across lines."""
    parts = page.read_text().replace("\\\n", " ").split("```")
    return "\n".join(part if k % 2 else part.replace("\n", " ") for k, part in enumerate(parts))


def commands_in(text: str) -> set[str]:
    return {
        *(
            m.group(1).strip()
            for m in re.finditer(
                rf"(?:glance-focus|-m agents\.cli) ((?:{SUBCOMMAND})\b[^`#|\n]*)", text
            )
        ),
        *(
            "train-classifier " + m.group(1).strip()
            for m in re.finditer(r"-m classifiers\.train ([^`#|\n]*)", text)
        ),
    }


SHOWN = {page.relative_to(ROOT).as_posix(): commands_in(page_text(page)) for page in PAGES}
COMMANDS = sorted({(command, page) for page, commands in SHOWN.items() for command in commands})
# Python blocks that open with "# <module>.py" define a module the pages' commands import.
MODULES = {
    m.group(1): m.group(0)
    for page in PAGES
    for m in re.finditer(r"(?m)^# (\w+)\.py\n(?:(?!```).*\n)*", page.read_text())
}


def test_the_pages_are_found():
    assert "README.md" in SHOWN
    assert "docs/guide/agents.md" in SHOWN, "the docs pages moved; update PAGES"
    assert "my_agent" in MODULES, "README.md's agent example no longer opens with '# my_agent.py'"


def test_the_readme_and_docs_show_commands_of_every_subcommand():
    shown = {command.split()[0] for commands in SHOWN.values() for command in commands}
    assert shown == set(cli.SUBCOMMANDS)


@pytest.mark.parametrize(("command", "page"), COMMANDS)
def test_documented_command_parses(command, page, monkeypatch, capsys, tmp_path):
    for name, source in MODULES.items():
        (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    parsed = []
    for name, (settings, _, line) in cli.SUBCOMMANDS.items():
        monkeypatch.setitem(cli.SUBCOMMANDS, name, (settings, parsed.append, line))
    argv = [a for a in shlex.split(command.rstrip("`),.;")) if a != "..."]
    try:
        cli.main(argv)
    except SystemExit as exit:
        error = cli_error(capsys.readouterr().err)
        assert exit.code == 0 or any(p in error for p in PLACEHOLDERS), f"{page}: {error}"
        return
    assert len(parsed) == 1, page


def test_the_readme_links_point_to_files():
    """mkdocs checks the links of docs/ (``mkdocs build --strict``); README.md lies outside it."""
    targets = re.findall(r"\]\(([^)\s]+)\)", (ROOT / "README.md").read_text())
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "README.md links to no page"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
