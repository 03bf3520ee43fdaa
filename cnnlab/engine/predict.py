"""Images from disk -> a run's model, transformed exactly as the run's training data was.

A run trained on an image folder resizes and converts every image as training did. A run trained
on fixed-size arrays (MNIST, CIFAR, npz) takes images of exactly its input size and colour mode;
`convert=True` resizes and converts others. `invert=True` turns dark-on-light drawings into
MNIST's light-on-dark.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from cnnlab.data import is_image_folder
from cnnlab.data.images import is_image_file, read_image
from cnnlab.errors import ConfigError, Problem
from cnnlab.reporting.artifacts import artifact_format, artifact_labels, open_artifact
from cnnlab.storage.folders import RunFolder
from cnnlab.storage.trained import TrainedRun, load_trained_run

ONE_CALL = 256  # images predicted in one call of the model; more go through Keras' predict, in batches


def image_files(paths: list[str | Path]) -> list[Path]:
    """The image files named, with folders expanded (sorted); an error for anything else."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if is_image_file(p))
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"{path}: no such image file or folder")
    if not found:
        raise ConfigError(f"no images found in {', '.join(map(str, paths))} (png, jpg, jpeg, bmp, gif)")
    return found


def predict_images(
    run: RunFolder | Path, paths: list, *, top: int = 3, convert: bool = False, invert: bool = False
) -> list[dict]:
    """For each image: its file and the `top` most probable classes with probabilities. `run` is
    a run folder, or a model exported by `cnnlab export` (SavedModel folder, .tflite, .onnx)."""
    if not isinstance(run, RunFolder) and artifact_format(Path(run)) is not None:
        return _predict_with_artifact(Path(run), paths, top=top, convert=convert, invert=invert)
    trained = load_trained_run(run)
    files = image_files(paths)
    return ranked(files, probabilities(trained, files, convert=convert, invert=invert), trained.info.class_names, top)


def probabilities(trained: TrainedRun, images, *, convert: bool = False, invert: bool = False) -> np.ndarray:
    """Class probabilities of `images`: image files, or raw pixels as the data set holds them
    (an array of one image or of many, 0-255), prepared as the run's training data was."""
    prepared = model_inputs(trained, images, convert=convert, invert=invert)
    if len(prepared) <= ONE_CALL:  # Keras' predict builds a data pipeline per call: ~40 ms of a few images' 45
        return np.asarray(trained.model.predict_on_batch(prepared))
    return trained.model.predict(prepared, verbose=0)


def heatmaps(trained: TrainedRun, images, *, convert: bool = False, invert: bool = False) -> np.ndarray:
    """Grad-CAM maps (N, H, W) in [0, 1] of `images` (as `probabilities` takes them) for the
    class each is predicted to be; nothing is written."""
    from cnnlab.reporting.explain import gradcam

    return gradcam(trained.model, model_inputs(trained, images, convert=convert, invert=invert))[0]


def model_inputs(trained: TrainedRun, images, *, convert: bool = False, invert: bool = False) -> np.ndarray:
    """`images` as the model takes them: checked, read, and prepared as the training data was."""
    shape = tuple(trained.model.input_shape[1:])
    if isinstance(images, Iterable) and not isinstance(images, (np.ndarray, str, Path)):
        images = list(images)  # a generator of paths, say
    if isinstance(images, list) and images and all(isinstance(i, np.ndarray) for i in images):
        images = _stacked(images)
    if isinstance(images, (str, Path)):
        images = [images]
    if isinstance(images, np.ndarray):
        if images.size == 0:
            raise ConfigError(Problem(f"an array of shape {images.shape} holds no image", key="images"))
        if not (np.issubdtype(images.dtype, np.number) or images.dtype == bool):
            raise ConfigError(
                Problem(
                    f"pixels are numbers from 0 to 255, not {images.dtype}", key="images", hint="such as a uint8 array"
                )
            )
        if images.shape == shape:
            pixels = images[np.newaxis]
        elif images.shape[1:] == shape:
            pixels = images
        elif shape[-1] == 1 and images.shape[-2:] == shape[:2]:  # no channel axis, as Keras loads MNIST
            pixels = images.reshape((-1, *shape))
        else:
            raise ConfigError(
                Problem(f"images of shape {images.shape} do not fit the model's input {shape}", key="images")
            )
    elif not isinstance(images, list) or not images or not all(isinstance(p, (str, Path)) for p in images):
        raise ConfigError(
            Problem(
                "expected image files (paths) or pixels (a NumPy array of one image or of many)",
                key="images",
                hint=f"got {type(images).__name__}" + (" with nothing in it" if not images else ""),
            )
        )
    else:
        # An image-folder run resized and converted its training images: do the same here.
        convert = convert or is_image_folder(trained.cfg)
        pixels = np.stack([read_image(p, shape, convert=convert, invert=invert) for p in map(Path, images)])
    return trained.preprocessing.apply(pixels)


def _stacked(images: list[np.ndarray]) -> np.ndarray:
    """A list of pixel arrays as one array, when they have one shape."""
    shapes = [image.shape for image in images]
    if len(set(shapes)) > 1:
        other = next(n for n, each in enumerate(shapes) if each != shapes[0])
        raise ConfigError(
            Problem(
                f"images 0 and {other} differ in shape ({shapes[0]} and {shapes[other]})",
                key="images",
                hint="give images of the model's size, or image files with convert=True to resize them",
            )
        )
    return np.stack(images)


def _predict_with_artifact(path: Path, paths: list, *, top: int, convert: bool, invert: bool) -> list[dict]:
    """The same, with an exported model: its preprocessing is inside, so raw pixels go in."""
    class_names, artifact = artifact_labels(path), open_artifact(path)
    files = image_files(paths)
    pixels = np.stack([read_image(p, artifact.input_shape, convert=convert, invert=invert) for p in files])
    return ranked(files, artifact.predict(pixels.astype(np.float32)), class_names, top)


def ranked(files: list[Path], probabilities: np.ndarray, class_names, top: int) -> list[dict]:
    """Per file: the predicted class and the `top` classes, most probable first."""
    results = []
    for path, row in zip(files, probabilities):
        best = top_classes(row, class_names, top)
        results.append(
            {
                "file": str(path),
                "predicted": best[0]["class"],
                "top": [{"class": each["class"], "probability": each["probability"]} for each in best],
            }
        )
    return results


def top_classes(row: np.ndarray, class_names, k: int) -> list[dict]:
    """The k most probable classes of one output row (class name, index, probability), most
    probable first; one sigmoid unit counts as two classes."""
    if len(row) == 1:
        row = np.array([1 - row[0], row[0]])
    order = np.argsort(row)[::-1][: max(1, k)]
    return [{"class": str(class_names[i]), "index": int(i), "probability": float(row[i])} for i in order]
