"""The Starlette application: TensorFlow Serving's REST routes, cnnlab's additions, and the
rules every request passes first (its Host, its token, its size).

Starlette rather than FastAPI: the answers follow TensorFlow Serving's shapes (`{"error": ...}`
with its status), not FastAPI's validation errors, and request bodies are parsed here by
`inputs`, so FastAPI's models would add a layer and a dependency for nothing.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cnnlab.engine.predict import top_classes
from cnnlab.serving import login
from cnnlab.serving.inputs import InputError, decoded_image, pixels_of, whole_number
from cnnlab.serving.models import Served

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class Limits:
    """How much one request may ask."""

    def __init__(self, *, max_body: int = 16 * 2**20, max_images: int = 256):
        self.max_body, self.max_images = max_body, max_images


def error(message: str, status: int) -> JSONResponse:
    """An answer in TensorFlow Serving's error shape."""
    return JSONResponse({"error": message}, status_code=status)


def application(
    models: dict[str, Served],
    *,
    host: str,
    token: str | None = None,
    limits: Limits | None = None,
    cors: str | None = None,
    discover: Callable[[dict], dict] | None = None,
    runs_dir: Path | None = None,
):
    """The app serving `models` (by name), for a server listening on `host`; CORS headers only
    for the `cors` origin, when one is given. A name it does not know yet is looked for again
    with `discover(models) -> the new ones`, once at a time (a run evaluated since it started).
    With `runs_dir`, the pages for people too (`pages`), listing the runs under it."""
    limits = limits or Limits()
    allowed_hosts = LOOPBACK | {host.strip("[]")}

    looking = asyncio.Lock()

    async def model_of(request: Request) -> Served:
        name = request.path_params["name"]
        if ":" in name:  # GET /v1/models/NAME:predict
            raise InputError(f"{request.method} is not allowed on {request.url.path}; send POST", status=405)
        if name not in models and discover is not None:  # a run evaluated since: loaded off the loop
            async with looking:
                if name not in models:
                    models.update(await asyncio.get_running_loop().run_in_executor(None, discover, dict(models)))
        served = models.get(name)
        if served is None or not served.present():
            known = ", ".join(sorted(n for n, m in models.items() if m.present())) or "none"
            raise InputError(f"no model named {name!r}; served: {known}", status=404)
        return served

    async def status(request: Request):
        await model_of(request)
        return JSONResponse(
            {
                "model_version_status": [
                    {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
                ]
            }
        )

    async def metadata(request: Request):
        served = await model_of(request)
        spec = {"name": request.path_params["name"], "version": "1"}
        return JSONResponse({"model_spec": spec, "metadata": served.metadata})

    async def predict(request: Request):
        served = await model_of(request)
        explain = request.query_params.get("explain")
        if explain not in (None, "gradcam"):
            raise InputError(f"explain={explain!r}: the one explanation served is explain=gradcam")
        if explain and served.heatmaps is None:
            raise InputError(f"{served.name} is an exported model: Grad-CAM needs the run's, serve the run")
        pixels = await _pixels(request, served, limits)
        probabilities = await served.batcher.submit(pixels)
        answer = {"predictions": probabilities.tolist()}
        if explain:  # its own model call, off the event loop: a gradient per image, not batched
            answer["gradcam_png"] = await asyncio.get_running_loop().run_in_executor(None, _gradcams, served, pixels)
        return JSONResponse(answer)

    async def classify(request: Request):
        served = await model_of(request)
        k = whole_number(request.query_params.get("k"), 3, "k")
        pixels = await _pixels(request, served, limits)
        probabilities = await served.batcher.submit(pixels)
        results = [top_classes(row, served.class_names, k) for row in probabilities]
        return JSONResponse({"results": results})

    async def healthz(request: Request):
        return JSONResponse({"status": "alive"})

    async def readyz(request: Request):
        gone = sorted(name for name, served in models.items() if not served.present())
        if gone:
            return error(f"not ready: {', '.join(gone)} no longer on disk", 503)
        return JSONResponse({"status": "ready", "models": sorted(models)})

    routes = [
        Route("/v1/models/{name}:predict", guarded(predict), methods=["POST"]),
        Route("/v1/models/{name}:classify", guarded(classify), methods=["POST"]),
        Route("/v1/models/{name}/metadata", guarded(metadata), methods=["GET"]),
        Route("/v1/models/{name}", guarded(status), methods=["GET"]),
        Route("/healthz", guarded(healthz), methods=["GET"]),
        Route("/readyz", guarded(readyz), methods=["GET"]),
    ]
    if runs_dir is not None:
        from cnnlab.serving.pages import page_routes

        async def logging_in(request: Request):
            return await login.login(request, token)

        routes += [*page_routes(runs_dir), Route("/login", logging_in, methods=["GET", "POST"])]
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _wrong_method})
    gated = _Gate(app, allowed_hosts=allowed_hosts, token=token, max_body=limits.max_body)
    if cors is None:
        return gated
    from starlette.middleware.cors import CORSMiddleware

    methods, headers = ["GET", "POST"], ["Authorization", "Content-Type"]
    return CORSMiddleware(gated, allow_origins=[cors], allow_methods=methods, allow_headers=headers)


