"""tests/reach.py: a property test fails when too few of its generated examples reach its main
assertion, counting only the generate phase, and reports the measured share."""

from __future__ import annotations

import re

import pytest
from hypothesis import Phase, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.database import InMemoryExampleDatabase

from tests.reach import reach_checked, reached

quick = settings(max_examples=100, database=None, deadline=None)
MEASURED = re.compile(r"only (\d+) of (\d+) generated examples \((\d+\.\d)%\) reached the main assertion; "
                      r"at least \d+% must")


def test_a_test_whose_examples_mostly_reach_passes() -> None:
    @reach_checked()
    @quick
    @given(st.integers(0, 10**6))
    def mostly(n: int) -> None:
        if n % 4:
            reached()

    mostly()


def test_a_test_whose_examples_rarely_reach_fails_with_the_share_it_measured() -> None:
    seen: list[bool] = []

    @reach_checked()
    @quick
    @given(st.integers(0, 10**6))
    def rarely(n: int) -> None:
        seen.append(n % 4 == 0)
        if seen[-1]:
            reached()

    with pytest.raises(AssertionError) as failed:
        rarely()
    hits, ran, percent = MEASURED.search(str(failed.value)).groups()  # type: ignore[union-attr]
    assert (int(hits), int(ran)) == (sum(seen), len(seen)) and len(seen) == 100
    assert percent == f"{100 * sum(seen) / len(seen):.1f}"


def test_explicit_examples_do_not_count() -> None:
    @reach_checked()
    @quick
    @given(st.integers(1, 10**6))
    @example(0)
    @example(0)
    @example(0)
    def only_the_explicit_ones_reach(n: int) -> None:
        if n == 0:
            reached()

    with pytest.raises(AssertionError, match=r"only 0 of 100 generated examples \(0\.0%\)"):
        only_the_explicit_ones_reach()


def test_examples_replayed_from_the_database_do_not_count() -> None:
    database, failing, seen = InMemoryExampleDatabase(), [True], []
    saved = 7 * 11 * 13 * 101  # (no literal: Hypothesis draws the literals of loaded code more often)

    @reach_checked(share=1.0)
    @settings(max_examples=100, database=database, deadline=None)
    @given(st.integers(0, 10**6))
    def every_generated_example_reaches(n: int) -> None:
        seen.append(n)
        if failing[0] and n >= saved:
            raise ValueError("fails, so that Hypothesis saves the smallest such n")
        if n != saved:
            reached()

    with pytest.raises(ValueError):
        every_generated_example_reaches()
    failing[0], seen[:] = False, []
    every_generated_example_reaches()  # replays `saved` first: it does not reach, and does not count
    assert seen[0] == saved and seen.count(saved) == 1


def test_draws_the_strategy_gave_up_on_never_ran_and_do_not_count() -> None:
    @reach_checked(share=1.0)
    @quick
    @given(st.integers(0, 10**6).filter(lambda n: n % 8 == 0))
    def always(n: int) -> None:
        reached()

    always()


def test_an_example_that_assume_rejects_ran_and_did_not_reach() -> None:
    @reach_checked(share=0.9)
    @quick
    @given(st.integers(0, 10**6))
    def half_assumed(n: int) -> None:
        assume(n % 2 == 0)
        reached()

    with pytest.raises(AssertionError, match=MEASURED.pattern):
        half_assumed()


def test_a_failing_test_fails_with_its_own_error() -> None:
    @reach_checked()
    @quick
    @given(st.integers(0, 10))
    def divides(n: int) -> None:
        reached()
        assert 10 // n >= 1

    with pytest.raises(ZeroDivisionError):
        divides()


def test_settings_above_the_decorator_still_apply() -> None:
    seen: list[int] = []

    @settings(max_examples=7, database=None)
    @reach_checked()
    @given(st.integers(0, 10**6))
    def never(n: int) -> None:
        seen.append(n)

    with pytest.raises(AssertionError, match=r"only 0 of 7 generated examples"):
        never()
    assert len(seen) == 7


def test_a_run_without_the_generate_phase_has_no_share_to_check() -> None:
    @reach_checked()
    @settings(database=None, phases=[Phase.explicit])
    @given(st.integers(0, 10**6))
    @example(1)
    def explicit_only(n: int) -> None:
        pass

    explicit_only()


def test_only_a_hypothesis_test_can_be_checked() -> None:
    with pytest.raises(TypeError, match="above @given"):
        reach_checked()(lambda: None)
