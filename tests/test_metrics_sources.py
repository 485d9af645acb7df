"""Metrics: registered cache, pool and memory sources appear under the DESIGN §5 names, sources
from several services in one process are summed instead of clashing, and closing a
registration removes its series."""
from __future__ import annotations

import urllib.request

from neatai import metrics
from neatai.lru import LRUCache
from neatai.memory import MemoryStats
from neatai.pool import PoolStats


def sample(text: str, line_prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{line_prefix} not exposed")


def test_sources_are_exposed_summed_and_removable():
    a, b = LRUCache("metrics-test", 10), LRUCache("metrics-test", 5)
    a.put(1, 1)
    a.get(1)
    b.get(2)
    regs = [
        metrics.register_caches(lambda: [a]),
        metrics.register_caches(lambda: [b.stats()]),
        metrics.register_pools(lambda: [PoolStats("metrics-pool", 4, 1, 3, 7, 10, 4)]),
        metrics.register_memory(lambda: [MemoryStats(100, 1000, 2, 1, "normal")]),
    ]
    try:
        text = metrics.exposition()
        assert sample(text, 'neatai_cache_hits_total{cache="metrics-test"}') == 1
        assert sample(text, 'neatai_cache_misses_total{cache="metrics-test"}') == 1
        assert sample(text, 'neatai_cache_entries{cache="metrics-test"}') == 1
        assert sample(text, 'neatai_cache_capacity{cache="metrics-test"}') == 15
        assert sample(text, 'neatai_cache_evictions_total{cache="metrics-test"}') == 0
        assert sample(text, 'neatai_pool_workers{pool="metrics-pool",state="busy"}') == 1
        assert sample(text, 'neatai_pool_workers{pool="metrics-pool",state="idle"}') == 3
        assert sample(text, 'neatai_pool_queued_tasks{pool="metrics-pool"}') == 7
        assert sample(text, 'neatai_pool_steal_attempts_total{pool="metrics-pool"}') == 10
        assert sample(text, 'neatai_pool_steals_total{pool="metrics-pool"}') == 4
        assert sample(text, 'neatai_memory_pressure_events_total{level="critical"}') >= 1
        assert sample(text, "neatai_memory_budget_bytes") >= 1000
    finally:
        for r in regs:
            r.close()
    assert 'cache="metrics-test"' not in metrics.exposition()


def test_http_endpoints_bind_free_ports_independently():
    reg = metrics.register_caches(lambda: [LRUCache("metrics-http", 3)])
    ports = [metrics.start_metrics_http(0, addr="127.0.0.1") for _ in range(2)]
    try:
        assert len(set(ports)) == 2
        for port in ports:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            assert 'neatai_cache_capacity{cache="metrics-http"} 3.0' in body
    finally:
        reg.close()
        for port in ports:
            metrics.stop_metrics_http(port)

