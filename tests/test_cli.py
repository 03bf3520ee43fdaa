"""The `cnnlab` command as a user meets it: exit codes, messages, JSON, and a fast --help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnnlab.config import load_config
from cnnlab.model.build import build_model
from tests.conftest import CONFIGS, REPO, TINY_DATA, TINY_MODEL


@pytest.mark.processes
def test_help_does_not_import_a_backend():
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from cnnlab.cli import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\n"
        "assert result.exit_code == 0 and 'summary' in result.output, result.output\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax', 'pydantic'))\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_check_passes_every_shipped_config(run_cli):
    result = run_cli("check", *CONFIGS)
    assert result.exit_code == 0, result.output
    assert result.output.count("OK ") == len(CONFIGS)
    assert f"{len(CONFIGS)} of {len(CONFIGS)} configs OK" in result.output


def test_check_reports_each_bad_config_and_exits_2(run_cli, write):
    good = write("good.yaml", "name: good\n" + TINY_MODEL + TINY_DATA)
    bad = write("bad.yaml", "name: bad\ntrain: {epochz: 3}\n" + TINY_MODEL)
    result = run_cli("check", good, bad)
    assert result.exit_code == 2
    assert f"OK   {good}" in result.output and f"FAIL {bad}" in result.output
    assert f"error: {bad}:2 train.epochz: unknown key — did you mean epochs?" in result.output
    assert "Traceback" not in result.output


def test_summary_json_matches_keras(run_cli, write):
    path = write("net.yaml", "name: net\n" + TINY_MODEL + TINY_DATA)
    result = run_cli("summary", path, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    model = build_model(load_config(path))
    assert data["total_params"] == model.count_params()
    assert [layer["output_shape"] for layer in data["layers"]] == [list(layer.output.shape) for layer in model.layers]
    # Conv2D(4, 3x3) on 8x8x1 -> 6x6x4 outputs of 9 terms each; Dense 36 -> 3.
    assert [layer["macs"] for layer in data["layers"]] == [6 * 6 * 4 * 9, 0, 0, 36 * 3]
    assert data["total_macs"] == 6 * 6 * 4 * 9 + 36 * 3  # the total a script reads, under its name


def test_summary_table_shows_the_baseline_total(run_cli):
    result = run_cli("summary", REPO / "configs" / "mnist_baseline.yaml")
    assert result.exit_code == 0, result.output
    assert "Total params: 1,625,866" in result.output
    assert "max_pooling2d" in result.output and "6x6" in result.output  # receptive field


def test_summary_applies_overrides(run_cli):
    result = run_cli(
        "summary", REPO / "configs" / "mnist_baseline.yaml", "--json", "--set", "model.layers.4.Dense.units=256"
    )
    assert json.loads(result.stdout)["layers"][4]["params"] == 12544 * 256 + 256


def test_summary_without_runs_says_how_to_make_one(run_cli, tmp_path):
    result = run_cli("summary", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert "no runs in" in result.stderr and "cnnlab train" in result.stderr


def test_summary_of_a_run_folder_uses_its_saved_config(run_cli, write, tmp_path):
    run = tmp_path / "runs" / "net" / "20261122-101500"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(load_config(write("net.yaml", "name: net\n" + TINY_MODEL + TINY_DATA)).to_yaml())
    for target in ([], ["net"], [str(run)]):  # newest run, by name, by folder
        result = run_cli("summary", *target, "--runs-dir", tmp_path / "runs", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["name"] == "net"


def test_unknown_run_name_suggests_a_close_one(run_cli, write, tmp_path):
    run = tmp_path / "runs" / "mnist_baseline" / "20261122-101500"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: mnist_baseline\n")
    result = run_cli("summary", "mnist_baselin", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "did you mean mnist_baseline?" in result.stderr


def test_config_show_prints_resolved_yaml(run_cli, write):
    write("base.yaml", "name: base\nseed: 7\n" + TINY_MODEL)
    child = write("child.yaml", "base: base.yaml\nname: child\n")
    result = run_cli("config", "show", child, "--set", "train.epochs=3")
    assert result.exit_code == 0, result.output
    assert "seed: 7" in result.stdout and "epochs: 3" in result.stdout and "base:" not in result.stdout


def test_config_error_shows_no_traceback_unless_debug(run_cli, write):
    bad = write("bad.yaml", "name: bad\n" + TINY_MODEL.replace("Conv2D", "Conv2d"))
    result = run_cli("summary", bad)
    assert result.exit_code == 2
    assert (
        result.stderr.strip() == f"error: {bad}:5 model.layers[0].Conv2d: unknown layer 'Conv2d' — did you mean Conv2D?"
    )
    debug = run_cli("--debug", "summary", bad)
    assert debug.exit_code != 0 and type(debug.exception).__name__ == "ConfigError"


@pytest.mark.processes
def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "cnnlab", "--version"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0 and "cnnlab" in done.stdout


@pytest.mark.processes
def test_a_hint_names_cnnlab_as_this_shell_can_start_it(tmp_path):
    """`make train` runs .venv/bin/cnnlab without putting it on the PATH: a hint that said
    `cnnlab ...` would be 'command not found' when pasted. Started by its path, the hint names
    that path (relative to where the user is); with cnnlab on the PATH, plain `cnnlab`. The
    command the first hint names then runs, from the same folder and PATH."""
    import os
    from pathlib import Path

    program = Path(sys.executable).parent / "cnnlab"
    relative = os.path.relpath(program, REPO)
    said = {}
    for path in ("/usr/bin:/bin", f"{program.parent}:/usr/bin:/bin"):
        done = subprocess.run(
            [relative, "summary", "--runs-dir", str(tmp_path / "none")],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "PATH": path},
        )
        assert done.returncode == 2, done.stderr
        said[path] = done.stderr.split("train one first: ")[1].split()[0]
    # .venv/bin/cnnlab here; an environment outside the folder, by its whole path
    assert list(said.values()) == [str(program) if relative.startswith("..") else relative, "cnnlab"]
    again = subprocess.run(
        [said["/usr/bin:/bin"], "--version"], capture_output=True, text=True, cwd=REPO, env={"PATH": "/usr/bin:/bin"}
    )
    assert again.returncode == 0 and again.stdout.startswith("cnnlab")
