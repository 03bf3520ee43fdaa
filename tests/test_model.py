"""Model building: Keras-checked layers, located shape errors, and the summary's arithmetic."""

from __future__ import annotations

import keras
import pytest

from cnnlab.config import load_config
from cnnlab.errors import ConfigError
from cnnlab.model.build import build_model
from cnnlab.model.summary import layer_macs, summarize
from tests.conftest import CONFIGS, build_shipped


def build(write, layers_yaml: str, extra: str = "", overrides=()):
    path = write("c.yaml", "name: t\n" + extra + "model:\n  layers:\n" + layers_yaml)
    return build_model(load_config(path, list(overrides)))


def build_problem(write, layers_yaml: str, extra: str = ""):
    with pytest.raises(ConfigError) as caught:
        build(write, layers_yaml, extra)
    (problem,) = caught.value.problems
    return problem


HEAD = "    - Flatten\n    - Dense: {units: 10, activation: softmax}\n"


def test_unknown_layer_suggests_the_keras_class(write):
    problem = build_problem(write, "    - Conv2d: {filters: 8, kernel_size: 3}\n" + HEAD)
    assert (problem.line, problem.key) == (4, "model.layers[0].Conv2d")
    assert problem.hint == "did you mean Conv2D?"


def test_unknown_layer_argument_is_checked_against_the_keras_signature(write):
    problem = build_problem(write, "    - Conv2D:\n        filters: 8\n        kernel_sise: 3\n" + HEAD)
    assert (problem.line, problem.key) == (6, "model.layers[0].Conv2D.kernel_sise")
    assert problem.message == "unknown argument of Conv2D" and problem.hint == "did you mean kernel_size?"


def test_base_layer_arguments_are_accepted(write):
    model = build(write, "    - Flatten: {name: flat, dtype: float32}\n    - Dense: {units: 10, trainable: false}\n")
    assert model.layers[0].name == "flat" and model.layers[1].trainable is False


def test_value_keras_rejects_is_located_at_its_argument(write):
    problem = build_problem(
        write, "    - Conv2D: {filters: 8, kernel_size: 3,\n                padding: sideways}\n" + HEAD
    )
    assert problem.key == "model.layers[0].Conv2D.padding" and problem.line == 5
    assert "Keras refuses" in problem.message and "sideways" in problem.message


def test_unknown_activation_and_initializer_get_suggestions(write):
    problem = build_problem(write, "    - Conv2D: {filters: 8, kernel_size: 3, activation: rleu}\n" + HEAD)
    assert problem.key.endswith("activation") and "relu" in problem.hint
    problem = build_problem(write, "    - Flatten\n    - Dense: {units: 10, kernel_initializer: he_normall}\n")
    assert problem.key.endswith("kernel_initializer") and "he_normal" in problem.hint


def test_regularizer_mapping_form_builds_the_keras_object(write):
    model = build(write, "    - Flatten\n    - Dense: {units: 10, kernel_regularizer: {L2: {l2: 0.001}}}\n")
    regularizer = model.layers[1].kernel_regularizer
    assert isinstance(regularizer, keras.regularizers.L2) and regularizer.l2 == pytest.approx(0.001)


def test_input_shape_inside_a_layer_is_redirected_to_model_input_shape(write):
    problem = build_problem(write, "    - Flatten: {input_shape: [28, 28, 1]}\n    - Dense: {units: 10}\n")
    assert "model.input_shape" in problem.hint


def test_pooling_a_1x1_map_is_a_located_shape_error(write):
    pools = "    - MaxPooling2D: {pool_size: 2}\n" * 3  # 4x4 -> 2x2 -> 1x1 -> nothing
    path = write("c.yaml", "name: t\nmodel:\n  input_shape: [4, 4, 1]\n  layers:\n" + pools + HEAD)
    with pytest.raises(ConfigError) as caught:
        build_model(load_config(path))
    (problem,) = caught.value.problems
    assert (problem.line, problem.key) == (7, "model.layers[2].MaxPooling2D")
    assert "(None, 1, 1, 1)" in problem.message and "padding: same" in problem.hint


def test_dense_before_flatten_on_4d_input_is_refused(write):
    problem = build_problem(write, "    - Conv2D: {filters: 8, kernel_size: 3}\n    - Dense: {units: 10}\n")
    assert (problem.line, problem.key) == (5, "model.layers[1].Dense")
    assert "4-D input" in problem.message and "Flatten" in problem.hint


def test_final_width_must_match_the_class_count(write):
    problem = build_problem(write, "    - Flatten\n    - Dense: {units: 12, activation: softmax}\n")
    assert (problem.line, problem.key) == (5, "model.layers[1].Dense.units")
    assert "10 classes" in problem.message and problem.hint == "set units: 10"


def test_class_count_and_input_shape_come_from_the_dataset(write):
    model = build(write, "    - Flatten\n    - Dense: {units: 100}\n", extra="data: {dataset: cifar100}\n")
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 100)


def test_explicit_input_shape_wins_over_the_dataset(write):
    path = write("c.yaml", "name: t\nmodel:\n  input_shape: [12, 12, 3]\n  layers: [Flatten, {Dense: {units: 10}}]\n")
    assert build_model(load_config(path)).input_shape == (None, 12, 12, 3)


