"""`prefstream pos ingest`: publish a store export, line by line, and report on the file."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from producers.pos import read_export
from producers.publisher import Publisher, Rejected, Unavailable
from schemas.validation import Problem

REASON_BAD_LINE = "bad_line"


@dataclass
class Report:
    """What became of a file: accepted event ids, and rejected lines with their reasons."""

    accepted: list[str] = field(default_factory=list)
    rejected: list[tuple[int, str, list[Problem]]] = field(default_factory=list)


def ingest(publisher: Publisher, path: Path, form: str, progress: Callable[[int], None] = lambda _n: None,
           timeout: float = 60) -> Report:
    """Publish every valid line of `path`; invalid ones go to the DLQ. Waits for every ack.

    Raises `Unavailable` when Kafka does not acknowledge. `progress(n)` is called per line.
    """
    text = path.read_text(encoding="utf-8-sig")
    pending: list[tuple[int, Future, list[Problem]]] = []
    for line in read_export(text, form):
        if line.problems:
            error = f"{path.name} line {line.number}: " + "; ".join(map(str, line.problems))
            pending.append((line.number, publisher.submit_raw(None, line.raw, REASON_BAD_LINE, error), line.problems))
        else:
            assert line.event is not None, "a line without problems has its event"
            pending.append((line.number, publisher.submit(line.event), []))
        progress(1)
    report = Report()
    for number, future, problems in pending:
        try:
            result = future.result(timeout)
        except Rejected as rejected:
            report.rejected.append((number, rejected.dlq_reason, rejected.problems))
            continue
        except TimeoutError:
            raise Unavailable(f"no acknowledgement from Kafka within {timeout:.0f} s") from None
        if problems:
            report.rejected.append((number, REASON_BAD_LINE, problems))
        else:
            report.accepted.append(result.event_id)
    return report


def count_lines(path: Path) -> int:
    """Lines in a file (for the progress bar's total)."""
    with path.open("rb") as handle:
        return sum(1 for _ in handle)
