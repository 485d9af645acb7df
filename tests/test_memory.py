"""Memory monitor: simulated pressure shrinks caches at the warning level, clears them at the
critical level, and each entry into a level counts one event."""
from __future__ import annotations

import pytest

from neatai.lru import LRUCache
from neatai.memory import CRITICAL, NORMAL, WARNING, MemoryMonitor, container_memory_limit


def filled(name: str, n: int = 100) -> LRUCache:
    cache = LRUCache(name, n)
    for i in range(n):
        cache.put(i, i)
    return cache


def monitor(readings: list[int], caches) -> MemoryMonitor:
    m = MemoryMonitor(budget_bytes=1000, rss_reader=lambda: readings[0])
    m.register(caches)
    return m


def test_below_warning_nothing_happens():
    cache = filled("a")
    m = monitor([699], [cache])
    assert m.check() == NORMAL
    assert len(cache) == 100 and m.stats().warning_events == 0


def test_warning_shrinks_every_cache_to_half_and_counts_one_event():
    a, b = filled("a"), filled("b", 10)
    rss = [700]
    m = monitor(rss, lambda: [a, b])
    assert m.check() == WARNING
    assert (len(a), len(b)) == (50, 5)
    assert a.max_size == 100  # capacity kept: entries are evicted, not the cap
    assert a.stats().evictions == 50
    m.check()  # still at warning: acts again, no new event
    stats = m.stats()
    assert (stats.warning_events, stats.critical_events, stats.resident_bytes, stats.budget_bytes) == (1, 0, 700, 1000)


def test_critical_clears_caches_and_events_count_entries_into_levels():
    cache = filled("a")
    rss = [900]
    m = monitor(rss, [cache])
    assert m.check() == CRITICAL
    assert len(cache) == 0
    rss[0] = 100
    assert m.check() == NORMAL
    rss[0] = 750
    m.check()
    rss[0] = 860
    m.check()
    assert (m.stats().warning_events, m.stats().critical_events) == (1, 2)


def test_background_thread_checks_periodically():
    cache = filled("a")
    rss = [100]
    m = monitor(rss, [cache])
    m.interval_s = 0.01
    m.start()
    try:
        rss[0] = 950
        import time
        deadline = time.monotonic() + 5
        while len(cache) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        m.stop()
    assert len(cache) == 0 and m.stats().critical_events == 1


def test_budget_defaults_to_a_positive_limit_and_thresholds_are_checked():
    assert MemoryMonitor().budget_bytes > 0
    with pytest.raises(ValueError):
        MemoryMonitor(budget_bytes=1, warning=0.9, critical=0.8)


def test_cgroup_limits(tmp_path):
    (tmp_path / "memory.max").write_text("max\n")
    assert container_memory_limit(tmp_path) is None
    (tmp_path / "memory.max").write_text("536870912\n")
    assert container_memory_limit(tmp_path) == 512 << 20
    v1 = tmp_path / "v1"
    (v1 / "memory").mkdir(parents=True)
    (v1 / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert container_memory_limit(v1) is None
    (v1 / "memory" / "memory.limit_in_bytes").write_text("1073741824\n")
    assert container_memory_limit(v1) == 1 << 30
    assert container_memory_limit(tmp_path / "none") is None
