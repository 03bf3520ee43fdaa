"""`make mutation`: each package of cnnlab scored on a seeded random sample of its mutants.

    python tests/mutation_sample.py [--per-package 200] [--seed 2026] [--packages engine api ...]

Every package holds thousands of mutants, and a mutant of the engine costs the trainings of the
tests that reach it, so scoring them all would take a day on two cores. A fair sample instead:
mutmut generates every mutant of `[tool.mutmut] only_mutate`; for each package, its
mutant names are ranked by the SHA-256 of `f"{seed}/{name}"` and the first `per-package`
are tested. Anyone can redraw the same sample from the seed. The score is the
caught share of the sample with its 95 % Wilson interval; a mutant no test reaches counts as
not caught.

The run resumes: mutants already checked keep their result (`rm -rf mutants` starts afresh);
`--recheck` tests the sample's survivors again, after tests were written for them.
Exits 1 while sampled mutants are still unchecked.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from mutation_score import CAUGHT, LINE, module_of

MUTMUT = str(Path(sys.executable).with_name("mutmut"))
PACKAGES = ("api", "data", "engine", "model", "reporting", "storage")
# A pattern no mutant name matches: `mutmut run` with it generates the mutants and collects
# which tests reach each function, then stops at "nothing matches" before testing any mutant.
NO_MUTANT = "no-such-mutant"


def package_of(name: str) -> str:
    """ "cnnlab.engine.loop.x_fit__mutmut_3" -> "engine", and a package's own `__init__`:
    "cnnlab.data.x_load_arrays__mutmut_1" -> "data"."""
    return module_of(name).split(".")[1]


def statuses() -> dict[str, str]:
    """Every mutant mutmut knows, with its status ("not checked" until tested)."""
    listed = subprocess.run([MUTMUT, "results", "--all", "true"], capture_output=True, text=True, check=True)
    found = (LINE.match(line) for line in listed.stdout.splitlines())
    return {m.group(0).split(":")[0].strip(): m["status"] for m in found if m}


def draw(names: list[str], seed: int, per_package: int) -> list[str]:
    """The package's sample: its names ranked by the SHA-256 of "seed/name", the first
    `per_package`. A mutant's rank depends on its own name only, so an edit that renumbers the
    mutants of one function (or mutmut forgetting names it no longer generates) changes only the
    places those names held, not the whole draw.

    >>> names = [f"cnnlab.x.f__mutmut_{i}" for i in range(1, 9)]
    >>> full = draw(names, 2026, 4)
    >>> draw([name for name in names if name != full[0]], 2026, 3) == full[1:]
    True
    """
    return sorted(names, key=lambda name: hashlib.sha256(f"{seed}/{name}".encode()).hexdigest())[:per_package]


def wilson(caught: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95 % Wilson score interval of a share caught/n (Wilson 1927).

    >>> [round(x, 3) for x in wilson(190, 200)]
    [0.91, 0.973]
    """
    share = caught / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def _at_least_one(text: str) -> int:
    """A whole number of at least 1, for argparse: a sample of 0 or fewer scores nothing."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-package", type=_at_least_one, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--packages", nargs="+", choices=PACKAGES, default=list(PACKAGES))
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--recheck", action="store_true", help="test the sample's survivors again (after new tests)")
    args = parser.parse_args()

    if not statuses():
        subprocess.run([MUTMUT, "run", NO_MUTANT], capture_output=True)
    known = statuses()
    if not known:
        print("mutmut generated no mutants: run `mutmut run` to see why", file=sys.stderr)
        return 1
    by_package: dict[str, list[str]] = defaultdict(list)
    for name in known:
        by_package[package_of(name)].append(name)
    samples = {p: draw(by_package[p], args.seed, args.per_package) for p in args.packages}

    again = {"not checked"} if not args.recheck else {"not checked", "survived", "no tests"}
    todo = [n for sample in samples.values() for n in sample if known[n] in again]
    if todo:
        ran = subprocess.run([MUTMUT, "run", "--max-children", str(args.max_children), *todo])
        if ran.returncode != 0:  # its stats run failed, or it stopped: no score to tell
            print(
                f"mutmut stopped (exit {ran.returncode}) before scoring the sample; if it says its stats "
                "collection failed on code changed since mutants/ was made, `rm -rf mutants` starts afresh",
                file=sys.stderr,
            )
            return ran.returncode
        known = statuses()
    return report(samples, by_package, known, args.seed)


def report(samples: dict[str, list[str]], by_package, known: dict[str, str], seed: int) -> int:
    print(f"\nseed {seed}; each package's sample drawn from all its mutants")
    print(f"{'package':10} {'mutants':>8} {'sample':>7} {'caught':>7} {'score':>7} {'95 % Wilson':>15}")
    survivors, unchecked = [], 0
    for package, sample in samples.items():
        checked = [n for n in sample if known.get(n, "not checked") != "not checked"]
        unchecked += len(sample) - len(checked)
        caught = sum(known[n] in CAUGHT for n in checked)
        survivors += [f"{n}: {known[n]}" for n in checked if known[n] not in CAUGHT]
        low, high = wilson(caught, len(checked)) if checked else (0.0, 0.0)
        score = caught / max(len(checked), 1)
        print(
            f"{package:10} {len(by_package[package]):>8} {len(checked):>7} {caught:>7} {score:>7.1%}"
            f"   {low:.1%}-{high:.1%}"
        )
    print("\nnot caught (`mutmut show NAME`):", *sorted(survivors), sep="\n  ")
    if unchecked:
        print(f"{unchecked} sampled mutants not checked yet: run `make mutation` again", file=sys.stderr)
    return 1 if unchecked else 0


if __name__ == "__main__":
    sys.exit(main())
