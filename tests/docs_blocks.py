"""How the suite runs the code blocks of README.md and docs/*.md (tests/test_docs.py).

Sybil finds the fenced blocks and keeps one namespace per page; the evaluators here say what
running a block means, in a scratch folder that holds `configs/` as tiny copies of the shipped
ones (synthetic images of the same shape, one epoch, two search trials), so a page's commands
run as written in seconds instead of hours:

- `sh`: every command line, in order. `cnnlab ...` (or `.venv/bin/cnnlab`, `python -m cnnlab`)
  runs in this process through click and must exit 0; a `<placeholder>` or `*` in a path is a
  glob, the newest match. `make TARGET` must name a target of the Makefile, a script path must
  exist. A block after `<!-- docs: parse only: WHY -->` (several machines, a SLURM job) has its
  cnnlab commands parsed by click, which refuses an unknown option or value, and nothing runs.
- `python`: run, with the page's earlier Python blocks' names in scope.
- `yaml`: a config with a `name:` must equal the shipped config of that name; a fragment is
  laid over `configs/mnist_baseline.yaml` and must load (cnnlab's schema: keys, types, ranges).
- `text`: shown output or a file listing, not run; after `<!-- docs: output of the command
  above -->` it must equal what that command printed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shlex
from pathlib import Path

import yaml
from click.testing import CliRunner
from sybil import Example, Sybil
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser

from tests.conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LANGUAGES = {"sh", "python", "yaml", "text"}
PROGRAMS = ("cnnlab", ".venv/bin/cnnlab", "python -m cnnlab")
SHAPES = {"cifar10": [32, 32, 3], "cifar100": [32, 32, 3]}


def tiny_config(path: Path) -> dict:
    """A shipped config as the docs' scratch folder holds it: the same model and training, on
    synthetic images of the data set's shape, one epoch (fine-tuning too), two search trials."""
    raw = yaml.safe_load(path.read_text())
    data = raw.setdefault("data", {})
    classes = (
        8 if "image_folder" in str(data.get("dataset", "")) or raw.get("base", "").startswith("image_folder") else 10
    )
    shape = SHAPES.get(data.get("dataset"), [28, 28, 1])
    if "image_size" in data or classes == 8:
        shape = [*data.get("image_size", [64, 64]), 3]
    data.pop("path", None)
    data["dataset"] = "synthetic"
    data["synthetic"] = {"input_shape": shape, "num_classes": classes, "train_examples": 64, "test_examples": 32}
    raw["tensorboard"] = {"histogram_freq": 0, "write_graph": False}
    train = raw.setdefault("train", {})
    train["epochs"] = 1
    if "fine_tune" in train:
        train["fine_tune"]["epochs"] = 1
    if "search" in raw:
        raw["search"]["max_trials"] = 2
    return raw


def scratch_folder(folder: Path) -> None:
    (folder / "configs").mkdir(parents=True)
    for path in sorted((REPO / "configs").glob("*.yaml")):
        (folder / "configs" / path.name).write_text(yaml.safe_dump(tiny_config(path), sort_keys=False))


def command_lines(source: str) -> list[str]:
    """A block's commands: continuation lines joined, comments and blank lines dropped.

    >>> command_lines("cnnlab train a.yaml \\\\\\n    --set x=1   # two lines\\n\\n# only a comment\\nmake test\\n")
    ['cnnlab train a.yaml --set x=1', 'make test']
    """
    joined = re.sub(r"\\\n\s*", "", source)
    return [
        shlex.join(shlex.split(line, comments=True)) for line in joined.splitlines() if shlex.split(line, comments=True)
    ]


def expand(word: str) -> list[str]:
    """A path with a `<placeholder>` or a `*` becomes the newest match in the scratch folder."""
    pattern = re.sub(r"<[^>]+>", "*", word)
    if "*" not in pattern:
        return [word]
    matches = sorted(glob.glob(pattern))
    if "<" in word:
        assert matches, f"nothing matches {word}"
        return matches[-1:]
    return matches or [word]


