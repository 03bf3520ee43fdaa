"""Transfer learning as config: `model.init_from` copies a trained model's weights layer by
layer into the new one, and `model.freeze` keeps chosen layers as they are while training.

A layer is copied when the source has a layer of the same class at the same position with
weights of the same shapes, so "keep the convolution and pooling layers, switch the dense
head" is a config whose head differs. What was copied, skipped (and why) and frozen is
returned for the manifest.

    >>> describe([{"layer": "conv2d", "copied": True}, {"layer": "dense", "copied": False,
    ...           "why": "weight shapes differ"}], ["conv2d"])
    'copied conv2d; skipped dense (weight shapes differ); frozen conv2d'
"""

from __future__ import annotations

from pathlib import Path

import keras

from cnnlab.config import LocatedConfig, with_values
from cnnlab.errors import CnnlabError, ConfigError, did_you_mean
from cnnlab.model.applications import keep_scaling_fixed
from cnnlab.model.compiling import compile_model
from cnnlab.storage.folders import RunFolder
from cnnlab.storage.lookup import find_run

WHERE = ("model", "init_from")


def initialise(cfg: LocatedConfig, model: keras.Model, check_only: bool = False) -> dict | None:
    """Copy weights from `model.init_from` and freeze `model.freeze` before compiling; the
    record for the manifest, or None when the config asks for neither. With `check_only`, a
    source run that is not there yet but has its config beside this one (init_from: mnist_fast
    and configs/mnist_fast.yaml) is a note ("unchecked") rather than an error."""
    spec = cfg.model
    if cfg.train.fine_tune is not None and spec.freeze is None:
        raise ConfigError(
            cfg.problem(
                ("train", "fine_tune"),
                "fine_tune unfreezes the layers that model.freeze keeps, and this config freezes none",
                "add model.freeze (copied, or layer names), or remove train.fine_tune",
            )
        )
    if spec.init_from is None and spec.freeze is None:
        return None
    layers: list[dict] = []
    source = None
    if spec.init_from is not None:
        try:
            source = source_checkpoint(cfg)
        except ConfigError:
            written_in = cfg.locate(WHERE)[0]
            config = Path(written_in).parent / f"{spec.init_from}.yaml" if written_in else None
            if not (check_only and config and config.is_file()):
                raise
            note = f"model.init_from {spec.init_from}: no run yet, so nothing was copied; train {config} first"
            return {"source": None, "layers": [], "frozen": [], "unchecked": note}
        layers = copy_weights(model, _load(cfg, source))
        if not any(record["copied"] for record in layers):
            reasons = "; ".join(f"{r['layer']}: {r['why']}" for r in layers[:3]) or "the model has no weights"
            raise ConfigError(
                cfg.problem(
                    WHERE,
                    f"no layer of {source} fits this model ({reasons})",
                    "layers match by position, class and weight shapes: keep the source's first layers as they were",
                )
            )
    frozen = freeze(cfg, model, [r["layer"] for r in layers if r["copied"]])
    return {"source": str(source) if source else None, "layers": layers, "frozen": frozen}


def source_checkpoint(cfg: LocatedConfig) -> Path:
    """The .keras file that `model.init_from` names: a file, a run folder or a run name in
    runs/ (its best checkpoint)."""
    target = cfg.model.init_from
    path = Path(target)
    if path.suffix == ".keras":
        if path.is_file():
            return path
        raise ConfigError(
            cfg.problem(WHERE, f"{target} does not exist", "give a .keras file, a run folder or a run name")
        )
    try:
        run = RunFolder(find_run(target, Path("runs"), checkpoint="best"))
    except CnnlabError as error:
        raise ConfigError(
            cfg.problem(WHERE, f"{target!r} is not a .keras file, a run folder or a run name in runs/", str(error))
        ) from None
    best = run.checkpoint("best")
    if not best.is_file():
        raise ConfigError(cfg.problem(WHERE, f"{run} has no {best.name}", "train it first, or name another run"))
    return best


