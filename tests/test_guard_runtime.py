"""Guard rails of runtime options (`runtime:`, --device, the CNNLAB_*_SECONDS waits): each case
is one setting, the message `cnnlab train` gives before Keras waits on anything, and no run
folder."""

from __future__ import annotations

import importlib.util

import pytest

from tests.guard_rails import TINY_CONFIG, assert_refused

CASES = {
    "devices that are not here": (
        "runtime: {distribute: mirrored, devices: [GPU:0, GPU:1]}",
        "runtime.devices: GPU:0 is not a device of this machine",
    ),
    "a device twice": ("runtime: {distribute: mirrored, devices: [CPU:0, CPU:0]}", "CPU:0 is listed twice"),
    "a device twice, spelt two ways": (
        "runtime: {distribute: mirrored, devices: [CPU:0, /device:cpu:0]}",
        "CPU:0 is listed twice",
    ),
    "no device name": ("runtime: {distribute: mirrored, devices: [XPU:0]}", "'XPU:0' is not a device name"),
    "no devices": ("runtime: {distribute: mirrored, devices: []}", "runtime.devices: List should have at least 1 item"),
    "devices without mirrored": ("runtime: {devices: [CPU:0]}", "only distribute: mirrored takes a list of devices"),
    "mirrored on JAX": (
        "runtime: {backend: jax, distribute: mirrored}",
        "mirrored is TensorFlow's MirroredStrategy",
    ),
    "data_parallel on TensorFlow": (
        "runtime: {distribute: data_parallel}",
        "data_parallel is Keras' distribution API, which runs on JAX",
    ),
    "a coordinator without data_parallel": (
        "runtime: {coordinator: '127.0.0.1:8476'}",
        "only distribute: data_parallel runs several processes",
    ),
    "process id past the processes": (
        "runtime: {backend: jax, distribute: data_parallel, num_processes: 2, process_id: 2}",
        "runtime.process_id: must be below num_processes (2)",
    ),
    "an unknown distribution": ("runtime: {distribute: everywhere}", "runtime.distribute: Input should be"),
    "an unknown backend": ("runtime: {backend: torch}", "runtime.backend: Input should be"),
    "an unknown runtime key": ("runtime: {threads: 4}", "runtime.threads"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_runtime_that_cannot_work_is_refused_before_anything_waits(run_cli, write, tmp_path, case):
    runtime, message = CASES[case]
    if "jax" in runtime and "mirrored" not in runtime and importlib.util.find_spec("jax") is None:
        pytest.skip("the JAX backend is not installed")
    config = write("rt.yaml", TINY_CONFIG + runtime + "\n")
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert_refused(result, 2, message)
    assert "rt.yaml:12 runtime" in result.stderr  # located at its line
    assert not (tmp_path / "runs").exists()


ENVIRONMENT = {
    "a heartbeat of 0 s": ("CNNLAB_HEARTBEAT_SECONDS", "0"),
    "a lease of minus one": ("CNNLAB_LEASE_SECONDS", "-1"),
    "a wait that is no number": ("CNNLAB_GATHER_SECONDS", "soon"),
    "an endless join": ("CNNLAB_JOIN_SECONDS", "inf"),
    "a wait past a week": ("CNNLAB_FIRST_WORKER_SECONDS", "604801"),
}


@pytest.mark.parametrize("case", list(ENVIRONMENT), ids=list(ENVIRONMENT))
def test_a_wait_setting_that_cannot_work_is_refused_by_name(run_cli, write, tmp_path, monkeypatch, case):
    variable, value = ENVIRONMENT[case]
    monkeypatch.setenv(variable, value)
    result = run_cli("train", write("t.yaml", TINY_CONFIG), "--runs-dir", tmp_path / "runs")
    assert_refused(result, 2, f"{variable}: {value!r} is not a number of seconds above 0 and at most a week")
    assert not (tmp_path / "runs").exists()


def test_a_gpu_asked_for_on_a_machine_without_one_is_refused(run_cli, write, tmp_path):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    result = run_cli("train", write("t.yaml", TINY_CONFIG), "--device", "gpu", "--runs-dir", tmp_path / "runs")
    assert_refused(result, 2, "asks for a GPU, but TensorFlow sees none on this machine")
    assert not (tmp_path / "runs").exists()
