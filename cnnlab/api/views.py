"""Looking at configs and runs from Python: a model's summary, runs compared with McNemar's test,
predictions on image files, a resolved config; each shown inline in Jupyter where it has a look.

    >>> import cnnlab
    >>> cnnlab.summary({"model": {"layers": ["Flatten", {"Dense": {"units": 10}}]}}).total_params
    7850
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cnnlab.api.arguments import checked
from cnnlab.api.configs import Config, Overrides, resolve
from cnnlab.api.groups import Group
from cnnlab.api.runs import Run
from cnnlab.errors import ConfigError, Problem, RunError
from cnnlab.reporting import compare as comparing
from cnnlab.reporting import compare_groups as grouped
from cnnlab.reporting.compare import PairTest, RunRow
from cnnlab.reporting.compare_report import compare_page, write_compare_report
from cnnlab.reporting.report import to_fragment, to_markdown
from cnnlab.runtime.startup import start_keras
from cnnlab.storage.folders import GroupFolder, RunFolder
from cnnlab.storage.lookup import find_run


@dataclass(frozen=True)
class Summary:
    """Per-layer output shapes, parameters, MACs and receptive fields of a config's model."""

    name: str
    input_shape: tuple
    rows: list  # one LayerRow per layer: name, class_name, output_shape, params, macs, receptive_field
    total_params: int
    trainable_params: int
    non_trainable_params: int
    macs: int  # multiply-accumulates per example, convolutions and dense layers
    source: str  # the config file it was built from, or "a mapping"

    def __repr__(self) -> str:
        return f"Summary({self.name!r}, {len(self.rows)} layers, {self.total_params:,} parameters, {self.macs:,} MACs)"

    def to_dict(self) -> dict:
        """What `cnnlab summary --json` prints."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "layers": [{**asdict(row), "params": row.params} for row in self.rows],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.macs,
        }

    def _repr_html_(self) -> str:
        header = ["layer", "type", "output", "parameters", "MACs", "receptive field"]
        rows = [
            [r.name, r.class_name, "x".join(map(str, r.output_shape[1:])), r.params, r.macs, _field(r.receptive_field)]
            for r in self.rows
        ]
        rows.append(["total", "", "", self.total_params, self.macs, ""])
        return to_fragment(
            [("h2", f"{self.name}: input {'x'.join(map(str, self.input_shape))}"), ("table", (header, rows))], {}
        )


def _field(size) -> str:
    return "x".join(map(str, size)) if size else "-"


@checked
def summary(
    config: Config | Run | None = None, *, overrides: Overrides = None, runs_dir: str | os.PathLike = "runs"
) -> Summary:
    """The layers of a config's model (a YAML file, a mapping, a `Run`, a run's folder or name,
    or nothing: the newest run), built without data or pretrained weights: nothing is read or
    downloaded."""
    if isinstance(config, Run):
        config = RunFolder(config.path).config_file
    elif config is None or isinstance(config, (str, os.PathLike)) and Path(config).suffix not in (".yaml", ".yml"):
        config = RunFolder(find_run(None if config is None else str(config), Path(runs_dir))).config_file
    cfg = resolve(config, overrides)
    source = "a mapping" if isinstance(config, dict) else str(config)
    start_keras()  # TensorFlow, whatever the config asks for: shapes are the same on any backend
    from cnnlab.data import dataset_info
    from cnnlab.model.build import build_model  # imports Keras: after start_keras
    from cnnlab.model.summary import summarize

    found = summarize(build_model(cfg, dataset_info(cfg, missing_ok=True), pretrained=False))
    return Summary(
        found.name,
        found.input_shape,
        found.rows,
        found.total_params,
        found.trainable_params,
        found.non_trainable_params,
        found.total_macs,
        source,
    )


@dataclass(frozen=True)
class Comparison:
    """Runs side by side, best first by `metric`, and McNemar's exact test for every pair that
    was evaluated on the same test set: `pairs[i].p_value`, with `only_a` and `only_b` the
    examples only one of the two gets right."""

    rows: list[RunRow]
    pairs: list[PairTest]
    metric: str
    skipped: list[str] = field(default_factory=list)  # runs in a folder left out: their files are damaged

    def __repr__(self) -> str:
        best = self.rows[0] if self.rows else None
        score = best.metrics.get(self.metric) if best else None
        lead = f", best {best.label} ({self.metric} {score:.4f})" if isinstance(score, float) else ""
        return f"Comparison({len(self.rows)} runs, {len(self.pairs)} pairs{lead})"

    def write(self, folder: str | os.PathLike) -> tuple[Path, Path]:
        """compare.md and a self-contained compare.html, with their pictures, in `folder`."""
        return write_compare_report(self.rows, self.pairs, self.metric, Path(folder))

    def csv(self) -> str:
        return comparing.as_csv(self.rows)

    def markdown(self) -> str:
        return comparing.as_markdown(self.rows, self.pairs)

    def plot(self, path: str | os.PathLike) -> Path:
        """The runs' validation curves of `metric` on one plot (PNG)."""
        from cnnlab.reporting import plots

        plots.compared_curves({row.label: row.run.history for row in self.rows}, self.metric, Path(path))
        return Path(path)

    def best_score(self) -> float | None:
        """The best run's `metric`, or None when it has none."""
        score = self.rows[0].metrics.get(self.metric) if self.rows else None
        return score if isinstance(score, (int, float)) else None

    def to_dict(self) -> dict:
        """What `cnnlab compare --json` prints: the rows, and each pair's McNemar test."""
        return {
            "metric": self.metric,
            "runs": [dict(zip(comparing.COLUMNS, row.values())) | {"path": str(row.run.path)} for row in self.rows],
            "pairs": [{**asdict(pair), "p_mcnemar": pair.p_value} for pair in self.pairs],
        }

    def _repr_html_(self) -> str:
        with tempfile.TemporaryDirectory() as pictures:
            return to_fragment(*compare_page(self.rows, self.pairs, self.metric, Path(pictures)))


