"""What the network learned, as the lectures show it: the first conv layer's filters, the
activation maps of every convolution and pooling layer for one input image, where the network
looks for a class (Grad-CAM) and what each filter of a layer responds to (see `explain.py`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.errors import ConfigError, RunError

_SPATIAL = ("Conv", "Pooling")  # class-name parts of the layers whose outputs are maps


def visualize(
    run: Path,
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
    default the predicted one) and patterns.png (what each filter of `layer` responds to) on request."""
    from cnnlab.runs import load_trained_run

    cfg, model, preprocessing, info = load_trained_run(run)
    written = []
    if not (gradcam or patterns):
        written += _filters_and_maps(run, cfg, model, preprocessing, image, index, convert, invert)
    if gradcam:
        written.append(_gradcam(run, cfg, model, preprocessing, info, image, index, convert, invert, target))
    if patterns:
        from cnnlab import explain, plots

        found, name = explain.filter_patterns(model, preprocessing, layer)
        plots.patterns(found, run / "patterns.png", name)
        written.append(run / "patterns.png")
    return written


def _input(cfg, model, image, index, convert, invert) -> tuple[np.ndarray, str]:
    from cnnlab.data.images import read_image

    if image is not None:
        return read_image(Path(image), tuple(model.input_shape[1:]), convert=convert, invert=invert), str(image)
    return _test_example(cfg, index or 0)


def _filters_and_maps(run, cfg, model, preprocessing, image, index, convert, invert) -> list[Path]:
    import keras

    from cnnlab import plots

    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convolutions:
        raise RunError(f"{run}: the model has no Conv2D layer, so there are no filters to show")
    kernel = np.asarray(keras.ops.convert_to_numpy(convolutions[0].kernel))
    plots.filters(kernel, run / "filters.png", convolutions[0].name)
    pixels, source = _input(cfg, model, image, index, convert, invert)
    spatial = [
        layer
        for layer in model.layers
        if any(part in type(layer).__name__ for part in _SPATIAL) and len(layer.output.shape) == 4
    ]
    probe = keras.Model(model.inputs, [layer.output for layer in spatial])
    outputs = probe.predict(preprocessing.apply(pixels[np.newaxis]), verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    plots.feature_maps(
        pixels,
        [(layer.name, out[0]) for layer, out in zip(spatial, outputs)],
        run / "feature_maps.png",
        title=f"feature maps of {source}",
    )
    return [run / "filters.png", run / "feature_maps.png"]


def _gradcam(run, cfg, model, preprocessing, info, image, index, convert, invert, target) -> Path:
    from cnnlab import explain, plots
    from cnnlab.evaluate import predicted_classes

    pixels, source = _input(cfg, model, image, index, convert, invert)
    x = preprocessing.apply(pixels[np.newaxis])
    probabilities = model.predict(x, verbose=0)
    guess = int(predicted_classes(probabilities)[0])
    wanted = guess if target is None else class_index(target, info.class_names)
    heat, _ = explain.gradcam(model, x, [wanted])
    names = info.class_names
    title = f"Grad-CAM of {source}: where {model.layers[-1].name} finds {names[wanted]}"
    if wanted != guess:
        title += f" (predicted: {names[guess]})"
    plots.gradcam(pixels, heat[0], run / "gradcam.png", title)
    return run / "gradcam.png"


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
    from cnnlab.errors import did_you_mean

    raise ConfigError(
        f"--class {target}: not a class of this run — "
        + (did_you_mean(target, names) or "its classes: " + ", ".join(names))
    )


def _test_example(cfg, index: int) -> tuple[np.ndarray, str]:
    from cnnlab.data import load_arrays

    x_test = load_arrays(cfg).x_test
    if not 0 <= index < len(x_test):
        raise ConfigError(f"--index {index}: the test split has {len(x_test)} examples (0 to {len(x_test) - 1})")
    return x_test[index], f"test example #{index}"
