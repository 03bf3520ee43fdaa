"""What a server serves: evaluated runs, found in the folders and runs it is given, each
loaded, warmed up and behind its own batcher.

Names follow TensorFlow Serving's one name per model: the newest evaluated run of each config
is `<name>`, and every run is also `<name>@<stamp>`. A run still training or evaluating is not
served; once it has completed, the first request for a name the server does not know looks
again (`app.application`'s `discover`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.api.runs import Run
from cnnlab.errors import ConfigError
from cnnlab.serving.batching import Batcher


@dataclass
class Served:
    """One model as the server offers it: a run's, or an exported file's."""

    name: str
    path: Path  # the run's best.keras or the exported model: once it is gone, requests get 404
    batcher: Batcher
    shape: tuple = ()
    class_names: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    heatmaps: Callable[[np.ndarray], np.ndarray] | None = None  # Grad-CAM of raw pixels (a run's model)

    def present(self) -> bool:
        return self.path.exists()


def evaluated_runs(targets: list[str | Path], runs_dir: Path, *, none_yet: bool = False) -> list[Run]:
    """The completed runs among `targets`: run folders, a config's folder of runs
    (`runs/mnist_fast`), a folder of those (`runs`), or a config name (its runs under
    `runs_dir`); every run under `runs_dir` when there are none. An error names a target with
    nothing to serve, unless `none_yet` (the whole folder, whose runs may still be training)."""
    found: list[Run] = []
    for target in [Path(t) for t in targets] or [Path(runs_dir)]:
        candidates = _runs_at(target, Path(runs_dir))
        completed = [run for run in candidates if run.status == "completed"]
        if not completed and not none_yet:
            raise ConfigError(
                f"{target}: no evaluated run to serve"
                + (f" ({len(candidates)} run(s), none completed)" if candidates else ""),
            )
        found += [run for run in completed if run not in found]
    return found


def _runs_at(target: Path, runs_dir: Path) -> list[Run]:
    from cnnlab.api.runs import runs

    if (target / "manifest.json").is_file():
        return [Run(target)]
    if target.is_dir():  # a folder of runs (runs/), else one config's (runs/mnist_fast)
        return runs(target) or [run for run in runs(target.parent) if run.path.parent == target]
    if not target.exists() and len(target.parts) == 1 and (runs_dir / target).is_dir():
        return _runs_at(runs_dir / target, runs_dir)  # a config name
    raise ConfigError(f"{target}: no such run, folder of runs or config name under {runs_dir}")


def named(runs: list[Run]) -> dict[str, Run]:
    """`<name>@<stamp>` for every run, and `<name>` for the newest of each config."""
    names: dict[str, Run] = {}
    for run in sorted(runs, key=lambda run: run.path.name):  # stamps sort by time
        names[f"{run.name}@{run.path.name}"] = run
        names[run.name] = run  # a newer run of the same config takes the plain name
    return names


def load(runs: list[Run], *, max_batch: int, max_wait: float, loaded: dict | None = None) -> dict[str, Served]:
    """Every run loaded and warmed up (one prediction each), under each of its names; a run
    among the `loaded` ones is not loaded again."""
    by_run = {served.path.parent: served for served in (loaded or {}).values()}
    served = {}
    for name, run in named(runs).items():
        if run.path not in by_run:
            by_run[run.path] = _loaded(name, run, max_batch=max_batch, max_wait=max_wait)
        served[name] = by_run[run.path]
    return served


def _loaded(name: str, run: Run, *, max_batch: int, max_wait: float) -> Served:
    shape, names = tuple(int(size) for size in run.model.input_shape[1:]), run.class_names
    batcher = _warmed(
        Batcher(lambda pixels: np.asarray(run.predict(pixels)), max_batch=max_batch, max_wait=max_wait), shape
    )
    metrics = run.metrics
    metadata = {
        **_signature(shape, names),
        "config": run.name,
        "stamp": run.path.name,
        "seed": run.manifest.get("seed"),
        "test_accuracy": metrics.get("accuracy"),
        "test_examples": metrics.get("examples"),
    }
    return Served(name, run.path / "best.keras", batcher, shape, names, metadata, run.heatmaps)


def _warmed(batcher: Batcher, shape: tuple) -> Batcher:
    """The first call traces the model: done here, not in a user's request."""
    batcher.run_batch(np.zeros((1, *shape), np.float32))
    return batcher


def _signature(shape: tuple, names: list[str]) -> dict:
    """What goes in and what comes out, as the metadata route tells it."""
    return {
        "input": {"shape": [None, *shape], "dtype": "float32", "range": [0, 255], "channels_optional": shape[-1] == 1},
        "output": {"shape": [None, len(names)], "dtype": "float32", "meaning": "class probabilities"},
        "class_names": names,
    }


def exported(paths: list[Path], *, max_batch: int, max_wait: float) -> dict[str, Served]:
    """Exported models (SavedModel folders, .tflite, .onnx) under their file names, opened with
    their own runtimes; their preprocessing is inside them, so raw pixels go in as they are."""
    from cnnlab.reporting.artifacts import artifact_format, artifact_labels, open_artifact
    from cnnlab.runtime.startup import start_keras

    start_keras()  # a SavedModel and TFLite run on TensorFlow's runtime
    served = {}
    for path in paths:
        artifact, names = open_artifact(path), artifact_labels(path)
        shape = tuple(artifact.input_shape)
        batcher = _warmed(Batcher(_artifact_predict(artifact), max_batch=max_batch, max_wait=max_wait), shape)
        metadata = {**_signature(shape, names), "format": artifact_format(path), "file": str(path)}
        served[path.name] = Served(path.name, path, batcher, shape, names, metadata)
    return served


def _artifact_predict(artifact) -> Callable[[np.ndarray], np.ndarray]:
    return lambda pixels: np.asarray(artifact.predict(np.ascontiguousarray(pixels, dtype=np.float32)))


def split_targets(targets) -> tuple[list[Path], list[Path]]:
    """(run targets, exported models) among what the server was given."""
    from cnnlab.reporting.artifacts import artifact_format

    paths = [Path(target) for target in targets]
    exports = [path for path in paths if path.exists() and artifact_format(path) is not None]
    return [path for path in paths if path not in exports], exports
