"""The processor's fold metrics: tallied per batch, published as Prometheus counters and a histogram."""

from __future__ import annotations

from prometheus_client import REGISTRY

from processors.domain.step import Counts
from processors.runtime.metrics import FOLD_BUCKETS, FoldTally

HISTOGRAM = "prefstream_processor_fold_seconds"


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_a_batchs_counts_reach_prometheus_when_published() -> None:
    folded, profiles = sample("prefstream_processor_events_folded_total"), sample("prefstream_processor_profiles_emitted_total")
    duplicates = sample("prefstream_processor_events_duplicate_total")
    rejected = sample("prefstream_processor_events_rejected_total", reason="invalid")
    counts = Counts(folded=3, profiles=2)
    counts.rejected["invalid"] += 2
    tally = FoldTally()
    tally.publish(counts)
    tally.publish(Counts())
    assert sample("prefstream_processor_events_folded_total") == folded + 3
    assert sample("prefstream_processor_profiles_emitted_total") == profiles + 2
    assert sample("prefstream_processor_events_duplicate_total") == duplicates
    assert sample("prefstream_processor_events_rejected_total", reason="invalid") == rejected + 2


def test_fold_times_land_in_cumulative_buckets_whose_bound_they_do_not_exceed() -> None:
    bounds = [repr(bound) for bound in FOLD_BUCKETS]
    before = {le: sample(f"{HISTOGRAM}_bucket", le=le) for le in (bounds[0], bounds[1], "+Inf")}
    count, total = sample(f"{HISTOGRAM}_count"), sample(f"{HISTOGRAM}_sum")
    tally = FoldTally()
    for seconds in (FOLD_BUCKETS[0], FOLD_BUCKETS[0] * 1.5, 1.0):  # on the first bound, inside the second, past all
        tally.timed(seconds)
    tally.publish(Counts())
    tally.publish(Counts())  # a second publish adds nothing: the tally was reset
    assert sample(f"{HISTOGRAM}_bucket", le=bounds[0]) == before[bounds[0]] + 1
    assert sample(f"{HISTOGRAM}_bucket", le=bounds[1]) == before[bounds[1]] + 2
    assert sample(f"{HISTOGRAM}_bucket", le="+Inf") == before["+Inf"] + 3
    assert sample(f"{HISTOGRAM}_count") == count + 3
    assert abs(sample(f"{HISTOGRAM}_sum") - (total + FOLD_BUCKETS[0] * 2.5 + 1.0)) < 1e-12