def _load(cfg: LocatedConfig, path: Path) -> keras.Model:
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # a truncated or foreign file: say which, not a traceback
        raise ConfigError(cfg.problem(WHERE, f"{path} cannot be loaded as a Keras model ({error})")) from None


def copy_weights(model: keras.Model, source: keras.Model) -> list[dict]:
    """Copy each layer with weights whose counterpart in `source` (same position, class and
    weight shapes) matches; one record per such layer: copied, or skipped and why."""
    records = []
    for index, layer in enumerate(model.layers):
        if not layer.weights:
            continue
        record = {"layer": layer.name, "index": index, "copied": False}
        other = source.layers[index] if index < len(source.layers) else None
        mine = [tuple(w.shape) for w in layer.weights]
        if other is None:
            record["why"] = f"the source has only {len(source.layers)} layers"
        elif type(other) is not type(layer):
            record["why"] = f"the source's layer {index} is {type(other).__name__}, not {type(layer).__name__}"
        elif [tuple(w.shape) for w in other.weights] != mine:
            theirs = [tuple(w.shape) for w in other.weights]
            record["why"] = f"weight shapes {_shapes(mine)} differ from the source's {_shapes(theirs)}"
        else:
            layer.set_weights(other.get_weights())
            record["copied"] = True
        records.append(record)
    return records


def freeze(cfg: LocatedConfig, model: keras.Model, copied: list[str]) -> list[str]:
    """Make the layers named by `model.freeze` untrainable ("copied": those copied; or a list
    of layer names and indices); their names."""
    spec = cfg.model.freeze
    if spec is None:
        return []
    if spec == "copied":
        if cfg.model.init_from is None:
            raise ConfigError(cfg.problem(("model", "freeze"), "freeze: copied needs model.init_from"))
        chosen = copied
    else:
        names = [layer.name for layer in model.layers]
        chosen = []
        for position, item in enumerate(spec):
            if isinstance(item, int) and -len(names) <= item < len(names):
                chosen.append(names[item])
            elif isinstance(item, str) and item in names:
                chosen.append(item)
            else:
                hint = did_you_mean(str(item), names) or "layers: " + ", ".join(names)
                raise ConfigError(cfg.problem(("model", "freeze", position), f"no layer {item!r} in this model", hint))
    for layer in model.layers:
        if layer.name in chosen:
            layer.trainable = False
    return [name for name in (layer.name for layer in model.layers) if name in chosen]


def fine_tuning(cfg: LocatedConfig, model: keras.Model) -> LocatedConfig:
    """Start `train.fine_tune`'s phase: make every layer trainable and compile again with the
    optimizer at the phase's learning rate. Returns the config of the phase.

    Keras reads `trainable` when it compiles, so the new optimizer covers every weight."""
    rate = cfg.train.fine_tune.learning_rate
    tuned = with_values(cfg, {"train.optimizer.learning_rate": rate}, ("train", "fine_tune"))
    for layer in model.layers:
        layer.trainable = True
    keep_scaling_fixed(model)
    compile_model(model, tuned)
    return tuned


def describe(layers: list[dict], frozen: list[str]) -> str:
    """One line for people: what was copied, skipped (why) and frozen."""
    parts = []
    copied = [r["layer"] for r in layers if r["copied"]]
    skipped = [f"{r['layer']} ({r['why']})" for r in layers if not r["copied"]]
    if copied:
        parts.append("copied " + ", ".join(copied))
    if skipped:
        parts.append("skipped " + ", ".join(skipped))
    if frozen:
        parts.append("frozen " + ", ".join(frozen))
    return "; ".join(parts)


def _shapes(shapes: list[tuple]) -> str:
    """ "(2352, 128) and (128,)": every weight's shape, as a kernel alone and a kernel with its
    bias differ in their count, not in their first shape."""
    return " and ".join(map(str, shapes)) or "none"
