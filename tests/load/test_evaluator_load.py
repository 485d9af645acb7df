"""An evaluator under load, as a process on loopback: at 80 % of the throughput it saturates at
it answers every call (zero errors) with p99 under seed 003's 1 s target, and while compiled
networks churn through an effectively unbounded cache its resident memory stays under the
configured --memory-budget-mb (the memory monitor evicts). The sustained 60 s form is
bench/bench_service.py."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from service_load import (MEMORY_BUDGET_MB, ServerProcess, closed_loop, evolving_requests, memory_churn, noisy_xor,  # noqa: E402
                          open_loop)

from neatai.datasets_servicer import upload_dataset  # noqa: E402

MiB = 1 << 20


@pytest.fixture
def server():
    process = ServerProcess("--threads", "2")
    yield process
    process.close()


def test_at_80_percent_of_saturation_every_call_is_answered_within_the_p99_target(server):
    dataset_id = upload_dataset(server.datasets, noisy_xor(), timeout=30).dataset_id
    requests = evolving_requests(dataset_id, generations=40, size=50, elites=0.3)
    saturated = closed_loop(server, requests, clients=4, seconds=2)
    assert saturated.errors == [] and saturated.throughput > 10  # seed 003: > 10 req/s

    load = open_loop(server, requests, rate=0.8 * saturated.throughput, seconds=4)
    assert load.errors == []
    assert load.calls == int(0.8 * saturated.throughput * 4)  # every scheduled call was made and answered
    assert load.ms(99) < 1000, f"p99 {load.ms(99):.0f} ms at {load.throughput:.0f} calls/s"


def test_memory_stays_under_the_budget_while_the_network_cache_churns():
    peak, load, stats = memory_churn(seconds=6)
    networks = next(c for c in stats.caches if c.name == "compiled-networks")
    assert load.errors == []
    assert networks.misses >= 10_000  # ~25 MiB of compiled networks at the least, beyond what the budget leaves
    assert stats.memory.budget_bytes == MEMORY_BUDGET_MB * MiB
    assert stats.memory.critical_events >= 1  # the churn reached the clearing level: the monitor had to act...
    assert networks.current_size < networks.misses  # ...and gave cached networks back
    assert peak.bytes < MEMORY_BUDGET_MB * MiB, f"peak {peak.bytes / MiB:.0f} MiB over the {MEMORY_BUDGET_MB} MiB budget"
