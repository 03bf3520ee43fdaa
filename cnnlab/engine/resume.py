"""What `--resume` may continue: a run that did not complete, with the model, the data and the
seed its finished epochs had (the seed draws the validation split and the shuffles)."""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from cnnlab.config import LocatedConfig, load_config
from cnnlab.errors import ConfigError, Problem
from cnnlab.storage.folders import RunFolder
from cnnlab.storage.lookup import find_run

_KEPT = ("model", "data", "seed")


def resumable(
    target: str, config_path: Path | None, overrides: list[str], runs_dir: Path
) -> tuple[RunFolder, LocatedConfig]:
    """The run folder that `target` names (a folder or a run name) and the config to go on
    with: the run's own, or `config_path`, with `overrides`; refused where it would change what
    the finished epochs were trained on."""
    run = RunFolder(find_run(target, runs_dir))
    if run.manifest.get("status") == "completed":
        raise ConfigError(f"{run}: this run already completed all its epochs — nothing to resume")
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
    return run, cfg
