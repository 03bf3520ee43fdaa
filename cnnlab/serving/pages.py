"""The pages `cnnlab serve` shows people: the runs table (`/`), one run (`/runs/NAME@STAMP`:
live while it trains, its report once evaluated, and a canvas to try its model), and a
comparison (`/compare?run=A&run=B`); with the JSON their scripts poll (`/api/runs`,
`/api/runs/NAME@STAMP`).

Offline by construction: the scripts and the style are files of this package (`static/`), the
pictures are inside the pages, and the Content-Security-Policy forbids anything from elsewhere.
The table's rows come from `cnnlab.run_table`, the same function as `cnnlab runs`, so the
page and the terminal cannot disagree. The pages poll every second or two instead of holding a
stream open: a run's files are read, never written, so a page cannot disturb a run.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from cnnlab.errors import CnnlabError
from cnnlab.storage.folders import GroupFolder, RunFolder

STATIC = Path(__file__).parent / "static"
_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a config's name or a stamp: no path in it
POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"


def page(title: str, body: str, *, scripts: tuple = (), data: dict | None = None, status: int = 200):
    """A page of ours: the style and scripts from `static/`; `data` reaches the scripts as the
    body's data-* attributes (no inline script: the policy forbids it)."""
    attributes = "".join(f' data-{key}="{html.escape(str(value))}"' for key, value in (data or {}).items())
    scripts = "".join(f'<script src="/static/{name}" defer></script>' for name in scripts)
    text = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><link rel='icon' href='data:,'>"
        f"<link rel='stylesheet' href='/static/style.css'>{scripts}</head>"
        f"<body{attributes}><header><a href='/'>cnnlab runs</a></header><main>{body}</main></body></html>"
    )
    return HTMLResponse(text, status_code=status, headers={"Content-Security-Policy": POLICY})


def problem_page(title: str, heading: str, said: str, *, status: int):
    """A page that says what went wrong (`said`, escaped) under `heading`."""
    return page(title, f"<h1>{heading}</h1><p class='problem'>{html.escape(said)}</p>", status=status)


def run_folder(runs_dir: Path, ident: str, *, groups: bool = False) -> Path | None:
    """The folder of run `NAME@STAMP` under `runs_dir` (or of a group of runs, with `groups`),
    or None: a name that is not one, or one that would reach outside the folder."""
    name, _, stamp = ident.partition("@")
    if not (_PART.fullmatch(name) and _PART.fullmatch(stamp)):
        return None
    folder = Path(runs_dir) / name / stamp
    found = (folder / RunFolder.MANIFEST).is_file() or (groups and (folder / GroupFolder.SUMMARY).is_file())
    return folder if found else None


def page_routes(runs_dir: Path) -> list[Route]:
    """The pages' routes, listing the runs under `runs_dir`."""
    runs_dir = Path(runs_dir)

    async def table(request: Request):
        body = (
            "<h1>Runs</h1><p class='where'>" + html.escape(str(runs_dir.resolve())) + "</p>"
            "<div class='tools'>"
            "<input id='filter' type='search' placeholder='filter by name' aria-label='filter by name'>"
            "<select id='status' aria-label='status'><option value=''>every status</option></select>"
            "<button id='compare' disabled>compare the ticked runs</button></div>"
            "<div class='scroll'><table id='runs'><thead></thead><tbody></tbody></table></div>"
            "<p class='key'>★ on the Pareto front: no other run is both smaller and more accurate. "
            "Accuracy on the test split, with its 95 % (Wilson) interval; for a group of seeds (train --repeat), "
            "the mean ± sd over its runs and the 95 % t interval of the mean.</p><p id='problem' role='alert'></p>"
        )
        return page("cnnlab runs", body, scripts=("table.js",))

    async def runs_json(request: Request):
        return JSONResponse(await run_in_threadpool(_rows, runs_dir))

    async def run_json(request: Request):
        folder = run_folder(runs_dir, request.path_params["run"])
        if folder is None:
            return JSONResponse({"error": f"no run {request.path_params['run']} under {runs_dir}"}, status_code=404)
        return JSONResponse(await run_in_threadpool(_run_state, folder))

    async def run_page(request: Request):
        ident = request.path_params["run"]
        folder = run_folder(runs_dir, ident)
        if folder is None:
            return page("no such run", f"<h1>No run {html.escape(ident)}</h1><p>under {runs_dir}</p>", status=404)
        body = _run_body(ident)
        return page(ident, body, scripts=("draw.js", "run.js"), data={"run": ident})

    async def report(request: Request):
        folder = run_folder(runs_dir, request.path_params["run"])
        found = folder is not None and (folder / "report.html").is_file()
        if not found:
            return Response("", status_code=404)
        from cnnlab.reporting.report import fragment_of

        text = await run_in_threadpool((folder / "report.html").read_text, encoding="utf-8")
        return HTMLResponse(fragment_of(text), headers={"Content-Security-Policy": POLICY})

    async def compare(request: Request):
        idents = request.query_params.getlist("run")
        folders = [run_folder(runs_dir, ident, groups=True) for ident in idents]
        unknown = [ident for ident, folder in zip(idents, folders) if folder is None]
        if len(idents) < 2 or unknown:
            said = f"no run {', '.join(unknown)}" if unknown else "tick two or more runs to compare them"
            return problem_page("comparison", "Comparison", said, status=400)
        try:
            content = await run_in_threadpool(_comparison, folders, runs_dir)
        except CnnlabError as problem:
            return problem_page("comparison", "Comparison", str(problem), status=400)
        return page("comparison", content)

    async def static(request: Request):
        name = request.path_params["file"]
        path = STATIC / name
        if not _PART.fullmatch(name) or not path.is_file():
            return Response("", status_code=404)
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    return [
        Route("/", kept(table), methods=["GET"]),
        Route("/api/runs", kept(runs_json), methods=["GET"]),
        Route("/api/runs/{run}", kept(run_json), methods=["GET"]),
        Route("/runs/{run}", kept(run_page), methods=["GET"]),
        Route("/runs/{run}/report", kept(report), methods=["GET"]),
        Route("/compare", kept(compare), methods=["GET"]),
        Route("/static/{file}", static, methods=["GET"]),
    ]


