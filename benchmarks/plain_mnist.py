"""The classic exercise as a user writes it in plain Keras: the reference `cnnlab train` is timed
against. Two 3x3 convolutions of 32 and 64 filters, a 2x2 max-pool, a dense head, Adam, batch 32.

    python benchmarks/plain_mnist.py MNIST_FOLDER [--examples 15000] [--epochs 2] [--seed 42]

MNIST_FOLDER holds the four original IDX files (what `cnnlab data fetch mnist` leaves in Keras'
cache); reading them is what `keras.datasets.mnist.load_data()` would do with a network.
Prints the test accuracy as the last line.
"""

import argparse
from pathlib import Path

import keras
import numpy as np


def idx(path: Path) -> np.ndarray:
    data = path.read_bytes()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def exercise_model() -> keras.Sequential:
    """The exercise's network, compiled as its text says: Adam, cross-entropy, accuracy."""
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--examples", type=int, default=15000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    x_train = idx(args.folder / "train-images-idx3-ubyte")[: args.examples, ..., None] / 255.0
    y_train = keras.utils.to_categorical(idx(args.folder / "train-labels-idx1-ubyte")[: args.examples], 10)
    x_test = idx(args.folder / "t10k-images-idx3-ubyte")[..., None] / 255.0
    y_test = keras.utils.to_categorical(idx(args.folder / "t10k-labels-idx1-ubyte"), 10)

    model = exercise_model()
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
