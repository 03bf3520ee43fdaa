"""What each data set looks like, known without loading a single example.

`summary` and `check` need the input shape and class count instantly, so they live here as plain
metadata; loading the examples is the job of the source modules beside this one.

    >>> BUILTIN["mnist"].input_shape, BUILTIN["cifar100"].num_classes
    ((28, 28, 1), 100)
"""

from __future__ import annotations

from dataclasses import dataclass

DIGITS = tuple(str(d) for d in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100 = tuple(
    """
apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly
camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup
dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower
leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid
otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray
road rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar
sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip turtle
wardrobe whale willow_tree wolf woman worm
""".split()
)


@dataclass(frozen=True)
class DatasetInfo:
    """Shape of one example (height, width, channels), class count and class names."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int | None  # None: an image folder that check could not see
    class_names: tuple[str, ...]


BUILTIN: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", (28, 28, 1), 10, DIGITS),
    "fashion_mnist": DatasetInfo("fashion_mnist", (28, 28, 1), 10, FASHION),
    "cifar10": DatasetInfo("cifar10", (32, 32, 3), 10, CIFAR10),
    "cifar100": DatasetInfo("cifar100", (32, 32, 3), 100, CIFAR100),
}
