"""The built-in data sets from Python: where each would come from here, and fetching one ahead of
training, every file checked against its pinned SHA-256.

    >>> import cnnlab
    >>> [row["name"] for row in cnnlab.datasets()][:2]
    ['mnist', 'fashion_mnist']
"""

from __future__ import annotations

import os

from cnnlab.api.arguments import checked
from cnnlab.api.progress import Progress, as_progress
from cnnlab.data import Arrays
from cnnlab.data.builtin import FETCHERS, PINNED, fetch_plan, keras_cache, load_builtin, locate
from cnnlab.data.registry import BUILTIN
from cnnlab.errors import ConfigError, Problem, did_you_mean
from cnnlab.runtime.startup import start_keras


@checked
def datasets() -> list[dict]:
    """One dict per built-in data set: name, shape, classes, source (found here, or what would be
    tried) and whether it sits in Keras' cache."""
    cache = keras_cache()
    rows = []
    for name, info in BUILTIN.items():
        found = locate(name) if name in PINNED else None
        rows.append(
            {
                "name": name,
                "shape": "x".join(map(str, info.input_shape)),
                "classes": str(info.num_classes),
                "source": f"{found[0]}: {found[1]}" if found else f"not here; would try {fetch_plan(name)}",
                "cached": "yes" if found and found[1].is_relative_to(cache) else "no",
            }
        )
    rows.append({"name": "synthetic", "shape": "any (data.synthetic)", "classes": "any"})
    rows[-1] |= {"source": "generated from the seed", "cached": "-"}
    rows.append({"name": "image_folder", "shape": "data.image_size", "classes": "sub-folders"})
    rows[-1] |= {"source": "data.path", "cached": "-"}
    return rows


@checked
def fetch(name: str, path: str | os.PathLike | None = None, *, progress: bool | Progress = True) -> Arrays:
    """Find or download a built-in data set (or read it from `path`), verify every file's
    SHA-256 and keep it in Keras' cache; its arrays.

    >>> import cnnlab
    >>> cnnlab.fetch("mnist").x_train.shape  # doctest: +SKIP
    (60000, 28, 28, 1)
    """
    if name not in FETCHERS:
        raise ConfigError(
            Problem(
                f"no built-in data set {name!r}",
                key="name",
                hint=did_you_mean(name, FETCHERS) or f"built in: {', '.join(FETCHERS)} (cnnlab.datasets() lists them)",
            )
        )
    start_keras()  # Keras' own download is one of the sources
    return load_builtin(name, None if path is None else str(path), notify=as_progress(progress).say)
