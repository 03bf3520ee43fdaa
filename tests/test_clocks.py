"""The waits that decide when a silent peer is gone (`cnnlab/clocks.py`): the production defaults,
pinned once here, and the environment variables that tests (and impatient users) set instead."""

from __future__ import annotations

import pytest

from cnnlab import clocks
from cnnlab.errors import ConfigError
from tests.conftest import TINY


def test_the_defaults_are_the_production_waits_the_readme_gives():
    # README: a hung data_parallel peer is dead after 20 s, a silent search worker after 30 s,
    # a chief waits 10 minutes for its first worker; a test that shortened one for good would
    # change what users get.
    assert {name: clocks.seconds(name, {}) for name in clocks.WAITS} == {
        "heartbeat": 20.0,
        "join": 120.0,
        "lease": 30.0,
        "gather": 60.0,
        "first_worker": 600.0,
    }


def test_each_wait_is_set_by_its_own_variable_and_only_that_one():
    environ = {"CNNLAB_HEARTBEAT_SECONDS": "2", "CNNLAB_LEASE_SECONDS": " 0.5 "}
    assert clocks.seconds("heartbeat", environ) == 2.0 and clocks.seconds("lease", environ) == 0.5
    assert clocks.seconds("gather", environ) == 60.0  # another wait keeps its default
    assert clocks.seconds("lease", {"CNNLAB_LEASE_SECONDS": ""}) == 30.0  # set but empty: the default


@pytest.mark.parametrize("text", ["0", "-3", "nan", "inf", "soon", "1e300", "604801"])
def test_a_wait_that_is_not_a_positive_number_is_refused_naming_the_variable(text):
    with pytest.raises(ConfigError) as raised:
        clocks.seconds("heartbeat", {"CNNLAB_HEARTBEAT_SECONDS": text})
    assert str(raised.value).startswith(f"CNNLAB_HEARTBEAT_SECONDS: {text!r} is not a number of seconds above 0")
    assert "unset it for the default, 20 s" in str(raised.value)


def test_a_week_is_the_longest_wait():
    # 604,800 s is accepted as it is; one more is refused above (JAX takes 32-bit whole seconds).
    assert clocks.seconds("heartbeat", {"CNNLAB_HEARTBEAT_SECONDS": "604800"}) == 604800.0


def test_train_refuses_a_mistaken_wait_before_it_writes_anything(write, run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_GATHER_SECONDS", "a minute")
    result = run_cli("train", write("t.yaml", TINY), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert "CNNLAB_GATHER_SECONDS: 'a minute' is not a number of seconds" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()
