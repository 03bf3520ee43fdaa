"""Small, learnable, deterministic image data of any shape and class count (tests and demos).

Each class is a fixed random pattern; each example is its class pattern plus noise, so a tiny
network learns it in a few epochs while the task is not trivially solved at initialisation.

    >>> a = make_synthetic((8, 8, 1), 3, 30, 12, seed=1)
    >>> a.x_train.shape, a.x_train.dtype, sorted(set(a.y_train.tolist()))
    ((30, 8, 8, 1), dtype('uint8'), [0, 1, 2])
"""

from __future__ import annotations

import numpy as np

from cnnlab.data.files import Arrays, sha256_of


def make_synthetic(
    input_shape: tuple[int, ...], num_classes: int, train_examples: int, test_examples: int, seed: int = 0
) -> Arrays:
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(0, 255, size=(num_classes, *input_shape))

    def split(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(count) % num_classes
        rng.shuffle(labels)
        noise = rng.normal(0, 40, size=(count, *input_shape))
        images = np.clip(patterns[labels] * 0.8 + 25 + noise, 0, 255).astype(np.uint8)
        return images, labels.astype(np.int64)

    x_train, y_train = split(train_examples)
    x_test, y_test = split(test_examples)
    checksum = sha256_of(x_train.tobytes() + x_test.tobytes())
    return Arrays(
        x_train, y_train, x_test, y_test, checksums={"synthetic": checksum}, origin=f"synthetic (seed {seed})"
    )
