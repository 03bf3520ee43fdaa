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


def test_separable_and_depthwise_conv_macs_by_hand():
    # Depthwise 3x3 over 4 channels x multiplier 2 on 6x6 outputs, then (separable) a 1x1 from
    # those 8 channels to 5 filters.
    separable = keras.layers.SeparableConv2D(5, 3, depth_multiplier=2)
    separable.build((None, 8, 8, 4))
    depthwise_part = 6 * 6 * 4 * 2 * 9
    assert layer_macs(separable, (None, 8, 8, 4), (None, 6, 6, 5)) == depthwise_part + 6 * 6 * 8 * 5 == 4032
    depthwise = keras.layers.DepthwiseConv2D(3, depth_multiplier=2)
    depthwise.build((None, 8, 8, 4))
    assert layer_macs(depthwise, (None, 8, 8, 4), (None, 6, 6, 8)) == depthwise_part == 2592
    assert layer_macs(keras.layers.MaxPooling2D(2), (None, 8, 8, 4), (None, 4, 4, 4)) == 0


def test_transposed_conv_macs_and_field_by_hand():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(2, 3),  # field 3, jump 1; 6x6x2
            keras.layers.MaxPooling2D(2),  # field 3 + 1*1 = 4, jump 2; 3x3x2
            keras.layers.Conv2DTranspose(4, 3, strides=2),  # jump 2/2 = 1, field 4 + 2*1 = 6; 7x7x4
            keras.layers.UpSampling2D(2),  # field 6, jump 1/2; 14x14x4
            keras.layers.Conv2D(1, 5),  # field 6 + 4 * 0.5 = 8; 10x10x1
        ]
    )
    rows = summarize(model).rows
    assert [row.receptive_field for row in rows] == [(3, 3), (4, 4), (6, 6), (6, 6), (8, 8)]
    # Every one of the 3x3 input pixels spreads a 3x3 kernel from 2 channels to 4 filters.
    assert rows[2].macs == 3 * 3 * 9 * 2 * 4 == 648
    assert rows[3].macs == 0 and rows[4].macs == 10 * 10 * 1 * 25 * 4


def test_one_dimensional_layers_have_a_one_axis_field():
    model = keras.Sequential(
        [
            keras.Input((20, 3)),
            keras.layers.Conv1D(4, 5, strides=2),  # field 5, jump 2; 8x4
            keras.layers.MaxPooling1D(2),  # field 5 + 1*2 = 7, jump 4; 4x4
            keras.layers.Conv1D(2, 3),  # field 7 + 2*4 = 15; 2x2
            keras.layers.UpSampling1D(2),  # field 15, jump 4/2 = 2; 4x2
            keras.layers.Conv1D(2, 3),  # field 15 + 2*2 = 19; 2x2
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(3),
        ]
    )
    rows = summarize(model).rows
    assert [row.receptive_field for row in rows] == [(5,), (7,), (15,), (15,), (19,), None, None]
    assert [row.macs for row in rows] == [8 * 4 * 5 * 3, 0, 2 * 2 * 3 * 4, 0, 2 * 2 * 3 * 2, 0, 2 * 3]


def test_a_layer_that_crops_ends_the_field_and_a_dense_input_has_none():
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3), keras.layers.Cropping2D(1), keras.layers.Conv2D(2, 3)]
    )
    assert [row.receptive_field for row in summarize(model).rows] == [(3, 3), None, None]
    flat = summarize(keras.Sequential([keras.Input((10,)), keras.layers.Dense(4), keras.layers.Dense(2)]))
    assert [row.receptive_field for row in flat.rows] == [None, None]
    assert [row.macs for row in flat.rows] == [40, 8]


def test_the_summary_as_data_names_every_layer_and_adds_up():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(3, 3, name="c"),
            keras.layers.Flatten(name="f"),
            keras.layers.Dense(4, name="d"),
        ],
        name="net",
    )
    data = summarize(model).to_dict()
    assert (data["name"], data["input_shape"]) == ("net", [6, 6, 2])
    assert [(row["name"], row["class_name"], row["output_shape"]) for row in data["layers"]] == [
        ("c", "Conv2D", (None, 4, 4, 3)),
        ("f", "Flatten", (None, 48)),
        ("d", "Dense", (None, 4)),
    ]
    assert [row["params"] for row in data["layers"]] == [3 * 3 * 2 * 3 + 3, 0, 48 * 4 + 4]
    assert data["total_params"] == data["trainable_params"] == model.count_params() == 253
    assert data["non_trainable_params"] == 0
    assert data["total_macs"] == 4 * 4 * 3 * 18 + 48 * 4 == 1056


