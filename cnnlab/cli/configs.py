"""`cnnlab summary`, `check` and `config show`: configs and models before training."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cnnlab.cli.app import cli, console, runs_dir_option, set_option, show_error
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
    """
    from cnnlab.config import load_config
    from cnnlab.data import dataset_info
    from cnnlab.runtime.startup import start_keras

    config_path = _config_of(target, runs_dir)
    start_keras()
    from cnnlab.model.build import build_model  # imports Keras: after start_keras
    from cnnlab.model.summary import summarize

    cfg = load_config(config_path, list(overrides))
    # The same shapes without the data or the pretrained weights: nothing is read or downloaded.
    result = summarize(build_model(cfg, dataset_info(cfg, missing_ok=True), pretrained=False))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        console().print(summary_table(result, title=f"{cfg.name}  ({config_path})"))


def _config_of(target: str | None, runs_dir: Path) -> Path:
    if target and Path(target).suffix in (".yaml", ".yml"):
        return Path(target)
    from cnnlab.runs.folder import RunFolder
    from cnnlab.runs.lookup import find_run

    return RunFolder(find_run(target, runs_dir)).config_file


def summary_table(result, title: str = ""):
    """The rich table for a `ModelSummary`, totals in the footer."""
    from rich.table import Table

    table = Table(title=title, show_footer=True, title_justify="left")
    table.add_column("Layer", footer="Total")
    table.add_column("Type")
    table.add_column("Output shape", footer=f"in {_shape(result.input_shape)}")
    table.add_column("Params", justify="right", footer=f"{result.total_params:,}")
    table.add_column("Trainable", justify="right", footer=f"{result.trainable_params:,}")
    table.add_column("Non-trainable", justify="right", footer=f"{result.non_trainable_params:,}")
    table.add_column("MACs", justify="right", footer=f"{result.total_macs:,}")
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
    table.caption = f"Total params: {result.total_params:,}   MACs per example: {result.total_macs:,}"
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
    """
    from cnnlab.runtime.startup import start_keras

    start_keras()  # on TensorFlow, whatever the configs ask for: checking trains nothing
    if check_configs(configs, list(overrides)):
        sys.exit(2)


def check_configs(paths, overrides: list[str]) -> int:
    """Plan each config as train would, print OK or FAIL with its errors; the number failed.
    Keras' state is cleared after each, so checking leaves nothing behind for what follows."""
    import keras  # started by the caller

    from cnnlab.config import load_config
    from cnnlab.engine.plan import plan

    out, errors, failed = console(), console(stderr=True), 0
    for path in paths:
        try:
            planned = plan(load_config(path, overrides), check_only=True)
        except CnnlabError as error:
            failed += 1
            errors.print(f"FAIL {path}", style="red", markup=False)
            show_error(error, errors)
        else:
            out.print(f"OK   {path}  ({planned.model.count_params():,} parameters)", markup=False)
            for note in planned.notes:
                out.print(f"     note: {note}", style="dim", markup=False)
        keras.backend.clear_session()
    if len(paths) > 1:
        out.print(f"{len(paths) - failed} of {len(paths)} configs OK")
    return failed


@cli.group()
def config() -> None:
    """Look at configs after inheritance and overrides."""


@config.command("show")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@set_option
def config_show(config_path: Path, overrides: tuple[str, ...]) -> None:
    """Print the fully resolved YAML (base: merged, --set applied, defaults filled in)."""
    from cnnlab.config import load_config

    click.echo(load_config(config_path, list(overrides)).to_yaml(), nl=False)
