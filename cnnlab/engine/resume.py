"""What `--resume` may continue: a run that did not complete, or a completed one given more
epochs, with the model, the data and the seed its finished epochs had (the seed draws the
validation split and the shuffles)."""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from cnnlab.config import LocatedConfig, load_config
from cnnlab.errors import ConfigError, Problem, RunError
from cnnlab.hints import next_step, resume_step
from cnnlab.storage.folders import RunFolder
from cnnlab.storage.lookup import find_run

_KEPT = ("model", "data", "seed")
# Step-sized schedules that end: sized for the run's old length, they would run every new epoch
# at their final rate.
_ENDING_SCHEDULES = ("CosineDecay", "PolynomialDecay", "PiecewiseConstantDecay", "CosineDecayRestarts")


def resumable(
    target: str, config_path: Path | None, overrides: list[str], runs_dir: Path
) -> tuple[RunFolder, LocatedConfig]:
    """The run folder that `target` names (a folder or a run name) and the config to go on
    with: the run's own, or `config_path`, with `overrides`; refused where it would change what
    the finished epochs were trained on. A completed run goes on only when the config asks for
    more epochs than it has (`--epochs N`): from its last epoch, with its optimizer's state."""
    run = RunFolder(find_run(target, runs_dir))
    saved = run.load_config()
    if config_path is None and not overrides:
        cfg = saved
    else:
        cfg = load_config(config_path or run.config_file, overrides)
    for section in _KEPT:
        before = yaml.safe_dump(saved.model_dump(mode="json")[section], sort_keys=False).splitlines()
        after = yaml.safe_dump(cfg.model_dump(mode="json")[section], sort_keys=False).splitlines()
        if before != after:
            diff = "\n".join(
                difflib.unified_diff(before, after, str(run.config_file), str(config_path or "--set"), lineterm="")
            )
            raise ConfigError(
                Problem(
                    f"cannot resume: the {section} {'value' if section == 'seed' else 'section'} "
                    f"differs from the run's\n{diff}",
                    hint="train a new run instead, without --resume",
                )
            )
    if run.manifest.get("training_finished"):
        _check_extension(run, saved, cfg)
    _check_files(run, cfg)
    return run, cfg


def extends(run: RunFolder, cfg: LocatedConfig) -> bool:
    """Whether resuming `run` with `cfg` trains a completed run further (`--epochs N`): that
    happens in a copy of the run (`storage.extension`), not in the run itself."""
    done = int(run.manifest.get("epochs_completed") or 0)
    return run.manifest.get("status") == "completed" and cfg.train.total_epochs > done


def _check_files(run: RunFolder, cfg: LocatedConfig) -> None:
    """Refuse, before anything is written, a run whose files cannot take it further: its history
    unreadable, or the last epoch's model it would go on from missing or damaged."""
    history = run.history  # a damaged history.csv is named here, with its line
    done = int(run.manifest.get("epochs_completed") or len(history))
    if len(history) < done:
        raise RunError(
            f"{run.path / run.HISTORY}: {len(history)} epochs recorded, but the manifest says {done} finished — "
            "the history was cut short or edited; restore it, or train a new run"
        )
    if history and not run.has_backup() and (problem := run.unreadable("last")):
        raise RunError(
            f"{run}: {problem}, and the run goes on from its last epoch's model and optimizer — "
            "train a new run with the epochs you want: "
            + next_step(
                f"cnnlab train {run.config_file} --epochs {cfg.train.total_epochs}",
                f"cnnlab.train({str(run.config_file)!r}, overrides={{'train.epochs': {cfg.train.total_epochs}}})",
            )
        )


def _check_extension(run: RunFolder, saved: LocatedConfig, cfg: LocatedConfig) -> None:
    """Refuse to continue a run whose training finished unless it can honestly go on: more
    epochs asked for, no fine-tuning phase behind it, and no schedule sized to its old length."""
    done = int(run.manifest.get("epochs_completed") or len(run.history))
    if cfg.train.total_epochs <= done:
        if run.manifest.get("status") != "completed":
            return  # it stopped during its test evaluation: resuming evaluates it
        raise ConfigError(
            Problem(
                f"{run}: this run already completed all its {done} epochs — nothing to resume",
                hint=f"to train it further, ask for more: {resume_step(run, 2 * done)}",
            )
        )
    if saved.train.fine_tune is not None or cfg.train.fine_tune is not None:
        raise ConfigError(
            cfg.problem(
                ("train", "fine_tune"),
                "a run with a fine-tuning phase cannot be given more epochs (its phases are over)",
                "train a new run with the epochs you want",
            )
        )
    if cfg.runtime.distribute == "data_parallel":
        raise ConfigError(
            cfg.problem(
                ("runtime", "distribute"),
                "a data_parallel run cannot be given more epochs once its training finished",
                "train a new run with the epochs you want",
            )
        )
    rate = cfg.train.optimizer.arguments.get("learning_rate")
    name = next(iter(rate)) if isinstance(rate, dict) and len(rate) == 1 else None
    unchanged = rate == saved.train.optimizer.arguments.get("learning_rate")
    if name in _ENDING_SCHEDULES and unchanged:
        raise ConfigError(
            cfg.problem(
                ("train", "optimizer", "learning_rate", name),
                f"{name} counts steps and was sized for this run's {done} epochs: "
                f"epochs {done + 1}-{cfg.train.total_epochs} would all run at its final rate",
                "write the rate as a fraction of the run, which stretches to the new length "
                "(learning_rate: {warmup_cosine: {peak: 1.0e-3, warmup: 0.05}}), or size "
                f"{name} for {cfg.train.total_epochs} epochs with --set",
            )
        )
