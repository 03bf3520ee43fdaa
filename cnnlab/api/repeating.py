"""A config trained with several seeds, one run folder each, beside a group folder that names
them and summarises their scores (`cnnlab train --repeat N`, `--seeds`, `--resume GROUP`); what
`cnnlab.train(config, repeat=N)` and `tune --confirm` call.

    >>> from cnnlab.config import LocatedConfig
    >>> cfg = LocatedConfig.model_validate({"name": "x", "seed": 7, "model": {"layers": ["Flatten"]}})
    >>> seeds_of(cfg, 3), seeds_of(cfg, [1, 5]), seeds_of(cfg, None)
    ([7, 8, 9], [1, 5], None)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from cnnlab.api.progress import Progress
from cnnlab.api.trainer import train_config
from cnnlab.config import LocatedConfig, load_config
from cnnlab.errors import ConfigError, Interrupted, Problem, RunFailed
from cnnlab.hints import next_step, resume_step
from cnnlab.reporting.groups import group_markdown, group_summary, in_words
from cnnlab.runtime.processes import PeerLost
from cnnlab.runtime.startup import start_keras
from cnnlab.schema import LARGEST_SEED
from cnnlab.storage.folders import GroupFolder
from cnnlab.storage.lookup import create_run_folder

Seeds = int | Sequence[int] | None  # how many runs (seed, seed + 1, ...), or their seeds, or one run


def seeds_of(cfg: LocatedConfig, seeds: Seeds) -> list[int] | None:
    """The seeds of a group of runs of `cfg`: n of them from the config's own seed up, or those
    given; None for a single run. Refused (`ConfigError` at `repeat` or `seeds`, which the CLI
    shows as --repeat and --seeds) before any folder exists: no runs, too many, a seed out of
    range or given twice."""
    if seeds is None:
        return None
    if isinstance(seeds, int):
        if not 1 <= seeds <= MOST_RUNS:
            raise ConfigError(
                Problem(
                    f"a group has 1 to {MOST_RUNS:,} runs, not {seeds:,}",
                    key="repeat",
                    hint="for more, train several groups and compare them",
                )
            )
        listed = [cfg.seed + i for i in range(seeds)]
        if listed[-1] > LARGEST_SEED:
            raise ConfigError(
                Problem(
                    f"seeds {cfg.seed} to {listed[-1]} pass the largest seed, {LARGEST_SEED}",
                    key="repeat",
                    hint="set a lower seed: --set seed=0",
                )
            )
        return listed
    listed = [int(seed) for seed in seeds]
    problem = _seeds_problem(listed)
    if problem:
        raise ConfigError(
            Problem(problem, key="seeds", hint=f"give distinct seeds from 0 to {LARGEST_SEED}, such as 1,2,3")
        )
    return listed


MOST_RUNS = 1000  # a group's runs are listed and summarised in one table and one JSON file


def _seeds_problem(seeds: list[int]) -> str | None:
    repeated = sorted(seed for seed, times in Counter(seeds).items() if times > 1)  # one pass: --seeds may be huge
    outside = [seed for seed in seeds if not 0 <= seed <= LARGEST_SEED]
    if not seeds:
        return "no seed given"
    if outside:
        return f"seed {outside[0]} is not between 0 and {LARGEST_SEED}"
    if repeated:
        return f"seed {repeated[0]} is given twice"
    if len(seeds) > MOST_RUNS:
        return f"{len(seeds):,} seeds: a group has at most {MOST_RUNS:,} runs"
    return None


def train_group(cfg: LocatedConfig, seeds: list[int], runs_dir: Path, show: Progress) -> Path:
    """Train `cfg` once per seed, each into a run folder of its own, beside a group folder whose
    `group.json` names the runs and summarises their test scores (rewritten after every run, so
    it is true however the group ends). A run that fails does not stop the ones after it;
    Ctrl-C stops the group, raising `Interrupted` with `.runs` holding the group folder, which
    `resume_group` finishes."""
    if cfg.runtime.distribute == "data_parallel":  # every process would have to repeat in step
        raise ConfigError(
            cfg.problem(("runtime", "distribute"), "data_parallel trains one run per command", "train without --repeat")
        )
    group = GroupFolder(create_run_folder(runs_dir, cfg.name, suffix=f"-x{len(seeds)}"))
    group.save_config(cfg.to_yaml())
    members = [{"seed": seed, "run": None, "status": "not started"} for seed in seeds]
    show.say(f"training {cfg.name} with seeds {', '.join(map(str, seeds))} -> {group}")
    return _train_members(cfg, group, members, runs_dir, show)


def resume_group(path: Path, runs_dir: Path, show: Progress) -> Path:
    """Finish a group that was stopped: its completed runs are kept, a stopped run is resumed
    from its last epoch, and the seeds not started yet are trained."""
    from cnnlab.engine.resume import resumable  # reads configs only

    group = GroupFolder(path)
    cfg = load_config(group.config_file)
    members = group.summary["runs"]
    group.require_runs(
        members,
        hint="put it back, or train the group anew: "
        + next_step(
            f"cnnlab train {group.config_file} --seeds {','.join(str(m['seed']) for m in members)}",
            f"cnnlab.train({str(group.config_file)!r}, seeds={[m['seed'] for m in members]})",
        ),
    )
    done = sum(m["status"] == "completed" for m in members)
    show.say(f"resuming the group {group}: {done} of {len(members)} runs completed")
    start_keras(cfg)
    for member in members:
        if member["run"] and member["status"] != "completed":
            if group.run(member["run"]).manifest.get("status") == "completed":  # resumed on its own since
                member["status"] = "completed"
            else:
                member["resume"] = resumable(str(group.run(member["run"]).path), None, [], runs_dir)[0]
    return _train_members(cfg, group, members, runs_dir, show)


def _train_members(cfg: LocatedConfig, group: GroupFolder, members: list[dict], runs_dir: Path, show: Progress) -> Path:
    manifests = {m["run"]: group.run(m["run"]).manifest for m in members if m["status"] == "completed"}

    def record(status: str) -> None:
        kept = [{k: v for k, v in m.items() if k != "resume"} for m in members]
        summary = group_summary(cfg.name, str(cfg._source or group.config_file), kept, manifests, status)
        group.write(summary, group_markdown(summary, manifests))

    record("running")
    for index, member in enumerate(members):
        if member["status"] == "completed":
            continue
        show.say(f"\n[seed {member['seed']}: run {index + 1} of {len(members)}]")
        seeded = cfg.model_copy(update={"seed": member["seed"]}, deep=True)
        try:
            path = train_config(seeded, member.pop("resume", None), runs_dir, show)
        except Interrupted as error:
            member.update(run=error.run and Path(error.run).name, status="interrupted")
            record("interrupted")
            what = error.problems[0].message.split(" — ")[0] if error.problems else "interrupted"
            stopped = Interrupted(
                f"{what} (seed {member['seed']}) — resume the group with: {resume_step(group)}", run=error.run
            )
            stopped.runs = [group.path]
            raise stopped from None
        except (RunFailed, PeerLost) as error:
            member.update(run=error.run and Path(error.run).name, status="failed")
            show.error(error)
        else:
            member.update(run=path.name, status="completed")
            manifests[path.name] = group.run(path.name).manifest
        record("running")
    record("completed" if all(m["status"] == "completed" for m in members) else "incomplete")
    show.say(f"\n{cfg.name}, {len(members)} seeds: {in_words(group.summary)}")
    return group.path
