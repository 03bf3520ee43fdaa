"""The score of a mutation run, per module: `mutmut results --all true | python tests/mutation_score.py`.

mutmut names each mutant `<module>.<function>__mutmut_<n>` (a method as `x«Class»«method»`) and
gives it a status. Killed and timed-out mutants are caught; survivors and mutants no selected
test reaches are not. Exits 1 while mutants are still unchecked (a run that was stopped).
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

CAUGHT = {"killed", "timeout", "caught by type check", "segfault"}
LINE = re.compile(r"^\s*(?P<name>[\w.ǁ]+)__mutmut_\d+: (?P<status>.+?)\s*$")


def module_of(name: str) -> str:
    """ "cnnlab.config.x__read_yaml" -> "cnnlab.config"; "cnnlab.x.xǁRunFolderǁof" -> "cnnlab.x"."""
    return re.split(r"\.xǁ|\.x_", name, maxsplit=1)[0]


def tally(lines) -> dict[str, Counter]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for line in lines:
        match = LINE.match(line)
        if match:
            counts[module_of(match["name"])][match["status"]] += 1
    return counts


def main() -> int:
    counts = tally(sys.stdin)
    if not counts:
        print("no mutants: run `mutmut run` first", file=sys.stderr)
        return 1
    total: Counter = Counter()
    print(f"{'module':32} {'mutants':>8} {'caught':>7} {'survived':>9} {'no test':>8} {'score':>7}")
    for module in sorted(counts):
        c = counts[module]
        total += c
        print(_row(module, c))
    print(_row("all", total))
    unchecked = total["not checked"]
    if unchecked:
        print(f"{unchecked} mutants not checked yet: run `make mutation` again to finish", file=sys.stderr)
    return 1 if unchecked else 0


def _row(label: str, c: Counter) -> str:
    mutants = sum(c.values())
    caught = sum(c[s] for s in CAUGHT)
    return f"{label:32} {mutants:>8} {caught:>7} {c['survived']:>9} {c['no tests']:>8} {caught / max(mutants, 1):>7.1%}"


if __name__ == "__main__":
    sys.exit(main())