def test_grouped_conv_macs_are_a_whole_number():
    layer = keras.layers.Conv2D(8, 3, groups=4)
    layer.build((None, 9, 9, 4))
    macs = layer_macs(layer, (None, 9, 9, 4), (None, 7, 7, 8))
    assert macs == 7 * 7 * 8 * 9 and type(macs) is int  # an int, also in summary --json


def test_field_through_a_transposed_conv_after_two_pools_and_layers_that_keep_it():
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(2, 3),  # field 3, jump 1; 14x14
            keras.layers.MaxPooling2D(2),  # field 3 + 1*1 = 4, jump 2; 7x7
            keras.layers.MaxPooling2D(2),  # field 4 + 1*2 = 6, jump 4; 3x3
            keras.layers.Conv2DTranspose(2, 3, strides=2),  # jump 4/2 = 2, field 6 + 2*2 = 10; 7x7
            keras.layers.BatchNormalization(),  # element-wise: field kept
            keras.layers.Dropout(0.5),
            keras.layers.MaxPooling2D(3, strides=1),  # field 10 + 2*2 = 14, jump 2; 5x5
            keras.layers.ZeroPadding2D(1),  # 7x7 of which the border sees nothing: not modelled
        ]
    )
    rows = summarize(model).rows
    assert [row.output_shape[1] for row in rows] == [14, 7, 3, 7, 7, 7, 5, 7]
    assert [row.receptive_field for row in rows] == [
        (3, 3),
        (4, 4),
        (6, 6),
        (10, 10),
        (10, 10),
        (10, 10),
        (14, 14),
        None,
    ]


def test_a_keras_error_reads_as_one_sentence_without_its_frame_colours_or_argument_dump(write):
    """The bugs: the lines of a message of several joined by anything but one space; Keras'
    "Exception encountered" frame, its colour codes or its "Arguments received" dump left in a
    located error."""
    from cnnlab.model.factory import keras_message

    framed = ValueError(
        "Exception encountered when calling Reshape.call().\n\n\x1b[1mThe total size must be unchanged.\n"
        "Received: target_shape=(5,)\x1b[0m\n\nArguments received by Reshape.call():\n  • args=('<KerasTensor>',)"
    )
    assert keras_message(framed) == "The total size must be unchanged. Received: target_shape=(5,)"
    path = write(
        "c.yaml", "name: t\nmodel:\n  input_shape: [3, 3, 1]\n  layers:\n    - Reshape: {target_shape: [5]}\n" + HEAD
    )
    with pytest.raises(ConfigError) as caught:
        build_model(load_config(path))
    (problem,) = caught.value.problems
    assert problem.key == "model.layers[0].Reshape" and problem.message == (
        "cannot take an input of shape (None, 3, 3, 1): The total size of the tensor must be unchanged. "
        "Received: input_shape=(3, 3, 1), target_shape=(5,)"
    )


def test_a_layer_without_a_shape_hint_is_refused_without_an_empty_hint():
    """A Reshape to a size the input does not have: the refusal says why at the layer, and
    there is no hint to give. The bug: an empty or made-up hint after the reason."""
    import cnnlab

    config = {
        "name": "reshape",
        "data": {"dataset": "synthetic", "synthetic": {"input_shape": [8, 8, 1], "num_classes": 3}},
        "model": {"layers": [{"Reshape": {"target_shape": [5]}}, {"Dense": {"units": 3, "activation": "softmax"}}]},
    }
    with pytest.raises(cnnlab.ConfigError) as refused:
        cnnlab.check(config)
    (problem,) = refused.value.problems
    assert problem.key == "model.layers[0].Reshape" and problem.hint == ""
    assert problem.message.startswith("cannot take an input of shape (None, 8, 8, 1): The total size of the tensor")
