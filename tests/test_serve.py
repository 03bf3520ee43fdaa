"""`cnnlab serve`: a real server on 127.0.0.1 (a free port) talked to over HTTP, on the shared
tiny run. The numbers are judged against the run's own evaluation (predictions.npz), never
against another call of the server."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import REPO

httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def tiny(trained):
    """(run folder, the test split's raw pixels, the run's stored test probabilities)."""
    from cnnlab.config import load_config
    from cnnlab.data import load_splits

    run, _, _ = trained
    splits = load_splits(load_config(run / "config.yaml"), 3)
    stored = np.load(run / "predictions.npz")
    return run, splits.raw_test, stored["probabilities"]


@pytest.fixture(scope="module")
def server(tiny):
    import cnnlab

    run, _, _ = tiny
    serving = cnnlab.serve([run], port=0, background=True, max_wait_ms=20)
    yield serving
    serving.stop()


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0].astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def test_predict_gives_the_runs_own_probabilities_in_both_json_shapes_and_from_png_files(server, tiny):
    """The bug this catches: a server that prepares pixels otherwise than the run did (no
    standardisation, the wrong statistics, a transposed image) or mixes up the rows."""
    _, raw, stored = tiny
    images = raw[:20]
    url = f"{server.url}/v1/models/tiny:predict"
    rows = httpx.post(url, json={"instances": images.tolist()}).json()["predictions"]
    columns = httpx.post(url, json={"inputs": images[..., 0].tolist()}).json()["predictions"]  # no channel axis
    files = [("image", (f"{i}.png", _png(image), "image/png")) for i, image in enumerate(images)]
    uploaded = httpx.post(url, files=files).json()["predictions"]
    for answer in (rows, columns, uploaded):
        assert np.allclose(np.array(answer), stored[:20], atol=1e-5)


def test_a_client_written_for_tensorflow_serving_works_unchanged(server, tiny):
    """As TF Serving's REST API documents it: GET /v1/models/NAME answers
    model_version_status with state AVAILABLE, and POST .../NAME:predict with
    {"signature_name": "serving_default", "instances": [...]} answers {"predictions": [...]}."""
    _, raw, stored = tiny
    status = httpx.get(f"{server.url}/v1/models/tiny").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    body = json.dumps({"signature_name": "serving_default", "instances": raw[:3].tolist()})
    answer = httpx.post(f"{server.url}/v1/models/tiny:predict", content=body).json()
    assert np.allclose(answer["predictions"], stored[:3], atol=1e-5)


def test_metadata_and_classify_name_the_classes(server, tiny, trained):
    run, raw, stored = tiny
    metadata = httpx.get(f"{server.url}/v1/models/tiny/metadata").json()["metadata"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metadata["input"]["shape"] == [None, 8, 8, 1] and metadata["test_accuracy"] == metrics["accuracy"]
    assert metadata["stamp"] == run.name and len(metadata["class_names"]) == 3
    results = httpx.post(f"{server.url}/v1/models/tiny:classify?k=2", json={"instances": raw[:4].tolist()}).json()
    for answer, row in zip(results["results"], stored[:4], strict=True):
        order = np.argsort(row)[::-1][:2]
        assert [c["index"] for c in answer] == order.tolist()
        assert [c["class"] for c in answer] == [metadata["class_names"][i] for i in order]
        assert [c["probability"] for c in answer] == pytest.approx(row[order].tolist(), abs=1e-5)


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(server, tiny):
    """64 requests at once, each a different image: each answer is its own image's row (a
    batcher that hands out rows in the wrong order would pass with identical images), and the
    model ran fewer times than there were requests."""
    _, raw, stored = tiny
    served = server.served["tiny"]
    before = served.batcher.calls

    async def all_at_once():
        async with httpx.AsyncClient() as client:
            url = f"{server.url}/v1/models/tiny:predict"
            return await asyncio.gather(
                *(client.post(url, json={"instances": [raw[i % len(raw)].tolist()]}) for i in range(64))
            )

    answers = asyncio.run(all_at_once())
    for i, answer in enumerate(answers):
        assert np.allclose(answer.json()["predictions"][0], stored[i % len(raw)], atol=1e-5), i
    assert served.batcher.calls - before < 64


def _bomb() -> bytes:
    """A PNG of 5,000 x 5,000 black pixels: 25 million pixels in a few kilobytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buffer, format="PNG")
    return buffer.getvalue()


