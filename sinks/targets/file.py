"""JSON Lines file target: one document per line, appended; fsync before the batch is acknowledged."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from sinks.delivery import Delivery
from sinks.targets.base import Failure


class FileTarget:
    """Appends each delivery's document to a file; the last line of a customer is its state."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle: BinaryIO | None = None

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("ab")

    def write(self, deliveries: list[Delivery]) -> list[Failure]:
        assert self._handle is not None, "open() first"
        self._handle.write(b"".join(delivery.body() + b"\n" for delivery in deliveries))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return []

    def interrupt(self) -> None:
        """Nothing to do: a write is one append and fsync."""

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
