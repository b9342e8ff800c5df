"""Reach: the share of a property test's generated examples that get to its main assertion.

A property test whose strategy rarely gets past its early returns, `assume`s or conditions passes
while testing almost nothing. Decorate it with `@reach_checked()` (above `@given`) and call
`reached()` just before its main assertion: the test then fails, naming the measured share, when
fewer than `share` of the examples Hypothesis generated for it got there. Both marks are also
Hypothesis events, so `pytest --hypothesis-show-statistics` lists them under "Events".

Only examples of the generate phase count: explicit `@example`s, examples replayed from the
example database and the shrinker's examples are not samples of the strategy. A run that fails
is reported as it failed; the share is checked only after a run that passed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import Phase, event
from hypothesis.statistics import collector

RAN = "reach: example ran"
REACHED = "reach: main assertion reached"
Test = TypeVar("Test", bound=Callable[..., Any])


def reached() -> None:
    """Record that the current example got to its test's main assertion."""
    event(REACHED)


def reach_checked(share: float = 0.5) -> Callable[[Test], Test]:
    """Decorate a `@given` test: it fails when fewer than `share` of its generated examples call
    `reached()`. Goes above `@given` (above or below `@settings`)."""

    def decorate(test: Test) -> Test:
        handle = getattr(test, "hypothesis", None)
        if handle is None:
            raise TypeError(f"@reach_checked goes above @given; {test.__name__} is no Hypothesis test")
        _mark_every_example(handle)

        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> None:
            __tracebackhide__ = True
            # @settings above this decorator, and the pytest plugin's per-item settings, land on `run`,
            # and only the @given test reads them: they are carried over through the attribute both use.
            # Hypothesis has no public way to read or pass on a test's settings (tests/unit/test_reach.py
            # fails if this attribute stops working).
            settings = run._hypothesis_internal_use_settings  # type: ignore[attr-defined]  # noqa: SLF001
            test._hypothesis_internal_use_settings = settings  # type: ignore[attr-defined]  # noqa: SLF001
            statistics = _run_collecting_statistics(test, args, kwargs)
            if Phase.generate in settings.phases:  # (a run of explicit or saved examples only has no share)
                _check(statistics, share)

        return run  # type: ignore[return-value]

    return decorate


def _mark_every_example(handle: Any) -> None:
    """Make the test's body record RAN for each example it runs (Hypothesis's documented hook)."""
    body = handle.inner_test

    @functools.wraps(body)
    def marked(*args: Any, **kwargs: Any) -> Any:
        event(RAN)
        return body(*args, **kwargs)

    handle.inner_test = marked


def _run_collecting_statistics(test: Callable[..., Any], args: tuple, kwargs: dict) -> list[dict[str, Any]]:
    """Run the test; the statistics Hypothesis noted for its run(s), also passed on to whoever
    collected them before (the pytest plugin, for --hypothesis-show-statistics)."""
    noted: list[dict[str, Any]] = []
    outer = collector.value

    def note(statistics: dict[str, Any]) -> None:
        noted.append(statistics)
        if outer is not None:
            outer(statistics)

    with collector.with_value(note):
        test(*args, **kwargs)
    return noted


def generated_reach(statistics: dict[str, Any]) -> tuple[int, int]:
    """(examples that reached the main assertion, examples that ran) in the generate phase."""
    cases = statistics.get("generate-phase", {}).get("test-cases", [])
    ran = [case["events"] for case in cases if RAN in case["events"]]
    return sum(REACHED in events for events in ran), len(ran)


def _check(noted: list[dict[str, Any]], share: float) -> None:
    __tracebackhide__ = True
    if not noted:
        raise AssertionError("Hypothesis noted no statistics for this run: its reach cannot be measured")
    counts = [generated_reach(statistics) for statistics in noted]
    hits, ran = sum(hit for hit, _ in counts), sum(count for _, count in counts)
    if ran == 0:
        raise AssertionError("no generated example ran: the reach of this test cannot be measured")
    assert hits >= share * ran, (
        f"only {hits} of {ran} generated examples ({hits / ran:.1%}) reached the main assertion; "
        f"at least {share:.0%} must: make the strategy produce what the test is about")
