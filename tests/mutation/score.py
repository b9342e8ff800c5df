"""The mutation score per module after `mutmut run` (what `make mutation` prints).

Reads mutmut's results (mutants/<module>.meta) for every module in [tool.mutmut] only_mutate and
prints, per module, killed / total and the percentage, then the name of every mutant that was not
killed (`.venv/bin/mutmut show NAME` prints its diff). A mutant counts as killed when the tests
failed on it or never finished (mutmut's timeout: the mutant loops forever); a survivor, or a
mutant that no selected test reaches, counts against the score.
Exits 1 when a module with a goal in GOALS scores below it, or when a module has no results.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mutmut.__main__ import status_by_exit_code

GOALS = {"processors/domain/fold.py": 90.0, "processors/domain/reachability.py": 90.0}  # % of mutants killed, at least
KILLED = frozenset(("killed", "timeout"))  # mutmut's statuses of a mutant the tests did not pass


@dataclass(frozen=True)
class ModuleScore:
    """One module's mutants by status ("killed", "survived", "no tests", "timeout", ...)."""

    path: str
    status_by_mutant: dict[str, str]

    @property
    def total(self) -> int:
        return len(self.status_by_mutant)

    @property
    def killed(self) -> int:
        return sum(status in KILLED for status in self.status_by_mutant.values())

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 0.0

    def not_killed(self) -> list[tuple[str, str]]:
        """(mutant name, status) of every mutant the tests did not kill, in name order."""
        return sorted((name, status) for name, status in self.status_by_mutant.items() if status not in KILLED)


def modules_in_scope(root: Path) -> list[str]:
    """The files mutmut mutates, as configured in pyproject.toml."""
    config = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))
    return list(config["tool"]["mutmut"]["only_mutate"])


def module_score(root: Path, path: str) -> ModuleScore | None:
    """The module's results, or None when mutmut left none (not run, or the module has no mutant)."""
    meta = root / "mutants" / f"{path}.meta"
    if not meta.exists():
        return None
    exit_codes = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
    return ModuleScore(path, {name: status_by_exit_code[code] for name, code in exit_codes.items()})


def report(scores: list[ModuleScore]) -> list[str]:
    """The printed lines: a table of scores, then the mutants not killed, per module."""
    lines = [f"{'module':40} {'killed':>7} {'total':>6} {'score':>7}  not killed"]
    for score in scores:
        others = Counter(status for _name, status in score.not_killed())
        detail = ", ".join(f"{count} {status}" for status, count in sorted(others.items())) or "-"
        lines.append(f"{score.path:40} {score.killed:7d} {score.total:6d} {score.percent:6.1f}%  {detail}")
    for score in scores:
        if score.not_killed():
            lines.append(f"\n{score.path}: not killed")
            lines.extend(f"  {name}  ({status})" for name, status in score.not_killed())
    lines.append("\nThe diff of a mutant: .venv/bin/mutmut show NAME")
    return lines


def main() -> int:
    root = Path.cwd()
    scores, failures = [], []
    for path in modules_in_scope(root):
        score = module_score(root, path)
        if score is None:
            failures.append(f"{path}: no mutation results (run `mutmut run` first)")
            continue
        scores.append(score)
        goal = GOALS.get(path)
        if goal is not None and score.percent < goal:
            failures.append(f"{path}: {score.percent:.1f}% killed, below the goal of {goal:.0f}%")
    print("\n".join(report(scores)))
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
