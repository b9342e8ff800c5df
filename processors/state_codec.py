"""The fold's State as bytes, for the processor's RocksDB table and its changelog.

JSON with sorted keys: lossless for the state (strings, numbers, booleans, nulls), deterministic,
readable when debugging a changelog.
"""

from __future__ import annotations

import json

from processors.fold import Register, State


def encode_state(state: State) -> bytes:
    """A State as deterministic JSON bytes."""
    return json.dumps(
        {
            "customer_id": state.customer_id,
            "registers": [
                [list(key), list(register.clock), register.value, register.provenance]
                for key, register in sorted(state.registers.items())
            ],
            "event_ids": sorted(state.event_ids),
            "erased": list(state.erased) if state.erased else None,
            "updated_ms": state.updated_ms,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def decode_state(data: bytes) -> State:
    """The State that `encode_state` wrote."""
    raw = json.loads(data)
    return State(
        raw["customer_id"],
        {tuple(key): Register(tuple(clock), value, prov) for key, clock, value, prov in raw["registers"]},
        frozenset(raw["event_ids"]),
        tuple(raw["erased"]) if raw["erased"] else None,
        raw["updated_ms"],
    )