BAD = {
    "malformed JSON": ("POST", ":predict", {"content": b'{"instances": [1, 2'}, 400, "not JSON"),
    "neither key": ("POST", ":predict", {"json": {"images": []}}, 400, '"instances"'),
    "wrong shape": ("POST", ":predict", {"json": {"instances": [[[1, 2, 3]]]}}, 400, "the model takes 8x8x1"),
    "ragged": ("POST", ":predict", {"json": {"instances": [[[1] * 8] * 8, [[1] * 7] * 8]}}, 400, "one shape"),
    "strings": ("POST", ":predict", {"json": {"instances": [[["a"] * 8] * 8]}}, 400, "numbers"),
    "NaN": ("POST", ":predict", {"content": json.dumps({"instances": [[[float("nan")] * 8] * 8]})}, 400, "NaN"),
    "above 255": ("POST", ":predict", {"json": {"instances": [[[300] * 8] * 8]}}, 400, "0 to 255"),
    "negative": ("POST", ":predict", {"json": {"instances": [[[-1] * 8] * 8]}}, 400, "0 to 255"),
    "empty batch": ("POST", ":predict", {"json": {"instances": []}}, 400, "holds no image"),
    "too many": ("POST", ":predict", {"json": {"instances": [[[0] * 8] * 8] * 257}}, 413, "at most 256"),
    "body too large": ("POST", ":predict", {"content": b" " * (16 * 2**20 + 1)}, 413, "at most 16,777,216"),
    "not an image": ("POST", ":predict", {"files": [("image", ("a.png", b"hello", "image/png"))]}, 400, "a.png"),
    "image bomb": ("POST", ":predict", {"files": [("image", ("bomb.png", _bomb(), "image/png"))]}, 413, "bomb"),
    "unknown model": ("POST", "", {"json": {}}, 404, "served: tiny"),
    "GET on predict": ("GET", ":predict", {}, 405, "send POST"),
    "PUT on a model": ("PUT", "", {}, 405, "PUT is not allowed"),
    "bad k": ("POST", ":classify?k=0", {"json": {"instances": [[[0] * 8] * 8]}}, 400, "k is a whole number"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_bad_input_gets_its_status_and_a_clear_json_error_and_the_server_lives_on(server, case):
    """The bug each catches: a traceback (500) or a dead server instead of a located answer."""
    method, route, body, status, said = BAD[case]
    name = "nope" if case == "unknown model" else "tiny"
    path = f"/v1/models/{name}{route}"
    if case == "unknown model":
        path += ":predict"
    answer = httpx.request(method, server.url + path, timeout=30, **body)
    assert answer.status_code == status, answer.text
    assert said in answer.json()["error"]
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_token_is_needed_when_given_and_a_foreign_host_is_refused(tiny):
    import cnnlab
    from cnnlab.errors import ConfigError

    run, raw, _ = tiny
    with pytest.raises(ConfigError, match="host: 0.0.0.0 opens the models"):
        cnnlab.serve([run], host="0.0.0.0", port=0)
    serving = cnnlab.serve([run], port=0, token="s3cret", background=True)
    try:
        url = f"{serving.url}/v1/models/tiny"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        foreign = httpx.get(url, headers={"Authorization": "Bearer s3cret", "Host": "evil.example:8000"})
        assert foreign.status_code == 421 and "not this server's address" in foreign.json()["error"]
    finally:
        serving.stop()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.processes
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_server_answers_what_is_in_flight_and_exits_0_within_5_s(tiny, how):
    run, raw, stored = tiny
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cnnlab", "serve", str(run), "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
                time.sleep(0.2)

        async def asked_then_stopped():
            async with httpx.AsyncClient(timeout=30) as client:
                flight = asyncio.ensure_future(
                    client.post(f"http://127.0.0.1:{port}/v1/models/tiny:predict", json={"instances": raw.tolist()})
                )
                await asyncio.sleep(0.05)  # on its way
                process.send_signal(how)
                return await flight, time.monotonic()

        answer, sent = asyncio.run(asked_then_stopped())
        assert answer.status_code == 200
        assert np.allclose(answer.json()["predictions"], stored, atol=1e-5)
        assert process.wait(timeout=5) == 0
        assert time.monotonic() - sent < 5
        assert "Traceback" not in process.stdout.read()
    finally:
        process.kill()


def test_explain_gradcam_adds_each_images_map_as_a_png_and_a_bad_explain_is_refused(server, tiny):
    """The bug: maps handed to the wrong image, or a PNG that is not the image's size."""
    import base64

    from PIL import Image

    from cnnlab.api.runs import Run
    from cnnlab.reporting.plots import gradcam_png

    run, raw, stored = tiny
    answer = httpx.post(f"{server.url}/v1/models/tiny:predict?explain=gradcam", json={"instances": raw[:3].tolist()})
    body = answer.json()
    assert np.allclose(body["predictions"], stored[:3], atol=1e-5) and len(body["gradcam_png"]) == 3
    pictures = [base64.b64decode(text) for text in body["gradcam_png"]]
    assert all(Image.open(io.BytesIO(p)).size == (8, 8) for p in pictures)
    maps = Run(run).heatmaps(raw[:3])  # the API's own maps, drawn over each image in order
    assert pictures == [gradcam_png(image.astype(np.float32), heat) for image, heat in zip(raw[:3], maps)]
    refused = httpx.post(f"{server.url}/v1/models/tiny:predict?explain=lime", json={"instances": raw[:1].tolist()})
    assert refused.status_code == 400 and "explain=gradcam" in refused.json()["error"]


def test_no_cors_header_unless_asked_and_then_only_for_that_origin(server, tiny):
    import cnnlab

    run, _, _ = tiny
    asked = {"Origin": "http://page.example"}
    assert "access-control-allow-origin" not in httpx.get(f"{server.url}/healthz", headers=asked).headers
    serving = cnnlab.serve([run], port=0, cors="http://page.example", background=True)
    try:
        allowed = httpx.get(f"{serving.url}/healthz", headers=asked).headers
        other = httpx.get(f"{serving.url}/healthz", headers={"Origin": "http://elsewhere.example"}).headers
        assert allowed["access-control-allow-origin"] == "http://page.example"
        assert "access-control-allow-origin" not in other
    finally:
        serving.stop()


def test_a_run_deleted_while_served_answers_404_and_the_server_lives_on(trained_copy, tiny):
    import shutil

    import cnnlab

    copy, _ = trained_copy
    _, raw, _ = tiny
    serving = cnnlab.serve([copy], port=0, background=True)
    try:
        url = f"{serving.url}/v1/models/tiny:predict"
        assert httpx.post(url, json={"instances": raw[:1].tolist()}).status_code == 200
        assert httpx.get(f"{serving.url}/readyz").status_code == 200
        shutil.rmtree(copy)
        gone = httpx.post(url, json={"instances": raw[:1].tolist()})
        assert gone.status_code == 404 and "no model named 'tiny'" in gone.json()["error"]
        assert httpx.get(f"{serving.url}/healthz").status_code == 200
        assert httpx.get(f"{serving.url}/readyz").status_code == 503
    finally:
        serving.stop()


@pytest.mark.trains  # the export checks itself on the run's test images
def test_an_exported_model_is_served_under_its_file_name_with_the_runs_numbers(run_cli, trained_copy, tiny, tmp_path):
    """The export holds its own preprocessing: a server that prepared its pixels a second time
    (or sent them without it) would miss the run's stored probabilities."""
    import cnnlab

    copy, _ = trained_copy
    _, raw, stored = tiny
    exported = tmp_path / "tiny.tflite"
    assert run_cli("export", copy, "--format", "tflite", "--out", exported).exit_code == 0
    serving = cnnlab.serve([exported], port=0, background=True)
    try:
        assert sorted(serving.served) == ["tiny.tflite"]  # no run folder: the runs under runs/ are not added
        answer = httpx.post(f"{serving.url}/v1/models/tiny.tflite:predict", json={"instances": raw[:20].tolist()})
        assert np.allclose(answer.json()["predictions"], stored[:20], atol=1e-5)
        metadata = httpx.get(f"{serving.url}/v1/models/tiny.tflite/metadata").json()["metadata"]
        assert metadata["format"] == "tflite" and metadata["input"]["shape"] == [None, 8, 8, 1]
        explained = httpx.post(
            f"{serving.url}/v1/models/tiny.tflite:predict?explain=gradcam", json={"instances": raw[:1].tolist()}
        )
        assert explained.status_code == 400 and "serve the run" in explained.json()["error"]
    finally:
        serving.stop()


def test_the_command_refuses_another_host_without_a_token_before_loading_anything(run_cli, tiny):
    run, _, _ = tiny
    result = run_cli("serve", run, "--host", "0.0.0.0")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "error: --host: 0.0.0.0 opens the models" in result.stderr and "give --token TOKEN" in result.stderr


def test_a_run_still_training_is_served_once_it_has_been_evaluated(tiny, tmp_path):
    """Two runs of `tiny` in one runs folder, the second still "running": the server starts
    with the first alone, answers 404 for the second, and serves it once its manifest says it
    completed (the bug: a run served before its evaluation, or never without a restart)."""
    import shutil

    import cnnlab

    run, raw, stored = tiny
    runs = tmp_path / "runs"
    done, training = runs / "tiny" / "20261201-120000", runs / "tiny" / "20261201-130000"
    shutil.copytree(run, done)
    shutil.copytree(run, training)
    manifest = json.loads((training / "manifest.json").read_text())
    (training / "manifest.json").write_text(json.dumps({**manifest, "status": "running"}))
    serving = cnnlab.serve([runs], port=0, background=True)
    try:
        assert sorted(serving.served) == ["tiny", "tiny@20261201-120000"]
        url = f"{serving.url}/v1/models/tiny@20261201-130000:predict"
        body = {"instances": raw[:2].tolist()}
        assert httpx.post(url, json=body).status_code == 404
        (training / "manifest.json").write_text(json.dumps({**manifest, "status": "completed"}))
        answer = httpx.post(url, json=body)
        assert answer.status_code == 200 and np.allclose(answer.json()["predictions"], stored[:2], atol=1e-5)
        newest = httpx.get(f"{serving.url}/v1/models/tiny/metadata").json()["metadata"]
        assert newest["stamp"] == "20261201-130000"  # the plain name now names the newest
    finally:
        serving.stop()


def test_a_model_that_fails_answers_500_in_tf_servings_shape_and_the_server_goes_on(server, tiny):
    """The bug: an exception inside the model call reaching the client as a bare 500 page, or
    a batch left waiting forever."""
    _, raw, _ = tiny
    served = server.served["tiny"]
    working = served.batcher.run_batch

    def broken(pixels):
        raise RuntimeError("out of memory, say")

    served.batcher.run_batch = broken
    try:
        answer = httpx.post(f"{server.url}/v1/models/tiny:predict", json={"instances": raw[:2].tolist()}, timeout=30)
    finally:
        served.batcher.run_batch = working
    assert answer.status_code == 500 and "RuntimeError: out of memory, say" in answer.json()["error"]
    assert httpx.post(f"{server.url}/v1/models/tiny:predict", json={"instances": raw[:2].tolist()}).status_code == 200


def test_the_command_says_where_it_listens_with_or_without_a_model_yet():
    """The bug: the command's last line taking the first model's name when none is evaluated
    yet (an IndexError instead of the address)."""
    from pathlib import Path

    from cnnlab.cli.serving import announcement

    some = announcement("http://127.0.0.1:8000", ["mnist_fast", "mnist_fast@20261205-213002"], Path("runs"))
    assert some[0].startswith("serving 2 model name(s) at http://127.0.0.1:8000: mnist_fast,")
    assert "curl http://127.0.0.1:8000/v1/models/mnist_fast/metadata" in some[2]
    none = announcement("http://127.0.0.1:8000", [], Path("runs"))
    assert "no run under runs is evaluated yet" in none[0] and "http://127.0.0.1:8000/" in none[1]


def test_a_port_in_use_is_refused_by_name_and_port_0_announces_the_port_it_got(tiny, run_cli):
    """The bugs: a port another program holds reported by uvicorn after every model loaded
    (its own ERROR line, exit 3, the address already announced as serving), and `--port 0`
    announced as port 0."""
    import socket

    import cnnlab
    from cnnlab.errors import ConfigError

    run, _, _ = tiny
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(ConfigError, match=rf"port: cannot listen on 127.0.0.1:{port}: .*--port 0 for a free one"):
            cnnlab.serve([run], port=port, background=True)
        result = run_cli("serve", run, "--port", port)
        assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr
        assert "serving" not in result.stdout
    finally:
        holder.close()
    heard: list[str] = []
    serving = cnnlab.serve([run], port=0, background=True, announce=lambda url, names: heard.append(url))
    try:
        assert heard == [serving.url] and not serving.url.endswith(":0")
        assert httpx.get(f"{serving.url}/healthz").status_code == 200
    finally:
        serving.stop()
