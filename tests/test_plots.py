"""What each picture says, read from matplotlib's own objects just before the PNG is written
(for the pictures Pillow draws, from their layout and the PNG's pixels): the numbers, the series
and their data, the labels, the titles, and the colours that carry a meaning (the Pareto front, a
cell's text against its shade, a colour bar's scale). How a picture looks (sizes of fonts and
dots, line widths, margins) is judged by looking at the PNGs, not here."""

from __future__ import annotations

import matplotlib.colors
import numpy as np
import pytest
from PIL import Image

from cnnlab.reporting import confusion, curves, gallery, plots


@pytest.fixture
def drawn(monkeypatch):
    """The figures the plots hand to `_save`, in order (the PNG is still written)."""
    figures = []
    save = plots._save

    def keep(figure, path, *numbers):
        figures.append(figure)
        return save(figure, path, *numbers)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def _lines(axis) -> dict[str, tuple[list, list]]:
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axis.get_lines()}


def _rgb(colour) -> tuple:
    return tuple(round(c, 3) for c in matplotlib.colors.to_rgb(colour))


def _texts(sheet: confusion.Sheet, px: int) -> list[confusion.Text]:
    return [text for text in sheet.texts if text.px == px]


def test_the_confusion_matrix_shows_each_count_and_its_share_of_the_true_class(tmp_path):
    matrix = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])  # the third class never occurs
    png = confusion.confusion_matrix(matrix, ["cat", "dog", "owl"], tmp_path / "cm.png")
    assert png[:4] == b"\x89PNG" and (tmp_path / "cm.png").read_bytes() == png
    sheet = confusion.layout(matrix, ["cat", "dog", "owl"], "confusion matrix (test set)")
    counts, shares = sheet.panels
    assert [t.text for t in _texts(sheet, confusion.TITLE_PX)] == [
        "confusion matrix (test set)",
        "counts",
        "share of the true class",
    ]
    labels = [t.text for t in _texts(sheet, confusion.LABEL_PX) if t.text.endswith("class")]
    assert labels == ["true class", "predicted class"] * 2
    names = [t for t in _texts(sheet, confusion.LABEL_PX) if t.text in ("cat", "dog", "owl")]
    assert [t.text for t in names] == ["cat", "cat", "dog", "dog", "owl", "owl"] * 2  # each row's, each column's
    assert [(t.angle, t.anchor) for t in names[1::2]] == [(45, "rt")] * 6  # under the columns, turned
    numbers = _texts(sheet, confusion.NUMBER_PX)
    # Row by row; shares of each true class: 5/6, 1/6; 2/4, 2/4; a class never seen, 0.
    assert [t.text for t in numbers[:9]] == ["5", "1", "0", "2", "2", "0", "0", "0", "0"]
    assert [t.text for t in numbers[9:]] == ["0.83", "0.17", "0.00", "0.50", "0.50", "0.00"] + ["0.00"] * 3
    for panel, shown in ((counts, numbers[:9]), (shares, numbers[9:])):
        left, top, side, _ = panel.cells
        cell = side // 3
        # x is the predicted class, y the true one: each number in the middle of its own cell
        assert [((t.y - top) // cell, (t.x - left) // cell) for t in shown] == [
            (r, c) for r in range(3) for c in range(3)
        ]
    # White text only on the cells darker than half the largest value (5 of counts; 0.83 of shares).
    assert [t.fill == "white" for t in numbers[:9]] == [True] + [False] * 8
    assert [t.fill == "white" for t in numbers[9:]] == [True, False, False, True, True] + [False] * 4

    pixels = np.asarray(Image.open(tmp_path / "cm.png").convert("L"), dtype=int)
    assert pixels.shape == sheet.size[::-1]

    def cell(panel, row: int, column: int) -> np.ndarray:  # the middle half of a cell, as the PNG has it
        left, top, side, _ = panel.cells
        size = side // 3
        x, y = left + column * size, top + row * size
        return pixels[y + size // 4 : y + 3 * size // 4, x + size // 4 : x + 3 * size // 4]

    dark, light = cell(counts, 0, 0), cell(counts, 0, 2)  # 5 on the darkest blue; 0 on white
    assert dark.min() < 80 and dark.max() > 200  # a white number on a dark cell
    assert light.max() > 240 and light.min() < 100  # a black number on a white cell
    assert cell(shares, 2, 2).max() > 240 and cell(shares, 2, 2).min() < 100  # the class never seen: 0.00 too


def test_a_confusion_matrix_colour_bar_says_what_each_shade_means(tmp_path):
    matrix = np.array([[80, 20], [40, 60]])
    confusion.confusion_matrix(matrix, ["a", "b"], tmp_path / "cm.png")
    sheet = confusion.layout(matrix, ["a", "b"], "t")
    pixels = np.asarray(Image.open(tmp_path / "cm.png").convert("RGB"), dtype=int)
    counts, shares = sheet.panels
    assert (counts.low, counts.high) == (20, 80) and (shares.low, shares.high) == (0.2, 0.8)  # as matplotlib's imshow
    for panel, ticks in ((counts, ["20", "40", "60", "80"]), (shares, ["0.2", "0.4", "0.6", "0.8"])):
        left, top, side, _ = panel.cells
        bar_left, bar_top, bar_width, bar_height = panel.bar
        shown = [t for t in sheet.texts if t.anchor == "lm" and t.x > bar_left and t.x < bar_left + 100]
        assert [t.text for t in shown] == ticks  # bottom up, round steps
        assert [t.y for t in shown] == sorted((t.y for t in shown), reverse=True)
        for row, column in ((0, 0), (0, 1), (1, 0), (1, 1)):  # each cell's shade is the bar's at its value
            value = panel.values[row, column]
            y = round(bar_top + bar_height - (value - panel.low) / (panel.high - panel.low) * bar_height)
            y = min(max(y, bar_top), bar_top + bar_height - 1)
            corner = pixels[top + row * side // 2 + 3, left + column * side // 2 + 3]
            assert np.abs(corner - pixels[y, bar_left + bar_width // 2]).max() <= 6


def test_a_confusion_matrix_of_many_classes_turns_its_labels_and_drops_the_numbers_past_twenty(tmp_path):
    twelve = confusion.layout(np.eye(12, dtype=int), [f"c{i}" for i in range(12)], "mine")
    twenty_one = confusion.layout(np.eye(21, dtype=int), [f"c{i}" for i in range(21)], "many")
    assert twelve.texts[0].text == "mine"
    assert {(t.angle, t.anchor) for t in twelve.texts if t.angle and t.text.startswith("c")} == {(90, "mt")}
    assert len(_texts(twelve, confusion.NUMBER_PX)) == 2 * 144 and not _texts(twenty_one, confusion.NUMBER_PX)
    # The picture grows with the classes: cells of 640 // n pixels, at least 18.
    assert [p.cells[2] for p in twelve.panels + twenty_one.panels] == [12 * 53] * 2 + [21 * 30] * 2
    many = confusion.layout(np.eye(100, dtype=int), [f"c{i}" for i in range(100)], "hundred")
    assert many.panels[0].cells[2] == 100 * 18 and many.size[0] > 2 * 1800
    confusion.confusion_matrix(np.eye(21, dtype=int), [f"c{i}" for i in range(21)], tmp_path / "b.png")
    assert Image.open(tmp_path / "b.png").size == twenty_one.size


def test_learning_curves_draw_each_metric_for_training_and_validation_by_epoch(tmp_path):
    history = [
        {"epoch": 1, "loss": 0.9, "accuracy": 0.6, "val_loss": 1.0, "val_accuracy": 0.55, "learning_rate": 0.1},
        {"epoch": 2, "loss": 0.5, "accuracy": 0.8, "val_loss": 0.7, "val_accuracy": 0.7, "learning_rate": 0.1},
    ]
    png = curves.learning_curves(history, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes() == png
    sheet, one = (
        curves.layout(history, "learning curves"),
        curves.layout([{"epoch": 1, "loss": 0.4, "epoch_seconds": 3.0}], "t"),
    )
    (loss, accuracy), (alone,) = sheet.panels, one.panels
    assert sheet.texts[0].text == "learning curves" and one.texts[0].text == "t"
    assert [t.text for t in sheet.texts if t.angle == 90] == ["loss", "accuracy"]  # each panel's y label
    assert [t.text for t in sheet.texts if t.px == curves.TITLE_PX] == ["learning curves", "loss", "accuracy"]
    assert loss.series == {"training": ([1, 2], [0.9, 0.5]), "validation": ([1, 2], [1.0, 0.7])}
    assert accuracy.series == {"training": ([1, 2], [0.6, 0.8]), "validation": ([1, 2], [0.55, 0.7])}
    assert alone.series == {"training": ([1], [0.4])}  # no validation series, no seconds panel
    assert alone.x_range == (0.5, 1.5) and loss.x_range == (0.5, 2.5)  # whole epochs, room at the ends
    assert [v for v, _ in alone.x_ticks] == [1] and [v for v, _ in loss.x_ticks] == [1, 2]
    low, high = loss.y_range
    assert low < 0.5 and high > 1.0 and all(low <= v <= high for v, _ in loss.y_ticks)  # every point shows
    # The PNG has each point where the layout puts it, in its series' colour, and the y labels
    # say the values at their ticks.
    pixels = np.asarray(Image.open(tmp_path / "curves.png").convert("RGB"), dtype=int)
    for name, (xs, ys) in loss.series.items():
        for x, y in zip(xs, ys):
            column, row = (round(c) for c in loss.at(x, y))
            assert np.abs(pixels[row, column] - np.array(matplotlib.colors.to_rgb(curves.SERIES[name])) * 255).max() < 4
    labels = {t.text: t.y for t in sheet.texts if t.anchor == "rm" and t.x < loss.area[0]}
    assert labels and all(abs(loss.at(0, float(text))[1] - y) < 1 for text, y in labels.items())


def test_learning_curves_leave_a_gap_for_an_epoch_without_a_value_and_keep_the_legend_off_the_points(tmp_path):
    """A rising curve fills the upper right, where a legend goes first: there it would hide the
    last epochs."""
    history = [{"epoch": e, "auc": e / 10, "val_auc": float("nan") if e == 3 else e / 11} for e in range(1, 6)]
    history[1]["auc"] = None
    (panel,) = curves.layout(history, "t").panels
    assert panel.series == {
        "training": ([1, 3, 4, 5], [0.1, 0.3, 0.4, 0.5]),
        "validation": ([1, 2, 4, 5], [1 / 11, 2 / 11, 4 / 11, 5 / 11]),
    }
    assert panel.at(5, 0.5)[1] < panel.at(1, 0.1)[1]  # higher values higher up
    curves.learning_curves(history, tmp_path / "c.png")
    pixels = np.asarray(Image.open(tmp_path / "c.png").convert("RGB"), dtype=int)
    orange = np.array(matplotlib.colors.to_rgb(curves.SERIES["validation"])) * 255
    (x2, y2), (x4, y4) = panel.at(2, 2 / 11), panel.at(4, 4 / 11)
    x3, y3 = round((x2 + x4) / 2), round((y2 + y4) / 2)  # where a line from epoch 2 to 4 would pass
    assert np.abs(pixels[y3 - 3 : y3 + 4, x3 - 3 : x3 + 4] - orange).sum(axis=-1).min() > 100
    left, top, width, height = panel.legend
    for xs, ys in panel.series.values():
        assert not any(
            left <= panel.at(x, y)[0] <= left + width and top <= panel.at(x, y)[1] <= top + height
            for x, y in zip(xs, ys)
        )


def test_compared_curves_draw_each_runs_validation_metric_by_epoch(drawn, tmp_path):
    histories = {
        "a": [{"epoch": 1, "accuracy": 0.5, "val_accuracy": 0.4}, {"epoch": 2, "accuracy": 0.6, "val_accuracy": 0.5}],
        "b": [{"epoch": 1, "accuracy": 0.7}],  # no validation data: its training accuracy
    }
    plots.compared_curves(histories, "accuracy", tmp_path / "c.png")
    (axis,) = drawn[0].axes
    assert (axis.get_title(), axis.get_xlabel(), axis.get_ylabel()) == (
        "validation accuracy per epoch",
        "epoch",
        "accuracy",
    )
    # a run without validation data is drawn with its training accuracy, and its legend says so
    assert _lines(axis) == {"a": ([1, 2], [0.4, 0.5]), "b (training: no validation data)": ([1], [0.7])}
    assert [t.get_text() for t in axis.get_legend().get_texts()] == ["a", "b (training: no validation data)"]
    assert [line.get_linestyle() for line in axis.get_lines()] == ["-", "--"]  # and its line is dashed


@pytest.mark.parametrize("spread", [(1e3, 1e5), (10.0, 40.0)], ids=["decades", "one decade"])
def test_the_tradeoff_marks_the_pareto_front_in_red_and_logs_a_cost_that_spans_decades(drawn, tmp_path, spread):
    low, high = spread
    points = {"small": (low, 0.90), "big": (high, 0.95), "worse": (high, 0.85)}
    plots.tradeoff(points, {"small", "big"}, tmp_path / "t.png", xlabel="parameters", ylabel="test accuracy")
    (axis,) = drawn[0].axes
    assert (axis.get_title(), axis.get_xlabel(), axis.get_ylabel()) == (
        "test accuracy against parameters",
        "parameters",
        "test accuracy",
    )
    assert axis.get_xscale() == ("log" if high / low > 10 else "linear")
    dots = {tuple(c.get_offsets()[0]): (_rgb(c.get_facecolor()[0][:3]), c.get_sizes()[0]) for c in axis.collections}
    red, grey = _rgb("tab:red"), _rgb("tab:gray")
    assert dots == {(low, 0.90): (red, 60), (high, 0.95): (red, 60), (high, 0.85): (grey, 30)}
    assert {t.get_text(): t.xy for t in axis.texts} == {label: point for label, point in points.items()}
    assert _lines(axis) == {"Pareto front": ([low, high], [0.90, 0.95])}  # cheapest first


def test_seed_spread_puts_each_group_on_its_row_with_its_seeds_mean_and_interval(drawn, tmp_path):
    groups = {
        "first": {"values": [0.9, 0.92, 0.94], "mean": 0.92, "low": 0.895, "high": 0.945},
        "second": {"values": [0.8, 0.85], "mean": 0.825, "low": None, "high": None},
    }
    plots.seed_spread(groups, tmp_path / "s.png", "test accuracy")
    (axis,) = drawn[0].axes
    assert axis.get_title() == "test accuracy: each seed (dots), mean and 95 % interval (blue)"
    assert axis.get_xlabel() == "test accuracy"
    # The first group on top: rows count from the bottom.
    assert [t.get_text() for t in axis.get_yticklabels()] == ["second", "first"]
    assert [c.get_offsets().tolist() for c in axis.collections] == [
        [[0.8, 0], [0.85, 0]],
        [[0.9, 1], [0.92, 1], [0.94, 1]],
    ]
    segments = [(list(line.get_xdata()), list(line.get_ydata())) for line in axis.get_lines()]
    assert segments == [
        ([0.825, 0.825], [-0.25, 0.25]),  # second: its mean only (it has no interval)
        ([0.895, 0.945], [1, 1]),  # first: the interval
        ([0.92, 0.92], [0.75, 1.25]),  # and the mean, a tick across its row
    ]
    assert axis.get_ylim() == pytest.approx((-0.6, 1.6))


def test_the_mistakes_gallery_places_each_image_under_its_title_with_its_grad_cam(tmp_path, monkeypatch):
    """Two mistakes of 4x4 grey images, each followed by its heat map: four tiles in a row of
    the sheet, each under its caption (the index, the true and predicted names and the
    confidence), read back from the PNG's pixels. Catches a tile placed off its box, a caption
    of the wrong image or not over its tile, a wrong count, pixels not grown whole."""
    images = np.zeros((5, 4, 4, 1), np.uint8)
    images[3, 1:3, 1:3] = 200  # a bright square in the middle of image 3
    images[1, 0, :] = 90  # a top row in image 1
    y_true, y_pred = np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 0, 1])
    probabilities = np.full((5, 3), 0.1)
    probabilities[3, 0], probabilities[1, 2] = 0.8, 0.6
    chosen = gallery.most_confident_mistakes(y_true, y_pred, probabilities)
    assert chosen.tolist() == [3, 1]  # the two mistakes, the more confident first
    heat = np.zeros((2, 4, 4))
    laid = []
    draw = gallery.draw
    monkeypatch.setattr(gallery, "draw", lambda sheet, tiles: laid.append(sheet) or draw(sheet, tiles))
    png = gallery.misclassified(
        images, y_true, y_pred, probabilities, ["a", "b", "c"], tmp_path / "m.png", chosen, heat
    )
    assert (tmp_path / "m.png").read_bytes() == png
    (sheet,) = laid
    assert [c.text for c in sheet.captions] == [
        "#3 true c\npred a (0.80)",
        "looks here for\na",
        "#1 true b\npred c (0.60)",
        "looks here for\nc",
    ]
    assert sheet.heading.text == (
        "most confidently misclassified test images (2 of 2 wrong), "
        "each beside its Grad-CAM heat map for the predicted class"
    )
    boxes = sheet.boxes
    assert len({(top, width, height) for _, top, width, height in boxes}) == 1  # one row, one size
    lefts = [left for left, *_ in boxes]
    assert lefts == sorted(lefts) and len(set(np.diff(lefts))) == 1  # in order, evenly spaced
    for caption, (left, top, width, _) in zip(sheet.captions, boxes):
        assert caption.x == left + width // 2 and caption.y < top  # centred over its own tile
    pixels = np.asarray(Image.open(tmp_path / "m.png").convert("L"), dtype=float) / 255
    scale = boxes[0][2] // 4  # 4 pixels grown by a whole factor
    assert boxes[0][2] == 4 * scale > 1

    def shown(box) -> np.ndarray:  # the tile back at its 4x4 size, one pixel per block
        left, top, width, height = box
        return pixels[top : top + height : scale, left : left + width : scale]

    first, second = shown(boxes[0]), shown(boxes[2])
    assert first[1:3, 1:3].min() == 1.0 and first[0].max() == 0.0  # image 3: its square, scaled to 1
    assert second[0].min() == 1.0 and second[1:].max() == 0.0  # image 1: its top row


def test_the_grad_cam_picture_shows_the_input_its_map_and_the_two_overlaid(drawn, tmp_path):
    image, heat = np.full((4, 6, 1), 100, np.uint8), np.linspace(0, 1, 24).reshape(4, 6)
    plots.gradcam(image, heat, tmp_path / "g.png", "class 3")
    figure = drawn[0]
    shown, maps, overlay = figure.axes[:3]
    assert [a.get_title() for a in (shown, maps, overlay)] == ["input", "Grad-CAM heat map", "overlay"]
    assert figure._suptitle.get_text() == "class 3"
    np.testing.assert_allclose(np.asarray(maps.get_images()[0].get_array()), heat)
    assert maps.get_images()[0].get_clim() == (0.0, 1.0)  # the map's own scale, not stretched
    assert np.asarray(overlay.get_images()[0].get_array()).shape == (4, 6, 3)
    # the colour bar reads the heat map: beside it, between it and the overlay, and narrow
    (bar,) = [axis for axis in figure.axes if axis not in (shown, maps, overlay)]
    assert maps.get_position().x1 <= bar.get_position().x0 < bar.get_position().x1 <= overlay.get_position().x0
    assert maps.get_position().width > 0.8 * shown.get_position().width


def test_filters_patterns_and_feature_maps_give_a_numbered_tile_each(drawn, tmp_path):
    kernel = np.zeros((3, 2, 2, 10), np.float32)  # 3 rows, 2 columns
    kernel[0, 0, :, 4] = [1.0, 3.0]  # filter 4: its corner the mean of its two inputs, 2
    plots.filters(kernel, tmp_path / "f.png", "conv2d")
    plots.patterns(np.zeros((3, 5, 5, 1)), tmp_path / "p.png", "conv2d_1")
    maps = np.arange(2 * 2 * 9, dtype=np.float32).reshape(2, 2, 9)
    plots.feature_maps(np.zeros((4, 4, 1)), [("conv", maps)], tmp_path / "fm.png", "what it sees", channels=3)
    filters, patterns, feature_maps = drawn
    assert filters._suptitle.get_text() == "conv2d: 10 learned 3x2 filters (bright = positive weight)"
    drawn_filters = [a for a in filters.axes if a.get_images()]
    assert [a.get_title() for a in drawn_filters] == [str(i) for i in range(10)]
    assert len(filters.axes) == 16  # two rows of 8, the last six blank
    tile = np.asarray(drawn_filters[4].get_images()[0].get_array())
    assert tile[0, 0] == 1.0 and tile.max() == 1.0 and tile[1:, :].max() == 0.0  # 2 scaled to 1, the rest 0
    assert {a.get_images()[0].get_cmap().name for a in drawn_filters} == {"gray"}  # one channel: grey, not viridis
    assert patterns._suptitle.get_text() == "conv2d_1: the input pattern that most excites each of its 3 filters"
    assert [a.get_title() for a in patterns.axes] == ["0", "1", "2"]
    assert feature_maps._suptitle.get_text() == "what it sees"
    rows = [[a.get_title() for a in feature_maps.axes[r * 3 : r * 3 + 3]] for r in range(2)]
    assert rows == [["input", "", ""], ["conv[0]", "1", "2"]]
    assert feature_maps.axes[0].get_images()[0].get_cmap().name == "gray"  # the input as it looked
    assert not any(axis.axison for axis in feature_maps.axes)  # tiles, no frames or ticks; blanks blank
    for column in range(3):
        shown = np.asarray(feature_maps.axes[3 + column].get_images()[0].get_array())
        np.testing.assert_array_equal(shown, maps[..., column])


def test_the_tradeoff_draws_each_runs_interval_and_numbers_its_points_beyond_eight(drawn, tmp_path):
    """Two runs three images apart on 10,000 (0.9809 and 0.9812): without the intervals the axis
    zooms into the gap and it looks large; with them, the bars overlap on the plot."""
    from scipy import stats

    two = {"a": (100.0, 0.9812), "b": (200.0, 0.9809)}
    wilson = {
        label: stats.binomtest(round(s * 10_000), 10_000).proportion_ci(method="wilson")
        for label, (_, s) in two.items()
    }
    intervals = {label: (ci.low, ci.high) for label, ci in wilson.items()}
    plots.tradeoff(two, {"a"}, tmp_path / "two.png", xlabel="parameters", ylabel="test accuracy", intervals=intervals)
    (axis,) = drawn[0].axes
    bars = {line.get_label(): list(line.get_ydata()) for line in axis.get_lines() if line.get_label().startswith("_95")}
    assert bars == {f"_95 % of {label}": list(intervals[label]) for label in two}
    low, high = axis.get_ylim()
    assert low <= min(lo for lo, _ in intervals.values()) and high >= max(hi for _, hi in intervals.values())
    assert axis.get_title() == "test accuracy against parameters (bars: 95 % intervals)"
    assert {t.get_text() for t in axis.texts} == {"a", "b"}  # few points: named beside them

    eight = {f"run{i:02d}": (1000.0 * (i + 1), 0.99 - 0.001 * i) for i in range(8)}
    plots.tradeoff(eight, {"run00"}, tmp_path / "eight.png", xlabel="parameters", ylabel="test accuracy")
    assert {t.get_text() for t in drawn[-1].axes[0].texts} == set(eight)  # up to eight: named, not numbered
    # a label in the right third of the plot stands left of its point, inside the frame
    sides = {t.get_text(): t.get_horizontalalignment() for t in drawn[-1].axes[0].texts}
    assert (sides["run00"], sides["run07"]) == ("left", "right"), sides

    many = {f"run{i:02d}": (1000.0 * (i + 1), 0.99 - 0.001 * i) for i in range(9)}
    plots.tradeoff(many, {"run00"}, tmp_path / "many.png", xlabel="parameters", ylabel="test accuracy")
    (axis,) = drawn[-1].axes
    numbers = {t.get_text(): t.xy for t in axis.texts if t.get_text().isdigit()}
    assert numbers == {str(i + 1): point for i, point in enumerate(many.values())}  # best first, as given
    (key,) = [t for t in axis.texts if not t.get_text().isdigit()]
    assert key.get_text().splitlines() == [f"{i + 1}  run{i:02d}" for i in range(9)]
    x, y = key.get_position()  # in the plot's own coordinates: beside its right edge, level with its top
    assert key.get_transform() == axis.transAxes and x > 1 and y == 1.0


def test_pictures_grow_with_what_they_hold_so_each_tile_row_and_key_keeps_its_size(drawn, tmp_path):
    """The bugs: a picture of fixed size whose tiles shrink as layers or channels are added, a
    row per group that thins as groups are added, a numbered key with no room beside the plot."""

    def size(draw) -> tuple[float, float]:
        draw()
        return tuple(drawn[-1].get_size_inches())

    def maps(channels: int, layers: int):
        activations = [(f"conv{i}", np.zeros((2, 2, 10), np.float32)) for i in range(layers)]
        return lambda: plots.feature_maps(np.zeros((4, 4, 1)), activations, tmp_path / "m.png", "t", channels=channels)

    (w3, h2), (w6, h3) = size(maps(3, 1)), size(maps(6, 2))
    assert (w3 / 3, h2 / 2) == pytest.approx((w6 / 6, h3 / 3))  # one tile's width and height either way
    plots.feature_maps(np.zeros((4, 4, 1)), [("conv", np.zeros((2, 2, 10)))], tmp_path / "m.png", "t")
    titles = [axis.get_title() for axis in drawn[-1].axes]
    assert len(titles) == 16 and titles[8:] == ["conv[0]", *map(str, range(1, 8))]  # the first eight maps by default

    def spread(count: int):
        groups = {f"g{i}": {"values": [0.9], "mean": 0.9, "low": None, "high": None} for i in range(count)}
        return lambda: plots.seed_spread(groups, tmp_path / "s.png", "test accuracy")

    (_, two), (_, four), (_, six) = size(spread(2)), size(spread(4)), size(spread(6))
    assert six > four > two and six - four == pytest.approx(four - two)  # the same height per group

    def points(count: int):
        made = {f"run{i:02d}": (1000.0 * (i + 1), 0.99 - 0.001 * i) for i in range(count)}
        return lambda: plots.tradeoff(made, set(), tmp_path / "t.png", xlabel="parameters", ylabel="test accuracy")

    (named, _), (numbered, nine), (_, forty) = size(points(8)), size(points(9)), size(points(40))
    assert numbered > named  # room for the numbered key beside the plot
    assert forty > nine  # and for its forty lines


def test_compared_curves_tell_twenty_runs_apart_and_keep_the_legend_off_the_curves(drawn, tmp_path):
    histories = {f"run{i:02d}": [{"epoch": 1, "val_accuracy": 0.9 + i / 1000}] for i in range(20)}
    plots.compared_curves(histories, "accuracy", tmp_path / "c.png")
    (axis,) = drawn[0].axes
    styles = [(line.get_color(), line.get_marker()) for line in axis.get_lines()]
    assert len(set(styles)) == 20  # ten colours would repeat: a new marker with each round
    anchor = axis.get_legend().get_bbox_to_anchor().transformed(axis.transAxes.inverted())
    assert anchor.x0 > 1  # beside the plot, not over it
