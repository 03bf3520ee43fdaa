"""`cnnlab runs`: every run of a folder at a glance, from the API's `run_table`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import click

from cnnlab.cli.app import cli, console


def _choices(name: str) -> list[str]:
    from cnnlab.reporting.listing import RunColumn, RunStatus  # light: no Keras

    return list(get_args({"status": RunStatus, "sort": RunColumn}[name]))


@cli.command(short_help="List every run: status, test accuracy with its interval, costs.")
@click.argument("folder", default="runs", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run, as cnnlab.run_table() gives them.")
@click.option("--status", type=click.Choice(_choices("status")), help="Only the runs with this status.")
@click.option(
    "--sort", default="started", show_default=True, type=click.Choice(_choices("sort")), help="Column to sort by."
)
def runs(folder: Path, as_json: bool, status: str | None, sort: str) -> None:
    """List the runs under FOLDER (default: runs): status (a running run with its epoch;
    stopped when its process is gone), test accuracy with its 95 % interval, parameters,
    MACs, training seconds, images/s, seed and start; * marks the Pareto front of accuracy
    against parameters (nothing both smaller and better). A group of seeds (train --repeat)
    has a row too: its runs' mean ± sd and the 95 % t interval of the mean.

    \b
    Examples:
      cnnlab runs
      cnnlab runs --status completed --sort test_accuracy
      cnnlab runs runs --json
    """
    import cnnlab.api as api

    rows = api.run_table(folder, status=status, sort=sort)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    console().print(_table(rows, folder, status))


def _table(rows: list[dict], folder: Path, status: str | None):
    from rich.table import Table

    from cnnlab.reporting.report import cell, seconds

    groups = sum(row["kind"] == "group" for row in rows)
    counted = f"{len(rows) - groups} {status or ''} run(s)" + (f" and {groups} group(s) of seeds" if groups else "")
    title = f"{counted} in {folder}".replace("  ", " ")
    table = Table(title=title, title_justify="left")
    for column in ("run", "status", "epoch", "test accuracy", "95 % interval", "parameters", "MACs", "train s"):
        table.add_column(column, justify="left" if column in ("run", "status") else "right")
    for column in ("images/s", "seed", "started"):
        table.add_column(column, justify="right")
    for row in rows:
        interval = f"{row['low']:.4f} to {row['high']:.4f}" if row["low"] is not None else ""
        accuracy = "" if row["test_accuracy"] is None else f"{row['test_accuracy']:.4f}"
        accuracy += (f" ± {row['sd']:.4f}" if row["sd"] is not None else "") + (" *" if row["pareto"] else "")
        seed = row["seed"] if row["kind"] == "run" else f"{len(row['seeds'] or [])} seeds"
        table.add_row(
            row["run"],
            row["status"],
            cell(row["epoch"]),
            accuracy,
            interval,
            cell(row["parameters"]),
            cell(row["macs"]),
            seconds(row["train_seconds"]),
            cell(row["images_per_second"]),
            cell(seed),
            (row["started"] or "")[:19].replace("T", " "),
        )
    return table
