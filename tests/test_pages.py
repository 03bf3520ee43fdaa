"""The pages of `cnnlab serve`, driven in a real browser: Debian's Chromium through Playwright,
against a real server on 127.0.0.1 serving tiny runs of 28x28 grey images made here. What a
page shows is judged against the runs' own files (metrics.json, manifest.json,
predictions.npz), `:predict` and `cnnlab compare --json`, never against the page's own code."""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import REPO, TINY_DATA, TINY_MODEL

pytestmark = [pytest.mark.processes, pytest.mark.trains]  # a browser is a process; the runs train here
httpx = pytest.importorskip("httpx")
playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
CHROMIUM = Path(os.environ.get("CNNLAB_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():  # .ci/run installs it; a machine without it cannot run these tests
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run should have installed chromium")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

# The shared tiny model on 28x28 grey images of 10 classes: the page's MNIST-shaped case
DIGITS = (
    "name: digits\n"
    + TINY_MODEL.replace("units: 3", "units: 10")
    + TINY_DATA.replace(
        "[8, 8, 1], num_classes: 3, train_examples: 192, test_examples: 48",
        "[28, 28, 1], num_classes: 10, train_examples: 200, test_examples: 60",
    )
    + "train: {epochs: 1, batch_size: 20}\n"
)
assert "units: 10" in DIGITS and "[28, 28, 1]" in DIGITS  # the shared config still has the shapes replaced here


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder of runs: two evaluated runs of the 28x28 config (batches of 20 and 10), and a
    copy of the first whose manifest says it was interrupted."""
    from cnnlab.cli import cli

    root = tmp_path_factory.mktemp("pages")
    config = root / "digits.yaml"
    config.write_text(DIGITS)
    runs = root / "runs"
    for batch_size in (20, 10):  # the same seed, so the same synthetic images: McNemar pairs them
        change = f"train.batch_size={batch_size}"
        result = CliRunner().invoke(cli, ["train", str(config), "--runs-dir", str(runs), "--set", change])
        assert result.exit_code == 0, result.output
    first = sorted((runs / "digits").iterdir())[0]
    stopped = runs / "digits" / "20200101-000000"
    shutil.copytree(first, stopped)
    manifest = json.loads((stopped / "manifest.json").read_text())
    (stopped / "manifest.json").write_text(json.dumps({**manifest, "status": "interrupted", "test": {}}))
    return runs


@pytest.fixture(scope="module")
def server(folder):
    import cnnlab

    serving = cnnlab.serve(runs_dir=folder, port=0, background=True)
    yield serving
    serving.stop()


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh page; any script error on it fails the test."""
    opened = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    opened.close()
    assert not errors, errors


def _completed(folder: Path) -> list[Path]:
    return [run for run in sorted((folder / "digits").iterdir()) if run.name != "20200101-000000"]


def _ident(run: Path) -> str:
    return f"{run.parent.name}@{run.name}"


def _wilson(correct: int, total: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's score interval, worked from its formula here."""
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z / (1 + z * z / total) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return centre - half, centre + half


def _table(page) -> dict[str, dict[str, str]]:
    """The rows on screen, by run: each cell's text by its column."""
    rows = {}
    for line in page.locator("#runs tbody tr").all():
        cells = {cell.get_attribute("data-column"): cell.inner_text().strip() for cell in line.locator("td").all()}
        rows[line.get_attribute("data-run")] = cells
    return rows


def test_the_table_shows_each_runs_own_numbers_and_sorts_and_filters(server, folder, page):
    """The bugs: a number not the run's (another run's accuracy, parameters off, a made-up
    interval), a sort that does not sort, a status filter that keeps other rows."""
    page.goto(f"{server.url}/")
    expect(page.locator("#runs tbody tr")).to_have_count(3)
    shown = _table(page)
    for run in _completed(folder):
        metrics = json.loads((run / "metrics.json").read_text())
        manifest = json.loads((run / "manifest.json").read_text())
        low, high = _wilson(metrics["correct"], metrics["examples"])
        cells = shown[_ident(run)]
        shown_accuracy, shown_low, shown_high = re.fullmatch(r"(\S+) \((\S+)–(\S+)\)", cells["test_accuracy"]).groups()
        assert shown_accuracy == f"{metrics['accuracy']:.4f}"
        # cnnlab takes z = 1.96, the oracle the exact quantile: one unit of the last decimal apart at most
        assert (float(shown_low), float(shown_high)) == pytest.approx((low, high), abs=1e-4)
        assert cells["parameters"] == f"{manifest['parameters']:,}" and cells["macs"] == f"{manifest['macs']:,}"
        assert (cells["epochs"], cells["seed"]) == (str(manifest["epochs_completed"]), str(manifest["seed"]))
        assert cells["train_seconds"] == f"{manifest['timing']['train_seconds']:.2f}"
        assert cells["status"] == "completed"
    assert shown["digits@20200101-000000"]["status"] == "interrupted"
    assert shown["digits@20200101-000000"]["test_accuracy"] == ""

    accuracy = {_ident(run): json.loads((run / "metrics.json").read_text())["accuracy"] for run in _completed(folder)}
    page.click("button[data-sort=test_accuracy]")
    order = [line.get_attribute("data-run") for line in page.locator("#runs tbody tr").all()]
    assert order[:2] == sorted(accuracy, key=lambda ident: -accuracy[ident]) and order[2] == "digits@20200101-000000"
    page.click("button[data-sort=test_accuracy]")  # again: lowest first, the run without a score still last
    order = [line.get_attribute("data-run") for line in page.locator("#runs tbody tr").all()]
    assert order[:2] == sorted(accuracy, key=lambda ident: accuracy[ident])
    page.select_option("#status", "interrupted")
    assert list(_table(page)) == ["digits@20200101-000000"]
    page.select_option("#status", "")
    page.fill("#filter", "nothing-like-it")
    assert _table(page) == {}


def test_the_page_the_command_and_the_api_give_the_same_rows(server, folder, run_cli):
    """The bug: the page listing its own way (another status, another interval) from
    `cnnlab runs --json` and `cnnlab.run_table()`."""
    import cnnlab

    from_page = httpx.get(f"{server.url}/api/runs").json()["rows"]
    from_command = json.loads(run_cli("runs", folder, "--json").stdout)
    assert from_page == from_command == json.loads(json.dumps(cnnlab.run_table(folder)))


PACED = """
import sys, time, keras, cnnlab
from cnnlab.api.progress import Progress

class Paced(Progress):
    '''Each epoch after the first waits a second before it starts (its files written): a page
    that polls has time to see every epoch.'''
    def training(self):
        manager = super().training()
        class Wait(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch:
                    time.sleep(1.0)
        class Both:
            def __enter__(self):
                return manager.__enter__() + [Wait()]
            def __exit__(self, *exc):
                return manager.__exit__(*exc)
        return Both()

cnnlab.train(sys.argv[1], runs_dir=sys.argv[2], overrides={"train.epochs": 4}, progress=Paced(quiet=True))
"""


def test_a_run_training_in_another_process_shows_live_without_a_reload(server, folder, page, browser, tmp_path):
    """The bugs: a table read once (a new run never shows), a running run's epoch that does not
    advance, a finished run that stays `running` until a reload; the run page's history that
    does not grow."""
    config = tmp_path / "live.yaml"
    config.write_text(DIGITS.replace("name: digits", "name: live"))
    page.goto(f"{server.url}/")
    page.wait_for_selector("#runs tbody tr")
    page.evaluate("window.notReloaded = true")
    process = subprocess.Popen(
        [sys.executable, "-c", PACED, str(config), str(folder)], cwd=REPO, stderr=subprocess.PIPE, text=True
    )
    try:
        row = page.locator("#runs tbody tr[data-run^='live@']")
        row.locator("[data-column=status] .s-running").wait_for(timeout=60_000)
        first = row.locator(".epoch").inner_text()
        run_page = browser.new_page()
        run_page.goto(f"{server.url}/runs/{row.get_attribute('data-run')}")
        _until(lambda: row.locator(".epoch").all_inner_texts() not in ([], [first]), seconds=30)
        assert row.locator(".s-running").count() == 1  # a later epoch seen while it still trained
        row.locator(".s-completed").wait_for(timeout=60_000)
        assert process.wait(timeout=60) == 0, process.stderr.read()
        (run,) = (folder / "live").iterdir()
        metrics = json.loads((run / "metrics.json").read_text())
        shown = page.locator(f"tr[data-run='{_ident(run)}'] [data-column=test_accuracy]")
        expect(shown).to_have_text(re.compile(rf"^{metrics['accuracy']:.4f} "))
        assert page.evaluate("window.notReloaded") is True
        run_page.locator("#report h1").wait_for(timeout=10_000)  # the report appears, no reload
        assert run_page.locator("#history tbody tr").count() == 4
        assert run_page.locator("#status").inner_text() == "completed"
        run_page.close()
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(folder / "live", ignore_errors=True)


def _until(condition, *, seconds: float) -> None:
    """Wait for a condition on the page, read from here (the pages' policy forbids the string
    evaluation that Playwright's wait_for_function would need)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def _draw_a_one(page) -> None:
    """A vertical stroke down the middle of the pad, with the mouse."""
    pad = page.locator("#pad").bounding_box()
    x, top = pad["x"] + pad["width"] / 2, pad["y"] + pad["height"] * 0.15
    page.mouse.move(x, top)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x + step * 0.4, top + step * pad["height"] * 0.035)
    page.mouse.up()


def test_a_drawn_one_gets_the_bars_predict_gives_for_the_image_the_page_sent(server, folder, page):
    """The bugs: bars that are not the model's answer for what was sent (another image, the
    classes mixed up), an image sent in another shape, a stroke not prepared as MNIST's
    digits (not 20 pixels tall, not centred by its mass), no Grad-CAM map."""
    run = _completed(folder)[0]
    page.goto(f"{server.url}/runs/{_ident(run)}")
    page.locator("#try").wait_for(state="visible", timeout=20_000)
    with page.expect_request(lambda request: ":predict" in request.url) as sent:
        _draw_a_one(page)
    page.locator("#gradcam").wait_for(state="visible", timeout=20_000)
    body = json.loads(sent.value.post_data)
    image = np.array(body["instances"][0], dtype=float)
    assert image.shape == (28, 28, 1)
    rows, columns = np.nonzero(image[..., 0])
    assert rows.max() - rows.min() + 1 == 20  # the stroke's height scaled to 20
    weights = image[..., 0][rows, columns]
    assert abs(np.average(rows, weights=weights) - 14) <= 0.5 and abs(np.average(columns, weights=weights) - 14) <= 0.5

    answer = httpx.post(f"{server.url}/v1/models/{_ident(run)}:predict", json=body).json()["predictions"][0]
    names = httpx.get(f"{server.url}/v1/models/{_ident(run)}/metadata").json()["metadata"]["class_names"]
    expected = sorted(range(len(answer)), key=lambda i: -answer[i])[:5]
    bars = page.locator("#bars .bar").all()
    assert [bar.get_attribute("data-class") for bar in bars] == [names[i] for i in expected]
    shown = [float(bar.get_attribute("data-probability")) for bar in bars]
    assert shown == pytest.approx([answer[i] for i in expected], abs=1e-6)
    assert page.locator("#gradcam").get_attribute("src").startswith("data:image/png;base64,")


def test_an_uploaded_test_image_gets_the_class_of_the_runs_own_predictions(server, folder, page):
    """The bug: an upload read otherwise than `cnnlab predict` reads a file (scaled, inverted,
    another channel order), so the page disagrees with the run's evaluation."""
    from PIL import Image

    from cnnlab.config import load_config
    from cnnlab.data import load_splits

    run = _completed(folder)[1]
    raw = load_splits(load_config(run / "config.yaml"), 10).raw_test
    stored = np.load(run / "predictions.npz")["probabilities"]
    names = httpx.get(f"{server.url}/v1/models/{_ident(run)}/metadata").json()["metadata"]["class_names"]
    page.goto(f"{server.url}/runs/{_ident(run)}")
    page.locator("#try").wait_for(state="visible", timeout=20_000)
    for index in (0, 7):
        buffer = io.BytesIO()
        Image.fromarray(raw[index][..., 0].astype(np.uint8), mode="L").save(buffer, format="PNG")
        page.click("#clear")
        page.set_input_files(
            "#file", files=[{"name": f"{index}.png", "mimeType": "image/png", "buffer": buffer.getvalue()}]
        )
        top = page.locator("#bars .bar").first
        top.wait_for(timeout=20_000)
        assert top.get_attribute("data-class") == names[int(np.argmax(stored[index]))]
        assert float(top.get_attribute("data-probability")) == pytest.approx(stored[index].max(), abs=1e-5)


def test_a_file_that_is_no_image_gets_the_servers_message_on_the_page(server, folder, page):
    """The bug: a refused upload leaving the page silent (or the bars of the image before)."""
    page.goto(f"{server.url}/runs/{_ident(_completed(folder)[0])}")
    page.locator("#try").wait_for(state="visible", timeout=20_000)
    page.set_input_files("#file", files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"}])
    expect(page.locator("#try-problem")).to_contain_text("notes.png")
    assert page.locator("#bars .bar").count() == 0


def test_ticking_two_runs_opens_their_comparison_with_compare_jsons_p_value(server, folder, page):
    """The bug: a comparison of other runs than the ticked ones, or a p-value not McNemar's as
    `cnnlab compare` gives it."""
    from cnnlab.cli import cli

    runs = _completed(folder)
    page.goto(f"{server.url}/")
    page.wait_for_selector("#runs tbody tr")
    assert page.locator("#compare").is_disabled()
    for run in runs:
        page.check(f"tr[data-run='{_ident(run)}'] input[type=checkbox]")
    page.click("#compare")
    page.wait_for_selector("text=Is the difference more than chance?")
    said = CliRunner().invoke(cli, ["compare", *map(str, runs), "--json", "--runs-dir", str(folder)])
    (pair,) = json.loads(said.stdout)["pairs"]
    text = page.locator("main").inner_text()
    assert f"p = {pair['p_mcnemar']:.3g}" in text or f"p {pair['p_mcnemar']:.3g}" in text
    assert sorted(page.evaluate("[...new URLSearchParams(location.search).getAll('run')]")) == sorted(map(_ident, runs))


def test_two_ticked_groups_open_welchs_comparison_across_seeds(groups, page):
    """The bug: groups of seeds compared as single runs (one McNemar of two runs), or a Welch
    p-value other than `cnnlab compare --json`'s; a group row without its mean ± sd."""
    import cnnlab
    from cnnlab.cli import cli

    runs_dir = groups[0].parent.parent
    serving = cnnlab.serve(runs_dir=runs_dir, port=0, background=True)
    try:
        page.goto(f"{serving.url}/")
        page.wait_for_selector("tr.group")
        for group in groups:
            page.check(f"tr[data-run='{group.parent.name}@{group.name}'] input[type=checkbox]")
            summary = json.loads((group / "group.json").read_text())["test"]["accuracy"]
            shown = page.locator(f"tr[data-run='{group.parent.name}@{group.name}'] [data-column=test_accuracy]")
            assert shown.inner_text().startswith(f"{summary['mean']:.4f} ± {summary['sd']:.4f}")
        page.click("#compare")
        page.wait_for_selector("text=Welch")
        said = CliRunner().invoke(cli, ["compare", *map(str, groups), "--json"])
        (pair,) = json.loads(said.stdout)["pairs"]
        assert f"Welch p = {pair['p_welch']:.3g}" in page.locator("main").inner_text()
    finally:
        serving.stop()


def test_with_a_token_a_page_asks_for_it_and_shows_no_data_before(folder, browser):
    """The bugs: pages (or their JSON) open without the token; a wrong token let in."""
    import cnnlab

    serving = cnnlab.serve(runs_dir=folder, port=0, background=True, token="s3cret")
    try:
        page = browser.new_page()
        page.goto(f"{serving.url}/runs/{_ident(_completed(folder)[0])}")
        assert page.locator("input[name=token]").is_visible()
        assert "completed" not in page.content() and page.locator("#status").count() == 0
        assert httpx.get(f"{serving.url}/api/runs").status_code == 401
        page.fill("input[name=token]", "wrong")
        page.click("button[type=submit]")
        assert "not this server's token" in page.locator("main").inner_text()
        page.fill("input[name=token]", "s3cret")
        page.click("button[type=submit]")
        page.locator("#status.s-completed").wait_for(timeout=10_000)  # back on the run asked for
        page.close()
    finally:
        serving.stop()


def test_the_page_never_loads_anything_from_elsewhere(server, folder, page):
    """Offline: every request a page makes goes to the server itself (no CDN, font or script
    from the internet), and the policy forbids the rest."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server.url}/runs/{_ident(_completed(folder)[0])}")
    page.locator("#try").wait_for(state="visible", timeout=20_000)
    page.goto(f"{server.url}/")
    page.wait_for_selector("#runs tbody tr")
    assert requested and all(url.startswith(server.url) or url.startswith("data:") for url in requested)
    policy = httpx.get(f"{server.url}/").headers["content-security-policy"]
    assert "default-src 'self'" in policy


@pytest.mark.parametrize(
    "path",
    ["/api/runs/..@outside", "/runs/..@outside", "/api/runs/digits@nothing", "/static/..%2Fapp.py", "/runs/x@y/report"],
)
def test_a_path_outside_the_runs_is_not_found(server, folder, path):
    """The bug: a page that reads a run-like folder outside the folder of runs (here one beside
    it, `runs/../outside`), or any file of the package."""
    outside = folder.parent / "outside"
    outside.mkdir(exist_ok=True)
    shutil.copy(_completed(folder)[0] / "manifest.json", outside / "manifest.json")
    assert httpx.get(f"{server.url}{path}").status_code == 404


# Each test image drawn again on a 280x280 pad as a pen would leave it, crisp: every pixel a
# k x k block (k = 4..9), at a random place; then the page's own preparation.
REDRAWN = """([data, scales, places]) => {
  const digits = Uint8Array.from(atob(data), (c) => c.charCodeAt(0)), out = new Uint8Array(digits.length);
  for (let n = 0; n < digits.length / 784; n++) {
    const k = scales[n], [left, top] = places[n], pad = new Float32Array(280 * 280);
    for (let y = 0; y < 28 * k; y++) {
      for (let x = 0; x < 28 * k; x++) {
        pad[(top + y) * 280 + left + x] = digits[n * 784 + Math.floor(y / k) * 28 + Math.floor(x / k)];
      }
    }
    out.set(window.cnnlabPrepareDigit(pad, 280, 280), n * 784);
  }
  let text = "";
  for (const byte of out) text += String.fromCharCode(byte);
  return btoa(text);
}"""


def test_the_pages_digit_preparation_gives_mnist_back_and_keeps_the_runs_classes(browser, tmp_path):
    """MNIST's digits are themselves the output of the preparation the page applies to a
    drawing (cropped, scaled into 20x20, centred by mass in 28x28), so a test digit drawn again
    big, anywhere on the pad, must come back as it was, and the run must keep its class. The
    bugs: centring the box instead of the mass, another size than 20, sampling without area
    averaging, rows and columns swapped."""
    import base64

    import cnnlab
    from cnnlab.data.builtin import load_builtin
    from cnnlab.errors import DataError

    try:
        digits = load_builtin("mnist").x_test[:1000].reshape(-1, 28, 28)
    except DataError as problem:
        pytest.skip(f"MNIST cannot be had here: {problem}")
    rng = np.random.default_rng(0)
    scales = rng.integers(4, 10, size=len(digits))
    places = [[int(rng.integers(0, 280 - 28 * k + 1)) for _ in "xy"] for k in scales]
    page = browser.new_page()
    page.add_script_tag(path=str(REPO / "cnnlab" / "serving" / "static" / "draw.js"))
    sent = [base64.b64encode(digits.astype(np.uint8).tobytes()).decode(), scales.tolist(), places]
    prepared = np.frombuffer(base64.b64decode(page.evaluate(REDRAWN, sent)), np.uint8).reshape(digits.shape)
    page.close()
    assert np.abs(prepared.astype(int) - digits).max() <= 1  # back as it was, up to rounding

    overrides = {"data.limit": 2000, "train.epochs": 1}
    run = cnnlab.train(REPO / "configs" / "mnist_fast.yaml", overrides=overrides, runs_dir=tmp_path, progress=False)
    kept = np.argmax(run.predict(digits), axis=1) == np.argmax(run.predict(prepared), axis=1)
    assert kept.mean() >= 0.97


def test_serving_a_folder_before_any_run_is_evaluated_starts_and_serves_each_once_it_is(tmp_path):
    """The bug: `cnnlab serve` refusing to start while the first run still trains (the pages
    are for watching it), or never serving the run once it is evaluated. A target named with
    nothing evaluated stays a mistake."""
    import cnnlab
    from cnnlab.cli import cli
    from cnnlab.errors import ConfigError

    runs = tmp_path / "runs"
    runs.mkdir()
    heard: list[list[str]] = []
    serving = cnnlab.serve(runs_dir=runs, port=0, background=True, announce=lambda url, names: heard.append(names))
    try:
        assert heard == [[]] and httpx.get(f"{serving.url}/api/runs").json()["rows"] == []
        assert httpx.get(f"{serving.url}/v1/models/digits").status_code == 404
        (tmp_path / "digits.yaml").write_text(DIGITS)
        trained = CliRunner().invoke(cli, ["train", str(tmp_path / "digits.yaml"), "--runs-dir", str(runs)])
        assert trained.exit_code == 0, trained.output
        (run,) = (runs / "digits").iterdir()
        answer = httpx.get(f"{serving.url}/v1/models/digits/metadata")
        assert answer.status_code == 200 and answer.json()["metadata"]["stamp"] == run.name
    finally:
        serving.stop()
    (runs / "other").mkdir()
    with pytest.raises(ConfigError, match="no evaluated run to serve"):
        cnnlab.serve([runs / "other"], runs_dir=runs, port=0, background=True)


def test_mistaken_or_damaged_pages_say_what_is_wrong_and_the_server_goes_on(server, folder):
    """The bugs: a comparison of one run (or of runs that are not there) answering a traceback
    or an empty page; a damaged report stopping the server."""
    runs = _completed(folder)
    one = httpx.get(f"{server.url}/compare", params={"run": _ident(runs[0])})
    assert one.status_code == 400 and "tick two or more runs to compare them" in one.text
    unknown = httpx.get(f"{server.url}/compare", params=[("run", _ident(runs[0])), ("run", "digits@19990101-000000")])
    assert unknown.status_code == 400 and "no run digits@19990101-000000" in unknown.text
    damaged = folder / "digits" / "20200101-000000"
    (damaged / "report.html").write_bytes(b"\xff\xfe not a page")
    try:
        answer = httpx.get(f"{server.url}/runs/{_ident(damaged)}/report")
        assert answer.status_code == 500 and "UnicodeDecodeError" in answer.text and "Traceback" not in answer.text
    finally:
        (damaged / "report.html").unlink()
        shutil.copy(runs[0] / "report.html", damaged / "report.html")
    assert httpx.get(f"{server.url}/healthz").status_code == 200


@pytest.mark.parametrize(
    "elsewhere", ["//evil.example/", "/\t/evil.example/", "/\\evil.example/", "https://evil.example/"]
)
def test_logging_in_goes_back_to_a_page_of_this_server_only(folder, elsewhere):
    """The bug: the login form's `next` sending a person to another site once the token is
    right (an open redirect, with the person's trust in the page they logged into)."""
    import cnnlab

    serving = cnnlab.serve(runs_dir=folder, port=0, background=True, token="s3cret")
    try:
        answer = httpx.post(f"{serving.url}/login", data={"token": "s3cret", "next": elsewhere})
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        back = httpx.post(f"{serving.url}/login", data={"token": "s3cret", "next": "/runs/x@y?z=1"})
        assert back.headers["location"] == "/runs/x@y?z=1"
    finally:
        serving.stop()