def kept(endpoint):
    """A page whose failure (a file damaged while it was read) is a page saying so, or JSON for
    a script, never a traceback; the server goes on."""

    async def answered(request: Request):
        try:
            return await endpoint(request)
        except Exception as failure:
            said = f"the server failed on this page: {type(failure).__name__}: {failure}"
            if request.url.path.startswith("/api/"):
                return JSONResponse({"error": said}, status_code=500)
            return problem_page("cnnlab: failure", "Failure", said, status=500)

    return answered


def _rows(runs_dir: Path) -> dict:
    from cnnlab.api.runs import run_table

    if not runs_dir.is_dir():
        return {"folder": str(runs_dir), "rows": [], "problem": f"{runs_dir}: no such folder of runs"}
    return {"folder": str(runs_dir), "rows": run_table(runs_dir)}


def _run_state(folder: Path) -> dict:
    """What a run's page shows and updates: its row of the table, its history so far, and
    whether its report is written."""
    from cnnlab.reporting.listing import run_row

    run = RunFolder(folder)
    row = run_row(run)
    try:
        history = run.history
    except CnnlabError:
        history = []
    return {"row": row, "history": history, "report": (folder / "report.html").is_file()}


def _run_body(ident: str) -> str:
    name = html.escape(ident)
    return (
        f"<h1>{name}</h1>"
        "<p class='state'><span id='status' class='status'>…</span> <span id='epoch'></span> "
        "<progress id='progress' hidden></progress></p>"
        f"{_try_section()}"
        "<section id='live'><div id='curves-box'><h2>Learning curves</h2><div id='curves' class='curves'></div></div>"
        "<details id='history-box'><summary>History, one row per epoch</summary>"
        "<div class='scroll'><table id='history'><thead></thead><tbody></tbody></table></div></details></section>"
        "<section id='report'></section>"
    )


def _try_section() -> str:
    """The canvas: shown by the script once the run is evaluated (its model is then served)."""
    return (
        "<section id='try' hidden><h2>Try it</h2>"
        "<p id='preparation' class='key'></p>"
        "<div class='try'><div><canvas id='pad' width='280' height='280' aria-label='draw here'></canvas>"
        "<div class='tools'><button id='clear'>clear</button>"
        "<label class='file'>or pick an image <input id='file' type='file' accept='image/png,image/jpeg'></label></div>"
        "</div><div><p class='key'>what the model is given</p><canvas id='seen' width='112' height='112'></canvas>"
        "<p class='key'>where it looked (Grad-CAM)</p><img id='gradcam' alt='Grad-CAM map over the input' hidden>"
        "</div><div id='bars' class='bars' aria-live='polite'></div></div>"
        "<p id='try-problem' role='alert'></p></section>"
    )


def _comparison(folders: list[Path], runs_dir: Path) -> str:
    """The comparison `cnnlab compare` gives, as a part of a page: McNemar's test for each pair
    of runs, or Welch's across seeds for each pair of groups."""
    from cnnlab.api.views import compare

    return compare([str(folder) for folder in folders], runs_dir=runs_dir)._repr_html_()
