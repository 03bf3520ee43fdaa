"""A run folder from Python: what it holds (config, history, metrics, the trained model), and
what can be done with it (predict, evaluate, Grad-CAM, export, resume), shown inline in Jupyter.

Every property reads the folder as it is now, so a `Run` stays true while its run goes on.

    >>> import cnnlab
    >>> run = cnnlab.train("configs/mnist_fast.yaml", overrides={"data.limit": 2000})  # doctest: +SKIP
    >>> run.metrics["accuracy"], len(run.history)                                       # doctest: +SKIP
    (0.95..., 2)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from cnnlab.api.arguments import checked
from cnnlab.api.configs import Config, Overrides, with_override
from cnnlab.api.progress import Progress, as_progress
from cnnlab.api.trainer import resume_run
from cnnlab.errors import ConfigError, RunError
from cnnlab.reporting.listing import RunColumn, RunStatus
from cnnlab.reporting.report import fragment_of
from cnnlab.runtime.startup import start_keras
from cnnlab.storage.folders import RunFolder
from cnnlab.storage.lookup import find_run, list_runs

Checkpoint = Literal["best", "last"]


class Run:
    """One run folder: `runs/<name>/<YYYYmmdd-HHMMSS>[-N]/`."""

    @checked
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._trained = None  # the best checkpoint and its preprocessing, loaded on first use

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, status={self.status!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and other.path.resolve() == self.path.resolve()

    def __hash__(self) -> int:
        return hash(self.path.resolve())

    @property
    def _folder(self) -> RunFolder:
        return RunFolder(self.path)  # a fresh view: what the run wrote since is seen

    @property
    def name(self) -> str:
        """The config's name: the folder the run sits in."""
        return self.path.parent.name

    @property
    def status(self) -> str:
        """running, evaluating, completed, interrupted or failed (see the README)."""
        return self._folder.manifest.get("status", "unknown")

    @property
    def manifest(self) -> dict:
        """What ran, how and how it ended: manifest.json."""
        return self._folder.manifest

    @property
    def config(self) -> dict:
        """The resolved config, in the YAML's shape: what `cnnlab train` ran."""
        return self._folder.load_config().model_dump(mode="json")

    @property
    def history(self) -> list[dict]:
        """One dict per completed epoch: its losses, metrics and seconds."""
        return self._folder.history

    def history_frame(self):
        """The history as a pandas DataFrame, one row per epoch."""
        try:
            import pandas  # an optional extra: the API needs none of it
        except ImportError:
            raise RunError("history_frame needs pandas: pip install pandas (history is the same as a list)") from None
        return pandas.DataFrame(self.history).set_index("epoch")

    @property
    def metrics(self) -> dict:
        """The test metrics of metrics.json: accuracy, loss, per class, confusion matrix, ..."""
        return self._folder.metrics(hint=f"the run has not been evaluated: {self.status}")

    @property
    def caveat(self) -> str:
        """Why the test accuracy may not be the model's worth (far below its training accuracy,
        or barely above chance), with what to change; "" when nothing needs saying.

            >>> run = cnnlab.train("configs/mnist_fast.yaml", overrides={"data.limit": 500})  # doctest: +SKIP
            >>> run.caveat  # doctest: +SKIP
            ''
        """
        return self.metrics.get("caveat", "")

    @property
    def model(self):
        """The best checkpoint as a `keras.Model`, loaded on first use."""
        return self._loaded().model

    @property
    def class_names(self) -> list[str]:
        """The class names, in the order of the model's outputs (loads the model)."""
        return [str(name) for name in self._loaded().info.class_names]

    def _loaded(self):
        if self._trained is None:
            start_keras()  # a run's .keras loads on whichever backend this process runs
            from cnnlab.storage.trained import load_trained_run  # imports Keras: after start_keras

            self._trained = load_trained_run(self._folder)
        return self._trained

    @checked
    def predict(self, images, *, convert: bool = False, invert: bool = False) -> np.ndarray:
        """Class probabilities, one row per image, with the run's preprocessing applied. `images`
        are raw pixels as the data set holds them (0-255; one image or many), or image files
        (`convert` resizes them, `invert` turns dark-on-light drawings into MNIST's light-on-dark)."""
        from cnnlab.engine.predict import probabilities

        return probabilities(self._loaded(), images, convert=convert, invert=invert)

    @checked
    def heatmaps(self, images, *, convert: bool = False, invert: bool = False) -> np.ndarray:
        """Where the network looks (Grad-CAM), as arrays: one map (H, W) in [0, 1] per image, for
        the class it predicts; `images` as `predict` takes them. Writes nothing into the run.

            >>> run.heatmaps(np.zeros((2, 28, 28), np.uint8)).shape  # doctest: +SKIP
            (2, 28, 28)
        """
        from cnnlab.engine.predict import heatmaps

        return heatmaps(self._loaded(), images, convert=convert, invert=invert)

    @checked
    def evaluate(
        self, data: str | os.PathLike = "test", *, checkpoint: Checkpoint = "best", progress: bool | Progress = False
    ) -> dict:
        """Evaluate a checkpoint again on a split of the run's data (test, val, train) or on the
        test split of another data set's path; the test split rewrites the report."""
        show = as_progress(progress)
        folder = self._folder
        folder.ensure_not_running()  # it would write the report that the run itself writes at its end
        start_keras()
        from cnnlab.engine.evaluation import evaluate_run  # imports Keras: after start_keras

        return evaluate_run(folder, checkpoint=checkpoint, data=data, notify=show.note)

    @checked
    def visualize(
        self,
        *,
        image: str | os.PathLike | None = None,
        index: int | None = None,
        convert: bool = False,
        invert: bool = False,
        gradcam: bool = False,
        target: str | None = None,
        patterns: bool = False,
        layer: str | None = None,
    ) -> list[Path]:
        """Draw what the network learned into the run folder (see `cnnlab visualize --help`);
        the paths of the PNGs written.

        >>> run.visualize(gradcam=True, index=7, target="3")  # doctest: +SKIP
        """
        _check_pairs(image=image, index=index, target=target, gradcam=gradcam, layer=layer, patterns=patterns)
        start_keras()
        from cnnlab.reporting.visualize import visualize  # imports Keras: after start_keras

        return visualize(
            self._folder,
            image=image,
            index=index,
            convert=convert,
            invert=invert,
            gradcam=gradcam,
            target=target,
            patterns=patterns,
            layer=layer,
        )

    @checked
    def gradcam(self, index: int | None = None, *, image=None, cls: str | int | None = None) -> Picture:
        """Where the network looks for class `cls` (default: the predicted one) in test example
        `index` or the image file `image`: gradcam.png, shown inline in Jupyter."""
        try:
            (path,) = self.visualize(image=image, index=index, gradcam=True, target=None if cls is None else str(cls))
        except ConfigError as error:  # this method calls the class `cls`
            raise error.keyed("target", "cls") from None
        return Picture(path)

    @checked
    def export(self, format: str = "saved_model", out: str | os.PathLike | None = None, *, examples: int = 1000):
        """The model with its preprocessing, for SavedModel, LiteRT (tflite) or ONNX, checked
        against the run on `examples` test images; what was written and how well it agrees."""
        start_keras()
        from cnnlab.reporting.export import export_run  # imports Keras: after start_keras

        return export_run(self._folder, format, None if out is None else Path(out), examples)

    @checked
    def resume(
        self,
        config: Config | None = None,
        *,
        overrides: Overrides = None,
        epochs: int | None = None,
        progress: bool | Progress = True,
    ) -> Run:
        """Continue this interrupted run from its last completed epoch (optionally with another
        config or overrides that keep its model, data and seed); the run, completed. `epochs`
        continues a completed run up to that many epochs, as `cnnlab.resume` does."""
        runs_dir = self.path.parent.parent
        if epochs is not None:
            overrides = with_override(overrides, "train.epochs", epochs)
        return Run(resume_run(self.path, config, overrides, runs_dir, as_progress(progress)))

    def _repr_html_(self) -> str:
        page = self._folder.path / RunFolder.REPORT_HTML
        if not page.is_file():
            return f"<p>{self.path}: {self.status}, no report yet</p>"
        return fragment_of(page.read_text(encoding="utf-8"))


