"""Grad-CAM and filter patterns (explain.py), and the visualize command that draws them."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cnnlab.data.prepare import Preprocessing
from cnnlab.errors import RunError
from cnnlab.reporting import explain
from tests.conftest import CONFIGS, build_shipped

HEIGHT, WIDTH = 8, 12  # not square: a swapped height and width would show
QUADRANTS = [
    (slice(0, 4), slice(0, 6)),
    (slice(0, 4), slice(6, 12)),
    (slice(4, 8), slice(0, 6)),
    (slice(4, 8), slice(6, 12)),
]


def quadrant_model() -> keras.Sequential:
    """Class k = "quadrant k is bright". Channel 0 of the first layer copies the image; channel 1 is
    a constant 5 everywhere that the classifier ignores: Grad-CAM must weight it by its (zero)
    gradient, or the map goes flat. The last conv halves the resolution, so the map is upsampled."""
    model = keras.Sequential(
        [
            keras.Input((HEIGHT, WIDTH, 1)),
            keras.layers.Conv2D(2, 1, activation="relu"),
            keras.layers.Conv2D(2, 2, strides=2, activation="relu"),  # 4x6 maps: each channel averaged
            keras.layers.Flatten(),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    first, last = model.layers[0], model.layers[1]
    first.set_weights([np.array([1.0, 0.0]).reshape(1, 1, 1, 2), np.array([0.0, 5.0])])
    pooling = np.zeros((2, 2, 2, 2))
    pooling[:, :, 0, 0] = pooling[:, :, 1, 1] = 0.25
    last.set_weights([pooling, np.zeros(2)])
    dense = np.zeros((4, 6, 2, 4))
    for k, (rows, columns) in enumerate(QUADRANTS):
        dense[rows.start // 2 : rows.stop // 2, columns.start // 2 : columns.stop // 2, 0, k] = 1.0
    model.layers[3].set_weights([dense.reshape(48, 4), np.zeros(4)])
    return model


@pytest.mark.parametrize("quadrant", range(4))
def test_gradcam_is_highest_in_the_quadrant_the_class_depends_on(quadrant):
    rng = np.random.default_rng(quadrant)
    image = rng.uniform(0, 0.2, (1, HEIGHT, WIDTH, 1)).astype(np.float32)
    rows, columns = QUADRANTS[quadrant]
    image[0, rows.start + 1 : rows.stop - 1, columns.start + 1 : columns.stop - 1] = 1.0
    heat, classes = explain.gradcam(quadrant_model(), image)
    assert classes.tolist() == [quadrant]  # the predicted class by default
    assert heat.shape == (1, HEIGHT, WIDTH) and heat.max() == pytest.approx(1.0)
    means = [heat[0, r, c].mean() for r, c in QUADRANTS]
    assert np.argmax(means) == quadrant
    assert means[quadrant] > 2 * max(m for k, m in enumerate(means) if k != quadrant)


def test_gradcam_restores_the_softmax_it_looks_behind():
    model = quadrant_model()
    explain.gradcam(model, np.zeros((1, HEIGHT, WIDTH, 1), np.float32))
    assert model.layers[-1].activation is keras.activations.softmax


def test_patterns_default_to_the_last_of_three_conv_layers_and_ignore_dropout():
    """The bugs: the default layer counted from the front (the second of three); the ascent
    run with `training=True`, so a Dropout before the layer makes each call draw other
    patterns. Untrained weights: nothing to learn, only which layer and whether it repeats (no
    global seed here: it would change what the tests after this one draw)."""
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Dropout(0.5),
            *(keras.layers.Conv2D(2, 3, padding="same", name=name) for name in ("first", "second", "third")),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    assert (explain.conv_layer(model).name, explain.conv_layer(model, "second").name) == ("third", "second")
    once, name = explain.filter_patterns(model, Preprocessing("scale"), steps=5)
    again, _ = explain.filter_patterns(model, Preprocessing("scale"), steps=5)
    assert name == "third" and np.array_equal(once, again)


def test_a_model_without_convolutions_has_no_gradcam_and_no_patterns():

    dense = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(RunError, match="no convolutional layer"):
        explain.gradcam(dense, np.zeros((1, 4, 4, 1), np.float32))
    with pytest.raises(RunError, match="no convolutional layer"):
        explain.filter_patterns(dense, Preprocessing("scale"))


def test_patterns_have_one_image_per_filter_and_excite_their_filter(trained):
    run, _, _ = trained
    model = keras.saving.load_model(run / "best.keras")
    preprocessing = Preprocessing.load(run / "preprocessing.npz")
    patterns, name = explain.filter_patterns(model, preprocessing, "conv2d", steps=30)
    # conv2d has 4 filters of 3x3 with no padding: the centre unit of its 6x6 map sees input rows
    # and columns 3-5, so the pictures are that window plus a margin of one pixel.
    assert name == "conv2d" and patterns.shape == (4, 5, 5, 1)
    assert all(np.abs(pattern - 128.0).max() > 10 for pattern in patterns)  # moved away from grey
    assert patterns.min() >= 0 and patterns.max() <= 255
    full = np.full((4, 8, 8, 1), 128.0, np.float32)
    grey = full.copy()
    full[:, 2:7, 2:7] = patterns  # back where the window came from
    view = explain.functional_view(model, model.get_layer("conv2d"))
    with explain.linear_activation(model.get_layer("conv2d")):
        on_pattern = view(preprocessing.apply(full))[0].numpy()[:, 3, 3, :]
        on_grey = view(preprocessing.apply(grey))[0].numpy()[:, 3, 3, :]
    for i in range(4):
        assert on_pattern[i, i] > on_grey[i, i]  # pattern i excites filter i more than grey does


def test_the_report_gallery_gets_a_heat_map_per_mistake(trained):
    from cnnlab.engine.evaluation import _mistake_heatmaps
    from cnnlab.reporting import gallery
    from cnnlab.storage.trained import load_trained_run

    run, _, _ = trained
    _, model, _, _ = load_trained_run(run)
    predictions = dict(np.load(run / "predictions.npz"))
    chosen = gallery.most_confident_mistakes(predictions["y_true"], predictions["y_pred"], predictions["probabilities"])
    assert len(chosen)  # the tiny run makes mistakes; otherwise this test shows nothing
    x = np.random.default_rng(0).normal(size=(len(predictions["y_true"]), 8, 8, 1)).astype(np.float32)
    heat = _mistake_heatmaps(model, x, chosen, predictions["y_pred"])
    assert heat.shape == (len(chosen), 8, 8) and 0 <= heat.min() and heat.max() <= 1
    dense = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    assert _mistake_heatmaps(dense, x, chosen, predictions["y_pred"]) is None


def test_visualize_gradcam_and_patterns_from_the_command_line(run_cli, trained_copy):
    run, _ = trained_copy
    result = run_cli("visualize", run, "--gradcam", "--index", "2", "--class", "class_1")
    assert result.exit_code == 0, result.output
    assert (run / "gradcam.png").read_bytes()[:4] == b"\x89PNG" and not (run / "patterns.png").exists()
    result = run_cli("visualize", run, "--patterns", "--layer", "conv2d")
    assert result.exit_code == 0, result.output
    assert (run / "patterns.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "argv, code, words",
    [
        (
            ["--gradcam", "--class", "class_7"],
            2,
            ["error: --class: class_7: not a class of this run", "did you mean class_2"],
        ),
        (
            ["--gradcam", "--class", "zebra"],
            2,
            ["error: --class: zebra: not a class of this run", "— its classes: class_0, class_1, class_2"],
        ),
        (["--patterns", "--layer", "dense"], 2, ["--layer: dense:", "its conv layers: conv2d"]),
        (["--class", "class_1"], 2, ["--class goes with --gradcam"]),
        (["--layer", "conv2d"], 2, ["--layer goes with --patterns"]),
    ],
)
def test_visualize_refuses_what_it_cannot_draw(run_cli, trained_copy, argv, code, words):
    run, _ = trained_copy
    result = run_cli("visualize", run, *argv)
    assert result.exit_code == code, result.output
    assert all(word in result.stderr for word in words), result.stderr


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_has_gradcam_and_patterns(path):
    """The functional view must pass through every layer kind the configs use (augmentation,
    dropout, batch norm, pooling) and the maps come back at the input's size."""
    model = build_shipped(path)
    shape = model.input_shape[1:]
    x = np.random.default_rng(0).uniform(0, 1, (2, *shape)).astype(np.float32)
    heat, classes = explain.gradcam(model, x)
    assert heat.shape == (2, *shape[:2]) and classes.shape == (2,)
    convs = explain.conv_layers(model)
    # An application's last convolution has 1,280 filters: its first keeps the test quick.
    layer = convs[0] if any(isinstance(layer, keras.Model) for layer in model.layers) else convs[-1]
    patterns, name = explain.filter_patterns(model, Preprocessing("scale"), layer_name=layer.name, steps=2)
    assert name == layer.name and patterns.shape[0] == layer.output.shape[-1]