@dataclass(frozen=True)
class GroupComparison:
    """Groups of runs (one config, several seeds each) side by side, best mean first, and for
    each pair Welch's t-test across seeds with McNemar's test per seed pair beside it."""

    rows: list[grouped.GroupRow]
    pairs: list[grouped.GroupPair]
    metric: str

    def __repr__(self) -> str:
        return f"GroupComparison({len(self.rows)} groups, {len(self.pairs)} pairs)"

    def best_score(self) -> float | None:
        """The best group's mean `metric`, or None when it has none."""
        return self.rows[0].scores.get(self.metric, {}).get("mean") if self.rows else None

    def verdicts(self) -> list[str]:
        """Each pair's verdict in words: whether the difference holds across seeds."""
        return [grouped.verdict(pair, self.metric) for pair in self.pairs]

    def to_dict(self) -> dict:
        return grouped.as_dict(self.rows, self.pairs, self.metric)

    def write(self, folder: str | os.PathLike) -> tuple[Path, Path]:
        return grouped.write_group_report(self.rows, self.pairs, self.metric, Path(folder))

    def csv(self) -> str:
        return grouped.as_csv(self.rows, self.metric)

    def markdown(self) -> str:
        return to_markdown(grouped.group_blocks(self.rows, self.pairs, self.metric, []))

    def _repr_html_(self) -> str:
        with tempfile.TemporaryDirectory() as pictures:
            return to_fragment(*grouped.group_page(self.rows, self.pairs, self.metric, Path(pictures)))


@checked
def compare(
    runs: Iterable[Run | Group | str | os.PathLike], *, runs_dir: str | os.PathLike = "runs", metric: str = "accuracy"
) -> Comparison | GroupComparison:
    """Compare runs (`Run`s, run folders, config names for their newest run, or folders that
    hold runs) with McNemar's exact test per pair on a shared test set; or groups of runs
    (`Group`s or their folders, from `train --repeat`) with Welch's t-test across seeds.

    >>> import cnnlab
    >>> cnnlab.compare(["mnist_baseline", "mnist_dropout"]).pairs[0].p_value  # doctest: +SKIP
    0.35...
    """
    targets = [str(run.path) if isinstance(run, (Run, Group)) else str(run) for run in runs]
    if not targets:
        raise ConfigError(
            Problem("nothing to compare", key="runs", hint="give runs, groups, config names or a folder of runs")
        )
    groups = [GroupFolder(t) for t in targets if GroupFolder.holds_group(t)]
    if groups and len(groups) < len(targets):
        single = next(t for t in targets if not GroupFolder.holds_group(t))
        raise ConfigError(
            f"{single} is not a group of runs: compare groups with groups — train it with --repeat, "
            "or compare single runs without the groups"
        )
    if groups:
        rows = grouped.sort_groups(grouped.named_by_config([grouped.group_row(group) for group in groups]), metric)
        return GroupComparison(rows, grouped.group_pairs(rows, metric), metric)
    rows, skipped = comparing.rows_of(targets, Path(runs_dir))
    if skipped and not rows:
        raise RunError([Problem(line) for line in skipped] + [Problem("no run left to compare")])
    rows = comparing.sort_rows(rows, metric)
    return Comparison(rows, comparing.pair_tests(rows), metric, skipped)


@checked
def predict(
    model: Run | str | os.PathLike,
    images: Iterable[str | os.PathLike],
    *,
    top: int = 3,
    convert: bool = False,
    invert: bool = False,
    runs_dir: str | os.PathLike = "runs",
) -> list[dict]:
    """Classify image files (folders are expanded) with a run's best model, or with a model that
    `cnnlab export` wrote; per image, its `top` classes, most probable first.

    >>> import cnnlab
    >>> cnnlab.predict("mnist_fast", ["digit.png"])[0]["predicted"]  # doctest: +SKIP
    '7'
    """
    from cnnlab.reporting.artifacts import artifact_format

    target = model.path if isinstance(model, Run) else Path(model)
    if artifact_format(target) is None:
        target = RunFolder(find_run(str(target), Path(runs_dir), checkpoint="best"))
    start_keras()
    from cnnlab.engine.predict import predict_images  # imports Keras: after start_keras

    return predict_images(target, list(images), top=top, convert=convert, invert=invert)


@checked
def config_yaml(config: Config, *, overrides: Overrides = None) -> str:
    """The fully resolved config (base: merged, overrides applied, defaults filled in) as YAML.

    >>> import cnnlab
    >>> print(cnnlab.config_yaml({"name": "x", "model": {"layers": ["Flatten"]}}).splitlines()[0])
    name: x
    """
    return resolve(config, overrides).to_yaml()
