"""`cnnlab serve`: runs as a web service in TensorFlow Serving's REST shape."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.cli.app import cli, console, runs_dir_option


@cli.command(short_help="Serve runs' models over HTTP (TensorFlow Serving's REST API).")
@click.argument("runs", nargs=-1)
@runs_dir_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on; another than 127.0.0.1 needs --token."
)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port (0: a free one).")
@click.option("--token", help="Every request must send Authorization: Bearer TOKEN.")
@click.option(
    "--max-batch", default=64, show_default=True, type=click.IntRange(min=1), help="Images per model call at most."
)
@click.option(
    "--max-wait-ms",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="How long a request waits for others to batch with.",
)
@click.option("--cors", metavar="ORIGIN", help="Send CORS headers for this origin (a web page served elsewhere).")
def serve(
    runs: tuple[str, ...],
    runs_dir: Path,
    host: str,
    port: int,
    token: str | None,
    max_batch: int,
    max_wait_ms: float,
    cors: str | None,
) -> None:
    """Serve evaluated runs until Ctrl-C or SIGTERM: RUNS are run folders, folders holding
    runs or config names (default: every evaluated run under --runs-dir), or models made by
    cnnlab export (served under their file names). The newest run of each config is served as
    NAME, every run also as NAME@STAMP.

    Routes: GET /v1/models/NAME and /v1/models/NAME/metadata; POST /v1/models/NAME:predict
    ({"instances": [...]} or {"inputs": ...}: raw 0-255 pixels; or PNG/JPEG files as
    multipart/form-data; ?explain=gradcam adds each image's Grad-CAM map as a PNG) and :classify
    (the top classes with names); GET /healthz, /readyz.

    Pages for people: / lists every run under --runs-dir (live while they train; tick runs to
    compare them), /runs/NAME@STAMP shows a run's report and a pad to draw on and try its model.
    With --token, a browser is asked for the token once.

    \b
    Examples:
      cnnlab serve                                    # every evaluated run under runs/
      cnnlab serve runs/mnist_fast --port 8080
      cnnlab serve --host 0.0.0.0 --token s3cret       # open to the network, with a token
    """
    from cnnlab.serving.server import serve as serve_runs

    out = console()
    out.print("loading the models ...", style="dim")

    def announce(url: str, models: list[str]) -> None:
        for line in announcement(url, models, runs_dir):
            out.print(line, markup=False, soft_wrap=True)

    options = {"host": host, "port": port, "token": token, "max_batch": max_batch, "cors": cors}
    serve_runs(runs, runs_dir=runs_dir, max_wait_ms=max_wait_ms, announce=announce, **options)
    out.print("stopped; every request in flight was answered", markup=False)


def announcement(url: str, models: list[str], runs_dir: Path) -> list[str]:
    """What the command says once it listens: where, what it serves, and how to reach it."""
    if models:
        served = f"serving {len(models)} model name(s) at {url}: {', '.join(models)}"
        program = f"from a program: curl {url}/v1/models/{models[0]}/metadata"
    else:
        served = f"listening at {url}; no run under {runs_dir} is evaluated yet: each is served once it is"
        program = f"from a program: curl {url}/v1/models/NAME/metadata, once NAME is evaluated"
    return [served, f"runs in the browser: {url}/   (Ctrl-C stops)", program]
