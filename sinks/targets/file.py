"""JSON Lines file target: one document per line, appended; fsync before the batch is acknowledged.

A customer's last line is its state (a profile, or a delete when it left the filter). An erasure
leaves no line of the customer at all, not even its id: a batch holding erasures first rewrites the
file without any line of those customers, every other line kept in its order (a copy in the same
folder, fsynced, renamed over the file, then the folder fsynced: a crash leaves the old file or the
new one, never a half file), and then appends the rest of the batch; the erasures themselves write
no line, and a customer's deliveries before its erasure in the batch are not appended. Erasing
rewrites the whole file.

At least once: a batch delivered again appends its documents again (the last line still wins) and
re-erases what it erases. A redelivery after a crash (from the last commit) can append a
customer's pre-erasure profile again only until the erasure, which was not committed either, is
delivered again and removes it. A crash mid-append leaves a torn last line from an unacknowledged
batch: the next write drops it before writing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sinks.delivery import Delivery
from sinks.targets.base import Failure

_TAIL_CHUNK = 1 << 16


class FileTarget:
    """Appends each delivery's document to a file; rewrites it without the customers a batch erases."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._copy = self.path.with_name(f".{self.path.name}.erasing")  # the rewrite's copy, same folder
        self._fd: int | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._copy.unlink(missing_ok=True)  # a rewrite a crash interrupted: the file is the old one
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)

    def write(self, deliveries: list[Delivery]) -> list[Failure]:
        assert self._fd is not None, "open() first"
        _drop_torn_tail(self._fd)
        erased = {d.customer_id: i for i, d in enumerate(deliveries) if d.erased}  # each one's last erasure
        kept = [d for i, d in enumerate(deliveries) if not d.erased and i > erased.get(d.customer_id, -1)]
        if erased:
            self._rewrite_without(set(erased))
        _write_all(self._fd, b"".join(delivery.body() + b"\n" for delivery in kept))
        os.fsync(self._fd)
        return []

    def _rewrite_without(self, customers: set[str]) -> None:
        """Replace the file, atomically and durably, by a copy without any line of `customers`."""
        assert self._fd is not None, "open() first"
        mode = os.fstat(self._fd).st_mode & 0o777
        with self.path.open("rb") as old, \
                open(os.open(self._copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as new:
            new.writelines(line for line in old if json.loads(line)["customer_id"] not in customers)
            new.flush()
            os.fsync(new.fileno())
        os.replace(self._copy, self.path)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        _fsync_folder(self.path.parent)

    def interrupt(self) -> None:
        """Nothing to do: a write is bounded by the file's size (an append, or a rewrite and an append)."""

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _drop_torn_tail(fd: int) -> None:
    """Truncate the file after its last newline (a line cut short by a crash or a failed write)."""
    end = os.fstat(fd).st_size
    if end == 0 or os.pread(fd, 1, end - 1) == b"\n":
        return
    position = end
    while position > 0:
        start = max(0, position - _TAIL_CHUNK)
        newline = os.pread(fd, position - start, start).rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        position = start
    os.ftruncate(fd, 0)
