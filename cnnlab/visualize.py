"""What the network learned, as the lectures show it: the first conv layer's filters, and the
activation maps of every convolution and pooling layer for one input image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.errors import ConfigError, RunError

_SPATIAL = ("Conv", "Pooling")  # class-name parts of the layers whose outputs are maps


def visualize(
    run: Path, *, image: Path | None = None, index: int | None = None, convert: bool = False, invert: bool = False
) -> list[Path]:
    """Write filters.png and feature_maps.png into the run folder; return their paths."""
    import keras

    from cnnlab import plots
    from cnnlab.data.images import read_image
    from cnnlab.runs import load_trained_run

    cfg, model, preprocessing, _ = load_trained_run(run)
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convolutions:
        raise RunError(f"{run}: the model has no Conv2D layer, so there are no filters to show")
    kernel = np.asarray(keras.ops.convert_to_numpy(convolutions[0].kernel))
    plots.filters(kernel, run / "filters.png", convolutions[0].name)

    if image is not None:
        pixels, source = (
            read_image(Path(image), tuple(model.input_shape[1:]), convert=convert, invert=invert),
            str(image),
        )
    else:
        pixels, source = _test_example(cfg, index or 0)
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


def _test_example(cfg, index: int) -> tuple[np.ndarray, str]:
    from cnnlab.data import load_arrays

    x_test = load_arrays(cfg).x_test
    if not 0 <= index < len(x_test):
        raise ConfigError(f"--index {index}: the test split has {len(x_test)} examples (0 to {len(x_test) - 1})")
    return x_test[index], f"test example #{index}"