def test_unknown_dataset_suggests_a_registered_one(write):
    problem = build_problem(write, HEAD, extra="data: {dataset: fashion-mnist}\n")
    assert (problem.line, problem.key) == (2, "data.dataset") and "fashion_mnist" in problem.hint


def test_augmentation_and_preprocessing_layers_build(write):
    layers = (
        "    - Rescaling: {scale: 0.5}\n    - RandomRotation: {factor: 0.1}\n    - RandomZoom: {height_factor: 0.1}\n"
    )
    model = build(write, layers + HEAD)
    assert [type(layer).__name__ for layer in model.layers][:3] == ["Rescaling", "RandomRotation", "RandomZoom"]


def test_layer_names_are_numbered_within_the_model(write):
    model = build(
        write,
        "    - Conv2D: {filters: 2, kernel_size: 3}\n    - Conv2D: {filters: 2, kernel_size: 3}\n"
        "    - MaxPooling2D\n" + HEAD,
    )
    assert [layer.name for layer in model.layers] == ["conv2d", "conv2d_1", "max_pooling2d", "flatten", "dense"]


# --- summary arithmetic, computed by hand ---------------------------------------------------


def test_conv_macs_by_hand():
    # 3x3 kernel over 5 input channels, 16 filters, 'same' padding on 10x10: every one of the
    # 10*10*16 outputs is a dot product of 3*3*5 = 45 terms.
    layer = keras.layers.Conv2D(16, 3, padding="same")
    layer.build((None, 10, 10, 5))
    assert layer_macs(layer, (None, 10, 10, 5), (None, 10, 10, 16)) == 10 * 10 * 16 * 45 == 72_000


def test_strided_grouped_conv_macs_by_hand():
    layer = keras.layers.Conv2D(8, 3, strides=2, groups=2)  # 9x9 -> 4x4, each filter sees 2 channels
    layer.build((None, 9, 9, 4))
    assert layer_macs(layer, (None, 9, 9, 4), (None, 4, 4, 8)) == 4 * 4 * 8 * (3 * 3 * 2) == 2304


def test_dense_macs_by_hand():
    layer = keras.layers.Dense(128)
    layer.build((None, 12544))
    assert layer_macs(layer, (None, 12544), (None, 128)) == 12544 * 128 == 1_605_632


def test_receptive_field_grows_with_kernels_strides_and_dilation():
    model = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            keras.layers.Conv2D(2, 3),  # 3
            keras.layers.MaxPooling2D(2),  # 3 + 1*1 = 4, jump 2
            keras.layers.Conv2D(2, 3, dilation_rate=2),  # 4 + 2*2*2 = 12
            keras.layers.Flatten(),
        ]
    )
    fields = [row.receptive_field for row in summarize(model).rows]
    assert fields == [(3, 3), (4, 4), (12, 12), None]


def test_summary_counts_trainable_and_non_trainable_parameters():
    model = keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.BatchNormalization(), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    result = summarize(model)
    assert (result.rows[0].trainable_params, result.rows[0].non_trainable_params) == (6, 6)
    assert result.total_params == model.count_params() == 12 + 48 * 2 + 2


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_summary_counts_equal_keras_counts_for_every_shipped_config(config):
    model = build_shipped(config)
    result = summarize(model)
    assert result.total_params == model.count_params()
    assert result.trainable_params == sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    assert [row.output_shape for row in result.rows] == [layer.output.shape for layer in model.layers]


def test_baseline_has_the_classic_parameter_count():
    result = summarize(build_model(load_config(CONFIGS[0].parent / "mnist_baseline.yaml")))
    assert result.total_params == 1_625_866
    assert [r.class_name for r in result.rows] == ["Conv2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]


def test_learning_rate_schedule_and_unknown_schedule(write):
    from cnnlab.model.compiling import build_optimizer

    text = (
        "name: t\nmodel: {layers: [Flatten, {Dense: {units: 10}}]}\ntrain:\n  optimizer:\n    name: adam\n"
        "    learning_rate: {ExponentialDecay: {initial_learning_rate: 0.01, decay_steps: 10, decay_rate: 0.5}}\n"
    )
    optimizer = build_optimizer(load_config(write("s.yaml", text)))
    schedule = optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "ExponentialDecay" and schedule["config"]["decay_rate"] == 0.5
    with pytest.raises(ConfigError) as caught:
        build_optimizer(load_config(write("s.yaml", text.replace("ExponentialDecay", "ExponentialDecy"))))
    (problem,) = caught.value.problems
    assert problem.hint == "did you mean ExponentialDecay?" and problem.line == 6


def test_mixed_precision_keeps_only_the_output_layer_float32(write):
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = build(write, "    - Flatten\n    - Dense: {units: 16}\n    - Dense: {units: 10, activation: softmax}\n")
    finally:
        keras.config.set_dtype_policy("float32")
    assert [layer.dtype_policy.name for layer in model.layers] == ["mixed_float16", "mixed_float16", "float32"]