class Picture:
    """A PNG that a run folder holds, shown inline in Jupyter."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Picture({str(self.path)!r})"

    def _repr_png_(self) -> bytes:
        return self.path.read_bytes()


@checked
def load_run(
    path_or_name: str | os.PathLike | None = None,
    runs_dir: str | os.PathLike = "runs",
    checkpoint: Checkpoint | None = None,
) -> Run:
    """A run by its folder, its config name (the newest run of it) or nothing (the newest run);
    with `checkpoint` ("best" or "last"), the newest that has that checkpoint.

    >>> import cnnlab
    >>> cnnlab.load_run("mnist_fast").metrics["accuracy"]  # doctest: +SKIP
    0.9914
    """
    target = None if path_or_name is None else str(path_or_name)
    return Run(find_run(target, Path(runs_dir), checkpoint))


@checked
def runs(runs_dir: str | os.PathLike = "runs") -> list[Run]:
    """Every run under `runs_dir`, oldest first.

    >>> import cnnlab
    >>> [(run.name, run.status) for run in cnnlab.runs()][-1]  # doctest: +SKIP
    ('mnist_fast', 'completed')
    """
    return [Run(path) for path in list_runs(Path(runs_dir))]


@checked
def run_table(
    runs_dir: str | os.PathLike = "runs", *, status: RunStatus | None = None, sort: RunColumn = "started"
) -> list[dict]:
    """Every run under `runs_dir` as one row (what `cnnlab runs` prints): status (a running run
    with its epoch; `stopped` when its process is gone), test accuracy with its 95 % interval
    (`low`, `high`), parameters, MACs, training seconds, images/s, seed, started, and `pareto`
    (on the front of accuracy against parameters). A group of seeds (`train --repeat`) has
    a row of `kind` "group": its runs' mean accuracy, `sd`, the 95 % t interval of the mean
    and its `seeds`; each of its runs names it in `group`. Only `status`'s rows; sorted by
    `sort`, numbers highest first.

        >>> [row["run"] for row in cnnlab.run_table(sort="test_accuracy")][:1]  # doctest: +SKIP
        ['mnist_best@20261130-101500']
    """
    from cnnlab.reporting.listing import chosen, run_rows

    if not Path(runs_dir).is_dir():  # an empty table would hide a mistyped folder
        raise ConfigError(f"{runs_dir}: no such folder of runs")
    return chosen(run_rows(Path(runs_dir)), status=status, sort=sort)


def _check_pairs(*, image, index, target, gradcam: bool, layer, patterns: bool) -> None:
    """The arguments of `Run.visualize` that mean nothing without another, refused rather than
    ignored, as the shell refuses them."""
    if image is not None and index is not None:
        raise ConfigError.at("index", "give image or index, not both")
    if target is not None and not gradcam:
        raise ConfigError.at("target", "a class for Grad-CAM: give gradcam=True too")
    if layer is not None and not patterns:
        raise ConfigError.at("layer", "a layer for the filter patterns: give patterns=True too")
