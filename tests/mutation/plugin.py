"""pytest plugin for the runs of `make mutation` (loaded by [tool.mutmut] pytest_add_cli_args).

Hypothesis runs derandomized (the same examples in every run, so a score can be reproduced),
without its example database (nothing written or replayed between mutants), and without
shrinking or explaining (any failing example kills a mutant; making it minimal only costs time).

mutmut 3.7 maps each test to the functions it calls by `item._nodeid`, which pytest 9 no longer
has (mutmut 3.8 reads `nodeid`, but cannot be installed beside faust-streaming 0.15.3): each
collected item gets it.
"""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings

settings.register_profile("mutation", derandomize=True, database=None, print_blob=False,
                          phases=(Phase.explicit, Phase.generate))
settings.load_profile("mutation")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each item the `_nodeid` that mutmut 3.7 reads."""
    for item in items:
        item._nodeid = item.nodeid  # type: ignore[attr-defined]  # noqa: SLF001 - the attribute mutmut 3.7 reads
