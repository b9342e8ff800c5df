"""Exponential backoff with full jitter (AWS architecture blog's "full jitter")."""

from __future__ import annotations

import random

from sinks.config import Retry

_rng = random.Random()


def backoff(attempt: int, retry: Retry, rng: random.Random = _rng) -> float:
    """Seconds to wait before retry number `attempt` (1-based): uniform in [0, min(max, initial * 2^(attempt-1))]."""
    return rng.uniform(0, min(retry.backoff_max, retry.backoff_initial * 2 ** (attempt - 1)))
