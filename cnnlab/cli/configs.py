"""`cnnlab summary`, `check` and `config show`: configs and models before training."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cnnlab.cli.app import cli, console, progress, runs_dir_option, set_option
from cnnlab.errors import CnnlabError


@cli.command(short_help="Layers, shapes, parameters, MACs, receptive fields.")
@click.argument("target", required=False)
@set_option
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def summary(target: str | None, overrides: tuple[str, ...], runs_dir: Path, as_json: bool) -> None:
    """Per-layer output shapes, parameters, MACs and receptive fields.

    TARGET is a config file or a run folder (or a config name: its newest run); without it,
    the newest run in --runs-dir.

    \b
    Examples:
      cnnlab summary configs/mnist_baseline.yaml
      cnnlab summary configs/mnist_baseline.yaml --set model.layers.4.Dense.units=256
      cnnlab summary mnist_baseline --json           # its newest run, for scripts
    """
    import cnnlab.api as api

    result = api.summary(target, overrides=list(overrides), runs_dir=runs_dir)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        console().print(summary_table(result, title=f"{result.name}  ({result.source})"))


def summary_table(result, title: str = ""):
    """The rich table for a `cnnlab.Summary`, totals in the footer."""
    from rich.table import Table

    table = Table(title=title, show_footer=True, title_justify="left")
    table.add_column("Layer", footer="Total")
    table.add_column("Type")
    table.add_column("Output shape", footer=f"in {_shape(result.input_shape)}")
    table.add_column("Params", justify="right", footer=f"{result.total_params:,}")
    table.add_column("Trainable", justify="right", footer=f"{result.trainable_params:,}")
    table.add_column("Non-trainable", justify="right", footer=f"{result.non_trainable_params:,}")
    table.add_column("MACs", justify="right", footer=f"{result.macs:,}")
    table.add_column("Receptive field", justify="right")
    for row in result.rows:
        field = "x".join(map(str, row.receptive_field)) if row.receptive_field else "-"
        table.add_row(
            row.name,
            row.class_name,
            _shape(row.output_shape[1:]),
            f"{row.params:,}",
            f"{row.trainable_params:,}",
            f"{row.non_trainable_params:,}",
            f"{row.macs:,}",
            field,
        )
    table.caption = f"Total params: {result.total_params:,}   MACs per example: {result.macs:,}"
    return table


def _shape(shape) -> str:
    return "x".join(str(d) for d in shape)


@cli.command(short_help="Validate configs without training.")
@click.argument("configs", nargs=-1, required=True, type=click.Path(path_type=Path))
@set_option
def check(configs: tuple[Path, ...], overrides: tuple[str, ...]) -> None:
    """Validate configs as `cnnlab train` does before its first epoch, without loading data:
    the schema, the model, the optimizer, loss, metrics and callbacks, the device, and the
    data set's shape and splits.

    Exits 0 only if every CONFIG passes.

    \b
    Examples:
      cnnlab check configs/*.yaml
      cnnlab check configs/mnist_baseline.yaml --set train.batch_size=64
    """
    import cnnlab.api as api

    show, failed = progress(), 0
    for path in configs:
        try:
            api.check(path, overrides=list(overrides), progress=show)
        except CnnlabError as error:
            failed += 1
            show.failed(f"FAIL {path}")
            show.error(error)
    if len(configs) > 1:
        show.say(f"{len(configs) - failed} of {len(configs)} configs OK")
    if failed:
        sys.exit(2)


@cli.group(short_help="Show configs after inheritance and overrides (config show).")
def config() -> None:
    """Look at configs after inheritance and overrides."""


@config.command("show", short_help="Print a config as train reads it: base merged, --set applied, defaults.")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@set_option
def config_show(config_path: Path, overrides: tuple[str, ...]) -> None:
    """Print the fully resolved YAML (base: merged, --set applied, defaults filled in).

    \b
    Examples:
      cnnlab config show configs/mnist_dropout.yaml     # with what it inherits from its base
      cnnlab config show configs/mnist_baseline.yaml --set train.epochs=2
    """
    import cnnlab.api as api

    click.echo(api.config_yaml(config_path, overrides=list(overrides)), nl=False)
