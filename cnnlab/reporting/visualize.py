"""What the network learned, as the lectures show it: the first conv layer's filters, the
activation maps of every convolution and pooling layer for one input image, where the network
looks for a class (Grad-CAM) and what each filter of a layer responds to (see `explain.py`).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from cnnlab.data import load_arrays
from cnnlab.data.images import read_image
from cnnlab.errors import ConfigError, RunError, did_you_mean
from cnnlab.reporting import explain, plots
from cnnlab.scores import predicted_classes
from cnnlab.storage.folders import RunFolder
from cnnlab.storage.trained import TrainedRun, load_trained_run

_SPATIAL = ("Conv", "Pooling")  # class-name parts of the layers whose outputs are maps


def visualize(
    run: RunFolder | Path,
    *,
    image: Path | None = None,
    index: int | None = None,
    convert: bool = False,
    invert: bool = False,
    gradcam: bool = False,
    target: str | None = None,
    patterns: bool = False,
    layer: str | None = None,
) -> list[Path]:
    """Write the run's pictures into its folder and return their paths: filters.png and
    feature_maps.png by default; gradcam.png (where the last conv layer looks for class `target`,
    default the predicted one) and patterns.png (what each filter of `layer` responds to) on request.
    The input image is the file `image` (resized and converted with `convert`, inverted with
    `invert`), or the test example number `index` (default 0)."""
    run = RunFolder.of(run)
    trained = load_trained_run(run)

    def example() -> tuple[np.ndarray, str]:
        if image is not None:
            shape = tuple(trained.model.input_shape[1:])
            return read_image(Path(image), shape, convert=convert, invert=invert), str(image)
        return _test_example(trained, index or 0)

    if patterns:  # refused before any picture is drawn
        explain.conv_layer(trained.model, layer)
    written = []
    if not (gradcam or patterns):
        written += _filters_and_maps(run, trained, *example())
    if gradcam:
        written.append(_gradcam(run, trained, *example(), target))
    if patterns:
        found, name = explain.filter_patterns(trained.model, trained.preprocessing, layer)
        plots.patterns(found, run.picture(run.PATTERNS), name)
        written.append(run.picture(run.PATTERNS))
    return written


def _filters_and_maps(run: RunFolder, trained: TrainedRun, pixels: np.ndarray, source: str) -> list[Path]:
    model = trained.model
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convolutions:
        raise RunError(f"{run}: the model has no Conv2D layer, so there are no filters to show")
    kernel = np.asarray(keras.ops.convert_to_numpy(convolutions[0].kernel))
    plots.filters(kernel, run.picture(run.FILTERS), convolutions[0].name)
    spatial = [
        layer
        for layer in model.layers
        if any(part in type(layer).__name__ for part in _SPATIAL) and len(layer.output.shape) == 4
    ]
    probe = keras.Model(model.inputs, [layer.output for layer in spatial])
    outputs = probe.predict(trained.preprocessing.apply(pixels[np.newaxis]), verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    plots.feature_maps(
        pixels,
        [(layer.name, out[0]) for layer, out in zip(spatial, outputs)],
        run.picture(run.FEATURE_MAPS),
        title=f"feature maps of {source}",
    )
    return [run.picture(run.FILTERS), run.picture(run.FEATURE_MAPS)]


def _gradcam(run: RunFolder, trained: TrainedRun, pixels: np.ndarray, source: str, target: str | None) -> Path:
    model, names = trained.model, trained.info.class_names
    x = trained.preprocessing.apply(pixels[np.newaxis])
    guess = int(predicted_classes(model.predict(x, verbose=0))[0])
    wanted = guess if target is None else class_index(target, names)
    heat, _ = explain.gradcam(model, x, [wanted])
    title = f"Grad-CAM of {source}: where {model.layers[-1].name} finds {names[wanted]}"
    if wanted != guess:
        title += f" (predicted: {names[guess]})"
    plots.gradcam(pixels, heat[0], run.picture(run.GRADCAM), title)
    return run.picture(run.GRADCAM)


def class_index(target: str, class_names) -> int:
    """A class by its name or its index.

    >>> class_index("cat", ["dog", "cat"]), class_index("0", ["dog", "cat"])
    (1, 0)
    """
    names = [str(name) for name in class_names]
    if target in names:
        return names.index(target)
    if target.isdigit() and int(target) < len(names):
        return int(target)
    hint = did_you_mean(target, names) or "its classes: " + ", ".join(names)
    raise ConfigError.at("target", f"{target}: not a class of this run", hint=hint)


def _test_example(trained: TrainedRun, index: int) -> tuple[np.ndarray, str]:
    x_test = load_arrays(trained.cfg).x_test
    if not 0 <= index < len(x_test):
        raise ConfigError.at("index", f"{index}: the test split has {len(x_test)} examples (0 to {len(x_test) - 1})")
    return x_test[index], f"test example #{index}"
