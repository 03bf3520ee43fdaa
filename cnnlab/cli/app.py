"""The `cnnlab` click group, its shared options, and error display."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from cnnlab.errors import CnnlabError, Interrupted
from cnnlab.hints import speaking_to_the_shell
from cnnlab.version import __version__

# click's context.meta key: {override key: the option it came from}, set by a command that turns
# options into overrides (train's --epochs is train.epochs=N), read by show_error.
OVERRIDES_FROM = "cnnlab.overrides_from"
SET_HELP = "Override a config key, e.g. --set train.epochs=2 --set model.layers.4.Dense.units=256."
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
runs_dir_option = click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Folder that holds the run folders.",
)


def console(stderr: bool = False):
    from rich.console import Console

    out = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not out.is_terminal:
        out.width = max(out.width, 120)  # tables in logs and files need not wrap at 80
    return out


def progress():
    """Where the API shows a command's progress: this terminal, errors on standard error, and
    a failed run's traceback with --debug."""
    from cnnlab.api import Progress

    debug = bool((click.get_current_context().obj or {}).get("debug"))
    return Progress(console(), console(stderr=True), debug=debug, show_error=show_error)


class CnnlabGroup(click.Group):
    """Turns a `CnnlabError` into its located message and exit code (no traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            with speaking_to_the_shell():  # hints name command lines, as this shell runs them
                return super().invoke(ctx)
        except CnnlabError as error:
            if (ctx.obj or {}).get("debug"):
                raise
            show_error(error)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            console(stderr=True).print("interrupted", style="yellow")
            ctx.exit(130)


def show_error(error: CnnlabError, out=None) -> None:
    out = out or console(stderr=True)
    context = click.get_current_context(silent=True)
    options, flags = _options_of(context), context.meta.get(OVERRIDES_FROM, {}) if context else {}
    for problem in error.problems:
        if problem.key in options and not problem.file:
            problem = dataclasses.replace(problem, key=options[problem.key])
        elif problem.file == "overrides" and problem.key in flags:  # given as --epochs, applied as an override
            problem = dataclasses.replace(problem, file=None, key=flags[problem.key])
        elif problem.file in options and problem.line is None:  # an override: "overrides" to Python, --set here
            problem = dataclasses.replace(problem, file=options[problem.file])
        if isinstance(error, Interrupted):  # the user's own stop, and resumable: no error
            out.print(str(problem), style="yellow", markup=False, soft_wrap=True)
        else:
            out.print(f"error: {problem}", style="red", markup=False, soft_wrap=True)


def _options_of(context: click.Context | None) -> dict[str, str]:
    """The API names an argument (`seeds`, `runs_dir`); the command's option of that name is
    what the user typed (`--seeds`, `--runs-dir`), so a message names that instead. The options
    of the command being run, by parameter name (of every subcommand, below a group)."""
    command = context and context.command
    if isinstance(command, click.Group) and context.invoked_subcommand:
        command = command.get_command(context, context.invoked_subcommand)  # below it, a group's subcommands all
    commands = [command, *command.commands.values()] if isinstance(command, click.Group) else [command]
    return {p.name: p.opts[0] for c in commands if c for p in c.params if isinstance(p, click.Option)}


@click.group(cls=CnnlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cnnlab")
@click.option("--debug", is_flag=True, help="Show Python tracebacks instead of short messages.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Turn a YAML file into a trained, evaluated and explained Keras CNN.

    \b
    Start here:
      cnnlab train configs/mnist_baseline.yaml     build, train, evaluate, report
      cnnlab summary configs/mnist_baseline.yaml   layers, shapes, parameters
      cnnlab check configs/*.yaml                  validate configs without training
    """
    ctx.obj = {"debug": debug}