def _gradcams(served: Served, pixels) -> list[str]:
    """Each image with its Grad-CAM map over it, as base64 PNG."""
    import base64

    from cnnlab.reporting.plots import gradcam_png

    maps = served.heatmaps(pixels)
    return [base64.b64encode(gradcam_png(image, heat)).decode() for image, heat in zip(pixels, maps)]


def guarded(endpoint):
    """An endpoint whose InputErrors become TF Serving's error answers, and anything else a 500
    in the same shape: a client never gets a traceback, and the server goes on."""

    async def answered(request: Request):
        try:
            return await endpoint(request)
        except InputError as problem:
            return error(str(problem), problem.status)
        except Exception as failure:  # the model or a file failed: say which, keep serving
            return error(f"the server failed on this request: {type(failure).__name__}: {failure}", 500)

    return answered


async def _not_found(request, exc):
    return error(f"no route {request.url.path}; see GET /v1/models/<name>", 404)


async def _wrong_method(request, exc):
    return error(f"{request.method} is not allowed on {request.url.path}", 405)


async def _pixels(request: Request, served: Served, limits: Limits):
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return await _uploads(request, served, limits)
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise InputError(f"the body is not JSON: {problem}") from None
    return pixels_of(body, served.shape, limit=limits.max_images)


async def _uploads(request: Request, served: Served, limits: Limits):
    import numpy as np

    options = request.query_params
    convert, invert = (options.get(flag, "false").lower() in ("1", "true", "yes") for flag in ("convert", "invert"))
    async with request.form(max_files=limits.max_images, max_part_size=limits.max_body) as form:
        files = [value for _, value in form.multi_items() if hasattr(value, "read")]
        if not files:
            raise InputError("the form holds no image file (send PNG or JPEG files as multipart/form-data)")
        images = [
            decoded_image(
                await upload.read(), upload.filename or "upload", served.shape, convert=convert, invert=invert
            )
            for upload in files
        ]
    return np.stack(images).astype(np.float32)


class _Gate:
    """What every request passes before a route: a Host header naming this server or a
    loopback name (a page elsewhere cannot reach a local server through DNS rebinding), the
    token when there is one (compared in constant time), and a body of at most max_body bytes."""

    def __init__(self, app, *, allowed_hosts: set[str], token: str | None, max_body: int):
        self.app, self.allowed_hosts, self.token, self.max_body = app, allowed_hosts, token, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        refusal = self._refusal(headers, scope)
        if refusal is not None:
            return await refusal(scope, receive, send)
        return await self.app(scope, self._capped(receive), send)

    def _refusal(self, headers: dict, scope: dict):
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1 : host.find("]")]
        if name not in self.allowed_hosts:
            return error(f"Host {host!r} is not this server's address", 421)
        path = scope.get("path", "/")
        if self.token is not None and not login.is_open(path) and not self._allowed(headers):
            if login.is_page(path) and scope.get("method") == "GET":  # a person: the form, not data
                query = scope.get("query_string", b"").decode("latin-1")
                return login.login_form(path + (f"?{query}" if query else ""))
            return error("this server needs Authorization: Bearer TOKEN (the token it was started with)", 401)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            return error(f"the body is {int(length):,} bytes; at most {self.max_body:,}", 413)
        return None

    def _allowed(self, headers: dict) -> bool:
        """The token as a Bearer header (programs), or the cookie its login gave (pages)."""
        given = headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()) or login.has_cookie(
            headers, self.token
        )

    def _capped(self, receive):
        """A body sent without its length (chunked) stops at max_body too."""
        seen = 0

        async def capped():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise InputError(f"the body is over {self.max_body:,} bytes", status=413)
            return message

        return capped