def makefile_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return {name for line in re.findall(r"^([\w .-]+):(?!=)", text, re.M) for name in line.split()}


def cnnlab_words(line: str) -> list[str] | None:
    for program in PROGRAMS:
        if line == program or line.startswith(program + " "):
            return shlex.split(line)[len(program.split()) :]
    return None


class Page:
    """What the evaluators of one page share: its directives, and the last command's output."""

    def __init__(self):
        self.output = ""

    def run_cnnlab(self, words: list[str], line: str) -> None:
        from cnnlab.cli import cli

        expanded = [part for word in words for part in expand(word)]
        result = CliRunner().invoke(cli, expanded, terminal_width=200)
        self.output = result.output
        assert result.exit_code == 0, f"`{line}` exited {result.exit_code}:\n{result.output[-3000:]}"

    def other_command(self, line: str) -> None:
        words = shlex.split(line)
        if words[0] == "make":
            unknown = set(words[1:]) - makefile_targets()
            assert not unknown, f"`{line}`: the Makefile has no target {sorted(unknown)}"
        elif words[0].startswith((".venv/bin/python", "python")) and words[1].endswith(".py"):
            assert (REPO / words[1]).is_file(), f"`{line}`: {words[1]} does not exist"
        elif words[0].startswith((".venv/bin/python", "python")) and words[1:3] == ["-m", "pytest"]:
            pass  # the suite this runs in
        elif words[0] in ("source", "tensorboard", "pip"):
            pass  # the shell's, TensorBoard's and pip's own: nothing of ours to check
        else:
            raise AssertionError(f"`{line}`: the docs' tests do not know how to run {words[0]}")


def directive(example: Example) -> str:
    """The `<!-- docs: ... -->` comment right above the block, if any."""
    before = example.document.text[: example.region.start].rstrip()
    found = re.search(r"<!-- docs: (.+?) -->$", before)
    return found.group(1) if found else ""


def evaluate_sh(example: Example) -> None:
    page: Page = example.namespace.setdefault("_page", Page())
    parse_only = directive(example).startswith("parse only")
    for line in command_lines(example.parsed):
        if parse_only and line.startswith("srun "):
            line = line.removeprefix("srun ")  # the job's own launcher, then our command
        words = cnnlab_words(line)
        if words is None and parse_only and shlex.split(line)[0] not in ("make",):
            continue  # a client of a server, a launcher: nothing of ours to parse
        if words is None:
            page.other_command(line)
        elif parse_only:
            from tests.test_help import parse

            parse("cnnlab " + " ".join(shlex.quote(w) for w in words))
        else:
            page.run_cnnlab(words, line)


def evaluate_text(example: Example) -> None:
    if directive(example) == "output of the command above":
        page: Page = example.namespace["_page"]
        shown = [line.rstrip() for line in example.parsed.strip().splitlines()]
        printed = [line.rstrip() for line in page.output.strip().splitlines()]
        assert printed == shown, "the command printed:\n" + "\n".join(printed)


def evaluate_yaml(example: Example) -> None:
    from cnnlab.config import load_config

    fragment = yaml.safe_load(example.parsed)
    if "name" in fragment:
        shipped = load_config(REPO / "configs" / f"{fragment['name']}.yaml").model_dump()
        shipped.pop("description", None)
        assert load_config(fragment).model_dump() | {"description": None} == shipped | {"description": None}
        return
    base = yaml.safe_load((REPO / "configs" / "mnist_baseline.yaml").read_text())
    load_config(_laid_over(base, fragment))


def _laid_over(base: dict, fragment: dict) -> dict:
    merged = dict(base)
    for key, value in fragment.items():
        merged[key] = (
            _laid_over(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
        )
    return merged


@contextlib.contextmanager
def in_scratch_folder(folder: Path):
    before = Path.cwd()
    scratch_folder(folder)
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


SYBIL = Sybil(
    parsers=[
        CodeBlockParser("sh", evaluate_sh),
        CodeBlockParser("text", evaluate_text),
        CodeBlockParser("yaml", evaluate_yaml),
        PythonCodeBlockParser(),
    ],
    path=str(REPO),
)
