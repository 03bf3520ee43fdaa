"""The plain service a user would write to serve a run's model, for `serve_load.py` to compare
against `cnnlab serve`: FastAPI under uvicorn, one `model.predict` per request, the run's
preprocessing applied by hand. Not part of cnnlab.

    .venv/bin/python benchmarks/plain_serve.py RUN --port 8001
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()

    import uvicorn
    from fastapi import FastAPI

    from cnnlab.storage.trained import load_trained_run

    trained = load_trained_run(args.run)
    model, preprocessing = trained.model, trained.preprocessing
    shape = tuple(model.input_shape[1:])
    app = FastAPI()

    # A plain `def`, as FastAPI's docs advise for blocking work: it runs in FastAPI's thread
    # pool, so requests overlap (an `async def` would hold the event loop for each predict).
    @app.post("/v1/models/{name}:predict")
    def predict(name: str, body: dict):
        pixels = np.asarray(body["instances"], dtype=np.float32).reshape((-1, *shape))
        return {"predictions": model.predict(preprocessing.apply(pixels), verbose=0).tolist()}

    @app.get("/healthz")
    async def healthz():
        return {"status": "alive"}

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
