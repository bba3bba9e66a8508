"""The hot path's in-process metric sums (``Tally``, ``Timings``) add up, once flushed,
to exactly what counting and observing one by one gives."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from dropline.services.platform.metrics import (
    FAST_BUCKETS,
    Metrics,
    Tallies,
    Tally,
    Timings,
    flush,
)


def _samples(registry: CollectorRegistry, prefix: str) -> dict[tuple[str, str], float]:
    return {
        (s.name.removeprefix(prefix), s.labels.get("le", "")): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_timings_and_tallies_flush_to_what_observing_gives() -> None:
    reg = CollectorRegistry()
    direct = Histogram("direct", "d", buckets=FAST_BUCKETS, registry=reg)
    batched = Histogram("batched", "b", buckets=FAST_BUCKETS, registry=reg)
    one, many = Counter("one", "o", registry=reg), Counter("many", "m", registry=reg)
    timings, tally = Timings(batched, FAST_BUCKETS), Tally(many)
    # on a bound, between bounds, below the first and above the last
    values = [0.0005, 0.0003, 0.004, 0.01, 0.7, 3.0, 1.0, 0.00049]
    for v in values:
        direct.observe(v)
        timings.observe(v)
        one.inc()
        tally.inc()
    flush()
    got = _samples(reg, "")
    direct_got, batched_got = _buckets(got, "direct"), _buckets(got, "batched")
    # a flush may fall mid-loop (it is timed): sums then differ in rounding only
    assert direct_got.pop(("_sum", "")) == pytest.approx(batched_got.pop(("_sum", "")))
    assert direct_got == batched_got
    assert got[("batched_count", "")] == len(values)
    assert got[("many_total", "")] == got[("one_total", "")] == len(values)
    flush()  # nothing pending: nothing added twice
    assert _samples(reg, "") == got


def _buckets(got: dict[tuple[str, str], float], name: str) -> dict[tuple[str, str], float]:
    return {(k[0].removeprefix(name), k[1]): v for k, v in got.items() if k[0].startswith(name)}


def test_tallies_count_each_label_value_apart() -> None:
    reg = CollectorRegistry()
    counter = Counter("refused", "r", ["code"], registry=reg)
    tallies = Tallies(Tally, counter.labels)  # what Metrics.tallies makes when enabled
    for code in ["sold_out", "rate_limited", "sold_out", "sold_out"]:
        tallies[code].inc()
    assert tallies["sold_out"] is tallies["sold_out"]  # one tally per value, kept
    flush()
    got = {
        s.labels["code"]: s.value
        for f in reg.collect()
        for s in f.samples
        if s.name.endswith("_total")
    }
    assert got == {"sold_out": 3, "rate_limited": 1}


def test_tallies_of_disabled_metrics_record_nothing() -> None:
    off = Metrics(False)
    tallies = off.tallies(off.holds_refused.labels)
    tallies["sold_out"].inc()  # the no-op instrument: no error, nothing kept
    assert not isinstance(tallies["sold_out"], Tally)
