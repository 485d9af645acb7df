"""Prometheus metrics: a `/metrics` HTTP port per service and the neatai collectors.

Services register *sources* (callables returning their current cache, pool or memory
statistics) instead of creating metric objects, so several services in one process (tests,
`neatai run`) never clash on duplicate registration: one collector reads every source at scrape
time. Series with the same labels from different sources are summed (memory: the largest), so
`sum()` across label values stays meaningful. `register_*` returns a handle whose `close()`
removes the source. Names follow DESIGN §5, base units.
"""
from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from typing import Callable, Iterable

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

_lock = threading.Lock()
_sources: dict[str, dict[int, Callable[[], Iterable]]] = {"caches": {}, "pools": {}, "memory": {}, "training": {}}
_ids = itertools.count()
_http: dict[int, object] = {}


class Registration:
    def __init__(self, kind: str, key: int):
        self.kind, self.key = kind, key

    def close(self) -> None:
        with _lock:
            _sources[self.kind].pop(self.key, None)


def _register(kind: str, source: Callable[[], Iterable]) -> Registration:
    key = next(_ids)
    with _lock:
        _sources[kind][key] = source
    return Registration(kind, key)


def register_caches(source: Callable[[], Iterable]) -> Registration:
    """`source()` returns `lru.CacheStats` (or objects with `.stats()` returning them)."""
    return _register("caches", source)


def register_pools(source: Callable[[], Iterable]) -> Registration:
    """`source()` returns `pool.PoolStats` (or pools with `.stats()`)."""
    return _register("pools", source)


def register_memory(source: Callable[[], Iterable]) -> Registration:
    """`source()` returns `memory.MemoryStats` (or monitors with `.stats()`)."""
    return _register("memory", source)


def register_training(source: Callable[[], Iterable]) -> Registration:
    """`source()` returns training totals (objects with creatures, improved, passes, seconds
    and stopped_jobs, or counters with `.stats()` returning them)."""
    return _register("training", source)


def _read(kind: str) -> list:
    with _lock:
        sources = list(_sources[kind].values())
    out = []
    for source in sources:
        for item in source():
            out.append(item.stats() if hasattr(item, "stats") else item)
    return out


class NeataiCollector(Collector):
    def collect(self):
        yield from self._caches()
        yield from self._pools()
        yield from self._memory()
        yield from self._training()

    def _caches(self):
        sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for s in _read("caches"):
            for field in ("hits", "misses", "evictions", "current_size", "max_size"):
                sums[field][s.name] += getattr(s, field)
        for field, name, doc in (("hits", "neatai_cache_hits", "Cache lookups that found the entry."),
                                 ("misses", "neatai_cache_misses", "Cache lookups that missed."),
                                 ("evictions", "neatai_cache_evictions", "Entries removed to make room or under memory pressure.")):
            m = CounterMetricFamily(name, doc, labels=["cache"])
            for cache, v in sorted(sums[field].items()):
                m.add_metric([cache], v)
            yield m
        for field, name, doc in (("current_size", "neatai_cache_entries", "Entries held (bytes for byte-bounded caches)."),
                                 ("max_size", "neatai_cache_capacity", "Capacity in entries (bytes for byte-bounded caches).")):
            m = GaugeMetricFamily(name, doc, labels=["cache"])
            for cache, v in sorted(sums[field].items()):
                m.add_metric([cache], v)
            yield m

    def _pools(self):
        stats = _read("pools")
        workers = GaugeMetricFamily("neatai_pool_workers", "Worker threads by state.", labels=["pool", "state"])
        queued = GaugeMetricFamily("neatai_pool_queued_tasks", "Tasks waiting in worker deques.", labels=["pool"])
        attempts = CounterMetricFamily("neatai_pool_steal_attempts", "Looks at other workers' deques by idle workers.", labels=["pool"])
        steals = CounterMetricFamily("neatai_pool_steals", "Tasks taken from another worker's deque.", labels=["pool"])
        agg: dict[str, list[float]] = defaultdict(lambda: [0.0] * 5)
        for s in stats:
            a = agg[s.name]
            for i, v in enumerate((s.busy_workers, s.idle_workers, s.total_queued_tasks, s.steal_attempts, s.successful_steals)):
                a[i] += v
        for pool, (busy, idle, q, att, st) in sorted(agg.items()):
            workers.add_metric([pool, "busy"], busy)
            workers.add_metric([pool, "idle"], idle)
            queued.add_metric([pool], q)
            attempts.add_metric([pool], att)
            steals.add_metric([pool], st)
        yield from (workers, queued, attempts, steals)

    def _memory(self):
        stats = _read("memory")
        events = CounterMetricFamily("neatai_memory_pressure_events", "Times memory use entered a pressure level.", labels=["level"])
        resident = GaugeMetricFamily("neatai_memory_resident_bytes", "Resident memory of this process at the last check.")
        budget = GaugeMetricFamily("neatai_memory_budget_bytes", "Memory budget the monitor measures against.")
        if stats:
            events.add_metric(["warning"], sum(s.warning_events for s in stats))
            events.add_metric(["critical"], sum(s.critical_events for s in stats))
            resident.add_metric([], max(s.resident_bytes for s in stats))
            budget.add_metric([], max(s.budget_bytes for s in stats))
        yield from (events, resident, budget)


    def _training(self):
        stats = _read("training")
        for field, name, doc in (
                ("creatures", "neatai_training_creatures", "Creatures trained by backpropagation (Train RPCs)."),
                ("improved", "neatai_training_improved_creatures", "Trained creatures whose error went down."),
                ("passes", "neatai_training_passes", "Training passes over a dataset, all creatures together."),
                ("seconds", "neatai_training_seconds", "Seconds spent training, summed over creatures."),
                ("stopped_jobs", "neatai_training_stopped_jobs", "Training calls stopped by cancellation or deadline.")):
            m = CounterMetricFamily(name, doc)
            m.add_metric([], sum(getattr(s, field) for s in stats))
            yield m


_collector = NeataiCollector()
REGISTRY.register(_collector)


def start_metrics_http(port: int, addr: str = "0.0.0.0", **tls) -> int:
    """Serve the default registry's `/metrics` on `port` (0 picks one); returns the bound port.
    `tls`: start_http_server's certfile, keyfile, client_cafile, client_auth_required (HTTPS)."""
    server, _thread = start_http_server(port, addr=addr, **tls)
    bound = server.server_port
    with _lock:
        _http[bound] = server
    return bound


def stop_metrics_http(port: int) -> None:
    with _lock:
        server = _http.pop(port, None)
    if server is not None:
        server.shutdown()
        server.server_close()


def exposition() -> str:
    """The text a scrape of the default registry returns (for tests and debugging)."""
    from prometheus_client import generate_latest

    return generate_latest(REGISTRY).decode()