def test_gradcam_inside_a_nested_model_equals_gradcam_on_the_same_layers_flat():
    """An application is a whole model used as one layer: Grad-CAM must reach its convolutions
    and give what the same layers give when they stand in the outer model itself."""
    keras.utils.set_random_seed(0)  # the layers' first weights: not whatever the tests before left
    rng = np.random.default_rng(0)
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="inner_conv")
    pool, head = keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")
    inputs = keras.Input((8, 8, 1))
    base = keras.Model(inputs, pool(conv(inputs)), name="base")  # a functional model, as applications are
    nested = keras.Sequential([keras.Input((8, 8, 1)), base, head])
    flat = keras.Sequential([keras.Input((8, 8, 1)), conv, pool, head])  # the same layer objects
    x = rng.uniform(0, 1, (3, 8, 8, 1)).astype(np.float32)
    assert [layer.name for layer in explain.conv_layers(nested)] == ["inner_conv"]
    heat_nested, classes_nested = explain.gradcam(nested, x)
    heat_flat, classes_flat = explain.gradcam(flat, x)
    np.testing.assert_array_equal(classes_nested, classes_flat)
    np.testing.assert_allclose(heat_nested, heat_flat, atol=1e-6)
    assert heat_nested.max() > 0


def test_gradcam_of_another_class_is_another_map(run_cli, trained_copy):
    """--class is drawn, not only checked: the evidence for two classes lies in different places.
    The pictures are compared below their titles, which name the class either way."""
    from PIL import Image

    run, _ = trained_copy
    panels = {}
    for target in ("class_0", "class_2"):
        result = run_cli("visualize", run, "--gradcam", "--index", "2", "--class", target)
        assert result.exit_code == 0, result.output
        picture = np.asarray(Image.open(run / "gradcam.png").convert("RGB"))
        panels[target] = picture[picture.shape[0] // 4 :]
    assert panels["class_0"].shape == panels["class_2"].shape
    assert not np.array_equal(panels["class_0"], panels["class_2"])


def test_visualize_an_image_file_alone(run_cli, trained_copy, tmp_path):
    """README: visualize --image F draws the feature maps of F itself (the same file name with
    other pixels draws other maps; an ignored --image would draw test example 0 both times)."""
    from PIL import Image

    from cnnlab.config import load_config
    from cnnlab.data import load_arrays

    run, config = trained_copy
    x_test, drawn = load_arrays(load_config(config)).x_test, []
    for index in (5, 6):
        Image.fromarray(x_test[index][..., 0]).save(tmp_path / "digit.png")
        result = run_cli("visualize", run, "--image", tmp_path / "digit.png")
        assert result.exit_code == 0, result.output
        assert f"wrote {run / 'feature_maps.png'}" in result.output
        drawn.append((run / "feature_maps.png").read_bytes())
    assert drawn[0] != drawn[1]


def test_a_heat_map_at_the_models_size_covers_the_picture_by_nearest_pixels():
    """A model that resizes its input gives maps at its own size; over a picture twice as large
    each map pixel covers a 2x2 block (and over one half as large, every second pixel is
    taken). Catches the map stretched from a corner or read transposed."""
    from cnnlab.reporting.plots import blend

    heat = np.array([[1.0, 0.0], [0.0, 0.0]])  # hot at the top left only
    grey = np.zeros((4, 6, 1), np.uint8)  # 4 rows, 6 columns: each map pixel covers 2x3
    blended = blend(grey, heat)
    hot = blended[..., 0] > blended[..., 2]  # jet: dark red at 1, dark blue at 0
    assert hot.tolist() == [[True] * 3 + [False] * 3] * 2 + [[False] * 6] * 2
    big = np.zeros((4, 4))
    big[1, 1] = 1.0  # pixel (1, 1) of 4x4 is the one row 0, column 0 of a 2x2 picture takes: (0 + 0.5) * 2 = 1
    small = blend(np.zeros((2, 2, 1), np.uint8), big)
    assert (small[..., 0] > small[..., 2]).tolist() == [[True, False], [False, False]]


def test_visualize_resizes_an_image_of_another_size_only_with_convert(run_cli, trained_copy, tmp_path):
    """The bug: --convert not passed on to the image reader, so a photo of another size and
    colour mode is refused even when the user asked for it to be converted."""
    from PIL import Image

    run, _ = trained_copy
    Image.new("RGB", (24, 24), (200, 30, 30)).save(tmp_path / "photo.png")
    refused = run_cli("visualize", run, "--image", tmp_path / "photo.png")
    assert refused.exit_code != 0 and "image is 24x24, the model takes 8x8" in refused.output
    assert "--convert" in refused.output and "Traceback" not in refused.output
    converted = run_cli("visualize", run, "--image", tmp_path / "photo.png", "--convert")
    assert converted.exit_code == 0, converted.output
    assert f"wrote {run / 'feature_maps.png'}" in converted.output


@pytest.mark.trains
def test_the_feature_maps_of_a_model_of_one_conv_layer_are_that_layers_maps(tmp_path, monkeypatch):
    """A probe of one layer gives Keras' one array, not a list of one. The bug: that array read
    as a list of layers' outputs, so the picture showed rows of the first map as maps."""
    import yaml

    import cnnlab
    from cnnlab.reporting import plots
    from tests.guard_rails import TINY_CONFIG

    run = cnnlab.train(yaml.safe_load(TINY_CONFIG), runs_dir=tmp_path, progress=False)  # one Conv2D, no pooling
    shown, draw = [], plots.feature_maps
    monkeypatch.setattr(
        plots,
        "feature_maps",
        lambda image, maps, *rest, **named: (
            shown.append((image, maps)),
            draw(image, maps, *rest, **named),
        )[1],
    )
    run.visualize(index=0)
    ((image, ((name, maps),)),) = shown
    conv = run.model.layers[0]
    expected = keras.ops.convert_to_numpy(conv(image[np.newaxis].astype(np.float32) / 255.0))[0]  # scaled pixels
    assert name == conv.name and maps.shape == (6, 6, 2)  # 8x8 through a 3x3 kernel, 2 filters
    np.testing.assert_allclose(maps, expected, atol=1e-6)
