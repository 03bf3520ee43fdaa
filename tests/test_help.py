"""Every command's --help: a summary said whole, and examples that click itself parses, so that
a renamed option or a stale example fails here instead of in a newcomer's terminal."""

from __future__ import annotations

import glob
import re
import shlex

import click
import pytest
from click.testing import CliRunner

from cnnlab.cli import cli
from tests.conftest import REPO


def _commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
    return found


COMMANDS = _commands()
GROUPS = [(), *(p for p in COMMANDS if len(p) == 1 and isinstance(cli.commands[p[0]], click.Group))]


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


def examples(text: str) -> list[str]:
    """The command lines under "Example:" or "Examples:" (and "On two machines ..."): indented
    lines that start with `cnnlab `, without their `# comment`.

    >>> examples("Examples:\\n  cnnlab train a.yaml   # first\\n  cnnlab check a.yaml\\n\\nOptions:")
    ['cnnlab train a.yaml', 'cnnlab check a.yaml']
    """
    return [line.split("  #")[0].strip() for line in text.splitlines() if re.match(r"\s+cnnlab ", line)]


def parse(line: str) -> click.Context:
    """`line` parsed by click as the shell would hand it over (globs expanded, from the
    repository's root), down to the command it names; raises click's own error if it does not
    parse. Nothing runs."""
    words = []
    for word in shlex.split(line)[1:]:
        matches = sorted(glob.glob(word, root_dir=REPO)) if "*" in word else []
        words += matches or [word]
    context = cli.make_context("cnnlab", words)
    command: click.Command = cli
    while isinstance(command, click.Group):
        name, command, rest = command.resolve_command(context, [*context._protected_args, *context.args])
        context = command.make_context(name, rest, parent=context)
    return context


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_has_examples_that_parse(path, monkeypatch):
    monkeypatch.chdir(REPO)  # the examples' configs/ are the repository's
    text = _help(path)
    command = cli
    for name in path:
        command = command.commands[name]
    if isinstance(command, click.Group):  # a group lists its commands, each with its own examples
        assert "Commands:" in text
        return
    lines = examples(text)
    assert lines, f"cnnlab {' '.join(path)} --help has no example"
    assert any(line.startswith(f"cnnlab {' '.join(path)}") for line in lines)
    for line in lines:
        parse(line)  # raises click.UsageError (or BadParameter) for a stale option or a wrong value


@pytest.mark.parametrize("path", GROUPS, ids=["cnnlab"] + [p[0] for p in GROUPS[1:]])
def test_each_listed_summary_is_whole(path):
    """click cuts a docstring's first sentence at 45 characters with "..." when a command has
    no short_help: every command names itself whole in the list."""
    text = _help(path)
    listing = text[text.index("Commands:") :]
    assert "..." not in listing


def test_a_stale_example_fails_to_parse():
    """The check above can fail: an option that does not exist, a wrong choice, a missing file."""
    with pytest.raises(click.UsageError, match="No such option '--epoch'"):
        parse("cnnlab train configs/mnist_baseline.yaml --epoch 2")
    with pytest.raises(click.BadParameter):
        parse("cnnlab data fetch mnist_fashion")
    with pytest.raises(click.UsageError, match="No such command"):
        parse("cnnlab trian configs/mnist_baseline.yaml")
